//! `hookbox-bench`: end-to-end throughput, latency and memory of hookbox against a native
//! baseline.
//!
//! `cargo run --release -p hookbox-bench` builds nothing itself: it expects the release
//! binaries (`cargo build --release -p hookbox -p hookbox-bench`) and the example plugins
//! (`cargo build --release -p keyword-filter --target wasm32-unknown-unknown` in `plugins/`). It then starts, on loopback, hookbox serving
//! `keyword-filter` with a fresh instance per call, hookbox serving it in reuse mode, and a
//! native axum server that does the same work in-process (`baseline`), and measures, in
//! phases:
//!
//! 1. **peak throughput** (`wrk`): each server driven by Debian's `wrk` at the same
//!    concurrency with the same seed payload, rotating runs; prints requests per second, the
//!    share of native, latency percentiles, and each server's resident memory idle and after
//!    its runs.
//! 2. **latency at a fixed rate** (`loadgen`): half the native peak measured in phase 1, sent
//!    on a fixed schedule to each server, latency counted from each request's due time, every
//!    answer checked.
//! 3. with `--memory`, **memory** (`memory`): hookbox with the repository's example plugins,
//!    RSS idle and after 100k and 1M requests.
//!
//! Servers are pinned to vCPU 0 and the load generators (wrk, `loadgen`) to vCPU 1 unless
//! `--no-pin`.
//!
//! The decision a reader may question: the baseline and the fixed-rate load generator run
//! as this same binary's subcommands, so every server and load generator is a separate
//! release process, pinned on its own, and none shares a runtime with another.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::loadgen::LoadArgs;
use crate::process::{ScratchDir, ServerProcess, format_mib, free_port, on_core};

mod baseline;
mod loadgen;
mod memory;
mod process;
mod wrk;

#[derive(Parser)]
#[command(about = "Throughput of hookbox + keyword-filter against a native axum baseline")]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Seconds per run (peak throughput and fixed rate alike).
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Open connections (and wrk threads = 1, so the load generator uses one core at most).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Runs per server, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Do not pin the servers to vCPU 0 and the load generators to vCPU 1 (`taskset`).
    /// Pinning makes runs repeatable on a 2-core VM, where the scheduler otherwise moves the
    /// servers and the load generator across cores between runs.
    #[arg(long)]
    no_pin: bool,
    /// Also run the memory phase: hookbox with the example plugins, RSS idle and after
    /// `--memory-checkpoints` requests.
    #[arg(long)]
    memory: bool,
    /// Run the memory phase only.
    #[arg(long)]
    memory_only: bool,
    /// Configs the memory phase serves as one: the plugins of all, the other tables of the
    /// first. Relative to the repository root.
    #[arg(long, value_delimiter = ',', default_values = ["hookbox.toml", "plugins/languages.toml"])]
    memory_configs: Vec<PathBuf>,
    /// hookbox's log filter (`HOOKBOX_LOG`) in every phase. `warn` measures the callback path
    /// without the per-callback `info` span, as the baseline logs nothing; `info`, hookbox's
    /// default, measures what an operator who changes nothing gets.
    #[arg(long, default_value = "warn")]
    hookbox_log: String,
    /// Requests answered in total at each memory reading after the idle one.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000, 1_000_000])]
    memory_checkpoints: Vec<u64>,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve the native baseline (used by the benchmark itself).
    Baseline {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Generate load and print a JSON report (used by the benchmark itself).
    Load(LoadArgs),
}

const COMMAND: &str = "callbackBeforeSendSingleMsgCommand";
const BANNED: &str = "spam,scam";
const ALLOW: &str = r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#;

fn main() -> Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Mode::Baseline { listen }) => baseline::serve(*listen),
        Some(Mode::Load(load)) => loadgen::generate(load),
        None => run_phases(&cli),
    }
}

/// What every phase needs: where things are, and how to run them.
struct Bench {
    root: PathBuf,
    /// The release `hookbox` binary.
    hookbox: PathBuf,
    /// The release `hookbox-bench` binary (this one), for its subcommands.
    bench: PathBuf,
    /// Configs, scripts, data_dirs and logs of this run; removed at the end.
    scratch: ScratchDir,
    pin: bool,
    connections: u32,
    seconds: u32,
    rounds: u32,
    hookbox_log: String,
}

impl Bench {
    /// The vCPU servers run on, or `None` with `--no-pin`.
    fn server_core(&self) -> Option<u32> {
        self.pin.then_some(0)
    }

