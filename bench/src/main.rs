//! `hookbox-bench`: end-to-end throughput of hookbox against a native baseline.
//!
//! `cargo run --release -p hookbox-bench` builds nothing itself: it expects the release
//! binaries (`cargo build --release -p hookbox -p hookbox-bench`) and the example plugins
//! (`cargo build --release` in `plugins/`). It then starts, on loopback, hookbox serving
//! `keyword-filter` with a fresh instance per call, hookbox serving it in reuse mode, and a
//! native axum server that does the same work in-process (parse the OpenIM payload, read the
//! text out of its JSON-string `content`, look for the banned words, write the same
//! envelope); drives each with `wrk` (Debian package `wrk`) at the same concurrency with the
//! same seed payload, rotating runs; and prints requests per second, the share of native,
//! latency percentiles, and each server's resident memory idle and after its runs. Servers
//! are pinned to vCPU 0 and wrk to vCPU 1 unless `--no-pin`.
//!
//! The decision a reader may question: the baseline runs as this same binary's `baseline`
//! subcommand, so both servers are separate release processes measured by the same external
//! load generator, and neither shares a runtime with the load generator or the other.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use axum::routing::post;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Throughput of hookbox + keyword-filter against a native axum baseline")]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Open connections (and wrk threads = 1, so the load generator uses one core at most).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Runs per server, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Do not pin the servers to vCPU 0 and wrk to vCPU 1 (`taskset`). Pinning makes runs
    /// repeatable on a 2-core VM, where the scheduler otherwise moves the servers and the
    /// load generator across cores between runs.
    #[arg(long)]
    no_pin: bool,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve the native baseline (used by the benchmark itself).
    Baseline {
        #[arg(long)]
        listen: SocketAddr,
    },
}

const COMMAND: &str = "callbackBeforeSendSingleMsgCommand";
const BANNED: &str = "spam,scam";
const ALLOW: &str = r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#;

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Mode::Baseline { listen }) => baseline(listen),
        None => compare(&cli),
    }
}

/// The same decision keyword-filter makes, written directly against the payload.
fn decide(body: &[u8], banned: &[String]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(payload)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return br#"{"code":"body_not_json"}"#.to_vec();
    };
    let text = payload
        .get("content")
        .and_then(|c| c.as_str())
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|c| {
            c.get("content")
                .and_then(|t| t.as_str())
                .map(str::to_lowercase)
        });
    let hit = text.and_then(|text| {
        banned
            .iter()
            .find(|word| text.contains(word.as_str()))
            .cloned()
    });
    match hit {
        None => ALLOW.as_bytes().to_vec(),
        Some(word) => serde_json::to_vec(&serde_json::json!({
            "actionCode": 0,
            "errCode": 5001,
            "errMsg": format!("message blocked by keyword-filter: contains banned word \"{word}\""),
            "errDlt": "",
            "nextCode": 1,
        }))
        .unwrap_or_default(),
    }
}

