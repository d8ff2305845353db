//! The native baseline: an axum server that makes keyword-filter's decision in-process
//! (parse the OpenIM payload, read the text out of its JSON-string `content`, look for the
//! banned words, write the same envelope), run as this binary's `baseline` subcommand.
//!
//! It is what hookbox is compared against, not a reimplementation of hookbox: no plugin
//! chain, no limits, no admission control, one route.

use std::net::SocketAddr;

use anyhow::Result;
use axum::body::Bytes;
use axum::routing::post;

use crate::{ALLOW, BANNED, COMMAND};

/// Serves the baseline on `listen` until the process is killed.
pub(crate) fn serve(listen: SocketAddr) -> Result<()> {
    let banned: Vec<String> = BANNED.split(',').map(str::to_owned).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = axum::Router::new().route(
            &format!("/openim/{COMMAND}"),
            post(move |body: Bytes| {
                let banned = banned.clone();
                async move {
                    (
                        [("content-type", "application/json")],
                        decide(&body, &banned),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

/// The same decision keyword-filter makes, written directly against the payload.
fn decide(body: &[u8], banned: &[String]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(payload)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return br#"{"code":"body_not_json"}"#.to_vec();
    };
    let text = payload
        .get("content")
        .and_then(|c| c.as_str())
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|c| {
            c.get("content")
                .and_then(|t| t.as_str())
                .map(str::to_lowercase)
        });
    let hit = text.and_then(|text| {
        banned
            .iter()
            .find(|word| text.contains(word.as_str()))
            .cloned()
    });
    match hit {
        None => ALLOW.as_bytes().to_vec(),
        Some(word) => serde_json::to_vec(&serde_json::json!({
            "actionCode": 0,
            "errCode": 5001,
            "errMsg": format!("message blocked by keyword-filter: contains banned word \"{word}\""),
            "errDlt": "",
            "nextCode": 1,
        }))
        .unwrap_or_default(),
    }
}
