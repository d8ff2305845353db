//! `hookbox serve` with its file watcher and admin API, and `hookbox push`, as a user runs
//! them: a real process, real files changing on disk, real HTTP.
//!
//! The test waits on the server's own log lines ("plugin reloaded", "config reloaded",
//! "…refused…"), each with a generous bound, never on a fixed sleep.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hookbox_tests::{ADMIN_TOKEN, plugin_bytes, temp_dir};

const SEND: &str = "callbackBeforeSendSingleMsgCommand";
const GROUP: &str = "callbackBeforeSendGroupMsgCommand";
/// Generous: the machine is shared and a compile can take a while.
const BOUND: Duration = Duration::from_secs(60);

fn hookbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookbox"))
}

struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    webhooks: String,
    admin: String,
}

impl Served {
    fn start(config: &Path) -> Served {
        let mut child = hookbox()
            .args(["serve", "--config"])
            .arg(config)
            .env("HOOKBOX_LOG", "info")
            .env("HOOKBOX_ADMIN_TOKEN", ADMIN_TOKEN)
            .stderr(Stdio::piped())
            .spawn()
            .expect("hookbox serve starts");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            lines,
            webhooks: String::new(),
            admin: String::new(),
        };
        let admin_line = served.wait_for("admin API listening");
        served.admin = addr(&admin_line);
        let serving = served.wait_for("hookbox serving");
        served.webhooks = addr(&serving);
        served
    }

    /// The next log line containing `needle`, within [`BOUND`].
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    fn err_code(&self, command: &str) -> i64 {
        let body = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/openim/before-send-single.json"),
        )
        .unwrap();
        let mut body: serde_json::Value = serde_json::from_str(&body).unwrap();
        body["callbackCommand"] = command.into();
        body["groupID"] = "g1".into();
        body["content"] = serde_json::json!({"content": "hello"}).to_string().into();
        let url = format!("http://{}/openim/{command}", self.webhooks);
        let answer = block_on(async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("request reaches hookbox")
                .text()
                .await
                .unwrap()
        });
        let envelope: serde_json::Value = serde_json::from_str(&answer).expect(&answer);
        envelope["errCode"].as_i64().unwrap()
    }

    fn stop(mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "hookbox exited with {status}");
        self.wait_for("hookbox stopped");
    }
}

fn addr(line: &str) -> String {
    line.split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the line names an address")
        .to_owned()
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn config_text(verdict: &str, extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[[plugin]]
name = "watched"
source = "plugin.wasm"
commands = ["{SEND}"]
grants = {{ config = {{ banned = "hello", verdict = "{verdict}" }} }}
{extra}"#
    )
}

fn push(dir: &Path, served: &Served, wasm: &Path, name: &str, token: &str) -> std::process::Output {
    hookbox()
        .arg("push")
        .arg(wasm)
        .args(["--name", name, "--server"])
        .arg(format!("http://{}", served.admin))
        .env("HOOKBOX_ADMIN_TOKEN", token)
        .current_dir(dir)
        .output()
        .expect("hookbox push runs")
}

#[test]
fn serve_reloads_changed_sources_and_config_and_push_swaps_code() {
    let dir = temp_dir("cli-watch");
    let source = dir.join("plugin.wasm");
    let config = dir.join("hookbox.toml");
    std::fs::write(&source, plugin_bytes("fixture-scripted")).unwrap();
    std::fs::write(&config, config_text("reject:5101:v1", "")).unwrap();
    let served = Served::start(&config);
    assert_eq!(served.err_code(SEND), 5101);

    // A new build lands on disk: reloaded.
    std::fs::write(&source, plugin_bytes("keyword-filter")).unwrap();
    served.wait_for("plugin reloaded");
    assert_eq!(served.err_code(SEND), 5001);

    // A broken build: refused, the last good version keeps serving.
    std::fs::write(&source, b"\0asm\x0d\x00\x01\x00broken").unwrap();
    served.wait_for("source file change refused");
    assert_eq!(served.err_code(SEND), 5001);

    // The config file gains a plugin: applied.
    std::fs::write(&source, plugin_bytes("keyword-filter")).unwrap();
    let group_plugin = format!(
        "\n[[plugin]]\nname = \"grouped\"\nsource = \"grouped.wasm\"\ncommands = [\"{GROUP}\"]\ngrants = {{ config = {{ verdict = \"reject:5401:grouped\" }} }}\n"
    );
    std::fs::write(dir.join("grouped.wasm"), plugin_bytes("fixture-scripted")).unwrap();
    std::fs::write(&config, config_text("reject:5101:v1", &group_plugin)).unwrap();
    served.wait_for("config reloaded");
    assert_eq!(served.err_code(GROUP), 5401);

    // An invalid config: refused, the old one stays.
    std::fs::write(&config, "[[plugin]]\nname = \"oops\"\n").unwrap();
    served.wait_for("config change refused");
    assert_eq!(served.err_code(GROUP), 5401);
    assert_eq!(served.err_code(SEND), 5001);

    // `hookbox push` replaces the code through the admin API.
    let wasm = dir.join("pushed.wasm");
    std::fs::write(&wasm, plugin_bytes("fixture-scripted")).unwrap();
    let output = push(&dir, &served, &wasm, "watched", ADMIN_TOKEN);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("watched ") && stdout.contains("(live)"),
        "{stdout}"
    );
    assert_eq!(served.err_code(SEND), 5101);

    let denied = push(&dir, &served, &wasm, "watched", "not-the-token-at-all");
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    let missing = push(&dir, &served, &wasm, "nobody", ADMIN_TOKEN);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("plugin_not_found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let bad_name = push(&dir, &served, &wasm, "../etc", ADMIN_TOKEN);
    assert!(!bad_name.status.success());

    served.stop();
    assert!(
        dir.join(".hookbox/state.json").exists(),
        "data_dir defaults next to the config"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_admin_listener_without_a_token_stops_startup() {
    let dir: PathBuf = temp_dir("cli-token");
    std::fs::write(dir.join("plugin.wasm"), plugin_bytes("fixture-scripted")).unwrap();
    let config = dir.join("hookbox.toml");
    std::fs::write(&config, config_text("allow", "")).unwrap();
    for token in [None, Some(""), Some("short")] {
        let mut command = hookbox();
        command.args(["serve", "--config"]).arg(&config);
        command.env_remove("HOOKBOX_ADMIN_TOKEN");
        if let Some(token) = token {
            command.env("HOOKBOX_ADMIN_TOKEN", token);
        }
        let output = command.output().expect("hookbox runs");
        assert!(!output.status.success(), "started with token {token:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("HOOKBOX_ADMIN_TOKEN"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
