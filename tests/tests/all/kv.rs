//! Plugins with state: `wasi:keyvalue` through the registry's grants, on the embedded store and
//! on a real Redis shared by two hookbox servers. `group-stats` is the example plugin;
//! `fixture-kv` runs the operations its config names and answers what the host said to each.

use std::path::Path;
use std::sync::Arc;

use hookbox_kv::{KvStore, testing::RedisServer};
use hookbox_registry::{Registry, RegistryError, RegistryOptions, SecretSource, plugin_namespace};
use hookbox_tests::{TestServer, openim_text_message, plugin_dir, shared_runtime, temp_dir};
use serde_json::{Value, json};

const AFTER_GROUP: &str = "callbackAfterSendGroupMsgCommand";
const AFTER_SINGLE: &str = "callbackAfterSendSingleMsgCommand";
const MODIFY: &str = "callbackBeforeMsgModifyCommand";

fn registry(kv: Option<KvStore>, secrets: &[(&'static str, &'static str)]) -> Arc<Registry> {
    let secrets = secrets.to_vec();
    let options = RegistryOptions {
        kv,
        secrets: SecretSource::from_fn(move |name| {
            secrets
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }),
        ..RegistryOptions::default()
    };
    Arc::new(Registry::open(shared_runtime(), options).expect("the registry opens"))
}

async fn embedded(dir: &Path) -> KvStore {
    KvStore::open_embedded(&dir.join("kv.redb"))
        .await
        .expect("the embedded store opens")
}

const GROUP_STATS: &str = r#"
[[plugin]]
name = "group-stats"
source = "group_stats.wasm"
commands = ["callbackAfterSendGroupMsgCommand", "callbackAfterSendSingleMsgCommand"]
grants = { kv = true }
"#;

/// An OpenIM after-send group message from `sender` in `group`, sent on 2023-11-14 (UTC).
fn group_message(sender: &str, group: &str) -> Value {
    let mut body = openim_text_message(AFTER_GROUP, "hello");
    body["sendID"] = json!(sender);
    body["groupID"] = json!(group);
    body["sessionType"] = json!(3);
    body["sendTime"] = json!(1_700_000_000_000_i64);
    body
}

/// What `group-stats` counted: key → count, read straight from its bucket.
async fn counts(store: &KvStore, keys: &[&str]) -> Vec<(String, Option<String>)> {
    let bucket = store
        .bucket(
            &plugin_namespace("group-stats"),
            hookbox_kv::Quotas::default(),
        )
        .unwrap();
    let mut seen = Vec::new();
    for key in keys {
        let value = bucket.get(key).await.unwrap();
        seen.push((
            (*key).to_owned(),
            value.map(|v| String::from_utf8(v).unwrap()),
        ));
    }
    seen
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
        .collect()
}

const STATS_KEYS: [&str; 6] = [
    "messages:total",
    "messages:group:g1",
    "messages:group:g2",
    "messages:sender:u1",
    "active:group:g1:day:2023-11-14",
    "active:group:g2:day:2023-11-14",
];

