//! The admin API itself: authentication, name and size checks, adding, patching and deleting
//! plugins, refusing bad components with a reason, `If-Match` preconditions, and admin
//! changes surviving a restart.

use base64::Engine as _;
use hookbox_tests::{
    ADMIN_TOKEN, AdminServer, OPENIM_ALLOW, distinct_copy, openim_text_message, plugin_bytes,
    temp_dir,
};
use reqwest::Method;

use crate::hot_swap::wrong_world_component;

const SEND: &str = "callbackBeforeSendSingleMsgCommand";
const GROUP: &str = "callbackBeforeSendGroupMsgCommand";

fn config() -> String {
    format!(
        r#"
[server]
admin_max_body_mb = 1

[[plugin]]
name = "swappy"
source = "fixture_scripted.wasm"
commands = ["{SEND}"]
grants = {{ config = {{ banned = "hello", verdict = "reject:5101:v1" }} }}

[[plugin]]
name = "doomed"
source = "fixture_scripted.wasm"
commands = ["{GROUP}"]
grants = {{ config = {{ verdict = "reject:5301:doomed" }} }}
"#
    )
}

async fn err_code(server: &AdminServer, command: &str) -> i64 {
    let envelope = server
        .webhooks
        .openim(command, &openim_text_message(command, "hello"))
        .await
        .json();
    envelope["errCode"].as_i64().expect("an envelope")
}

/// Everything `GET /plugins` says, to compare before and after refused calls.
async fn listing(server: &AdminServer) -> serde_json::Value {
    let mut answer = server.call(Method::GET, "/plugins", None, "").await.json();
    // Call counters move with the probing requests; the rest must not.
    for plugin in answer["plugins"].as_array_mut().unwrap() {
        for counter in ["calls", "failures", "in_flight"] {
            plugin.as_object_mut().unwrap().remove(counter);
        }
    }
    answer
}

fn new_plugin_body(manifest: serde_json::Value, component: &[u8]) -> String {
    serde_json::json!({
        "manifest": manifest,
        "component": base64::engine::general_purpose::STANDARD.encode(component),
    })
    .to_string()
}

