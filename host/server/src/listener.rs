//! The serve loop: accept connections on a bound listener, speak HTTP/1 on them under the
//! connection limits, and drain them when the shutdown future resolves.
//!
//! It is *not* where requests are judged: [`serve`] hands every request, with the peer's
//! address, to the endpoint's [`Dispatch`] (a plain [`Router`], or the webhook endpoint's
//! [`Webhooks`](crate::webhooks::Webhooks)); per-request caps, deadlines and errors live
//! there and in the handlers. What only the connection can enforce is here:
//! how long a client may take to send its request head, how large that head may be, and how
//! many connections are open at once.
//!
//! The decision a reader may question: hyper directly rather than `axum::serve`, which
//! has no header timeout and exposes neither header caps nor a connection cap; and the
//! header timeout as one watchdog timer per connection ([`head_timeout`]) rather than
//! hyper's, which costs every request a new timer. The shape stays the same: a bound
//! listener and a shutdown future, so tests serve on `127.0.0.1:0`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// What one listener enforces per connection, before any request reaches the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection must deliver a complete request head within this time, counted from
    /// when it opens or its previous answer was sent; else it is closed without an answer.
    pub header_timeout: Duration,
    /// Most header fields in one request; more gets 431.
    pub max_headers: usize,
    /// Largest request head (request line and headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Most connections open at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// The `[server]` defaults.
    fn default() -> Self {
        ConnectionLimits::from(&ServerConfig::default())
    }
}

impl From<&ServerConfig> for ConnectionLimits {
    fn from(server: &ServerConfig) -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_millis(server.header_timeout_ms),
            max_headers: server.max_headers,
            max_header_bytes: server.max_header_kb.saturating_mul(1024),
            max_connections: server.max_connections,
        }
    }
}

/// How a request becomes its answer: implemented by [`Router`] and by the webhook endpoint's
/// [`Webhooks`](crate::webhooks::Webhooks), which admits every request and sends the callback
/// paths it knows straight to their handlers.
pub trait Dispatch: Clone + Send + Sync + 'static {
    /// The answer to `request`, which came from `peer`.
    fn dispatch(
        &self,
        request: hyper::Request<Body>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<Self>;
}

