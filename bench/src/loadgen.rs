//! `loadgen`: this benchmark's own HTTP/1.1 load generator, run as the binary's `load`
//! subcommand (so it can be pinned to its own vCPU like wrk) and driven from the parent
//! through [`run`], which parses the one JSON line it prints.
//!
//! Two paces over a fixed set of keep-alive connections:
//!
//! * **fixed rate** (`--rate`, open loop): request `i` is due at `start + i / rate`, whether
//!   or not earlier answers have arrived, and its latency is counted from that intended send
//!   time. A server that falls behind makes requests wait for a free connection, and that
//!   wait is part of their latency: coordinated omission cannot hide queueing the way it
//!   does in a closed-loop tool such as wrk.
//! * **unpaced** (no `--rate`, closed loop): each connection sends its next request as soon
//!   as its previous answer arrived, until `--requests` are done. Used to push an exact
//!   number of requests through a server (the memory phase).
//!
//! Every answer is checked: status 200 and a body equal, as JSON, to the allow envelope the
//! seed payload must get. Anything else counts as an error. It is not a general-purpose tool:
//! the payload, headers and expected answer are this benchmark's.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use crate::process::on_core;

/// After the last request was due, how long a fixed-rate run keeps sending the ones still
/// waiting for a connection. Those not sent by then are reported as missed: a server that
/// cannot keep up would otherwise make the run last as long as its backlog.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// An answer slower than this is an error (and its connection is replaced).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// tokio's timer fires on whole milliseconds, up to one late: far coarser than the tens of
/// microseconds between requests at tens of thousands per second. A request waits on the
/// timer only until this close to its due time, then yields to the runtime until it is due.
/// The price: a fixed-rate run keeps its vCPU busy (pinned, vCPU 1, which wrk has to itself
/// as well; with `--no-pin` it competes with the server).
const SPIN_WINDOW: Duration = Duration::from_millis(2);

/// One load run: the `load` subcommand's arguments, also built by the parent to start it.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct LoadArgs {
    /// Where to POST the seed payload, e.g.
    /// `http://127.0.0.1:8080/openim/callbackBeforeSendSingleMsgCommand`.
    #[arg(long)]
    pub(crate) url: String,
    /// Keep-alive connections (each carries one request at a time).
    #[arg(long)]
    pub(crate) connections: u32,
    /// Requests in the run.
    #[arg(long)]
    pub(crate) requests: u64,
    /// Requests per second on a fixed schedule (open loop). Without it, each connection
    /// sends its next request as soon as its previous answer arrived (closed loop).
    #[arg(long)]
    pub(crate) rate: Option<f64>,
}

impl LoadArgs {
    fn command_line(&self) -> Vec<String> {
        let mut args = vec![
            "load".to_owned(),
            "--url".to_owned(),
            self.url.clone(),
            "--connections".to_owned(),
            self.connections.to_string(),
            "--requests".to_owned(),
            self.requests.to_string(),
        ];
        if let Some(rate) = self.rate {
            args.extend(["--rate".to_owned(), rate.to_string()]);
        }
        args
    }
}

/// What a load run printed: counts, and latency percentiles over the answered requests.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Report {
    /// Requests the run was to send.
    pub(crate) requests: u64,
    /// Answered with status 200 and the expected envelope.
    pub(crate) ok: u64,
    /// Sent, but failed: no connection, a timeout, another status or another body.
    pub(crate) errors: u64,
    /// Never sent: still waiting for a connection when the fixed-rate run gave up.
    pub(crate) missed: u64,
    /// From the first request's due time to the last answer.
    pub(crate) seconds: f64,
    /// Percentiles of the successful requests' latency; `None` if none succeeded.
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
    /// The first error's description, to say what went wrong without logging every one.
    pub(crate) first_error: Option<String>,
}

impl Report {
    /// Successful answers per second over the run.
    pub(crate) fn achieved_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Starts `bench` (this binary) as a load generator on `core`, waits for it, and returns
/// its report.
pub(crate) fn run(bench: &Path, core: Option<u32>, load: &LoadArgs) -> Result<Report> {
    let output = on_core(core, bench)
        .args(load.command_line())
        .output()
        .context("run the load generator")?;
    if !output.status.success() {
        bail!(
            "the load generator failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .context("the load generator printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("the load generator printed {line:?}"))
}

/// The `load` subcommand: runs the load and prints its [`Report`] as one JSON line.
pub(crate) fn generate(load: &LoadArgs) -> Result<()> {
    if load.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let pace = match load.rate {
        None => Pace::Unpaced,
        Some(rate) if rate.is_finite() && rate > 0.0 => Pace::Fixed { rate },
        Some(rate) => bail!("--rate must be a positive number of requests per second, not {rate}"),
    };
    let target = Target::new(&load.url, crate::seed_payload(), crate::ALLOW)?;
    // One thread: the generator is pinned to one vCPU, where more threads would only take
    // turns.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(drive(target, pace, load.requests, load.connections))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Pace {
    Fixed { rate: f64 },
    Unpaced,
}

/// When request `index` of a fixed-rate run is due, counted from the run's start (rounded
/// to the nanosecond, so whole-millisecond schedules stay exact).
fn due_offset(index: u64, rate: f64) -> Duration {
    Duration::from_nanos((index as f64 * 1e9 / rate).round() as u64)
}

/// How many requests a fixed-rate run of `seconds` at `rate` sends.
pub(crate) fn requests_for(rate: f64, seconds: f64) -> u64 {
    (rate * seconds).round() as u64
}

/// The run's shared schedule: connections take the next request from it when they are free.
struct Schedule {
    next: AtomicU64,
    requests: u64,
    pace: Pace,
    start: Instant,
}

impl Schedule {
    /// The next request to send, if the run has any left.
    fn claim(&self) -> Option<u64> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.requests).then_some(index)
    }

