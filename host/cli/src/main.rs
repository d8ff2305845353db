//! `hookbox`, the binary: reads the config, wires the crates together, and owns everything
//! a library should not (process signals, environment variables, `anyhow`, stdout).
//!
//! Subcommands: `serve` runs the webhook server (and the admin API and file watcher);
//! `run` calls one plugin once on one event file, the plugin author's inner loop; `push`
//! uploads a new version of a plugin to a running server; `validate` checks one component
//! and `check` a whole config file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hookbox_queue::Queue;
use hookbox_registry::{Registry, RegistryOptions, Store};
use hookbox_runtime::{Runtime, RuntimeConfig};
use hookbox_server::config::TelemetryConfig;
use hookbox_server::{Admin, App, Config, stores};

/// jemalloc, not glibc's malloc: glibc keeps most of what a compile frees in its per-thread
/// arenas for good, hundreds of MiB after the JS and Python components (docs/adr/015).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod check;
mod push;
mod run;
mod telemetry;
mod validate;
mod watch;

#[derive(Debug, Parser)]
#[command(
    name = "hookbox",
    version,
    about = "Run IM-server callbacks through sandboxed WebAssembly plugins"
)]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the webhook endpoints with the plugins in the config file.
    Serve(ConfigArgs),
    /// Call one plugin once on one event file and print what it decided.
    Run(run::RunArgs),
    /// Replace a running plugin's code through the admin API.
    Push(push::PushArgs),
    /// Check a component the way the host does at load, and list what it imports.
    Validate(validate::ValidateArgs),
    /// Check a config file the way `serve` reads it, plugins compiled, without serving.
    Check(ConfigArgs),
}

/// The config file to serve or check.
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// The config file.
    #[arg(long, short, default_value = "hookbox.toml")]
    config: PathBuf,
    /// Run each plugin's `build` command before loading it.
    #[arg(long)]
    build: bool,
}

fn main() -> ExitCode {
    match run_command(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("{}", error_report(&error));
            ExitCode::FAILURE
        }
    }
}

/// What the binary prints for an error: the message and its causes, the way `anyhow` shows
/// them, but never a stack backtrace. Returning the error from `main` would add one whenever
/// `RUST_BACKTRACE` is set, and an operator's shell may well set it; a wrong path or a bad
/// config is not a crash.
fn error_report(error: &anyhow::Error) -> String {
    let mut report = format!("Error: {error}\n");
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    match causes.as_slice() {
        [] => {}
        [cause] => report.push_str(&format!("\nCaused by:\n    {cause}\n")),
        causes => {
            report.push_str("\nCaused by:\n");
            for (i, cause) in causes.iter().enumerate() {
                report.push_str(&format!("    {i}: {cause}\n"));
            }
        }
    }
    report
}

fn run_command(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            // Read before anything logs: the `[telemetry]` table says where traces go.
            let config = Config::load(&args.config)?;
            let telemetry = config.telemetry.clone();
            traced(cli.log_format, Some(&telemetry), serve(args, config))
        }
        Command::Run(args) => traced(cli.log_format, None, run::run(args)),
        Command::Push(args) => traced(cli.log_format, None, push::push(args)),
        Command::Validate(args) => traced(cli.log_format, None, async { validate::validate(args) }),
        Command::Check(args) => traced(cli.log_format, None, check::check(args)),
    }
}

/// Sets up the log (and trace export), runs `work` on a multi-threaded runtime, and flushes
/// the traces once the runtime is gone (the exporter's HTTP client blocks).
fn traced(
    format: LogFormat,
    telemetry: Option<&TelemetryConfig>,
    work: impl Future<Output = Result<()>>,
) -> Result<()> {
    let telemetry = telemetry::init(format, telemetry)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(work);
    drop(runtime);
    telemetry.shutdown();
    result
}

