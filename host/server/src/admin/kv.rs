//! `GET /plugins/{name}/kv` and `GET /plugins/{name}/kv/{key}`: operators read the keys of a
//! plugin's own bucket (what `grants.kv` gives it), as the plugin sees them.
//!
//! Not here: writes, and the shared buckets of `grants.kv.buckets`; a plugin's state is
//! changed by the plugin, and a shared bucket belongs to no one plugin.
//!
//! The decision a reader may question: a value comes back as a JSON string when it is UTF-8
//! (`value`) and as standard base64 otherwise (`value_base64`), never both. Counters and JSON
//! documents, what plugins mostly keep, read as themselves, bytes still come through intact,
//! and a client tells the two apart by the field's name instead of guessing whether a string
//! that looks like base64 is base64.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use hookbox_kv::Bucket;
use hookbox_registry::plugin_namespace;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, checked, page_limit, plugin_not_found, query};
use crate::error::ApiError;

/// `?prefix=…&cursor=…&limit=…`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    prefix: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /plugins/{name}/kv`: `{"keys": [{"key", "value" | "value_base64"}…], "next_cursor"}`,
/// keys in byte order; `next_cursor` (opaque) fetches the next page, `null` on the last.
pub(super) async fn list(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = query(params)?;
    let limit = page_limit(params.limit)?;
    let bucket = bucket(&admin, name)?;
    let page = bucket
        .list_keys(params.prefix.as_deref(), params.cursor.as_deref(), limit)
        .await?;
    let mut keys = Vec::with_capacity(page.keys.len());
    for key in &page.keys {
        // A key deleted since the listing is simply not shown.
        if let Some(value) = bucket.get(key).await? {
            keys.push(entry(key, &value));
        }
    }
    Ok(Json(
        json!({ "keys": keys, "next_cursor": page.next_cursor }),
    ))
}

/// `GET /plugins/{name}/kv/{key}`: `{"key", "value" | "value_base64"}`; 404 `key_not_found`.
pub(super) async fn get(
    State(admin): State<Arc<Admin>>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let bucket = bucket(&admin, name)?;
    let value = bucket.get(&key).await?.ok_or(ApiError::KeyNotFound)?;
    Ok(Json(entry(&key, &value)))
}

/// The bucket of the loaded plugin `name`; 404 when there is no such plugin, or it has no
/// `grants.kv`, or this hookbox no kv store.
fn bucket(admin: &Admin, name: String) -> Result<Bucket, ApiError> {
    let name = checked(name)?;
    let snapshot = admin.registry.snapshot();
    let entry = snapshot
        .plugin(&name)
        .ok_or_else(|| plugin_not_found(&name))?;
    let (Some(grant), Some(store)) = (&entry.manifest.grants.kv, admin.registry.kv_store()) else {
        return Err(ApiError::NoKv);
    };
    Ok(store.bucket(&plugin_namespace(&name), grant.quotas())?)
}

fn entry(key: &str, value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) => json!({ "key": key, "value": text }),
        Err(_) => json!({
            "key": key,
            "value_base64": base64::engine::general_purpose::STANDARD.encode(value),
        }),
    }
}