    /// `hookbox serve --config <config>`, on the servers' vCPU, with the run's log filter.
    fn hookbox_serve(&self, config: &Path) -> Command {
        let mut command = on_core(self.server_core(), &self.hookbox);
        command
            .args(["serve", "--config"])
            .arg(config)
            .env("HOOKBOX_LOG", &self.hookbox_log);
        command
    }

    /// The vCPU load generators run on, or `None` with `--no-pin`.
    fn load_core(&self) -> Option<u32> {
        self.pin.then_some(1)
    }
}

fn run_phases(cli: &Cli) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("bench/ has no parent directory")?
        .to_owned();
    let release = root.join("target/release");
    let bench = Bench {
        hookbox: release.join("hookbox"),
        bench: release.join("hookbox-bench"),
        scratch: ScratchDir::new()?,
        pin: !cli.no_pin,
        connections: cli.connections,
        seconds: cli.seconds,
        rounds: cli.rounds,
        hookbox_log: cli.hookbox_log.clone(),
        root,
    };
    let keyword_filter = bench
        .root
        .join("plugins/target/wasm32-unknown-unknown/release/keyword_filter.wasm");
    for needed in [&bench.hookbox, &bench.bench, &keyword_filter] {
        if !needed.exists() {
            bail!(
                "{} is missing: run `cargo build --release -p hookbox -p hookbox-bench` and, in plugins/, `cargo build --release -p keyword-filter --target wasm32-unknown-unknown`",
                needed.display()
            );
        }
    }
    if !cli.memory_only {
        compare(&bench, &keyword_filter)?;
    }
    if cli.memory || cli.memory_only {
        let configs: Vec<PathBuf> = cli
            .memory_configs
            .iter()
            .map(|config| bench.root.join(config))
            .collect();
        memory::run(&bench, &configs, &cli.memory_checkpoints)?;
    }
    Ok(())
}

/// A server under comparison.
struct Server {
    name: String,
    url: String,
    process: ServerProcess,
    idle_kib: Option<u64>,
}