fn baseline(listen: SocketAddr) -> Result<()> {
    let banned: Vec<String> = BANNED.split(',').map(str::to_owned).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = axum::Router::new().route(
            &format!("/openim/{COMMAND}"),
            post(move |body: Bytes| {
                let banned = banned.clone();
                async move {
                    (
                        [("content-type", "application/json")],
                        decide(&body, &banned),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

struct Run {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn compare(cli: &Cli) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let release = root.join("target/release");
    let plugin = root.join("plugins/target/wasm32-wasip2/release/keyword_filter.wasm");
    for needed in [
        release.join("hookbox"),
        release.join("hookbox-bench"),
        plugin.clone(),
    ] {
        if !needed.exists() {
            bail!(
                "{} is missing: run `cargo build --release -p hookbox -p hookbox-bench` and `cargo build --release` in plugins/",
                needed.display()
            );
        }
    }
    Command::new("wrk")
        .arg("--version")
        .output()
        .context("wrk is not installed (apt-get install wrk)")?;

    let dir = std::env::temp_dir().join(format!("hookbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let body = seed_payload();
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"operationID\"] = \"bench\"\nwrk.body = {}\n",
            lua_string(&body)
        ),
    )?;

    let hookbox_config = |addr: SocketAddr, instances: &str| -> Result<std::path::PathBuf> {
        let config = dir.join(format!("hookbox-{instances}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"{addr}\"\ndata_dir = {:?}\n\n[[plugin]]\nname = \"keyword-filter\"\nsource = {:?}\ncommands = [\"{COMMAND}\"]\ninstances = \"{instances}\"\ngrants = {{ config = {{ banned = \"{BANNED}\" }} }}\n",
                dir.join(format!("data-{instances}")),
                plugin
            ),
        )?;
        Ok(config)
    };
    let mut servers = Vec::new();
    for instances in ["fresh", "reuse"] {
        let addr = free_port()?;
        let config = hookbox_config(addr, instances)?;
        let mut cmd = on_core(cli.core(0), release.join("hookbox"));
        cmd.args(["serve", "--config"])
            .arg(&config)
            .env("HOOKBOX_LOG", "warn");
        servers.push((format!("hookbox, instances = \"{instances}\""), addr, cmd));
    }
    let baseline_addr = free_port()?;
    let mut cmd = on_core(cli.core(0), release.join("hookbox-bench"));
    cmd.args(["baseline", "--listen", &baseline_addr.to_string()]);
    servers.push(("native axum baseline".to_owned(), baseline_addr, cmd));

    let mut children = Vec::new();
    let mut urls = Vec::new();
    for (name, addr, mut cmd) in servers {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let pid = child.id();
        children.push(Guard(child));
        wait_until_listening(addr)?;
        let idle_rss = rss_kib(pid);
        urls.push((
            name,
            format!("http://{addr}/openim/{COMMAND}"),
            pid,
            idle_rss,
        ));
    }

    let mut results: Vec<Vec<Run>> = urls.iter().map(|_| Vec::new()).collect();
    for round in 0..cli.rounds {
        // Rotate which server goes first so drift of the machine hits all alike.
        let n = urls.len();
        for k in 0..n {
            let i = (k + round as usize) % n;
            let run = wrk(&urls[i].1, &script, cli)?;
            eprintln!(
                "round {} {:<32} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
                round + 1,
                urls[i].0,
                run.requests_per_sec,
                run.p50_ms,
                run.p99_ms
            );
            results[i].push(run);
        }
    }
    let final_rss: Vec<Option<u64>> = urls.iter().map(|(_, _, pid, _)| rss_kib(*pid)).collect();
    drop(children);

    println!(
        "\n{} s per run, {} connections, {} rounds, rotating{}; median of rounds:",
        cli.seconds,
        cli.connections,
        cli.rounds,
        if cli.no_pin {
            ""
        } else {
            ", servers on vCPU 0 and wrk on vCPU 1"
        }
    );
    println!("| server | req/s | % of native | p50 ms | p99 ms | RSS idle MiB | RSS after MiB |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let medians: Vec<f64> = results
        .iter()
        .map(|runs| median(runs.iter().map(|r| r.requests_per_sec)))
        .collect();
    let native = medians.last().copied().unwrap_or(0.0);
    let mib =
        |kib: Option<u64>| kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
    for (i, (name, _, _, idle_rss)) in urls.iter().enumerate() {
        let p50 = median(results[i].iter().map(|r| r.p50_ms));
        let p99 = median(results[i].iter().map(|r| r.p99_ms));
        println!(
            "| {name} | {:.0} | {:.1} % | {p50:.2} | {p99:.2} | {} | {} |",
            medians[i],
            100.0 * medians[i] / native,
            mib(*idle_rss),
            mib(final_rss[i]),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn wrk(url: &str, script: &Path, cli: &Cli) -> Result<Run> {
    let output = on_core(cli.core(1), "wrk")
        .args([
            "-t1",
            "--latency",
            "-c",
            &cli.connections.to_string(),
            "-d",
            &format!("{}s", cli.seconds),
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .context("run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("Non-2xx") {
        bail!("non-2xx answers during the run:\n{text}");
    }
    let field = |label: &str| -> Option<&str> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let requests_per_sec = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("wrk printed no Requests/sec")?;
    let p50_ms = field("50%")
        .and_then(parse_duration_ms)
        .context("wrk printed no 50%")?;
    let p99_ms = field("99%")
        .and_then(parse_duration_ms)
        .context("wrk printed no 99%")?;
    Ok(Run {
        requests_per_sec,
        p50_ms,
        p99_ms,
    })
}

/// wrk prints latencies as `812.00us`, `1.23ms` or `2.01s`.
fn parse_duration_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

impl Cli {
    /// The vCPU a process runs on, or `None` with `--no-pin`.
    fn core(&self, core: u32) -> Option<u32> {
        (!self.no_pin).then_some(core)
    }
}

/// `program`, run on `core` through `taskset` (which execs it: the child's pid is the
/// program's), or as it is.
fn on_core(core: Option<u32>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match core {
        Some(core) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &core.to_string()]).arg(program);
            taskset
        }
        None => Command::new(program),
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`), if it can be read.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
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

fn lua_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

fn wait_until_listening(addr: SocketAddr) -> Result<()> {
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("nothing listens on {addr} after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Kills the server process when the benchmark ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
