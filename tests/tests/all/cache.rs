//! The compiled-artifact cache: a second load of the same bytes deserializes instead of
//! compiling, the loaded plugin works, and a damaged artifact is never loaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookbox_model::Verdict;
use hookbox_runtime::{ArtifactCache, CacheUse, CallLimits};
use hookbox_tests::{openim_text_message, plugin_bytes, temp_dir};

const SEND: &str = "callbackBeforeSendSingleMsgCommand";

async fn verdict_of(
    runtime: &hookbox_runtime::Runtime,
    plugin: &hookbox_runtime::LoadedPlugin,
) -> Verdict {
    let body = openim_text_message(SEND, "hello").to_string();
    let headers = http_headers();
    let callback = hookbox_dialects::openim::parse(&hookbox_dialects::Inbound {
        path_command: Some(SEND),
        query: None,
        headers: &headers,
        body: body.as_bytes(),
    })
    .expect("a valid callback");
    let config = hookbox_runtime::Capabilities::config_only(Arc::new(BTreeMap::from([(
        "banned".to_owned(),
        "hello".to_owned(),
    )])));
    runtime
        .invoke(plugin, &callback.event, &config, &CallLimits::default())
        .await
        .expect("the plugin runs")
        .verdict
}

fn http_headers() -> http::HeaderMap {
    http::HeaderMap::new()
}

/// Put `bytes` at `path` the way a cache file can change under a running hookbox: a new file
/// renamed over it. Loaded plugins map their cache file, and a file rewritten in place under
/// a mapping changes their code or kills the process (`SIGBUS`), which the cache never does.
fn replace(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("replacing");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A runtime of the test's own: plugins that other tests of this binary hold on the shared
/// runtime would otherwise lend their code to these loads (`CacheUse::Shared`).
fn own_runtime() -> hookbox_runtime::Runtime {
    hookbox_runtime::Runtime::new(hookbox_runtime::RuntimeConfig {
        max_concurrent_calls: 8,
        ..hookbox_runtime::RuntimeConfig::default()
    })
    .expect("a runtime starts")
}

fn artifacts(cache: &ArtifactCache) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_second_load_comes_from_the_cache_and_works() {
    let dir = temp_dir("cache");
    let cache = ArtifactCache::open(dir.join("cache")).unwrap();
    let runtime = own_runtime();
    let bytes = plugin_bytes("keyword-filter");

    let cold = runtime.load_cached("kf", &bytes, Some(&cache)).unwrap();
    assert_eq!(cold.cache, CacheUse::Miss);
    let cold_sha256 = cold.sha256.clone();
    // While `cold` is loaded, its code is shared rather than mapped again.
    drop(cold);
    let files = artifacts(&cache);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with(&cold_sha256), "{name}");
    assert!(name.contains(&runtime.engine_fingerprint()), "{name}");

    let warm = runtime.load_cached("kf", &bytes, Some(&cache)).unwrap();
    assert_eq!(warm.cache, CacheUse::Hit);
    assert_eq!(warm.sha256, cold_sha256);
    assert!(
        matches!(verdict_of(&runtime, &warm.plugin).await, Verdict::Reject(r) if r.code == 5001)
    );
    drop(warm);

    // Flip one byte inside the artifact: the hash check catches it, the file is replaced.
    let mut damaged = std::fs::read(&files[0]).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    replace(&files[0], &damaged);
    let reloaded = runtime.load_cached("kf", &bytes, Some(&cache)).unwrap();
    assert_eq!(reloaded.cache, CacheUse::Miss);
    assert!(
        matches!(verdict_of(&runtime, &reloaded.plugin).await, Verdict::Reject(r) if r.code == 5001)
    );
    drop(reloaded);
    assert_ne!(std::fs::read(&files[0]).unwrap(), damaged);

    // A torn write (half a file) is not loaded either.
    let whole = std::fs::read(&files[0]).unwrap();
    replace(&files[0], &whole[..whole.len() / 2]);
    assert_eq!(
        runtime
            .load_cached("kf", &bytes, Some(&cache))
            .unwrap()
            .cache,
        CacheUse::Miss
    );
    assert_eq!(
        runtime
            .load_cached("kf", &bytes, Some(&cache))
            .unwrap()
            .cache,
        CacheUse::Hit
    );

    // Artifacts of other versions or engines are garbage.
    std::fs::write(
        cache
            .dir()
            .join(format!("{cold_sha256}-0000000000000000.cwasm")),
        b"x",
    )
    .unwrap();
    assert_eq!(cache.retain(&runtime.engine_fingerprint(), |_| true), 1);
    assert_eq!(artifacts(&cache), files);
    assert_eq!(cache.retain(&runtime.engine_fingerprint(), |_| false), 1);
    assert!(artifacts(&cache).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_refused_component_is_refused_from_the_cache_too() {
    let dir = temp_dir("cache-refused");
    let cache = ArtifactCache::open(dir.join("cache")).unwrap();
    let runtime = own_runtime();
    let wrong = crate::hot_swap::wrong_world_component();
    for _ in 0..2 {
        let error = runtime.load_cached("w", &wrong, Some(&cache)).unwrap_err();
        assert!(
            matches!(error, hookbox_runtime::LoadError::WrongWorld(_)),
            "{error}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn plugins_loaded_from_the_same_bytes_share_their_code_while_one_is_loaded() {
    let dir = temp_dir("cache-shared");
    let cache = ArtifactCache::open(dir.join("cache")).unwrap();
    let runtime = own_runtime();
    let bytes = plugin_bytes("keyword-filter");

    let first = runtime.load_cached("kf-a", &bytes, Some(&cache)).unwrap();
    assert_eq!(first.cache, CacheUse::Miss);
    // Another name, with and without a cache: the code of the loaded one is used.
    let second = runtime.load_cached("kf-b", &bytes, Some(&cache)).unwrap();
    assert_eq!(second.cache, CacheUse::Shared);
    assert_eq!(second.plugin.name(), "kf-b");
    let third = runtime.load_cached("kf-c", &bytes, None).unwrap();
    assert_eq!(third.cache, CacheUse::Shared);
    // Other bytes are not shared.
    let other = runtime
        .load_cached("logger", &plugin_bytes("message-logger"), None)
        .unwrap();
    assert_eq!(other.cache, CacheUse::Uncached);

    // Each keeps working when the one that compiled is gone.
    drop(first);
    for loaded in [&second, &third] {
        assert!(
            matches!(verdict_of(&runtime, &loaded.plugin).await, Verdict::Reject(r) if r.code == 5001)
        );
    }
    // Once no plugin uses the code, it is freed: the next load maps the cache file again.
    drop((second, third));
    let again = runtime.load_cached("kf-d", &bytes, Some(&cache)).unwrap();
    assert_eq!(again.cache, CacheUse::Hit);
    let _ = std::fs::remove_dir_all(&dir);
}
