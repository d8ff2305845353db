//! Startup with and without the compiled cache: how long `Registry::load_all` takes to make
//! plugins live when every component must be compiled (cold: empty `data_dir`) and when
//! their compiled artifacts are in `data_dir/cache` (warm: a restart).
//!
//! `cargo bench -p hookbox-tests --bench startup` prints medians for the two example plugins
//! (the shipped `hookbox.toml`) and for every plugin in `plugins/` (nine components).
//! Numbers, not assertions: the machine is shared and noisy.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_registry::{PluginManifest, Registry, RegistryOptions, Store};
use hookbox_runtime::{Runtime, RuntimeConfig};
use hookbox_tests::{plugin_dir, temp_dir};

const RUNS: usize = 5;

fn manifests(components: &[&str]) -> Vec<PluginManifest> {
    components
        .iter()
        .map(|file| {
            let name = file.trim_end_matches(".wasm").replace('_', "-");
            serde_json::from_value(serde_json::json!({
                "name": name,
                "source": file,
                "commands": ["callbackBeforeSendSingleMsgCommand"],
            }))
            .expect("a valid manifest")
        })
        .collect()
}

/// Median wall time of `load_all` on a fresh registry; `warm` keeps `data_dir` between runs.
fn measure(runtime: &Arc<Runtime>, plugins: &[PluginManifest], warm: bool) -> Duration {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let dir = temp_dir("bench-startup");
    let mut times = Vec::with_capacity(RUNS);
    if warm {
        load(&tokio, runtime, plugins, &dir); // fill the cache
    }
    for _ in 0..RUNS {
        if !warm {
            let _ = std::fs::remove_dir_all(&dir);
        }
        times.push(load(&tokio, runtime, plugins, &dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    times[RUNS / 2]
}

fn load(
    tokio: &tokio::runtime::Runtime,
    runtime: &Arc<Runtime>,
    plugins: &[PluginManifest],
    dir: &Path,
) -> Duration {
    let started = Instant::now();
    let options = RegistryOptions {
        store: Some(Store::open(dir).expect("data_dir")),
        ..RegistryOptions::default()
    };
    let registry = Registry::open(runtime.clone(), options).expect("registry");
    tokio
        .block_on(registry.load_all(plugins, plugin_dir()))
        .expect("plugins load");
    started.elapsed()
}

fn main() {
    let started = Instant::now();
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let engine = started.elapsed();
    let examples = ["keyword_filter.wasm", "message_logger.wasm"];
    let mut all: Vec<String> = std::fs::read_dir(plugin_dir())
        .expect("plugins are built")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".wasm"))
        .collect();
    all.sort();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let size = |files: &[&str]| -> u64 {
        files
            .iter()
            .map(|f| std::fs::metadata(plugin_dir().join(f)).map_or(0, |m| m.len()))
            .sum::<u64>()
            / 1024
    };

    println!("startup: Registry::load_all, median of {RUNS} (engine creation, once: {engine:.1?})");
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "plugins", "cold", "warm", "speedup"
    );
    for (label, files) in [("2 examples", &examples[..]), ("all", &all[..])] {
        let plugins = manifests(files);
        let cold = measure(&runtime, &plugins, false);
        let warm = measure(&runtime, &plugins, true);
        println!(
            "{:<34} {:>12} {:>12} {:>7.1}x",
            format!("{label} ({} components, {} KiB)", files.len(), size(files)),
            format!("{:.1} ms", cold.as_secs_f64() * 1000.0),
            format!("{:.1} ms", warm.as_secs_f64() * 1000.0),
            cold.as_secs_f64() / warm.as_secs_f64().max(1e-9)
        );
    }
}