impl Dispatch for Router {
    fn dispatch(
        &self,
        request: hyper::Request<Body>,
        _peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<> {
        let answer = self.clone().oneshot(request);
        async move {
            match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    }
}

/// What [`serve`] serves: a [`Dispatch`], the connection limits it is served under, and where
/// connection-level refusals are counted.
///
/// A plain [`Router`] converts into one with the default limits (the admin API is served
/// that way); [`App::router`](crate::App::router) builds the webhook endpoint from `[server]`.
#[derive(Debug, Clone)]
pub struct Endpoint<D = Router> {
    /// Answers every request.
    pub dispatch: D,
    /// Enforced on every connection.
    pub limits: ConnectionLimits,
    /// Counts header timeouts and refused request heads, when set.
    pub metrics: Option<Arc<Metrics>>,
}

impl From<Router> for Endpoint {
    fn from(router: Router) -> Self {
        Endpoint {
            dispatch: router,
            limits: ConnectionLimits::default(),
            metrics: None,
        }
    }
}

/// Serve `endpoint` on `listener` until `shutdown` resolves; then stop accepting, let every
/// request in flight finish, close idle connections, and return.
pub async fn serve<D: Dispatch>(
    listener: TcpListener,
    endpoint: impl Into<Endpoint<D>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let Endpoint {
        dispatch,
        limits,
        metrics,
    } = endpoint.into();
    let mut http = hyper::server::conn::http1::Builder::new();
    // No timer, so hyper arms no header timeout of its own: `head_timeout` below is it.
    http.max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed; nothing left to serve if it were
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            stream,
            activity: activity.clone(),
        });
        let dispatch = dispatch.clone();
        let in_service = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            in_service.in_request.store(true, Ordering::Relaxed);
            let answer = dispatch.dispatch(request.map(Body::new), peer);
            let activity = in_service.clone();
            async move {
                let response = answer.await;
                activity.wait_for_head();
                Ok::<_, Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        let metrics = metrics.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            tokio::select! {
                biased;
                ended = connection => if let Err(error) = ended {
                    connection_ended(&error, peer, &activity, metrics.as_deref());
                },
                () = head_timeout(&activity, header_timeout) => {
                    head_timed_out(peer, &activity, metrics.as_deref());
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Accept errors are either about one connection (it was reset before we took it: skip
/// it) or about this process (out of file descriptors: wait, or the loop would spin).
async fn pause_after_accept_error(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Resolves once the connection has waited longer than `timeout` for a complete request
/// head, counted from when it opened or from its previous answer.
///
/// One timer per connection, moved only when it fires: hyper's own header timeout (given a
/// timer) boxes a new timer and registers it on every request, ~1.2k instructions of each
/// callback.
async fn head_timeout(activity: &Activity, timeout: Duration) {
    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    loop {
        (&mut sleep).await;
        let now = Instant::now();
        let due = if activity.in_request.load(Ordering::Relaxed) {
            // The request's own deadline bounds it; look again a timeout from now.
            now + timeout
        } else {
            activity.waiting_since() + timeout
        };
        if due <= now {
            return;
        }
        sleep.as_mut().reset(due.into());
    }
}

/// Log and count a connection closed by [`head_timeout`]. Nothing is answered: the client
/// never finished asking.
fn head_timed_out(peer: SocketAddr, activity: &Activity, metrics: Option<&Metrics>) {
    if !activity.awaiting_answer() {
        // An idle keep-alive connection timing out is housekeeping, not a refusal.
        tracing::trace!(%peer, "idle connection closed");
        return;
    }
    refused(
        peer,
        "header_timeout",
        &"no complete request head in time",
        metrics,
    );
}

/// Log and count why a connection ended in an error. hyper has already sent what HTTP
/// allows (431 for a head too large, 400 for a malformed one).
fn connection_ended(
    error: &hyper::Error,
    peer: SocketAddr,
    activity: &Activity,
    metrics: Option<&Metrics>,
) {
    let code = if error.is_parse_too_large() {
        "headers_too_large"
    } else if error.is_parse() {
        "malformed_request"
    } else {
        // The client went away, or the connection broke: nothing was refused.
        let awaiting_answer = activity.awaiting_answer();
        tracing::debug!(%peer, %error, awaiting_answer, "connection ended");
        return;
    };
    refused(peer, code, error, metrics);
}

fn refused(
    peer: SocketAddr,
    code: &'static str,
    error: &dyn std::fmt::Display,
    metrics: Option<&Metrics>,
) {
    // Debug, not warn: anyone on the network can cause these, and a log line per attempt
    // would hand them the log volume too. The counter is the operator's signal.
    tracing::debug!(%peer, refused = code, %error, "connection refused before a request was read");
    if let Some(metrics) = metrics {
        metrics.record_refused(code);
    }
}

/// What a connection has done: for [`head_timeout`], and for telling an idle keep-alive
/// connection from one that started a request head and stalled.
#[derive(Debug)]
struct Activity {
    /// Bytes arrived since the last answer was written.
    unanswered_input: AtomicBool,
    /// At least one answer was written.
    answered: AtomicBool,
    /// A request head has been read and its answer is not ready yet.
    in_request: AtomicBool,
    /// When the connection last started waiting for a request head (it opened, or an
    /// answer was ready): nanoseconds after `opened`.
    waiting_since_nanos: AtomicU64,
    opened: Instant,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            unanswered_input: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            in_request: AtomicBool::new(false),
            waiting_since_nanos: AtomicU64::new(0),
            opened: Instant::now(),
        }
    }

    /// The answer is ready: the next request head is due a header timeout from now.
    fn wait_for_head(&self) {
        let since = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.waiting_since_nanos.store(since, Ordering::Relaxed);
        self.in_request.store(false, Ordering::Relaxed);
    }

    fn waiting_since(&self) -> Instant {
        self.opened + Duration::from_nanos(self.waiting_since_nanos.load(Ordering::Relaxed))
    }

    /// The client owes us (the rest of) a request: it sent bytes we have not answered, or
    /// it never completed a first request at all.
    fn awaiting_answer(&self) -> bool {
        self.unanswered_input.load(Ordering::Relaxed) || !self.answered.load(Ordering::Relaxed)
    }
}

/// A TCP stream that records [`Activity`] as hyper reads and writes it.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity
                .unanswered_input
                .store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl Watched {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity
                .unanswered_input
                .store(false, Ordering::Relaxed);
            self.activity.answered.store(true, Ordering::Relaxed);
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
