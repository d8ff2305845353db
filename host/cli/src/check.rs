//! `hookbox check`: what `serve` would refuse in a config file, found without serving.
//!
//! It reads the config, checks that this binary can export traces if the config asks it
//! to, resolves the environment the config names (the admin token, Tencent tokens, plugin
//! secrets), connects to Redis where the config keeps a store there, and compiles and links
//! every plugin as `serve` does. Then it prints what would serve: the endpoints, the stores,
//! each plugin's version and commands. For deploy pipelines, and for editing the config of a
//! server that is running.
//!
//! What it is not: a dry run of `serve`. It binds no address, since a running hookbox may
//! hold them, and it leaves `data_dir` alone: a running hookbox holds the embedded stores'
//! files locked, so it opens throwaway ones in a temporary directory, and the admin API's
//! changes kept in `data_dir` are not checked.
//!
//! The decision a reader may question: **plugins are compiled, not only read**. That costs
//! what a cold start costs (seconds for the JS and Python examples), but a component that
//! does not link, or imports what its grants do not give, is what a config check is for.

use anyhow::{Context, Result};
use hookbox_server::config::RedisUrl;
use hookbox_server::{App, Config};

use crate::{ConfigArgs, admin_api, build_plugins, config_dir, open_registry, telemetry};

pub(crate) async fn check(args: ConfigArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    telemetry::check_export(&config.telemetry)?;
    let base = config_dir(&args.config);
    if args.build {
        build_plugins(&config, &base).await?;
    }
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (registry, queue) = open_registry(&config, scratch.path(), None).await?;
    admin_api(&config, &registry)?;
    registry
        .load_all(&config.plugins, &base)
        .await
        .context("cannot load the plugins")?;
    // As `serve` builds it; its queue consumers are never started.
    App::with_queue(
        &config,
        registry.clone(),
        &|var| std::env::var(var).ok(),
        queue,
    )?;

    println!("config    {}", args.config.display());
    println!("{}", endpoints(&config));
    match config.server.admin_listen {
        Some(addr) => println!("admin     {addr}"),
        None => println!("admin     off"),
    }
    println!(
        "kv        {}",
        store_line(config.kv.url.as_ref(), "kv.redb")
    );
    println!(
        "queue     {}",
        store_line(config.queue.url.as_ref(), "queue.redb")
    );
    let snapshot = registry.snapshot();
    println!("plugins   {}", snapshot.plugins().len());
    for entry in snapshot.plugins() {
        let commands = &entry.manifest.commands;
        println!(
            "  {:<24} sha256:{}  compiled in {} ms  {} command{}: {}",
            entry.manifest.name,
            &entry.version.sha256[..12],
            entry.plugin.compile_time().as_millis(),
            commands.len(),
            if commands.len() == 1 { "" } else { "s" },
            commands.join(", ")
        );
    }
    println!(
        "result    OK: `hookbox serve` would start with this config (not checked: binding the addresses, the admin API's changes in data_dir)"
    );
    Ok(())
}

/// The webhook listener and the endpoints on it.
fn endpoints(config: &Config) -> String {
    let mut line = format!(
        "webhooks  {}  OpenIM {}",
        config.server.listen, config.openim.path
    );
    if let Some(tencent) = &config.tencent {
        let apps = tencent.apps.len();
        let plural = if apps == 1 { "" } else { "s" };
        line.push_str(&format!("  Tencent {} ({apps} app{plural})", tencent.path));
    }
    if !config.server.allow_sources.is_empty() {
        let sources: Vec<String> = config
            .server
            .allow_sources
            .iter()
            .map(ToString::to_string)
            .collect();
        line.push_str(&format!("  from {}", sources.join(", ")));
    }
    line
}

/// Where a store lives: a Redis (reached just now; `url` is set for that backend only) or a
/// file in `data_dir`.
fn store_line(url: Option<&RedisUrl>, file: &str) -> String {
    match url {
        Some(url) => format!("{} (reachable)", url.redacted()),
        None => format!("embedded (data_dir/{file})"),
    }
}
