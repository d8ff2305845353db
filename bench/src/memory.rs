//! The memory phase (`--memory`): resident memory of one `hookbox serve` with the
//! repository's example plugins loaded, idle and after growing numbers of keyword-filter
//! callbacks (by default 100k and 1M), against the targets of issue #8.
//!
//! The server runs the repository's own configs (`hookbox.toml`, and `plugins/languages.toml`
//! for the examples in other languages) as written, except for what the benchmark must own:
//! the listen address, a fresh `data_dir`, no admin API, and only the plugins whose
//! component is built; the rest are named in the output. Later configs contribute their
//! plugins only: their `[server]` and dialect tables describe servers of their own.
//!
//! hookbox is started twice on the same `data_dir`, and idle RSS read each time: the first
//! start compiles every plugin into the compiled cache (it then maps them from there, and
//! hands what the compiler freed back to the OS before it listens), the restart only maps
//! them, as every start after the first does. The requests then go to the restarted server.
//!
//! It is not a leak detector: RSS includes allocator caches and pages the kernel has not
//! reclaimed, so growth between readings is a symptom to look into, not proof of a leak.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::loadgen::{self, LoadArgs, Report};
use crate::process::{ServerProcess, format_mib, free_port};
use crate::{Bench, COMMAND};

/// Issue #8: idle RSS with all example plugins at most 60 MB (read strictly: 10^6 bytes).
const IDLE_TARGET_BYTES: u64 = 60_000_000;
/// Issue #8: RSS after 1M requests within 10 % of RSS after 100k.
const GROWTH_TARGET_PERCENT: f64 = 10.0;
/// hookbox listens only once every plugin is loaded; this pause lets the threads that
/// loaded them finish and the allocator settle before the idle reading.
const SETTLE: Duration = Duration::from_secs(1);
/// The plugin whose callbacks the phase drives.
const DRIVEN_PLUGIN: &str = "keyword-filter";

/// Runs the phase and prints its table. `configs` are served together (see the module
/// docs); RSS is read idle and once `checkpoints[i]` requests have been answered in total.
pub(crate) fn run(bench: &Bench, configs: &[PathBuf], checkpoints: &[u64]) -> Result<()> {
    if checkpoints.is_empty() || checkpoints.windows(2).any(|w| w[0] >= w[1]) || checkpoints[0] == 0
    {
        bail!("--memory-checkpoints must be positive and increasing, not {checkpoints:?}");
    }
    let addr = free_port()?;
    let mut parsed = Vec::new();
    for config in configs {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("read {}", config.display()))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("parse {}", config.display()))?;
        parsed.push((config_dir(config), table));
    }
    let data_dir = bench.scratch.path().join("data-memory");
    let merged = merge_configs(parsed, addr, &data_dir, |path| path.exists())?;
    if !merged.loaded.iter().any(|name| name == DRIVEN_PLUGIN) {
        bail!("the memory phase drives {DRIVEN_PLUGIN}, which none of the configs loads");
    }
    let config_path = bench.scratch.path().join("hookbox-memory.toml");
    std::fs::write(&config_path, toml::to_string(&merged.table)?)?;

    let sources: Vec<String> = configs.iter().map(|c| c.display().to_string()).collect();
    println!(
        "\nMemory: hookbox serving {}{}",
        sources.join(" + "),
        if bench.pin {
            ", on vCPU 0; load on vCPU 1"
        } else {
            ""
        }
    );
    println!("plugins loaded: {}", merged.loaded.join(", "));
    if !merged.left_out.is_empty() {
        let left_out: Vec<String> = merged
            .left_out
            .iter()
            .map(|(name, source)| format!("{name} ({})", source.display()))
            .collect();
        println!("left out, component not built: {}", left_out.join(", "));
    }
    let unlisted = unlisted_examples(&bench.root.join("plugins/examples"), &merged.listed)?;
    if !unlisted.is_empty() {
        println!(
            "example crates in plugins/examples that no config lists (not loaded): {}",
            unlisted.join(", ")
        );
    }

    let start = || -> Result<ServerProcess> {
        let server = ServerProcess::start(
            bench.hookbox_serve(&config_path),
            addr,
            &bench.scratch.path().join("hookbox-memory.log"),
        )?;
        std::thread::sleep(SETTLE);
        Ok(server)
    };
    let compiled_idle_kib = start()?.rss_kib();
    let server = start()?;
    let cached_idle_kib = server.rss_kib();

    let url = format!("http://{addr}{}/{COMMAND}", merged.openim_path);
    let mut readings: Vec<(u64, Option<u64>, Report)> = Vec::new();
    let mut answered = 0;
    for &checkpoint in checkpoints {
        let load = LoadArgs {
            url: url.clone(),
            connections: bench.connections,
            requests: checkpoint - answered,
            rate: None,
        };
        let report = loadgen::run(&bench.bench, bench.load_core(), &load)?;
        answered = checkpoint;
        let rss = server.rss_kib();
        eprintln!(
            "memory: {checkpoint} requests, RSS {} MiB, {:.0} req/s, {} errors",
            format_mib(rss),
            report.achieved_per_sec(),
            report.errors
        );
        readings.push((checkpoint, rss, report));
    }
    drop(server);

    println!("| reading | requests | RSS MiB | req/s of the load | errors |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let idle_readings = [
        ("idle, first start (plugins compiled)", compiled_idle_kib),
        (
            "idle, restart (plugins from the compiled cache)",
            cached_idle_kib,
        ),
    ];
    for (reading, kib) in idle_readings {
        println!("| {reading} | 0 | {} | | |", format_mib(kib));
    }
    for (checkpoint, rss, report) in &readings {
        println!(
            "| after {checkpoint} | {checkpoint} | {} | {:.0} | {} |",
            format_mib(*rss),
            report.achieved_per_sec(),
            report.errors
        );
        if let Some(error) = &report.first_error {
            println!("  first error: {error}");
        }
    }
    for (reading, kib) in idle_readings {
        match kib {
            Some(kib) => println!(
                "{reading}: RSS {:.1} MB: target ≤ {} MB: {}",
                kib as f64 * 1024.0 / 1e6,
                IDLE_TARGET_BYTES / 1_000_000,
                met(kib * 1024 <= IDLE_TARGET_BYTES)
            ),
            None => println!("{reading}: RSS could not be read"),
        }
    }
    if let [(first, Some(first_rss), _), .., (last, Some(last_rss), _)] = readings.as_slice() {
        let growth = growth_percent(*first_rss, *last_rss);
        println!(
            "RSS after {last} vs after {first}: {growth:+.1} %: target within {GROWTH_TARGET_PERCENT} %: {}",
            met(growth.abs() <= GROWTH_TARGET_PERCENT)
        );
    }
    Ok(())
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "not met" }
}

