//! `GET`, `DELETE /plugins/{name}/dead-letters` and `POST /plugins/{name}/dead-letters/replay`:
//! the after-callbacks a plugin failed on `max_attempts` times, or that found its queue full,
//! listed page by page, put back in its queue, or deleted.
//!
//! Not here: why an item died or when (the queue decides), nor delivering a replayed item (the
//! consumers do, woken by the replay).
//!
//! The decision a reader may question: the dead letters of a plugin that is no longer loaded
//! are still listed, replayed and deleted. They outlive the plugin on purpose (they are the
//! events it never handled), so an operator who removed a plugin by mistake, or wants the
//! evidence, still has them; only a name with neither a plugin nor dead letters is a 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use hookbox_queue::{DeadLetter, ItemId, Selection};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, checked, page_limit, plugin_not_found, query, require_type};
use crate::delivery::decode;
use crate::error::ApiError;
use crate::ingress::read_body;

/// `?cursor=…&limit=…`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// The body of a replay or delete: `{"ids": [...]}`, or none (`{}` or empty) for all.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Chosen {
    ids: Option<Vec<u64>>,
}

/// `GET /plugins/{name}/dead-letters`: `{"dead_letters": [...], "next_cursor"}`, oldest first.
pub(super) async fn list(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    params: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = query(params)?;
    let name = checked(name)?;
    let limit = page_limit(params.limit)?;
    let after = match params.cursor {
        None => None,
        Some(cursor) => Some(ItemId(cursor.parse().map_err(|_| {
            ApiError::BadRequest("cursor must be a next_cursor from an earlier page".into())
        })?)),
    };
    let page = admin.queue()?.dead_letters(&name, after, limit).await?;
    if page.letters.is_empty()
        && after.is_none()
        && admin.registry.snapshot().plugin(&name).is_none()
    {
        return Err(plugin_not_found(&name));
    }
    let letters: Vec<Value> = page.letters.iter().map(view).collect();
    Ok(Json(json!({
        "dead_letters": letters,
        "next_cursor": page.next_cursor.map(|id| id.to_string()),
    })))
}

/// `POST /plugins/{name}/dead-letters/replay`: `{"replayed": n}`.
pub(super) async fn replay(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let name = checked(name)?;
    let which = selection(&admin, &headers, body).await?;
    let replayed = admin.queue()?.replay_dead_letters(&name, which).await?;
    tracing::info!(plugin = %name, replayed, "admin: dead letters replayed");
    Ok(Json(json!({ "replayed": replayed })))
}

/// `DELETE /plugins/{name}/dead-letters`: `{"deleted": n}`.
pub(super) async fn delete(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let name = checked(name)?;
    let which = selection(&admin, &headers, body).await?;
    let deleted = admin.queue()?.delete_dead_letters(&name, which).await?;
    tracing::info!(plugin = %name, deleted, "admin: dead letters deleted");
    Ok(Json(json!({ "deleted": deleted })))
}

async fn selection(admin: &Admin, headers: &HeaderMap, body: Body) -> Result<Selection, ApiError> {
    let body = read_body(body, admin.max_body_bytes).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Selection::All);
    }
    require_type(headers, &["application/json"])?;
    let chosen: Chosen = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be {{\"ids\": [...]}}, or empty for every dead letter: {e}"
        ))
    })?;
    Ok(match chosen.ids {
        None => Selection::All,
        Some(ids) => Selection::Ids(ids.into_iter().map(ItemId).collect()),
    })
}

/// One dead letter: the item, why and when it died, and the event it carries.
fn view(letter: &DeadLetter) -> Value {
    let item = &letter.item;
    let event = decode(&item.payload).ok().map(|event| {
        let metadata: BTreeMap<&str, &str> = event
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        json!({
            "dialect": event.dialect,
            "command": event.command,
            "metadata": metadata,
            "payload": event.payload,
        })
    });
    json!({
        "id": item.id.0,
        "reason": letter.reason.as_str(),
        "dead_at_ms": letter.dead_at_ms,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "enqueued_at_ms": item.enqueued_at_ms,
        "idempotency_key": item.idempotency_key,
        "ordering_key": item.ordering_key,
        "event": event,
    })
}
