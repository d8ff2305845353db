//! The `hookbox` binary itself: `run` on real plugins, and `serve` answering a real request
//! and shutting down cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hookbox_tests::{OPENIM_ALLOW, plugin_dir, plugin_path};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hookbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookbox"))
}

#[test]
fn run_prints_verdict_envelope_and_costs() {
    let output = hookbox()
        .arg("run")
        .arg(plugin_path("keyword-filter"))
        .arg("--event")
        .arg(repo().join("examples/openim/before-send-single.json"))
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
    let output = hookbox()
        .arg("run")
        .arg(plugin_path("fixture-spin"))
        .arg("--event")
        .arg(repo().join("examples/openim/before-send-group.json"))
        .args(["--timeout-ms", "50"])
        .output()
        .expect("hookbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED (timeout)"), "{stdout}");
    assert!(stdout.contains(OPENIM_ALLOW), "{stdout}");
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
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("hookbox-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("hookbox.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[[plugin]]\nname = \"keyword-filter\"\nsource = {:?}\ncommands = [\"callbackBeforeSendSingleMsgCommand\"]\ngrants = {{ config = {{ banned = \"spam\" }} }}\n",
            plugin_dir().join("keyword_filter.wasm")
        ),
    )
    .unwrap();
    let mut child = hookbox()
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOKBOX_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("hookbox serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.contains("hookbox serving")
                .then(|| {
                    line.split("addr=")
                        .nth(1)?
                        .split_whitespace()
                        .next()
                        .map(str::to_owned)
                })
                .flatten()
        })
        .expect("the server logs its address");

    let body =
        std::fs::read_to_string(repo().join("examples/openim/before-send-single.json")).unwrap();
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(format!(
                    "http://{addr}/openim/callbackBeforeSendSingleMsgCommand"
                ))
                .header("operationID", "op-cli-42")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("request reaches hookbox")
                .text()
                .await
                .unwrap()
        });
    assert!(answer.contains(r#""errCode":5001"#), "{answer}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "hookbox exited with {status} after SIGTERM"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
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
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_reads_tencent_events_too() {
    let output = hookbox()
        .arg("run")
        .arg(plugin_path("keyword-filter"))
        .arg("--event")
        .arg(repo().join("plugins/examples/keyword-filter/events/tencent-group-before-send.json"))
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
