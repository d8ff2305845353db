//! `hookbox push PLUGIN.wasm --name N [--server URL]`: replace a running plugin's code
//! through the admin API (`PUT /plugins/{name}`), for plugin authors' CI pipelines.
//!
//! It prints the new version's sha256 once the server says it is live, and exits non-zero
//! with the server's error `code` and message when the upload is refused.
//!
//! The decision a reader may question: the token is read from `HOOKBOX_ADMIN_TOKEN` (or
//! `--token`), the same variable the server reads, so one secret in CI serves both; the
//! flag exists for interactive use, although it shows up in process listings.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hookbox_registry::manifest::is_valid_name;

#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// The component to upload (`.wasm`).
    plugin: PathBuf,
    /// The plugin whose code it replaces.
    #[arg(long)]
    name: String,
    /// The admin API (`server.admin_listen`), as `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    server: String,
    /// The admin token.
    #[arg(long, env = "HOOKBOX_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    /// How long to wait for the server, compilation included, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

pub(crate) async fn push(args: PushArgs) -> Result<()> {
    if !is_valid_name(&args.name) {
        bail!(
            "{:?} is not a plugin name: use 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            args.name
        );
    }
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read {}", args.plugin.display()))?;
    let url = format!(
        "{}/plugins/{}",
        args.server.trim_end_matches('/'),
        args.name
    );
    let response = reqwest::Client::new()
        .put(&url)
        .bearer_auth(&args.token)
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .timeout(Duration::from_secs(args.timeout_secs))
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("cannot reach the admin API at {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .context("the admin API's answer could not be read")?;
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let field = |key: &str| body[key].as_str().unwrap_or("").to_owned();
    if !status.is_success() {
        bail!(
            "the server refused the upload ({status}): {}: {}",
            field("code"),
            if body["message"].is_string() {
                field("message")
            } else {
                text
            }
        );
    }
    let state = if body["changed"] == false {
        "already live"
    } else {
        "live"
    };
    println!("{} {} ({state})", args.name, field("sha256"));
    Ok(())
}