#[tokio::test]
async fn group_stats_counts_exactly_and_the_counts_survive_a_restart() {
    let dir = temp_dir("kv-stats");
    let store = embedded(&dir).await;
    let server = TestServer::start_on(registry(Some(store.clone()), &[]), GROUP_STATS, &[]).await;
    // 3 senders in g1 (u1 twice), 1 in g2, and a one-to-one message from u1.
    for (sender, group) in [
        ("u1", "g1"),
        ("u2", "g1"),
        ("u1", "g1"),
        ("u3", "g1"),
        ("u1", "g2"),
    ] {
        let answer = server
            .openim(AFTER_GROUP, &group_message(sender, group))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let mut single = openim_text_message(AFTER_SINGLE, "hi");
    single["sendID"] = json!("u1");
    assert_eq!(server.openim(AFTER_SINGLE, &single).await.status, 200);
    let want = expected(&[
        ("messages:total", "6"),
        ("messages:group:g1", "4"),
        ("messages:group:g2", "1"),
        ("messages:sender:u1", "4"),
        ("active:group:g1:day:2023-11-14", "3"),
        ("active:group:g2:day:2023-11-14", "1"),
    ]);
    assert_eq!(counts(&store, &STATS_KEYS).await, want);
    server.stop().await;
    drop(store);

    // A new hookbox on the same data_dir: the counts are there, and counting goes on.
    let store = embedded(&dir).await;
    assert_eq!(counts(&store, &STATS_KEYS).await, want);
    let server = TestServer::start_on(registry(Some(store.clone()), &[]), GROUP_STATS, &[]).await;
    server.openim(AFTER_GROUP, &group_message("u9", "g2")).await;
    let after = counts(
        &store,
        &["messages:total", "active:group:g2:day:2023-11-14"],
    )
    .await;
    assert_eq!(
        after,
        expected(&[
            ("messages:total", "7"),
            ("active:group:g2:day:2023-11-14", "2")
        ])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hookbox_servers_sharing_redis_count_concurrent_callbacks_exactly() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = KvStore::connect_redis(&redis.url())
            .await
            .expect("redis connects");
        servers.push(Arc::new(
            TestServer::start_on(registry(Some(store), &[]), GROUP_STATS, &[]).await,
        ));
    }
    // 4 clients per server, 25 messages each, interleaved over 2 groups and 5 senders.
    let mut clients = Vec::new();
    for (s, server) in servers.iter().enumerate() {
        for c in 0..4 {
            let server = server.clone();
            clients.push(tokio::spawn(async move {
                for i in 0..25 {
                    let sender = format!("u{}", (s * 4 + c + i) % 5);
                    let group = if i % 2 == 0 { "g1" } else { "g2" };
                    let answer = server
                        .openim(AFTER_GROUP, &group_message(&sender, group))
                        .await;
                    assert_eq!(answer.status, 200, "{}", answer.body);
                }
            }));
        }
    }
    for client in clients {
        client.await.expect("client ran");
    }
    let store = KvStore::connect_redis(&redis.url()).await.unwrap();
    let got = counts(
        &store,
        &[
            "messages:total",
            "messages:group:g1",
            "messages:group:g2",
            "active:group:g1:day:2023-11-14",
            "active:group:g2:day:2023-11-14",
        ],
    )
    .await;
    assert_eq!(
        got,
        expected(&[
            ("messages:total", "200"),
            ("messages:group:g1", "104"),
            ("messages:group:g2", "96"),
            ("active:group:g1:day:2023-11-14", "5"),
            ("active:group:g2:day:2023-11-14", "5"),
        ])
    );
}

fn kv_fixture(name: &str, ops: &str, grants: &str) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\nsource = \"fixture_kv.wasm\"\ncommands = [{MODIFY:?}]\ngrants = {{ config = {{ ops = {ops:?} }}{grants} }}\n"
    )
}

/// What `fixture-kv` named `name` answered, run alone on the msg-modify callback.
async fn ops(server: &TestServer) -> String {
    let answer = server
        .openim(MODIFY, &openim_text_message(MODIFY, "x"))
        .await;
    answer.json()["ex"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_component_importing_keyvalue_without_the_grant_is_refused_at_load() {
    let dir = temp_dir("kv-grant");
    let registry = registry(Some(embedded(&dir).await), &[]);
    let config =
        hookbox_server::Config::parse(&kv_fixture("nosy", "get:k", ""), Path::new("t.toml"))
            .unwrap();
    let err = registry
        .load_all(&config.plugins, plugin_dir())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotGranted { grant: "grants.kv", import, .. } if import.starts_with("wasi:keyvalue/")),
        "{err}"
    );
    assert!(
        registry.snapshot().plugins().is_empty(),
        "nothing was loaded"
    );

    // Granted, but the host has no store: refused too, with the reason.
    let storeless = self::registry(None, &[]);
    let config = hookbox_server::Config::parse(
        &kv_fixture("nosy", "get:k", ", kv = true"),
        Path::new("t.toml"),
    )
    .unwrap();
    let err = storeless
        .load_all(&config.plugins, plugin_dir())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a key-value store"), "{err}");
}

#[tokio::test]
async fn plugins_never_see_each_others_keys_unless_they_share_a_named_bucket() {
    let dir = temp_dir("kv-isolation");
    let store = embedded(&dir).await;
    let writer = TestServer::start_on(
        registry(Some(store.clone()), &[]),
        &kv_fixture(
            "writer",
            "set:secret=w1; open:team; set:shared=t1",
            ", kv = { buckets = [\"team\"] }",
        ),
        &[],
    )
    .await;
    assert_eq!(ops(&writer).await, "ok;ok;ok");
    writer.stop().await;

    // Another plugin on the same store: its own bucket is empty, an ungranted shared bucket
    // is refused, and the granted shared bucket holds what the writer put there.
    let reader = TestServer::start_on(
        registry(Some(store.clone()), &[]),
        &kv_fixture(
            "reader",
            "get:secret; keys; open:team; get:shared",
            ", kv = { buckets = [\"team\"] }",
        ),
        &[],
    )
    .await;
    assert_eq!(ops(&reader).await, "none;;ok;t1");
    reader.stop().await;
    let outsider = TestServer::start_on(
        registry(Some(store), &[]),
        &kv_fixture("outsider", "open:team", ", kv = true"),
        &[],
    )
    .await;
    assert_eq!(
        ops(&outsider).await,
        "err:kv: access denied (is the bucket in grants.kv of the manifest?)"
    );
    outsider.stop().await;
}