async fn serve(args: ConfigArgs, config: Config) -> Result<()> {
    let base = config_dir(&args.config);
    if args.build {
        build_plugins(&config, &base).await?;
    }
    let data_dir = base.join(&config.server.data_dir);
    let store = Store::open(&data_dir)
        .with_context(|| format!("cannot use data_dir {}", data_dir.display()))?;
    // Both stores open before anything listens: a Redis that cannot be reached, or a file
    // another hookbox holds, stops the start here with the reason.
    let (registry, queue) = open_registry(&config, &data_dir, Some(store)).await?;

    // One signal stops every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };

    // The admin API starts before the plugins load, so /healthz answers and /readyz tells.
    let admin = match admin_api(&config, &registry)? {
        None => None,
        Some((addr, admin)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (server.admin_listen)"))?;
            tracing::info!(addr = %listener.local_addr()?, "admin API listening");
            let task = tokio::spawn(hookbox_server::serve(listener, admin.router(), stopped()));
            Some((admin, task))
        }
    };
    registry
        .load_all(&config.plugins, &base)
        .await
        .context("cannot load the plugins")?;
    release_freed_memory();
    if let Some((admin, _)) = &admin {
        admin.set_ready();
    }
    let app = App::with_queue(
        &config,
        registry.clone(),
        &|var| std::env::var(var).ok(),
        queue.clone(),
    )?;
    if let Some((admin, _)) = &admin {
        admin.export_metrics(app.metrics.clone());
        admin.serve_queue(queue);
    }
    // Consumers start once the plugins are loaded: events queued before a restart are
    // delivered from here on.
    let consumers = app
        .delivery
        .clone()
        .map(|delivery| tokio::spawn(delivery.run(stopped())));
    let _watcher = if config.server.watch {
        Some(watch::start(registry, &args.config, base.clone(), config.clone()).await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        openim = %config.openim.path,
        plugins = config.plugins.len(),
        "hookbox serving"
    );
    hookbox_server::serve(listener, app.router(&config), stopped()).await?;
    if let Some((_, task)) = admin {
        task.await.context("the admin API task failed")??;
    }
    if let Some(consumers) = consumers {
        // They finish the deliveries they have running; the rest waits in the queue.
        consumers
            .await
            .context("the after-callback consumers failed")?;
    }
    tracing::info!("hookbox stopped");
    Ok(())
}

/// The admin API `server.admin_listen` asks for, and its address; none when it is not set.
/// Fails when `HOOKBOX_ADMIN_TOKEN` is missing or weak.
fn admin_api(
    config: &Config,
    registry: &Arc<Registry>,
) -> Result<Option<(SocketAddr, Arc<Admin>)>> {
    let Some(addr) = config.server.admin_listen else {
        return Ok(None);
    };
    let token = std::env::var("HOOKBOX_ADMIN_TOKEN").ok();
    let admin = Admin::new(
        registry.clone(),
        token.as_deref(),
        config.server.admin_max_body_mb.saturating_mul(1 << 20),
    )
    .context("the admin API cannot start")?;
    Ok(Some((addr, admin)))
}

/// The wasm runtime, the stores and the plugin registry `config` describes, no plugin loaded
/// yet. The embedded stores' files go in `state_dir`; `store` keeps admin changes, earlier
/// versions and compiled code (none: memory only, every plugin compiled).
async fn open_registry(
    config: &Config,
    state_dir: &Path,
    store: Option<Store>,
) -> Result<(Arc<Registry>, Queue)> {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_calls: config.server.max_instances,
        ..RuntimeConfig::default()
    })
    .context("cannot start the wasm runtime")?;
    let kv = stores::open_kv(&config.kv, state_dir)
        .await
        .context("cannot open the key-value store")?;
    let request_timeout = Duration::from_millis(config.server.request_timeout_ms);
    let queue = stores::open_queue(&config.queue, state_dir, request_timeout)
        .await
        .context("cannot open the after-callback queue")?;
    tracing::info!(kv = ?kv, queue = ?config.queue, "stores open");
    let options = RegistryOptions {
        store,
        compile_timeout: Duration::from_millis(config.server.compile_timeout_ms),
        kv: Some(kv),
        kv_op_timeout: Duration::from_millis(config.kv.op_timeout_ms),
        ..RegistryOptions::default()
    };
    let registry = Registry::open(Arc::new(runtime), options).context("cannot read data_dir")?;
    Ok((Arc::new(registry), queue))
}

/// Hand the pages freed so far back to the OS now, and from here on a few seconds after they
/// are freed even while hookbox is idle. Compiling a plugin frees hundreds of MiB at once;
/// jemalloc would otherwise keep them until it next allocates from the same arena, which an
/// idle server may never do. Best effort: an allocator that refuses only costs memory.
fn release_freed_memory() {
    use tikv_jemalloc_ctl::{Access, AsName, arenas, background_thread};
    let Ok(count) = arenas::narenas::read() else {
        return;
    };
    for arena in 0..count {
        // Setting a decay time of 0 purges the arena's freed pages there and then; the old
        // time is put back, so that busy traffic does not pay a purge per free. Arenas no
        // thread has used refuse, and have nothing to purge. (Not `update`: it hands jemalloc
        // one buffer for the old and the new value, so the old value is what gets written.)
        let key = format!("arena.{arena}.dirty_decay_ms\0");
        let key = key.as_bytes().name();
        let Ok(decay_ms) = Access::<isize>::read(key) else {
            continue;
        };
        if key.write(0_isize).is_ok() {
            let _ = key.write(decay_ms);
        }
    }
    if let Err(error) = background_thread::write(true) {
        tracing::debug!(%error, "no jemalloc background threads: freed memory decays only when allocating");
    }
}

/// The directory config paths are relative to.
fn config_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

async fn build_plugins(config: &Config, base: &Path) -> Result<()> {
    for plugin in &config.plugins {
        let Some(build) = &plugin.build else { continue };
        let workdir = base.join(build.workdir.as_deref().unwrap_or(Path::new(".")));
        tracing::info!(plugin = %plugin.name, command = %build.command, workdir = %workdir.display(), "building");
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .await
            .with_context(|| format!("plugin {}: cannot run its build command", plugin.name))?;
        if !status.success() {
            bail!(
                "plugin {}: build command `{}` failed ({status})",
                plugin.name,
                build.command
            );
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests are then drained.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
    // A request stuck past every plugin deadline cannot hold the process forever.
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        tracing::warn!("drain took longer than 30 s; exiting");
        std::process::exit(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_report_lists_its_causes_in_order() {
        let one = anyhow::anyhow!("disk full").context("cannot write the queue");
        assert_eq!(
            error_report(&one),
            "Error: cannot write the queue\n\nCaused by:\n    disk full\n"
        );
        let two = one.context("cannot start");
        assert_eq!(
            error_report(&two),
            "Error: cannot start\n\nCaused by:\n    0: cannot write the queue\n    1: disk full\n"
        );
        assert_eq!(error_report(&anyhow::anyhow!("bare")), "Error: bare\n");
    }
}
