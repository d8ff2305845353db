//! A throwaway `redis-server` for tests (feature `test-support`).
//!
//! [`RedisServer::start`] runs the Debian package's `redis-server` on a free loopback port,
//! without persistence, and kills it when dropped. Tests use their own server, never one
//! that happens to run on 6379.
//!
//! Not installed is a loud answer, not a silent pass: under CI (`CI` set, and neither
//! empty, `false` nor `0`) the test fails and says what to install; elsewhere `start`
//! returns `None` after printing a line starting with `SKIPPED` to stderr (written
//! directly, so the test harness does not swallow it), and the test returns early.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a started server gets to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Attempts with a fresh port, in case another process takes the one picked meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// A `redis-server` process on `127.0.0.1`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    process: Child,
    port: u16,
}

impl RedisServer {
    /// Starts a server, or returns `None` (outside CI) if `redis-server` is not installed.
    ///
    /// # Panics
    /// If `redis-server` is missing under CI, or is installed but does not come up.
    pub fn start() -> Option<Self> {
        Self::start_with_args(&[])
    }

    /// Like [`RedisServer::start`], with more `redis-server` arguments, e.g.
    /// `["--requirepass", "secret"]`.
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_with_args(args: &[&str]) -> Option<Self> {
        for _ in 0..PORT_ATTEMPTS {
            match Self::spawn(free_port(), args)? {
                Some(server) => return Some(server),
                None => continue,
            }
        }
        panic!("redis-server did not start on a free port after {PORT_ATTEMPTS} attempts");
    }

    /// Starts a server on `port`, e.g. the port of one a test stopped, to bring "the same"
    /// Redis back. `None` as [`RedisServer::start`] when it is not installed.
    ///
    /// # Panics
    /// As [`RedisServer::start`], and if the port is taken.
    pub fn start_on(port: u16) -> Option<Self> {
        let started = Self::spawn(port, &[])?;
        Some(started.unwrap_or_else(|| panic!("redis-server could not listen on port {port}")))
    }

    /// `None`: not installed (outside CI); `Some(None)`: it exited at once (port taken).
    fn spawn(port: u16, args: &[&str]) -> Option<Option<Self>> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let process = match spawned {
            Ok(process) => process,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return not_installed().map(Some),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let mut server = Self { process, port };
        Some(server.wait_until_ready().then_some(server))
    }

    /// The port it listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Whether it answers on its port; `false` if it exited first (the port was taken).
    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if self.process.try_wait().ok().flatten().is_some() {
                return false;
            }
            if answers_ping(self.port) {
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer within {READY_WITHIN:?}",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Already gone is fine; the wait reaps it either way.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free loopback port")
}

/// Any reply counts (`+PONG`, or `-NOAUTH` from a server with a password): it is up.
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let mut reply = [0u8; 1];
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_ok()
        && stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && matches!(reply[0], b'+' | b'-')
}

fn not_installed() -> Option<RedisServer> {
    const INSTALL: &str = "redis-server is not installed: install the Debian package `redis-server` \
         (apt-get install redis-server)";
    let in_ci = std::env::var("CI").is_ok_and(|ci| !matches!(ci.as_str(), "" | "false" | "0"));
    if in_ci {
        panic!("{INSTALL}; under CI the Redis tests must run");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a Redis test")
        .to_owned();
    let _ = writeln!(io::stderr(), "SKIPPED {test}: {INSTALL}");
    None
}