    /// When request `index` is due; `None` when unpaced (due as soon as it is claimed).
    fn due(&self, index: u64) -> Option<Instant> {
        match self.pace {
            Pace::Fixed { rate } => Some(self.start + due_offset(index, rate)),
            Pace::Unpaced => None,
        }
    }

    /// When a fixed-rate run stops sending requests that are still waiting.
    fn give_up_at(&self) -> Option<Instant> {
        match self.pace {
            Pace::Fixed { rate } => {
                Some(self.start + due_offset(self.requests, rate) + DRAIN_GRACE)
            }
            Pace::Unpaced => None,
        }
    }
}

async fn drive(target: Target, pace: Pace, requests: u64, connections: u32) -> Result<Report> {
    let target = Arc::new(target);
    let schedule = Arc::new(Schedule {
        next: AtomicU64::new(0),
        requests,
        pace,
        start: Instant::now(),
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        workers.spawn(connection_worker(schedule.clone(), target.clone()));
    }
    let mut tally = Tally::default();
    while let Some(worker) = workers.join_next().await {
        tally.merge(worker.context("a connection's task panicked")?);
    }
    Ok(tally.into_report(requests, schedule.start))
}

/// One connection: takes due requests from the schedule, one at a time, until none are left
/// or the run gives up.
async fn connection_worker(schedule: Arc<Schedule>, target: Arc<Target>) -> Tally {
    let mut tally = Tally::default();
    let mut connection = None;
    let give_up_at = schedule.give_up_at();
    while let Some(index) = schedule.claim() {
        if give_up_at.is_some_and(|at| Instant::now() > at) {
            // This request and every later one stay unsent: counted as missed.
            break;
        }
        let due = match schedule.due(index) {
            Some(due) => {
                wait_until(due).await;
                due
            }
            None => Instant::now(),
        };
        let outcome =
            tokio::time::timeout(REQUEST_TIMEOUT, exchange(&mut connection, &target)).await;
        let answered = Instant::now();
        match outcome {
            Ok(Ok(())) => tally.record_ok(answered - due, answered),
            Ok(Err(error)) => tally.record_error(error),
            Err(_) => tally.record_error(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }
    tally
}

async fn wait_until(due: Instant) {
    if let Some(coarse) = due.checked_sub(SPIN_WINDOW)
        && coarse > Instant::now()
    {
        tokio::time::sleep_until(coarse.into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

/// Sends one request on `connection` (opening it first if there is none) and checks the
/// answer. The connection is put back only after a complete exchange: after a transport
/// error or a timeout (which drops this future mid-exchange) the next request reconnects.
async fn exchange(
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    target: &Target,
) -> Result<(), String> {
    let mut sender = match connection.take() {
        Some(sender) if !sender.is_closed() => sender,
        _ => target.connect().await?,
    };
    let transport = |e: hyper::Error| format!("transport: {e}");
    sender.ready().await.map_err(transport)?;
    let response = sender
        .send_request(target.request())
        .await
        .map_err(transport)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(transport)?
        .to_bytes();
    *connection = Some(sender);
    target.check(status, &body)
}

/// Where requests go, what they carry, and what the answer must be.
struct Target {
    authority: String,
    host: HeaderValue,
    path: Uri,
    payload: Bytes,
    expected: serde_json::Value,
}

impl Target {
    fn new(url: &str, payload: String, expected: &str) -> Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs are supported, not {url}");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("no host in {url}"))?
            .to_string();
        let path: Uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .with_context(|| format!("bad path in {url}"))?;
        Ok(Target {
            host: HeaderValue::from_str(&authority)?,
            authority,
            path,
            payload: Bytes::from(payload),
            expected: serde_json::from_str(expected).context("the expected answer is not JSON")?,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("connect to {}: {e}", self.authority))?;
        // Requests are single small writes: do not let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        // The connection's own errors reach the sender as failed requests.
        tokio::spawn(connection);
        Ok(sender)
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.payload.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.path.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The same header wrk sends: OpenIM puts the operation id on every callback.
        headers.insert(
            HeaderName::from_static("operationid"),
            HeaderValue::from_static("bench"),
        );
        request
    }

    fn check(&self, status: StatusCode, body: &[u8]) -> Result<(), String> {
        if status != StatusCode::OK {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(body)
            ));
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(answer) if answer == self.expected => Ok(()),
            _ => Err(format!(
                "unexpected body: {}",
                String::from_utf8_lossy(body)
            )),
        }
    }
}

/// What one connection (or, merged, the whole run) saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    last_answer: Option<Instant>,
}

impl Tally {
    fn record_ok(&mut self, latency: Duration, answered: Instant) {
        self.latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        self.last_answer = self.last_answer.max(Some(answered));
    }

    fn record_error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.last_answer = self.last_answer.max(other.last_answer);
    }

    fn into_report(mut self, requests: u64, start: Instant) -> Report {
        self.latencies_us.sort_unstable();
        let ms = |pct: f64| percentile(&self.latencies_us, pct).map(|us| us as f64 / 1000.0);
        let ok = self.latencies_us.len() as u64;
        Report {
            requests,
            ok,
            errors: self.errors,
            missed: requests.saturating_sub(ok + self.errors),
            seconds: self
                .last_answer
                .map_or(0.0, |last| (last - start).as_secs_f64()),
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
            first_error: self.first_error,
        }
    }
}

/// The nearest-rank percentile `pct` (0–100] of `sorted` (ascending): the smallest value
/// that at least `pct` % of the values do not exceed. `None` for no values.
fn percentile(sorted: &[u64], pct: f64) -> Option<u64> {
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 99.5), Some(100));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&values, 0.1), Some(1));
    }

    #[test]
    fn percentile_of_few_values() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // Of four values, p50 is the second (two of four do not exceed it), p99 the last.
        assert_eq!(percentile(&[1, 2, 3, 40], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 40], 99.0), Some(40));
    }

    #[test]
    fn requests_are_due_evenly_from_the_start() {
        assert_eq!(due_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(due_offset(1, 1000.0), Duration::from_millis(1));
        assert_eq!(due_offset(1500, 1000.0), Duration::from_millis(1500));
        assert_eq!(due_offset(3, 4.0), Duration::from_millis(750));
    }

    #[test]
    fn a_run_sends_rate_times_seconds() {
        assert_eq!(requests_for(1000.0, 3.0), 3000);
        assert_eq!(requests_for(12_345.6, 3.0), 37_037);
        assert_eq!(requests_for(0.4, 1.0), 0);
    }

    #[test]
    fn the_schedule_hands_out_each_request_once() {
        let schedule = Schedule {
            next: AtomicU64::new(0),
            requests: 3,
            pace: Pace::Fixed { rate: 10.0 },
            start: Instant::now(),
        };
        let claimed: Vec<_> = std::iter::from_fn(|| schedule.claim()).collect();
        assert_eq!(claimed, [0, 1, 2]);
        assert_eq!(schedule.claim(), None);
        // The last request is due at 0.2 s; the run gives up DRAIN_GRACE after the 0.3 s
        // the schedule spans.
        assert_eq!(
            schedule.due(2).map(|due| due - schedule.start),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            schedule.give_up_at().map(|at| at - schedule.start),
            Some(Duration::from_millis(300) + DRAIN_GRACE)
        );
    }

    #[test]
    fn unanswered_requests_are_missed_not_errors() {
        let start = Instant::now();
        let mut tally = Tally::default();
        tally.record_ok(Duration::from_micros(1500), start + Duration::from_secs(2));
        tally.record_error("status 503".to_owned());
        let mut other = Tally::default();
        other.record_ok(Duration::from_micros(500), start + Duration::from_secs(1));
        other.record_error("later".to_owned());
        tally.merge(other);
        let report = tally.into_report(10, start);
        assert_eq!((report.ok, report.errors, report.missed), (2, 2, 6));
        assert_eq!(report.first_error.as_deref(), Some("status 503"));
        assert_eq!(report.seconds, 2.0);
        assert_eq!(report.achieved_per_sec(), 1.0);
        assert_eq!(report.p50_ms, Some(0.5));
        assert_eq!(report.max_ms, Some(1.5));
    }

    #[test]
    fn only_the_allow_envelope_with_200_passes() {
        let target = Target::new(
            "http://127.0.0.1:9/openim/x",
            String::new(),
            r#"{"a":0,"b":""}"#,
        )
        .unwrap();
        assert_eq!(target.check(StatusCode::OK, br#"{"b":"","a":0}"#), Ok(()));
        assert!(target.check(StatusCode::OK, br#"{"a":1,"b":""}"#).is_err());
        assert!(target.check(StatusCode::OK, b"not json").is_err());
        assert!(
            target
                .check(StatusCode::SERVICE_UNAVAILABLE, br#"{"a":0,"b":""}"#)
                .is_err()
        );
        assert_eq!(target.path, "/openim/x");
        assert_eq!(target.authority, "127.0.0.1:9");
    }
}