/// How much `after` is above (or below) `before`, in percent of `before`.
fn growth_percent(before_kib: u64, after_kib: u64) -> f64 {
    100.0 * (after_kib as f64 - before_kib as f64) / before_kib as f64
}

/// The directory a config's relative paths are relative to (as hookbox resolves them).
fn config_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The configs, served as one.
#[derive(Debug)]
struct Merged {
    table: toml::Table,
    /// `[openim] path`, where the callbacks go.
    openim_path: String,
    /// Names of the plugins kept, in config order.
    loaded: Vec<String>,
    /// Plugins left out because their `source` does not exist, with that source.
    left_out: Vec<(String, PathBuf)>,
    /// Every plugin source the configs list, built or not.
    listed: Vec<PathBuf>,
}

/// Merges `configs` (each with the directory its paths are relative to): the first one's
/// tables, every config's plugins whose source `exists`, with sources made independent of
/// where the merged file is written; the server listening on `listen` with `data_dir`.
fn merge_configs(
    configs: Vec<(PathBuf, toml::Table)>,
    listen: SocketAddr,
    data_dir: &Path,
    exists: impl Fn(&Path) -> bool,
) -> Result<Merged> {
    let mut merged: Option<toml::Table> = None;
    let mut plugins = Vec::new();
    let (mut loaded, mut left_out, mut listed) = (Vec::new(), Vec::new(), Vec::new());
    for (dir, mut table) in configs {
        let listed_plugins = match table.remove("plugin") {
            None => Vec::new(),
            Some(toml::Value::Array(plugins)) => plugins,
            Some(other) => bail!("`plugin` must be an array of tables, not {other}"),
        };
        for plugin in listed_plugins {
            let toml::Value::Table(mut plugin) = plugin else {
                bail!("a `[[plugin]]` entry is not a table");
            };
            let name = plugin
                .get("name")
                .and_then(toml::Value::as_str)
                .context("a plugin has no name")?
                .to_owned();
            let source = dir.join(
                plugin
                    .get("source")
                    .and_then(toml::Value::as_str)
                    .with_context(|| format!("plugin {name} has no source"))?,
            );
            listed.push(source.clone());
            if !exists(&source) {
                left_out.push((name, source));
                continue;
            }
            let source_text = source
                .to_str()
                .with_context(|| format!("plugin {name}'s source is not UTF-8"))?;
            plugin.insert("source".to_owned(), source_text.into());
            // Its workdir is relative to the original config, and the phase never builds.
            plugin.remove("build");
            plugins.push(toml::Value::Table(plugin));
            loaded.push(name);
        }
        merged.get_or_insert(table);
    }
    let mut table = merged.context("no config given")?;
    let server = table
        .entry("server")
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .context("`server` is not a table")?;
    server.insert("listen".to_owned(), listen.to_string().into());
    let data_dir = data_dir.to_str().context("the data_dir is not UTF-8")?;
    server.insert("data_dir".to_owned(), data_dir.into());
    // An admin API needs a token and a port of its own; the phase measures the webhook server.
    server.remove("admin_listen");
    table.insert("plugin".to_owned(), plugins.into());
    let openim_path = table
        .get("openim")
        .and_then(|openim| openim.get("path"))
        .and_then(toml::Value::as_str)
        .unwrap_or("/openim")
        .to_owned();
    Ok(Merged {
        table,
        openim_path,
        loaded,
        left_out,
        listed,
    })
}

