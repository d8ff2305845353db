//! `hookbox-bench`: end-to-end throughput of hookbox against a native baseline.
//!
//! `cargo run --release -p hookbox-bench` builds nothing itself: it expects the release
//! binaries (`cargo build --release -p hookbox -p hookbox-bench`) and the example plugins
//! (`cargo build --release` in `plugins/`). It then starts, on loopback, hookbox serving
//! `keyword-filter` and a native axum server that does the same work in-process (parse the
//! OpenIM payload, read the text out of its JSON-string `content`, look for the banned words,
//! write the same envelope), drives each with `wrk` (Debian package `wrk`) at the same
//! concurrency with the same seed payload, alternating runs, and prints requests per second,
//! latency percentiles and the ratio.
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

    let hookbox_addr = free_port()?;
    let config = dir.join("hookbox.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{hookbox_addr}\"\n\n[[plugin]]\nname = \"keyword-filter\"\nsource = {:?}\ncommands = [\"{COMMAND}\"]\ngrants = {{ config = {{ banned = \"{BANNED}\" }} }}\n",
            plugin
        ),
    )?;
    let baseline_addr = free_port()?;
    let servers = [
        ("hookbox + keyword-filter.wasm", hookbox_addr, {
            let mut cmd = Command::new(release.join("hookbox"));
            cmd.args(["serve", "--config"])
                .arg(&config)
                .env("HOOKBOX_LOG", "warn");
            cmd
        }),
        ("native axum baseline", baseline_addr, {
            let mut cmd = Command::new(release.join("hookbox-bench"));
            cmd.args(["baseline", "--listen", &baseline_addr.to_string()]);
            cmd
        }),
    ];
    let mut children = Vec::new();
    for (name, addr, mut cmd) in servers {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {name}"))?;
        children.push(Guard(child));
        wait_until_listening(addr)?;
    }

    let urls = [
        (
            "hookbox + keyword-filter.wasm",
            format!("http://{hookbox_addr}/openim/{COMMAND}"),
        ),
        (
            "native axum baseline",
            format!("http://{baseline_addr}/openim/{COMMAND}"),
        ),
    ];
    let mut results: Vec<Vec<Run>> = vec![Vec::new(), Vec::new()];
    for round in 0..cli.rounds {
        // Alternate which server goes first so drift of the machine hits both alike.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
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
    drop(children);

    println!(
        "\n{} s per run, {} connections, {} rounds, alternating; median of rounds:",
        cli.seconds, cli.connections, cli.rounds
    );
    println!("| server | req/s | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: |");
    let mut medians = Vec::new();
    for (i, (name, _)) in urls.iter().enumerate() {
        let rps = median(results[i].iter().map(|r| r.requests_per_sec));
        let p50 = median(results[i].iter().map(|r| r.p50_ms));
        let p99 = median(results[i].iter().map(|r| r.p99_ms));
        println!("| {name} | {rps:.0} | {p50:.2} | {p99:.2} |");
        medians.push(rps);
    }
    println!(
        "\nhookbox / native throughput: {:.1} %",
        100.0 * medians[0] / medians[1]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn wrk(url: &str, script: &Path, cli: &Cli) -> Result<Run> {
    let output = Command::new("wrk")
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
