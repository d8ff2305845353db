//! Operators read a plugin's keys through the admin API (issue 6): `GET /plugins/{name}/kv`
//! (paged, with values) and `GET /plugins/{name}/kv/{key}`, behind the admin token, with 404s
//! for unknown plugins, plugins without `grants.kv`, and absent keys.

use hookbox_kv::{KvStore, Quotas};
use hookbox_registry::plugin_namespace;
use hookbox_tests::{AdminServer, Stores, openim_text_message, temp_dir};
use reqwest::Method;
use serde_json::{Value, json};

const AFTER_GROUP: &str = "callbackAfterSendGroupMsgCommand";

const CONFIG: &str = r#"
[[plugin]]
name = "group-stats"
source = "group_stats.wasm"
commands = ["callbackAfterSendGroupMsgCommand"]
grants = { kv = true }

[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["callbackBeforeSendSingleMsgCommand"]
"#;

/// `group-stats` on an embedded store, without a queue: after-callbacks run before the
/// answer, so the counts are there when it comes.
async fn server(tag: &str) -> (AdminServer, KvStore) {
    let dir = temp_dir(tag);
    let store = KvStore::open_embedded(&dir.join("kv.redb"))
        .await
        .expect("the store opens");
    let stores = Stores {
        kv: Some(store.clone()),
        queue: None,
    };
    (AdminServer::start_with(CONFIG, &dir, stores).await, store)
}

async fn get(server: &AdminServer, path: &str) -> (u16, Value) {
    let answer = server.call(Method::GET, path, None, "").await;
    (answer.status, answer.json())
}

#[tokio::test]
async fn group_stats_counts_read_back_through_the_admin_kv_routes() {
    let (server, _store) = server("kv-admin").await;
    for (sender, group) in [("u1", "g1"), ("u2", "g1"), ("u1", "g1"), ("u1", "g2")] {
        let mut body = openim_text_message(AFTER_GROUP, "hello");
        body["sendID"] = json!(sender);
        body["groupID"] = json!(group);
        body["sendTime"] = json!(1_700_000_000_000_i64);
        assert_eq!(server.webhooks.openim(AFTER_GROUP, &body).await.status, 200);
    }
    let (status, total) = get(&server, "/plugins/group-stats/kv/messages:total").await;
    assert_eq!(status, 200);
    assert_eq!(total, json!({ "key": "messages:total", "value": "4" }));

    let (status, groups) = get(&server, "/plugins/group-stats/kv?prefix=messages:group:").await;
    assert_eq!(status, 200);
    assert_eq!(
        groups,
        json!({
            "keys": [
                { "key": "messages:group:g1", "value": "3" },
                { "key": "messages:group:g1:day:2023-11-14", "value": "3" },
                { "key": "messages:group:g2", "value": "1" },
                { "key": "messages:group:g2:day:2023-11-14", "value": "1" },
            ],
            "next_cursor": null,
        })
    );
    let (_, active) = get(
        &server,
        "/plugins/group-stats/kv/active:group:g1:day:2023-11-14",
    )
    .await;
    assert_eq!(active["value"], "2");

    // Two at a time, following next_cursor, gives the same keys as one big page.
    let (_, all) = get(&server, "/plugins/group-stats/kv?limit=1000").await;
    let mut paged = Vec::new();
    let mut path = "/plugins/group-stats/kv?limit=2".to_owned();
    loop {
        let (status, page) = get(&server, &path).await;
        assert_eq!(status, 200, "{page}");
        let keys = page["keys"].as_array().expect("keys").clone();
        assert!(keys.len() <= 2);
        paged.extend(keys);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/plugins/group-stats/kv?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), all["keys"]);
    assert!(all["keys"].as_array().is_some_and(|k| k.len() > 4), "{all}");
    server.stop().await;
}

#[tokio::test]
async fn values_that_are_not_utf8_come_as_base64_and_keys_may_hold_slashes() {
    let (server, store) = server("kv-admin-bytes").await;
    let bucket = store
        .bucket(&plugin_namespace("group-stats"), Quotas::default())
        .unwrap();
    bucket.set("raw", &[0xff, 0x00, 0x7f]).await.unwrap();
    bucket.set("a/b", b"slashed").await.unwrap();
    let (status, raw) = get(&server, "/plugins/group-stats/kv/raw").await;
    assert_eq!(status, 200);
    assert_eq!(raw, json!({ "key": "raw", "value_base64": "/wB/" }));
    let (status, slashed) = get(&server, "/plugins/group-stats/kv/a/b").await;
    assert_eq!(
        (status, slashed),
        (200, json!({ "key": "a/b", "value": "slashed" }))
    );
    server.stop().await;
}

#[tokio::test]
async fn the_kv_routes_need_the_token_and_say_what_is_missing() {
    let (server, _store) = server("kv-admin-errors").await;
    let anonymous = server
        .call_as(None, Method::GET, "/plugins/group-stats/kv", None, "")
        .await;
    assert_eq!(anonymous.status, 401);
    let wrong = server
        .call_as(
            Some("not-the-token-0123456789"),
            Method::GET,
            "/plugins/group-stats/kv/messages:total",
            None,
            "",
        )
        .await;
    assert_eq!(wrong.status, 401);

    for (path, status, code) in [
        ("/plugins/nobody/kv", 404, "plugin_not_found"),
        ("/plugins/nobody/kv/k", 404, "plugin_not_found"),
        ("/plugins/keyword-filter/kv", 404, "no_kv"),
        (
            "/plugins/group-stats/kv/never-written",
            404,
            "key_not_found",
        ),
        ("/plugins/Bad_Name/kv", 400, "invalid_name"),
        ("/plugins/group-stats/kv?limit=0", 400, "bad_request"),
        ("/plugins/group-stats/kv?limit=many", 400, "bad_request"),
        ("/plugins/group-stats/kv?colour=red", 400, "bad_request"),
    ] {
        let (got, body) = get(&server, path).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    server.stop().await;
}
