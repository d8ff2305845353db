//! The `hookbox` binary itself: `run` on real plugins, and `serve` answering a real request
//! and shutting down cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};

use hookbox_kv::testing::RedisServer;
use hookbox_tests::{OPENIM_ALLOW, plugin_dir, plugin_path};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hookbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookbox"))
}

/// `hookbox run <plugin> --event <event>`, the event's path relative to the repository.
fn run_plugin(plugin: &str, event: &str) -> Command {
    let mut command = hookbox();
    command
        .arg("run")
        .arg(plugin_path(plugin))
        .arg("--event")
        .arg(repo().join(event));
    command
}

#[test]
fn run_prints_verdict_envelope_and_costs() {
    let output = run_plugin("keyword-filter", "examples/openim/before-send-single.json")
        .args(["--config", "banned=spam"])
        .output()
        .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verdict   reject code=5001"), "{stdout}");
    assert!(
        stdout.contains(r#""errCode":5001"#) && stdout.contains(r#""nextCode":1}"#),
        "{stdout}"
    );
    for line in ["time ", "fuel ", "memory "] {
        assert!(stdout.contains(line), "missing {line:?}: {stdout}");
    }
}

#[test]
fn run_reports_a_failing_plugin_and_exits_non_zero() {
    let output = run_plugin("fixture-spin", "examples/openim/before-send-group.json")
        .args(["--timeout-ms", "50"])
        .output()
        .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED (timeout)"), "{stdout}");
    assert!(stdout.contains(OPENIM_ALLOW), "{stdout}");
}

/// The SDK reports a panic through `wasi:logging` before the call traps, so the operator sees
/// the plugin's own message, attributed to it, whatever the plugin was built for.
#[test]
fn a_plugin_panic_reaches_the_log_with_its_message() {
    let output = run_plugin(
        "fixture-scripted",
        "examples/openim/before-send-single.json",
    )
    .args(["--config", "verdict=panic"])
    .env("RUST_BACKTRACE", "0")
    .output()
    .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED (trap)"), "{stdout}");
    let logged = stderr
        .lines()
        .position(|l| l.contains("ERROR") && l.contains("panicked at"))
        .unwrap_or_else(|| panic!("no panic line in {stderr}"));
    // The message follows the location, on the same or the next line.
    let rest = stderr
        .lines()
        .skip(logged)
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        rest.contains("fixture-scripted: scripted panic"),
        "{stderr}"
    );
    assert!(
        rest.contains("plugin=\"fixture_scripted\"") && rest.contains("context=\"panic\""),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_file_that_is_not_a_component() {
    let output = hookbox()
        .arg("run")
        .arg(repo().join("hookbox.toml"))
        .arg("--event")
        .arg(repo().join("examples/openim/before-send-group.json"))
        .output()
        .expect("hookbox runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a WebAssembly component"), "{stderr}");
}

#[test]
fn errors_show_their_causes_and_no_backtrace_even_with_rust_backtrace_set() {
    let event =
        std::env::temp_dir().join(format!("hookbox-no-command-{}.json", std::process::id()));
    std::fs::write(&event, r#"{"sendID":"u1"}"#).unwrap();
    let output = hookbox()
        .arg("run")
        .arg(plugin_dir().join("keyword_filter.wasm"))
        .arg("--event")
        .arg(&event)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("hookbox runs");
    let _ = std::fs::remove_file(&event);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        format!(
            "Error: {} is not a callback hookbox can read\n\nCaused by:\n    no callback command in the URL path, the `command` query parameter or the body\n",
            event.display()
        )
    );
}

/// Writes `hookbox.toml` listening on `127.0.0.1:0`, with `server` (more `[server]` lines)
/// and `plugins` (`[[plugin]]` tables, sources relative to the built plugins), in a fresh
/// directory named after `tag`, whose `data` subdirectory is the data_dir. Returns the
/// directory and the config's path.
fn write_config(tag: &str, server: &str, plugins: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("hookbox-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("hookbox.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n{server}\n\n{}",
            dir.join("data"),
            // Sources are relative to the config file, which lives in `dir`.
            plugins.replace(
                "source = \"",
                &format!("source = \"{}/", plugin_dir().display())
            ),
        ),
    )
    .unwrap();
    (dir, config)
}