/// The example crates under `examples_dir` whose component (`<crate_name>.wasm`, as cargo
/// names it) is not among `listed` sources.
fn unlisted_examples(examples_dir: &Path, listed: &[PathBuf]) -> Result<Vec<String>> {
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(examples_dir)
        .with_context(|| format!("list {}", examples_dir.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            crates.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    crates.sort();
    Ok(crates
        .into_iter()
        .filter(|name| {
            let component = format!("{}.wasm", name.replace('-', "_"));
            !listed
                .iter()
                .any(|source| source.file_name().is_some_and(|f| *f == *component))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_CONFIG: &str = r#"
[server]
listen = "127.0.0.1:8080"
max_body_kb = 1024
admin_listen = "127.0.0.1:8081"

[openim]
path = "/im"

[[plugin]]
name = "keyword-filter"
source = "plugins/target/kf.wasm"
build = { command = "cargo build", workdir = "plugins" }
commands = ["a"]

[[plugin]]
name = "unbuilt"
source = "plugins/target/unbuilt.wasm"
commands = ["b"]
"#;

    const LANGUAGES_CONFIG: &str = r#"
[server]
listen = "127.0.0.1:9999"

[[plugin]]
name = "welcome"
source = "target/languages/welcome.wasm"
commands = ["c"]
"#;

    fn merge(exists: impl Fn(&Path) -> bool) -> Merged {
        merge_configs(
            vec![
                (PathBuf::from("/repo"), ROOT_CONFIG.parse().unwrap()),
                (
                    PathBuf::from("/repo/plugins"),
                    LANGUAGES_CONFIG.parse().unwrap(),
                ),
            ],
            "127.0.0.1:4000".parse().unwrap(),
            Path::new("/tmp/data"),
            exists,
        )
        .unwrap()
    }

    #[test]
    fn built_plugins_of_all_configs_are_kept_with_absolute_sources() {
        let merged = merge(|path| !path.ends_with("unbuilt.wasm"));
        assert_eq!(merged.loaded, ["keyword-filter", "welcome"]);
        assert_eq!(
            merged.left_out,
            [(
                "unbuilt".to_owned(),
                PathBuf::from("/repo/plugins/target/unbuilt.wasm")
            )]
        );
        assert_eq!(merged.listed.len(), 3);
        let plugins = merged.table["plugin"].as_array().unwrap();
        assert_eq!(
            plugins[0]["source"].as_str(),
            Some("/repo/plugins/target/kf.wasm")
        );
        assert!(plugins[0].get("build").is_none());
        assert_eq!(
            plugins[1]["source"].as_str(),
            Some("/repo/plugins/target/languages/welcome.wasm")
        );
    }

    #[test]
    fn the_first_config_gives_the_server_which_the_benchmark_owns() {
        let merged = merge(|_| true);
        let server = merged.table["server"].as_table().unwrap();
        assert_eq!(server["listen"].as_str(), Some("127.0.0.1:4000"));
        assert_eq!(server["data_dir"].as_str(), Some("/tmp/data"));
        assert_eq!(server["max_body_kb"].as_integer(), Some(1024));
        assert!(server.get("admin_listen").is_none());
        assert_eq!(merged.openim_path, "/im");
        // What is written parses back.
        let text = toml::to_string(&merged.table).unwrap();
        assert!(text.parse::<toml::Table>().is_ok());
    }

    #[test]
    fn growth_is_relative_to_the_earlier_reading() {
        assert_eq!(growth_percent(1000, 1100), 10.0);
        assert_eq!(growth_percent(1000, 950), -5.0);
        assert_eq!(growth_percent(2048, 2048), 0.0);
    }

    #[test]
    fn examples_no_config_lists_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["keyword-filter", "group-stats"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("README.md"), "").unwrap();
        let listed = [PathBuf::from("/x/keyword_filter.wasm")];
        assert_eq!(
            unlisted_examples(dir.path(), &listed).unwrap(),
            ["group-stats"]
        );
    }
}