/// Phases 1 and 2: peak throughput with wrk, then latency at half the native peak.
fn compare(bench: &Bench, keyword_filter: &Path) -> Result<()> {
    wrk::check_installed()?;
    let script = wrk::write_post_script(bench.scratch.path(), &seed_payload())?;
    let servers = start_servers(bench, keyword_filter)?;

    let mut results: Vec<Vec<wrk::Run>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 0..bench.rounds {
        // Rotate which server goes first so drift of the machine hits all alike.
        let n = servers.len();
        for k in 0..n {
            let i = (k + round as usize) % n;
            let run = wrk::run(
                &servers[i].url,
                &script,
                bench.load_core(),
                bench.connections,
                bench.seconds,
            )?;
            eprintln!(
                "round {} {:<32} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
                round + 1,
                servers[i].name,
                run.requests_per_sec,
                run.p50_ms,
                run.p99_ms
            );
            results[i].push(run);
        }
    }
    // Read before phase 2, so "after" means after the same wrk runs for every server.
    let final_kib: Vec<Option<u64>> = servers.iter().map(|s| s.process.rss_kib()).collect();

    println!(
        "\n{} s per run, {} connections, {} rounds, rotating{}, HOOKBOX_LOG={}; median of rounds:",
        bench.seconds,
        bench.connections,
        bench.rounds,
        if bench.pin {
            ", servers on vCPU 0 and wrk on vCPU 1"
        } else {
            ""
        },
        bench.hookbox_log
    );
    println!("| server | req/s | % of native | p50 ms | p99 ms | RSS idle MiB | RSS after MiB |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let medians: Vec<f64> = results
        .iter()
        .map(|runs| median(runs.iter().map(|r| r.requests_per_sec)))
        .collect();
    // `start_servers` starts the native baseline last.
    let native_peak = medians.last().copied().unwrap_or(0.0);
    for (i, server) in servers.iter().enumerate() {
        let p50 = median(results[i].iter().map(|r| r.p50_ms));
        let p99 = median(results[i].iter().map(|r| r.p99_ms));
        println!(
            "| {} | {:.0} | {:.1} % | {p50:.2} | {p99:.2} | {} | {} |",
            server.name,
            medians[i],
            100.0 * medians[i] / native_peak,
            format_mib(server.idle_kib),
            format_mib(final_kib[i]),
        );
    }

    fixed_rate(bench, &servers, native_peak / 2.0)
}

/// hookbox fresh, hookbox reuse, and the native baseline last, each listening.
fn start_servers(bench: &Bench, keyword_filter: &Path) -> Result<Vec<Server>> {
    let dir = bench.scratch.path();
    let mut commands = Vec::new();
    for instances in ["fresh", "reuse"] {
        let addr = free_port()?;
        let config = dir.join(format!("hookbox-{instances}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"{addr}\"\ndata_dir = {:?}\n\n[[plugin]]\nname = \"keyword-filter\"\nsource = {:?}\ncommands = [\"{COMMAND}\"]\ninstances = \"{instances}\"\ngrants = {{ config = {{ banned = \"{BANNED}\" }} }}\n",
                dir.join(format!("data-{instances}")),
                keyword_filter
            ),
        )?;
        commands.push((
            format!("hookbox, instances = \"{instances}\""),
            addr,
            bench.hookbox_serve(&config),
        ));
    }
    let addr = free_port()?;
    let mut command = on_core(bench.server_core(), &bench.bench);
    command.args(["baseline", "--listen", &addr.to_string()]);
    commands.push(("native axum baseline".to_owned(), addr, command));

    let mut servers = Vec::new();
    for (i, (name, addr, command)) in commands.into_iter().enumerate() {
        let process = ServerProcess::start(command, addr, &dir.join(format!("server-{i}.log")))?;
        servers.push(Server {
            idle_kib: process.rss_kib(),
            url: format!("http://{addr}/openim/{COMMAND}"),
            name,
            process,
        });
    }
    Ok(servers)
}

/// Phase 2: each server in turn at `rate` for `bench.seconds`, open loop.
fn fixed_rate(bench: &Bench, servers: &[Server], rate: f64) -> Result<()> {
    let requests = loadgen::requests_for(rate, f64::from(bench.seconds));
    if requests == 0 {
        bail!(
            "no fixed-rate run: the native peak was {:.0} req/s",
            2.0 * rate
        );
    }
    let mut reports = Vec::new();
    for server in servers {
        let load = LoadArgs {
            url: server.url.clone(),
            connections: bench.connections,
            requests,
            rate: Some(rate),
        };
        let report = loadgen::run(&bench.bench, bench.load_core(), &load)?;
        eprintln!(
            "fixed rate {:<32} {:>9.0} req/s  p50 {}  p99 {}  errors {}  missed {}",
            server.name,
            report.achieved_per_sec(),
            format_ms(report.p50_ms),
            format_ms(report.p99_ms),
            report.errors,
            report.missed
        );
        reports.push(report);
    }

    println!(
        "\nFixed rate: half the native peak, {rate:.0} req/s for {} s ({requests} requests) over {} connections, open loop{}; latency from each request's due time:",
        bench.seconds,
        bench.connections,
        if bench.pin { ", load on vCPU 1" } else { "" }
    );
    println!(
        "| server | target req/s | achieved req/s | p50 ms | p99 ms | max ms | errors | missed |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (server, report) in servers.iter().zip(&reports) {
        println!(
            "| {} | {rate:.0} | {:.0} | {} | {} | {} | {} | {} |",
            server.name,
            report.achieved_per_sec(),
            format_ms(report.p50_ms),
            format_ms(report.p99_ms),
            format_ms(report.max_ms),
            report.errors,
            report.missed
        );
    }
    for (server, report) in servers.iter().zip(&reports) {
        if let Some(error) = &report.first_error {
            println!("{}: first error: {error}", server.name);
        }
    }
    Ok(())
}

fn format_ms(ms: Option<f64>) -> String {
    ms.map_or("-".to_owned(), |ms| format!("{ms:.2}"))
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The OpenIM seed payload (a clean text message: the common case is allow).
fn seed_payload() -> String {
    serde_json::json!({
        "sendID": "user123", "callbackCommand": COMMAND, "serverMsgID": "serverMsg123",
        "clientMsgID": "clientMsg123", "operationID": "1646445464564", "senderPlatformID": 1,
        "senderNickname": "John Doe", "sessionType": 1, "msgFrom": 100, "contentType": 101,
        "status": 1, "sendTime": 1673048592000_i64, "createTime": 1673048592000_i64,
        "content": "{\"content\":\"Hello, how are you?\"}", "seq": 0, "atUserList": null,
        "faceURL": "http://example.com/path/to/face/image.png", "ex": "Extra data", "recvID": "user456"
    })
    .to_string()
}
