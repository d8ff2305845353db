//! The benchmark's child processes: starting a program on a chosen vCPU, waiting until a
//! server listens, reading a process's resident memory, and stopping servers however the
//! benchmark ends.
//!
//! Not a supervisor: a server that dies in the middle of a run is not restarted or reported
//! here; it shows up as failed requests in the load generator's or wrk's results.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a server may take to listen: hookbox binds its webhook listener only after it
/// has compiled and loaded every plugin, which takes seconds on this 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `program`, run on `core` through `taskset` (which execs it: the child's pid is the
/// program's), or as it is.
pub(crate) fn on_core(core: Option<u32>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match core {
        Some(core) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &core.to_string()]).arg(program);
            taskset
        }
        None => Command::new(program),
    }
}

/// A loopback address nothing listens on at the moment of the call.
pub(crate) fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Resident memory of process `pid` in KiB (`VmRSS`), if it can be read.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// KiB as MiB with one decimal, `?` when the reading failed.
pub(crate) fn format_mib(kib: Option<u64>) -> String {
    kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// A server the benchmark started; killed when dropped, so no server outlives a failed run.
pub(crate) struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Spawns `command` with its stderr in `log`, and returns once something accepts
    /// connections on `addr`. If the server exits first, or never listens, the error carries
    /// the end of its log (a config hookbox refuses is otherwise invisible).
    pub(crate) fn start(mut command: Command, addr: SocketAddr, log: &Path) -> Result<Self> {
        let stderr = std::fs::File::create(log)
            .with_context(|| format!("create the server log {}", log.display()))?;
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("start {command:?}"))?;
        let mut server = ServerProcess { child };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before listening on {addr}:\n{}",
                    log_tail(log)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "nothing listens on {addr} after {START_TIMEOUT:?}:\n{}",
                    log_tail(log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// This server's resident memory in KiB now.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a server's log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A scratch directory for one benchmark run (configs, scripts, data_dirs, server logs),
/// removed when dropped.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("hookbox-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(ScratchDir(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
