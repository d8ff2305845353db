//! The compiled-artifact cache: a second load of the same bytes deserializes instead of
//! compiling, the loaded plugin works, and a damaged artifact is never loaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookbox_model::Verdict;
use hookbox_runtime::{ArtifactCache, CacheUse, CallLimits};
use hookbox_tests::{openim_text_message, plugin_bytes, shared_runtime, temp_dir};

const SEND: &str = "callbackBeforeSendSingleMsgCommand";

async fn verdict_of(plugin: &hookbox_runtime::LoadedPlugin) -> Verdict {
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
    shared_runtime()
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
    let runtime = shared_runtime();
    let bytes = plugin_bytes("keyword-filter");

    let cold = runtime.load_cached("kf", &bytes, Some(&cache)).unwrap();
    assert_eq!(cold.cache, CacheUse::Miss);
    let files = artifacts(&cache);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with(&cold.sha256), "{name}");
    assert!(name.contains(&runtime.engine_fingerprint()), "{name}");

    let warm = runtime.load_cached("kf", &bytes, Some(&cache)).unwrap();
    assert_eq!(warm.cache, CacheUse::Hit);
    assert_eq!(warm.sha256, cold.sha256);
    assert!(matches!(verdict_of(&warm.plugin).await, Verdict::Reject(r) if r.code == 5001));

    // Flip one byte inside the artifact: the hash check catches it, the file is replaced.
    let mut damaged = std::fs::read(&files[0]).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    replace(&files[0], &damaged);
    let reloaded = runtime.load_cached("kf", &bytes, Some(&cache)).unwrap();
    assert_eq!(reloaded.cache, CacheUse::Miss);
    assert!(matches!(verdict_of(&reloaded.plugin).await, Verdict::Reject(r) if r.code == 5001));
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
            .join(format!("{}-0000000000000000.cwasm", cold.sha256)),
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
    let runtime = shared_runtime();
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