/// A `hookbox serve` child on `127.0.0.1:0`, its address, and its log.
struct Served {
    child: Child,
    addr: String,
    /// Drains the child's stderr from the start: a pipe nobody reads fills up after 64 KiB
    /// and then blocks the server's next log line, and with it the request that logs.
    log: Option<std::thread::JoinHandle<Vec<String>>>,
    dir: PathBuf,
}

/// Log lines kept per server; the rest is read and dropped.
const KEPT_LOG_LINES: usize = 10_000;

impl Served {
    /// Starts `hookbox serve` with `plugins` (TOML `[[plugin]]` tables, sources relative to
    /// the built plugins) in a directory of its own named after `tag`.
    fn start(tag: &str, plugins: &str) -> Served {
        Served::start_with(tag, "", plugins)
    }

    /// [`Served::start`] with more `[server]` keys (`server`: TOML lines).
    fn start_with(tag: &str, server: &str, plugins: &str) -> Served {
        let (dir, config) = write_config(tag, server, plugins);
        let mut child = hookbox()
            .args(["serve", "--config"])
            .arg(&config)
            .env("HOOKBOX_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("hookbox serve starts");
        let stderr: ChildStderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let log = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .contains("hookbox serving")
                    .then(|| line.split("addr=").nth(1)?.split_whitespace().next())
                    .flatten()
                {
                    let _ = addr_tx.send(addr.to_owned());
                }
                if kept.len() < KEPT_LOG_LINES {
                    kept.push(line);
                }
            }
            kept
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server logs its address");
        Served {
            child,
            addr,
            log: Some(log),
            dir,
        }
    }