#[tokio::test]
async fn unauthenticated_and_wrong_token_calls_get_401_and_change_nothing() {
    let dir = temp_dir("auth");
    let server = AdminServer::start(&config(), &dir).await;
    let before = listing(&server).await;
    let wasm = plugin_bytes("keyword-filter");
    let post = new_plugin_body(serde_json::json!({"name": "x", "commands": [SEND]}), &wasm);
    let routes: Vec<(Method, &str, Option<&str>, Vec<u8>)> = vec![
        (Method::GET, "/plugins", None, vec![]),
        (Method::GET, "/plugins/swappy", None, vec![]),
        (
            Method::PUT,
            "/plugins/swappy",
            Some("application/wasm"),
            wasm.clone(),
        ),
        (
            Method::POST,
            "/plugins",
            Some("application/json"),
            post.into_bytes(),
        ),
        (
            Method::PATCH,
            "/plugins/swappy",
            Some("application/json"),
            br#"{"enabled":false}"#.to_vec(),
        ),
        (Method::POST, "/plugins/swappy/rollback", None, vec![]),
        (Method::DELETE, "/plugins/doomed", None, vec![]),
        (Method::GET, "/healthz", None, vec![]),
        (Method::GET, "/readyz", None, vec![]),
        (Method::GET, "/no/such/route", None, vec![]),
    ];
    let wrong = format!("{ADMIN_TOKEN}x");
    for (method, path, content_type, body) in &routes {
        for token in [
            None,
            Some(wrong.as_str()),
            Some(""),
            Some(&ADMIN_TOKEN[1..]),
        ] {
            let answer = server
                .call_as(token, method.clone(), path, *content_type, body.clone())
                .await;
            assert_eq!(
                answer.status, 401,
                "{method} {path} with {token:?}: {}",
                answer.body
            );
            assert_eq!(answer.json()["code"], "unauthorized", "{}", answer.body);
        }
    }
    // A token in the wrong scheme is no token.
    let basic = reqwest::Client::new()
        .delete(format!("http://{}/plugins/doomed", server.admin_addr))
        .header("authorization", format!("Basic {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(
        basic
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );

    assert_eq!(
        listing(&server).await,
        before,
        "a refused call changed something"
    );
    assert_eq!(err_code(&server, SEND).await, 5101);
    assert_eq!(err_code(&server, GROUP).await, 5301);
    // The right token works, for health too.
    for path in ["/healthz", "/readyz"] {
        assert_eq!(server.call(Method::GET, path, None, "").await.status, 200);
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn path_traversal_names_and_oversize_bodies_are_refused() {
    let dir = temp_dir("names");
    let server = AdminServer::start(&config(), &dir).await;
    let before = listing(&server).await;
    let wasm = plugin_bytes("keyword-filter");
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "..",
        "swappy%2F..%2Fdoomed",
        "%2Fetc",
        "Swappy",
        "-lead",
        "a.b",
        "sw%00appy",
        &"a".repeat(64),
    ] {
        for (method, content_type, body) in [
            (Method::PUT, Some("application/wasm"), wasm.clone()),
            (Method::DELETE, None, vec![]),
            (Method::PATCH, Some("application/json"), b"{}".to_vec()),
            (Method::GET, None, vec![]),
        ] {
            let answer = server
                .call(
                    method.clone(),
                    &format!("/plugins/{name}"),
                    content_type,
                    body,
                )
                .await;
            // `..` and friends may be normalised away by the router (404) or reach the
            // handler (400); either way nothing is touched.
            assert!(
                matches!(answer.status, 400 | 404 | 405),
                "{method} {name}: {} {}",
                answer.status,
                answer.body
            );
            if answer.status == 400 {
                assert_eq!(answer.json()["code"], "invalid_name", "{}", answer.body);
            }
        }
    }
    let posted = server
        .call(
            Method::POST,
            "/plugins",
            Some("application/json"),
            new_plugin_body(
                serde_json::json!({"name": "../evil", "commands": [SEND]}),
                &wasm,
            ),
        )
        .await;
    assert_eq!(posted.status, 400, "{}", posted.body);
    assert_eq!(posted.json()["code"], "invalid_name");

    // admin_max_body_mb = 1: a 2 MiB upload is refused before it is looked at.
    let mut big = wasm.clone();
    big.resize(2 << 20, 0);
    let answer = server.put("swappy", big).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.json()["code"], "body_too_large");

    assert_eq!(listing(&server).await, before);
    assert_eq!(err_code(&server, SEND).await, 5101);
    let blobs: Vec<_> = std::fs::read_dir(dir.join("blobs")).unwrap().collect();
    assert_eq!(blobs.len(), 1, "only the config's own version is kept");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_components_are_refused_with_a_reason_and_the_old_version_serves() {
    let dir = temp_dir("bad");
    let server = AdminServer::start(&config(), &dir).await;
    let good = plugin_bytes("keyword-filter");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("html", b"<html>not wasm</html>".to_vec(), "not_a_component"),
        ("core module", b"\0asm\x01\x00\x00\x00".to_vec(), "not_a_component"),
        ("truncated", good[..good.len() / 2].to_vec(), "compile_failed"),
        ("wrong world", wrong_world_component(), "wrong_world"),
        (
            "unknown import",
            wat::parse_str(
                r#"(component (import "hookbox:secret/vault@1.0.0" (instance (export "open" (func)))))"#,
            )
            .unwrap(),
            "unsupported_import",
        ),
        ("empty", vec![], "not_a_component"),
    ];
    for (what, bytes, code) in cases {
        let answer = server.put("swappy", bytes).await;
        assert_eq!(answer.status, 422, "{what}: {}", answer.body);
        let body = answer.json();
        assert_eq!(body["code"], code, "{what}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
        assert_eq!(err_code(&server, SEND).await, 5101, "{what}");
    }
    let typed = server
        .call(
            Method::PUT,
            "/plugins/swappy",
            Some("application/octet-stream"),
            good.clone(),
        )
        .await;
    assert_eq!(typed.status, 415, "{}", typed.body);
    assert_eq!(typed.json()["code"], "unsupported_media_type");
    let missing = server.put("nobody", good).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "plugin_not_found");
    assert!(
        server.plugin("swappy").await["previous"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.stop().await;

    // A component that takes longer than compile_timeout_ms to compile is refused too.
    let dir2 = temp_dir("slow-compile");
    let strict = AdminServer::start("[server]\ncompile_timeout_ms = 1\n", &dir2).await;
    let answer = strict
        .call(
            Method::POST,
            "/plugins",
            Some("application/json"),
            new_plugin_body(
                serde_json::json!({"name": "slow", "commands": [SEND]}),
                // Bytes no other test loads: loaded ones would lend their code, no compile.
                &distinct_copy(&plugin_bytes("keyword-filter"), "slow-compile"),
            ),
        )
        .await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.json()["code"], "compile_timeout");
    assert_eq!(
        strict.call(Method::GET, "/plugins", None, "").await.json()["plugins"],
        serde_json::json!([])
    );
    strict.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[tokio::test]
async fn delete_removes_the_routes() {
    let dir = temp_dir("delete");
    let server = AdminServer::start(&config(), &dir).await;
    assert_eq!(err_code(&server, GROUP).await, 5301);
    let answer = server
        .call(Method::DELETE, "/plugins/doomed", None, "")
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = server
        .webhooks
        .openim(GROUP, &openim_text_message(GROUP, "hello"))
        .await;
    assert_eq!(answer.body, OPENIM_ALLOW, "no plugin is routed any more");
    assert_eq!(
        err_code(&server, SEND).await,
        5101,
        "the other plugin stays"
    );
    let gone = server.call(Method::GET, "/plugins/doomed", None, "").await;
    assert_eq!(gone.status, 404);
    let again = server
        .call(Method::DELETE, "/plugins/doomed", None, "")
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["code"], "plugin_not_found");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn patch_changes_manifest_fields_without_new_code() {
    let dir = temp_dir("patch");
    let server = AdminServer::start(&config(), &dir).await;
    let sha = server.plugin("swappy").await["active"]["sha256"].clone();
    let patch = |body: &'static str| {
        server.call(
            Method::PATCH,
            "/plugins/swappy",
            Some("application/merge-patch+json"),
            body,
        )
    };
    let answer =
        patch(r#"{"grants":{"config":{"verdict":"reject:5102:patched"}},"priority":3}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let view = answer.json();
    assert_eq!(view["priority"], 3);
    assert_eq!(view["active"]["sha256"], sha, "no new code");
    assert_eq!(
        view["grants"]["config"]["banned"], "hello",
        "merged, not replaced"
    );
    assert_eq!(err_code(&server, SEND).await, 5102);

    let answer = patch(r#"{"commands":["callbackBeforeSendGroupMsgCommand"]}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let moved = server
        .webhooks
        .openim(SEND, &openim_text_message(SEND, "hello"))
        .await;
    assert_eq!(moved.body, OPENIM_ALLOW, "the old command lost its route");

    for (body, code) in [
        (r#"{"source":"/etc/passwd"}"#, "invalid_patch"),
        (r#"{"name":"other"}"#, "invalid_patch"),
        (r#"{"limits":{"timeout_ms":0}}"#, "invalid_manifest"),
        (r#"{"commands":[]}"#, "invalid_manifest"),
        (r#"{"grants":{"kv":true}}"#, "invalid_manifest"),
        (r#"{"priority":"high"}"#, "invalid_patch"),
    ] {
        let answer = patch(body).await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert_eq!(answer.json()["code"], code, "{body}");
    }
    let not_json = patch("{nope").await;
    assert_eq!(not_json.status, 400);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Catalogue #44: two changes racing from the same revision (`If-Match`) cannot both win:
/// one is applied, the other gets 409 `revision_conflict` and changes nothing; re-read, it
/// succeeds. A stale or malformed precondition never changes anything either.
#[tokio::test]
async fn changes_racing_from_one_revision_let_one_win_and_the_other_get_409() {
    let dir = temp_dir("if-match");
    let server = AdminServer::start(&config(), &dir).await;
    // A second version, so there is something to roll back to.
    let put = server.put("swappy", plugin_bytes("keyword-filter")).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let shown = server.call(Method::GET, "/plugins/swappy", None, "").await;
    let revision = shown.json()["revision"].as_str().unwrap().to_owned();
    assert_eq!(put.json()["revision"], revision.as_str());
    assert_eq!(
        shown.etag.as_deref(),
        Some(format!("\"{revision}\"").as_str())
    );
    let if_match = format!("\"{revision}\"");

    let rollback_headers = [("if-match", if_match.as_str())];
    let patch_headers = [
        ("if-match", if_match.as_str()),
        ("content-type", "application/merge-patch+json"),
    ];
    let rollback = server.call_with_headers(
        Method::POST,
        "/plugins/swappy/rollback",
        &rollback_headers,
        "",
    );
    let patch = server.call_with_headers(
        Method::PATCH,
        "/plugins/swappy",
        &patch_headers,
        r#"{"priority":7}"#,
    );
    let (rollback, patch) = tokio::join!(rollback, patch);
    let mut statuses = [rollback.status, patch.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", rollback.body, patch.body);
    let loser = if rollback.status == 409 {
        &rollback
    } else {
        &patch
    };
    assert_eq!(loser.json()["code"], "revision_conflict", "{}", loser.body);

    // Only the winner's change is there.
    let after = server.plugin("swappy").await;
    let rolled_back = after["active"]["sha256"] != put.json()["version"]["sha256"];
    let patched = after["priority"] == 7;
    assert!(
        rolled_back != patched,
        "exactly one change applied: {after}"
    );
    assert_ne!(after["revision"], revision.as_str());

    // The loser re-reads and retries with the new revision: applied.
    let fresh = format!("\"{}\"", after["revision"].as_str().unwrap());
    let retry = if rollback.status == 409 {
        server
            .call_with_headers(
                Method::POST,
                "/plugins/swappy/rollback",
                &[("if-match", &fresh)],
                "",
            )
            .await
    } else {
        server
            .call_with_headers(
                Method::PATCH,
                "/plugins/swappy",
                &[
                    ("if-match", &fresh),
                    ("content-type", "application/merge-patch+json"),
                ],
                r#"{"priority":7}"#,
            )
            .await
    };
    assert_eq!(retry.status, 200, "{}", retry.body);

    // A stale revision (the one both started from) never deletes; a malformed one is 400;
    // `*` is no condition at all.
    let before = listing(&server).await;
    let stale = server
        .call_with_headers(
            Method::DELETE,
            "/plugins/swappy",
            &[("if-match", &if_match)],
            "",
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    for malformed in [revision.as_str(), "W/\"x\"", "\"a\", \"b\""] {
        let answer = server
            .call_with_headers(
                Method::DELETE,
                "/plugins/swappy",
                &[("if-match", malformed)],
                "",
            )
            .await;
        assert_eq!(answer.status, 400, "{malformed}: {}", answer.body);
    }
    assert_eq!(listing(&server).await, before, "nothing changed");
    let any = server
        .call_with_headers(Method::DELETE, "/plugins/swappy", &[("if-match", "*")], "")
        .await;
    assert_eq!(any.status, 204, "{}", any.body);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn admin_changes_survive_a_restart_until_the_config_table_changes() {
    let dir = temp_dir("restart");
    let server = AdminServer::start(&config(), &dir).await;
    const AFTER: &str = "callbackBeforeAddFriendCommand";
    let added = new_plugin_body(
        serde_json::json!({
            "name": "added",
            "commands": [AFTER],
            "grants": {"config": {"verdict": "reject:5201:added"}}
        }),
        &plugin_bytes("fixture-scripted"),
    );
    let answer = server
        .call(
            Method::POST,
            "/plugins",
            Some("application/json"),
            added.clone(),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let again = server
        .call(Method::POST, "/plugins", Some("application/json"), added)
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["code"], "plugin_exists");
    assert_eq!(err_code(&server, AFTER).await, 5201);
    let uploaded = server
        .put("swappy", plugin_bytes("keyword-filter"))
        .await
        .json();
    assert_eq!(err_code(&server, SEND).await, 5001);
    assert_eq!(
        server
            .call(Method::DELETE, "/plugins/doomed", None, "")
            .await
            .status,
        204
    );
    let view = server.plugin("added").await;
    assert_eq!(view["managed_by"], "admin");
    assert_eq!(view["active"]["origin"]["kind"], "upload");
    assert!(view.get("source").is_none(), "{view}");
    server.stop().await;

    // Same config, same data_dir: everything the admin API did is back.
    let server = AdminServer::start(&config(), &dir).await;
    assert_eq!(err_code(&server, AFTER).await, 5201);
    assert_eq!(err_code(&server, SEND).await, 5001);
    let group = server
        .webhooks
        .openim(GROUP, &openim_text_message(GROUP, "hello"))
        .await;
    assert_eq!(group.body, OPENIM_ALLOW, "the deleted plugin stays deleted");
    let view = server.plugin("swappy").await;
    assert_eq!(view["active"]["sha256"], uploaded["sha256"]);
    assert_eq!(view["active"]["origin"]["kind"], "upload");
    assert_eq!(view["previous"][0]["origin"]["kind"], "file", "{view}");
    // The kept version survived too: roll back to the file's code (loaded from data_dir).
    let back = server
        .call(Method::POST, "/plugins/swappy/rollback", None, "")
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(err_code(&server, SEND).await, 5101);
    server.stop().await;

    // Editing a plugin's table in the config file ends the admin API's say over it.
    let edited = config().replace(
        "verdict = \"reject:5101:v1\"",
        "verdict = \"reject:5105:edited\"",
    );
    let edited = edited.replace(
        "verdict = \"reject:5301:doomed\"",
        "verdict = \"reject:5302:back\"",
    );
    let server = AdminServer::start(&edited, &dir).await;
    assert_eq!(err_code(&server, SEND).await, 5105);
    assert_eq!(
        err_code(&server, GROUP).await,
        5302,
        "the edited table brings it back"
    );
    assert_eq!(
        err_code(&server, AFTER).await,
        5201,
        "an added plugin stays"
    );
    assert_eq!(server.plugin("swappy").await["managed_by"], "config");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_damaged_state_file_stops_startup_instead_of_dropping_changes() {
    let dir = temp_dir("damaged");
    std::fs::write(dir.join("state.json"), b"{ not json").unwrap();
    let error = AdminServer::try_start(&config(), &dir)
        .await
        .err()
        .expect("a damaged state is an error");
    assert!(error.to_string().contains("state.json"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn readiness_waits_for_the_plugins_and_listing_shows_versions_and_counts() {
    let dir = temp_dir("ready");
    let server = AdminServer::start(&config(), &dir).await;
    assert_eq!(err_code(&server, SEND).await, 5101);
    let listing = server.call(Method::GET, "/plugins", None, "").await;
    assert_eq!(listing.status, 200);
    assert_eq!(listing.content_type.as_deref(), Some("application/json"));
    let plugins = listing.json()["plugins"].clone();
    assert_eq!(plugins.as_array().unwrap().len(), 2);
    let swappy = &plugins[0];
    assert_eq!(swappy["name"], "swappy");
    assert_eq!(swappy["commands"], serde_json::json!([SEND]));
    assert_eq!(swappy["calls"], 1);
    assert_eq!(swappy["failures"], 0);
    assert_eq!(swappy["active"]["sha256"].as_str().unwrap().len(), 64);
    assert!(swappy["active"]["loaded_at_ms"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(swappy["limits"]["timeout_ms"], 200);
    assert_eq!(swappy["managed_by"], "config");

    // A registry that has not loaded its plugins yet is not ready.
    let registry = std::sync::Arc::new(hookbox_registry::Registry::new(
        hookbox_tests::shared_runtime(),
    ));
    let admin = hookbox_server::Admin::new(registry, Some(ADMIN_TOKEN), 1 << 20).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(hookbox_server::serve(
        listener,
        admin.router(),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let ready = |client: reqwest::Client| async move {
        client
            .get(format!("http://{addr}/readyz"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready(client.clone()).await, 503);
    admin.set_ready();
    assert_eq!(ready(client).await, 200);
    task.abort();
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_admin_api_never_starts_without_a_strong_token() {
    let registry = || {
        std::sync::Arc::new(hookbox_registry::Registry::new(
            hookbox_tests::shared_runtime(),
        ))
    };
    use hookbox_server::admin::TokenError;
    assert_eq!(
        hookbox_server::Admin::new(registry(), None, 1).err(),
        Some(TokenError::Missing)
    );
    assert_eq!(
        hookbox_server::Admin::new(registry(), Some(""), 1).err(),
        Some(TokenError::Missing)
    );
    assert_eq!(
        hookbox_server::Admin::new(registry(), Some("short"), 1).err(),
        Some(TokenError::Weak)
    );
    assert_eq!(
        hookbox_server::Admin::new(registry(), Some("has a space in the middle"), 1).err(),
        Some(TokenError::Weak)
    );
    assert!(hookbox_server::Admin::new(registry(), Some(ADMIN_TOKEN), 1).is_ok());
}
