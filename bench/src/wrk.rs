//! Closed-loop peak throughput with Debian's `wrk`: one thread, a fixed number of
//! connections, each sending its next request as soon as the previous answer arrives.
//!
//! What wrk measures is the server's peak rate, not its latency at a given rate: a slower
//! server is simply sent less, so its queueing never shows (coordinated omission). Latency at
//! a fixed rate is `loadgen`'s job. wrk counts non-2xx answers but does not read bodies.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::process::on_core;

/// One wrk run against one server.
pub(crate) struct Run {
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// Writes the Lua script that makes wrk POST `body` as JSON, and returns its path.
pub(crate) fn write_post_script(dir: &Path, body: &str) -> Result<PathBuf> {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"operationID\"] = \"bench\"\nwrk.body = {}\n",
            lua_string(body)
        ),
    )?;
    Ok(script)
}

/// Fails early, with the fix, when wrk is not installed.
pub(crate) fn check_installed() -> Result<()> {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .context("wrk is not installed (apt-get install wrk)")?;
    Ok(())
}

/// Runs wrk with `script` against `url` for `seconds` over `connections`, on `core`.
pub(crate) fn run(
    url: &str,
    script: &Path,
    core: Option<u32>,
    connections: u32,
    seconds: u32,
) -> Result<Run> {
    let output = on_core(core, "wrk")
        .args([
            "-t1",
            "--latency",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
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

fn lua_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_durations_become_milliseconds() {
        let close = |text: &str, ms: f64| {
            parse_duration_ms(text).is_some_and(|parsed| (parsed - ms).abs() < 1e-9)
        };
        assert!(close("812.00us", 0.812));
        assert!(close("1.23ms", 1.23));
        assert!(close("2.01s", 2010.0));
        assert_eq!(parse_duration_ms("7m"), None);
    }
}