    /// Sends the example before-send message (which keyword-filter blocks) with
    /// `operation_id`, and returns the answer's body.
    fn send_example(&self, operation_id: &str) -> String {
        let body = std::fs::read_to_string(repo().join("examples/openim/before-send-single.json"))
            .unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                reqwest::Client::new()
                    .post(format!(
                        "http://{}/openim/callbackBeforeSendSingleMsgCommand",
                        self.addr
                    ))
                    .header("operationID", operation_id)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("request reaches hookbox")
                    .text()
                    .await
                    .unwrap()
            })
    }

    /// SIGTERM, then [`Served::wait`].
    fn terminate(&mut self) -> (std::process::ExitStatus, Vec<String>) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        self.wait()
    }

    /// Waits for the server to exit, then returns its status and its log lines.
    fn wait(&mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("the server exits");
        let lines = self
            .log
            .take()
            .map(|log| log.join().expect("the log reader ran"))
            .unwrap_or_default();
        (status, lines)
    }

    /// Resident memory of the server process, from `/proc/PID/status`, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // A failed test must not leave a server running; after a clean stop this is a no-op.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const KEYWORD_FILTER: &str = "[[plugin]]\nname = \"keyword-filter\"\nsource = \"keyword_filter.wasm\"\ncommands = [\"callbackBeforeSendSingleMsgCommand\"]\ngrants = { config = { banned = \"spam\" } }\n";

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let mut served = Served::start("sigterm", KEYWORD_FILTER);
    let answer = served.send_example("op-cli-42");
    assert!(answer.contains(r#""errCode":5001"#), "{answer}");

    let (status, rest) = served.terminate();
    assert!(
        status.success(),
        "hookbox exited with {status} after SIGTERM"
    );
    assert!(
        rest.iter().any(|l| l.contains("hookbox stopped")),
        "{rest:?}"
    );
    // The plugin's own log line carries the plugin name and the callback's operationID.
    assert!(
        rest.iter().any(|l| l.contains("blocked")
            && l.contains("keyword-filter")
            && l.contains("op-cli-42")),
        "{rest:?}"
    );
}

#[test]
fn max_instances_caps_the_wasm_instances_alive_at_once() {
    // A reuse-mode plugin keeps its instance (and its slot) after the call; the fresh plugin
    // after it then needs a second slot.
    let chain = "[[plugin]]\nname = \"warm\"\nsource = \"keyword_filter.wasm\"\ncommands = [\"callbackBeforeSendSingleMsgCommand\"]\ninstances = \"reuse\"\nreuse = { pool_size = 1 }\ngrants = { config = { banned = \"nothing-matches\" } }\n\n[[plugin]]\nname = \"fresh\"\nsource = \"keyword_filter.wasm\"\ncommands = [\"callbackBeforeSendSingleMsgCommand\"]\non_error = \"reject\"\ngrants = { config = { banned = \"spam\" } }\n";

    let two = Served::start_with("instances-two", "max_instances = 2", chain);
    let answer = two.send_example("op-two-slots");
    assert!(answer.contains(r#""errCode":5001"#), "{answer}");
    drop(two);

    let mut one = Served::start_with("instances-one", "max_instances = 1", chain);
    let first = one.send_example("op-one-slot");
    // The fresh plugin found no free slot: its fail-closed answer, not its verdict.
    assert!(first.contains(r#""errCode":5000"#), "{first}");
    let (_, log) = one.terminate();
    assert!(
        log.iter()
            .any(|l| l.contains("fresh") && l.contains("op-one-slot") && l.contains("failed")),
        "{log:?}"
    );
}

/// `hookbox check -c <config>`, with `HOOKBOX_ADMIN_TOKEN` unset.
fn check(config: &Path) -> std::process::Output {
    hookbox()
        .args(["check", "--config"])
        .arg(config)
        .env_remove("HOOKBOX_ADMIN_TOKEN")
        .output()
        .expect("hookbox check runs")
}

/// [`check`], which must pass; its stdout.
fn check_passes(config: &Path) -> String {
    let output = check(config);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// [`check`], which must exit 1 without reporting OK; its stderr.
fn check_refuses(config: &Path) -> String {
    let output = check(config);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("result    OK"),
        "{stderr}"
    );
    stderr
}

#[test]
fn check_compiles_every_plugin_and_prints_what_would_serve() {
    let plugins = format!(
        "{KEYWORD_FILTER}\n[[plugin]]\nname = \"logger\"\nsource = \"message_logger.wasm\"\ncommands = [\"callbackAfterSendSingleMsgCommand\", \"callbackAfterSendGroupMsgCommand\"]\n"
    );
    let (dir, config) = write_config("check-ok", "allow_sources = [\"10.0.0.0/8\"]", &plugins);
    let stdout = check_passes(&config);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&"webhooks  127.0.0.1:0  OpenIM /openim  from 10.0.0.0/8"),
        "{stdout}"
    );
    assert!(lines.contains(&"plugins   2"), "{stdout}");
    assert!(
        lines.iter().any(|l| l.starts_with("  keyword-filter ")
            && l.contains("sha256:")
            && l.ends_with("1 command: callbackBeforeSendSingleMsgCommand")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  logger ") && l.contains("2 commands: ")),
        "{stdout}"
    );
    assert!(
        lines.last().unwrap().starts_with("result    OK"),
        "{stdout}"
    );
    // The data_dir is left alone: nothing was created there.
    assert!(!dir.join("data").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_what_serve_would_refuse() {
    let cases = [
        (
            "missing-source",
            "",
            "[[plugin]]\nname = \"ghost\"\nsource = \"no_such_plugin.wasm\"\ncommands = [\"callbackBeforeSendSingleMsgCommand\"]\n",
            "ghost",
        ),
        (
            "admin-without-token",
            "admin_listen = \"127.0.0.1:0\"",
            KEYWORD_FILTER,
            "the admin API cannot start",
        ),
        (
            "bad-source-network",
            "allow_sources = [\"10.0.0.7/8\"]",
            KEYWORD_FILTER,
            "write the network (10.0.0.0/8)",
        ),
        (
            "kv-without-grant",
            "",
            "[[plugin]]\nname = \"counter\"\nsource = \"group_stats.wasm\"\ncommands = [\"callbackAfterSendGroupMsgCommand\"]\n",
            "counter",
        ),
    ];
    for (tag, server, plugins, expected) in cases {
        let (dir, config) = write_config(&format!("check-{tag}"), server, plugins);
        let stderr = check_refuses(&config);
        assert!(stderr.contains(expected), "{tag}: {stderr}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn check_connects_to_redis_where_the_stores_live_there() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let stores = format!(
        "[kv]\nbackend = \"redis\"\nurl = \"{url}\"\n\n[queue]\nbackend = \"redis\"\nurl = \"{url}\"\n\n{KEYWORD_FILTER}"
    );
    let (dir, config) = write_config("check-redis", "", &stores);
    let stdout = check_passes(&config);
    let lines: Vec<&str> = stdout.lines().collect();
    for store in ["kv       ", "queue    "] {
        let expected = format!("{store} {url} (reachable)");
        assert!(lines.contains(&expected.as_str()), "{expected}\n{stdout}");
    }

    // The same config with that Redis gone is what `serve` would stop on.
    drop(redis);
    let stderr = check_refuses(&config);
    assert!(
        stderr.contains("cannot open the key-value store"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_runs_beside_a_server_using_the_same_config_and_data_dir() {
    let mut served = Served::start("check-beside", KEYWORD_FILTER);
    check_passes(&served.dir.join("hookbox.toml"));
    // The server was not disturbed.
    let answer = served.send_example("op-beside-check");
    assert!(answer.contains(r#""errCode":5001"#), "{answer}");
    let (status, _) = served.terminate();
    assert!(status.success());
}

#[test]
fn run_reads_tencent_events_too() {
    let output = run_plugin(
        "keyword-filter",
        "plugins/examples/keyword-filter/events/tencent-group-before-send.json",
    )
    .args(["--dialect", "tencent", "--config", "banned=spam,scam"])
    .output()
    .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("(tencent, before)"), "{stdout}");
    assert!(
        stdout.contains(r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":"#),
        "{stdout}"
    );
    assert!(stdout.contains("***"), "{stdout}");
}

#[test]
fn validate_reports_world_imports_and_grants() {
    let output = hookbox()
        .arg("validate")
        .arg(plugin_path("keyword-filter"))
        .output()
        .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("hookbox:plugin/plugin@0.1.0"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("wasi:config/store") && l.contains("grants.config")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("wasi:logging/logging")),
        "{stdout}"
    );
    assert!(stdout.contains("result    OK"), "{stdout}");

    let refused = hookbox()
        .arg("validate")
        .arg(repo().join("hookbox.toml"))
        .output()
        .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{stdout}");
    assert!(
        stdout.contains("REFUSED: not a WebAssembly component"),
        "{stdout}"
    );
}

/// Catalogue #36: a plugin that writes 500 KB of log lines and 1 MB of stdout in one call is cut at the
/// per-call budget (64 KiB by default, shared by `wasi:logging`, stdout and stderr), the cut is
/// marked once, and the call still answers.
#[test]
fn a_log_flood_is_cut_at_the_budget_and_marked_once() {
    let output = run_plugin(
        "fixture-scripted",
        "examples/openim/before-send-single.json",
    )
    .args(["--config", "verdict=log-flood"])
    .env("HOOKBOX_LOG", "info")
    .output()
    .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(OPENIM_ALLOW), "{stdout}");
    let flood_line = "x".repeat(96);
    let passed = stderr.lines().filter(|l| l.contains(&flood_line)).count();
    // 64 KiB of ~100-byte lines: several hundred pass, not the 100,000 written.
    assert!(
        (100..=700).contains(&passed),
        "{passed} flood lines reached the log"
    );
    let marks = stderr
        .lines()
        .filter(|l| l.contains("plugin log output truncated"))
        .count();
    assert_eq!(marks, 1, "{stderr}");
    assert!(
        stderr.len() < 256 * 1024,
        "the log stays bounded: {} bytes",
        stderr.len()
    );
}

/// Issue #5's memory test: 100,000 callbacks through the real `hookbox serve`, half to a
/// healthy plugin and half spread over plugins that trap, panic, fail, overflow their stack,
/// return invalid JSON or a forbidden modify. Every answer is checked, and the server's
/// resident memory after all of them stays within [`RSS_GROWTH_BOUND_KIB`] of what it was after
/// the first 10,000 (the warm-up that fills the instance pool and the allocator's caches).
#[test]
fn a_hundred_thousand_good_and_bad_callbacks_leave_memory_flat() {
    /// The bound stated in docs/security.md: no growth that scales with the request count.
    const RSS_GROWTH_BOUND_KIB: u64 = 16 * 1024;
    const TOTAL: usize = 100_000;
    const WARM_UP: usize = 10_000;
    const CLIENTS: usize = 8;
    const SEND: &str = "callbackBeforeSendSingleMsgCommand";
    /// (name, component, config, a before-callback of its own).
    const BAD: &[(&str, &str, &str, &str)] = &[
        (
            "trap",
            "fixture_trap",
            "",
            "callbackBeforeSendGroupMsgCommand",
        ),
        (
            "panic",
            "fixture_scripted",
            "verdict = \"panic\"",
            "callbackBeforeAddFriendCommand",
        ),
        (
            "err",
            "fixture_fail",
            "",
            "callbackBeforeCreateGroupCommand",
        ),
        (
            "recurse",
            "fixture_scripted",
            "verdict = \"recurse\"",
            "callbackBeforeJoinGroupCommand",
        ),
        (
            "invalid-json",
            "fixture_scripted",
            "verdict = \"modify-raw:{not json\"",
            "callbackBeforeInviteJoinGroupCommand",
        ),
        (
            "forbidden-modify",
            "fixture_scripted",
            "verdict = 'modify:{\"nextCode\":1}'",
            "callbackBeforeUserRegisterCommand",
        ),
    ];
    let mut plugins = format!(
        "[[plugin]]\nname = \"keyword-filter\"\nsource = \"keyword_filter.wasm\"\ncommands = [\"{SEND}\"]\ngrants = {{ config = {{ banned = \"spam\" }} }}\n"
    );
    for (name, component, config, command) in BAD {
        // The breaker is off: with it on, a plugin failing every call would be skipped,
        // and its failure path would not be exercised 8,000 times.
        plugins += &format!(
            "\n[[plugin]]\nname = \"{name}\"\nsource = \"{component}.wasm\"\ncommands = [\"{command}\"]\non_error = \"reject\"\non_error_code = 5900\nbreaker = {{ failures = 0 }}\ngrants = {{ config = {{ {config} }} }}\n"
        );
    }
    let served = Served::start("memory", &plugins);
    let body = |command: &str| {
        format!(
            r#"{{"callbackCommand":"{command}","operationID":"mem","sendID":"u1","recvID":"u2","groupID":"g1","contentType":101,"content":"{{\"content\":\"hello\"}}"}}"#
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Sends requests `from..to` (request i goes to the healthy plugin when even, else to
    // a bad one in turn) over CLIENTS keep-alive connections; returns the wrong answers.
    let send_range = |from: usize, to: usize| -> Vec<String> {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..CLIENTS)
                .map(|client| {
                    let addr = served.addr.clone();
                    let bodies: Vec<(String, String, i64)> = (from..to)
                        .filter(|i| i % CLIENTS == client)
                        .map(|i| {
                            if i % 2 == 0 {
                                (SEND.to_owned(), body(SEND), 0)
                            } else {
                                let command = BAD[(i / 2) % BAD.len()].3;
                                (command.to_owned(), body(command), 5900)
                            }
                        })
                        .collect();
                    tokio::spawn(async move {
                        let http = reqwest::Client::new();
                        let mut wrong = Vec::new();
                        for (command, body, expected) in bodies {
                            let answer = http
                                .post(format!("http://{addr}/openim/{command}"))
                                .header("content-type", "application/json")
                                .body(body)
                                .send()
                                .await;
                            let text = match answer {
                                Ok(answer) => answer.text().await.unwrap_or_default(),
                                Err(e) => format!("request failed: {e}"),
                            };
                            let code = serde_json::from_str::<serde_json::Value>(&text)
                                .ok()
                                .and_then(|v| v["errCode"].as_i64());
                            if code != Some(expected) && wrong.len() < 5 {
                                wrong.push(format!("{command}: {text}"));
                            }
                        }
                        wrong
                    })
                })
                .collect();
            let mut wrong = Vec::new();
            for task in tasks {
                wrong.extend(task.await.expect("client ran"));
            }
            wrong
        })
    };
    assert_eq!(send_range(0, WARM_UP), Vec::<String>::new());
    let warm = served.rss_kib();
    assert_eq!(send_range(WARM_UP, TOTAL), Vec::<String>::new());
    let after = served.rss_kib();
    eprintln!("hookbox serve RSS: {warm} KiB after {WARM_UP} callbacks, {after} KiB after {TOTAL}");
    assert!(
        after <= warm + RSS_GROWTH_BOUND_KIB,
        "RSS grew from {warm} KiB to {after} KiB"
    );
}

/// A config asking for trace export is refused by a binary built without it, instead of
/// starting and dropping the traces.
#[cfg(not(feature = "otlp"))]
#[test]
fn a_binary_without_otlp_refuses_a_config_that_exports_traces() {
    let dir = std::env::temp_dir().join(format!("hookbox-cli-no-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("hookbox.toml");
    std::fs::write(
        &config,
        "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\n",
    )
    .unwrap();
    // `check` refuses it as `serve` does.
    for subcommand in ["serve", "check"] {
        let output = hookbox()
            .args([subcommand, "--config"])
            .arg(&config)
            .output()
            .expect("hookbox runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{subcommand}: {stderr}");
        assert!(stderr.contains("--features otlp"), "{subcommand}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #8: with `[telemetry] otlp_endpoint`, a callback's span (with its operationID) and
/// its plugin's child span reach an OTLP/HTTP collector, here a loopback sink that records
/// what is POSTed to it; the spans still buffered at SIGTERM are flushed before exit.
#[cfg(feature = "otlp")]
#[test]
fn traces_reach_an_otlp_collector_with_the_operation_id() {
    let sink = otlp_sink::Sink::start();
    let mut served = Served::start(
        "otlp",
        &format!(
            "[telemetry]\notlp_endpoint = \"http://{}/v1/traces\"\nservice_name = \"hookbox-otlp-test\"\n\n{KEYWORD_FILTER}",
            sink.addr
        ),
    );
    let answer = served.send_example("op-otlp-7");
    assert!(answer.contains(r#""errCode":5001"#), "{answer}");
    let (status, log) = served.terminate();
    assert!(status.success(), "{status}: {log:?}");

    let posts = sink.posts();
    assert!(!posts.is_empty(), "nothing was exported: {log:?}");
    for post in &posts {
        assert_eq!(post.path, "/v1/traces");
        assert_eq!(post.content_type, "application/x-protobuf");
    }
    // Protobuf carries strings as they are: the spans' names and attribute values can be
    // found in the bytes without decoding the message.
    let exported: Vec<u8> = posts.iter().flat_map(|p| p.body.clone()).collect();
    let has = |text: &str| exported.windows(text.len()).any(|w| w == text.as_bytes());
    // The plugin span's `version` is the component's sha256: only that span carries it.
    let version = {
        use sha2::Digest as _;
        let wasm = std::fs::read(plugin_dir().join("keyword_filter.wasm")).unwrap();
        format!("{:x}", sha2::Sha256::digest(wasm))
    };
    for expected in [
        "hookbox-otlp-test",
        "callback",
        "callbackBeforeSendSingleMsgCommand",
        "op-otlp-7",
        "plugin",
        "keyword-filter",
        &version,
    ] {
        assert!(has(expected), "{expected:?} is not in the exported spans");
    }
}

/// A minimal OTLP/HTTP collector for the trace test: it answers every POST with 200 and
/// keeps what was posted.
#[cfg(feature = "otlp")]
mod otlp_sink {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    pub(crate) struct Post {
        pub(crate) path: String,
        pub(crate) content_type: String,
        pub(crate) body: Vec<u8>,
    }

    pub(crate) struct Sink {
        pub(crate) addr: SocketAddr,
        posts: Arc<Mutex<Vec<Post>>>,
    }

    impl Sink {
        pub(crate) fn start() -> Sink {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let posts = Arc::new(Mutex::new(Vec::new()));
            let kept = posts.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().map_while(Result::ok) {
                    let kept = kept.clone();
                    std::thread::spawn(move || serve(stream, &kept));
                }
            });
            Sink { addr, posts }
        }

        pub(crate) fn posts(&self) -> Vec<Post> {
            std::mem::take(&mut *self.posts.lock().unwrap())
        }
    }

    /// Reads requests off one keep-alive connection until it closes.
    fn serve(stream: TcpStream, posts: &Mutex<Vec<Post>>) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_owned();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "content-type" => content_type = value.trim().to_owned(),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            posts.lock().unwrap().push(Post {
                path,
                content_type,
                body,
            });
            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }
}