#[tokio::test]
async fn quotas_are_errors_the_plugin_sees_and_the_host_carries_on() {
    let dir = temp_dir("kv-quota");
    let store = embedded(&dir).await;
    let grants = ", kv = { max_keys = 3, max_value_kb = 1, max_key_bytes = 16 }";
    let config = kv_fixture("small", "set-bytes:big=2048", grants)
        + &kv_fixture("full", "fill:k:4", grants).replace(MODIFY, AFTER_SINGLE)
        + &kv_fixture("long", "set:this-key-is-far-too-long=1", grants)
            .replace(MODIFY, AFTER_GROUP);
    let server = TestServer::start_on(registry(Some(store), &[]), &config, &[]).await;
    let too_big = "err:kv: value is 2048 bytes, over the limit of 1024";
    assert_eq!(ops(&server).await, too_big);

    // After-callbacks answer allow whatever the plugin says; ask the plugins directly.
    let fill = run_fixture(&server, "full", AFTER_SINGLE).await;
    assert_eq!(fill, "err:kv: the bucket already holds its limit of 3 keys");
    let long = run_fixture(&server, "long", AFTER_GROUP).await;
    assert_eq!(long, "err:kv: key is 24 bytes, over the limit of 16");
    // The host is unaffected: the plugin keeps getting the same clear answer.
    assert_eq!(ops(&server).await, too_big);
    server.stop().await;
}

/// After-callbacks always answer allow, so call the plugin directly for its answer.
async fn run_fixture(server: &TestServer, plugin: &str, command: &str) -> String {
    let snapshot = server.app.registry.snapshot();
    let entry = snapshot.plugin(plugin).expect("loaded").clone();
    let event = hookbox_model::Event {
        dialect: hookbox_model::DialectKind::Openim,
        command: command.to_owned(),
        payload: openim_text_message(command, "x").to_string(),
        metadata: Vec::new(),
    };
    let outcome = server
        .app
        .registry
        .runtime()
        .invoke(&entry.plugin, &event, &entry.capabilities, &entry.limits)
        .await
        .expect("fixture-kv answers");
    match outcome.verdict {
        hookbox_model::Verdict::Modify(fields) => fields["ex"].as_str().unwrap().to_owned(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn secrets_reach_only_their_plugin_and_a_missing_one_is_named_not_shown() {
    let config = r#"
[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["callbackBeforeSendSingleMsgCommand"]
grants = { secrets = { banned = "TEST_BANNED_WORDS" } }
"#;
    let server = TestServer::start_on(
        registry(None, &[("TEST_BANNED_WORDS", "sesame")]),
        config,
        &[],
    )
    .await;
    let send = "callbackBeforeSendSingleMsgCommand";
    let answer = server
        .openim(send, &openim_text_message(send, "open sesame"))
        .await;
    assert_eq!(answer.json()["errCode"], 5001, "{}", answer.body);
    let listing =
        serde_json::to_string(&server.app.registry.snapshot().plugins()[0].manifest).unwrap();
    assert!(
        listing.contains("TEST_BANNED_WORDS") && !listing.contains("sesame"),
        "{listing}"
    );
    server.stop().await;

    let missing = registry(None, &[]);
    let parsed = hookbox_server::Config::parse(config, Path::new("t.toml")).unwrap();
    let err = missing
        .load_all(&parsed.plugins, plugin_dir())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin \"keyword-filter\": grants.secrets.banned: the environment variable TEST_BANNED_WORDS is not set"
    );
}

/// Catalogue #47: Redis goes away under a running hookbox. A plugin's kv call becomes an
/// error the plugin sees (what it does then is its own degrade policy), answered within the
/// plugin's deadline, and callbacks that do not touch the store are served as before. When
/// Redis is back, the same calls work again without a restart.
#[tokio::test]
async fn a_redis_outage_is_an_error_the_plugin_sees_within_its_deadline() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = KvStore::connect_redis(&redis.url())
        .await
        .expect("redis connects");
    let config = kv_fixture("counter", "incr:n:1", ", kv = true")
        .replace("grants =", "limits = { timeout_ms = 1000 }\ngrants =")
        + r#"
[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["callbackBeforeSendSingleMsgCommand"]
grants = { config = { banned = "spam" } }
"#;
    let server = TestServer::start_on(registry(Some(store), &[]), &config, &[]).await;
    assert_eq!(ops(&server).await, "1");

    let port = redis.port();
    drop(redis);
    let started = std::time::Instant::now();
    let during = ops(&server).await;
    assert!(
        during.starts_with("err:"),
        "the plugin sees an error: {during}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
    let healthy = server
        .openim(
            "callbackBeforeSendSingleMsgCommand",
            &openim_text_message("callbackBeforeSendSingleMsgCommand", "spam"),
        )
        .await;
    assert_eq!(healthy.json()["errCode"], 5001, "{}", healthy.body);

    // Redis back on the same port: the next calls reconnect (the data is gone with the
    // process, so the counter starts again).
    let _redis = RedisServer::start_on(port).expect("redis restarts on its port");
    let mut after = String::new();
    for _ in 0..50 {
        after = ops(&server).await;
        if !after.starts_with("err:") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(after, "1", "the store works again after the outage");
    server.stop().await;
}
