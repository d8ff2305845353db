//! Sending one outbound request: the policy checks, then a connection hookbox opens itself to
//! an address it checked, HTTP/1.1 over it, and a response body under the plugin's cap.
//!
//! Every refusal is a wasi:http `error-code` for the plugin and a `warn` line for the
//! operator, with the plugin, the callback's operationID, the target and the reason.
//! Failures that are not refusals (the peer refused the connection, bad TLS, a timeout) are
//! `debug` lines: they are the plugin's to handle and report.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep, timeout_at};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::HttpAccess;
use super::address::prohibited;
use super::allowlist::{Target, TargetHost};

/// What `send_request` hands back to wasmtime-wasi-http: the response (its body streams in
/// later) and the future that drives the connection while the plugin reads it.
pub(crate) type Sent = Result<(Response<WasiBody>, IoFuture), Error>;
pub(crate) type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// A request with no call deadline (the runtime always sets one; this is the backstop).
const NO_DEADLINE: Duration = Duration::from_secs(30);

/// Who is asking, for logs, and until when.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallInfo {
    pub(crate) plugin: Arc<str>,
    pub(crate) operation_id: Option<Arc<str>>,
    pub(crate) deadline: Option<std::time::Instant>,
}

impl CallInfo {
    /// Log a refusal and return the code the plugin gets for it.
    fn refuse(&self, code: Error, target: &dyn fmt::Display, reason: impl fmt::Display) -> Error {
        tracing::warn!(
            plugin = &*self.plugin,
            operation_id = self.operation_id.as_deref().unwrap_or(""),
            target = %target,
            error = %code,
            "outbound request refused: {reason}"
        );
        code
    }

    /// Log a failure that is not a refusal.
    fn failed(&self, code: Error, target: &Target, what: impl fmt::Display) -> Error {
        tracing::debug!(
            plugin = &*self.plugin,
            operation_id = self.operation_id.as_deref().unwrap_or(""),
            target = %target,
            error = %code,
            "outbound request failed: {what}"
        );
        code
    }
}

/// Send `request` for the plugin described by `call`, under `access`.
pub(crate) async fn send(
    access: Option<Arc<HttpAccess>>,
    call: CallInfo,
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Sent {
    let origin = origin_of(request.uri());
    let Some(access) = access else {
        // The registry refuses a component importing wasi:http without the grant; this is
        // `hookbox run` or an embedder that gave none.
        return Err(call.refuse(
            Error::HttpRequestDenied,
            &origin,
            "the plugin has no grants.outbound_hosts",
        ));
    };
    let Some(target) = Target::of(request.uri()) else {
        return Err(call.refuse(
            Error::HttpRequestUriInvalid,
            &origin,
            "the URL needs an http or https scheme and a host, and no user name",
        ));
    };
    if !access.allowlist.allows(&target) {
        return Err(call.refuse(
            Error::HttpRequestDenied,
            &target,
            "not in the plugin's grants.outbound_hosts",
        ));
    }
    let Ok(permit) = access.in_flight.clone().try_acquire_owned() else {
        return Err(call.refuse(
            Error::ConnectionLimitReached,
            &target,
            format_args!(
                "{} requests of this plugin already in flight (grants.max_concurrent_requests)",
                access.max_concurrent_requests
            ),
        ));
    };
    let clock = Clock::new(call.deadline, options);

    let addrs = resolve(&call, &target, clock.connect_by).await?;
    let addrs = permitted(&call, &access, &target, addrs)?;
    let tcp = connect(&call, &target, &addrs, clock.connect_by).await?;
    let stream: Box<dyn Stream> = if target.secure {
        Box::new(tls(&call, &target, tcp, clock.connect_by).await?)
    } else {
        Box::new(tcp)
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream));
    let (mut sender, conn) = match timeout_at(clock.connect_by, handshake).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(call.failed(Error::Hyper(e), &target, "HTTP handshake")),
        Err(_) => return Err(call.failed(Error::ConnectionTimeout, &target, "HTTP handshake")),
    };

    // Sent as origin-form (`/path?query`): the absolute form is for proxies.
    let (mut parts, body) = request.into_parts();
    parts.uri = origin_form(&parts.uri);
    let request = Request::from_parts(parts, body);

    // The connection must be driven while the head is awaited; afterwards it is handed to
    // wasmtime-wasi-http to drive while the plugin reads the body.
    let mut conn = Box::pin(conn);
    let head = async {
        tokio::select! {
            biased;
            response = sender.send_request(request) => response.map_err(Error::Hyper),
            ended = &mut conn => Err(match ended {
                Ok(()) => Error::ConnectionTerminated,
                Err(e) => Error::Hyper(e),
            }),
        }
    };
    let response = match timeout_at(clock.first_byte_by(), head).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(call.failed(e, &target, "waiting for the response")),
        Err(_) => {
            return Err(call.failed(
                Error::ConnectionReadTimeout,
                &target,
                "no response head in time",
            ));
        }
    };

    let max = access.max_response_bytes;
    if let Some(length) = content_length(&response).filter(|n| *n > max) {
        return Err(call.refuse(
            Error::HttpResponseBodySize(Some(length)),
            &target,
            format_args!("the response body has {length} bytes, more than the {max} of grants.max_response_kb"),
        ));
    }
    let end = clock.end;
    let response = response.map(|incoming| {
        LimitedBody {
            inner: incoming,
            read: 0,
            max,
            idle: clock
                .between_bytes
                .map(|gap| (gap, Box::pin(tokio::time::sleep(gap)))),
            deadline: Box::pin(tokio::time::sleep_until(end)),
            done: false,
            call: call.clone(),
            target: target.clone(),
            _permit: permit,
        }
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move {
        // Past the request's deadline the connection is simply dropped: the body has
        // failed with a timeout by then.
        match timeout_at(end, conn).await {
            Ok(Ok(())) | Err(_) => Ok(()),
            Ok(Err(e)) => Err(Error::Hyper(e)),
        }
    });
    Ok((response, io))
}

/// When each phase of one request must be over.
struct Clock {
    /// Name lookup, TCP, TLS and the HTTP handshake.
    connect_by: Instant,
    first_byte: Option<Duration>,
    between_bytes: Option<Duration>,
    /// The whole request, body included: shortly before the call's deadline.
    end: Instant,
}

impl Clock {
    fn new(deadline: Option<std::time::Instant>, options: Option<RequestOptions>) -> Clock {
        let now = Instant::now();
        let end = deadline.map_or(now + NO_DEADLINE, Instant::from_std);
        let options = options.unwrap_or_default();
        Clock {
            connect_by: within(now, options.connect_timeout, end),
            first_byte: options.first_byte_timeout,
            // Capped at what is left (a gap past `end` never fires, and a plugin's
            // `u64::MAX` nanoseconds would overflow the timer).
            between_bytes: options
                .between_bytes_timeout
                .filter(|gap| !gap.is_zero())
                .map(|gap| gap.min(end.saturating_duration_since(now))),
            end,
        }
    }

    /// The plugin's first-byte timeout counts from when the request goes out.
    fn first_byte_by(&self) -> Instant {
        within(Instant::now(), self.first_byte, self.end)
    }
}

/// `now + timeout` (the plugin's, from request-options: any `u64` of nanoseconds), never
/// past `end`.
fn within(now: Instant, timeout: Option<Duration>, end: Instant) -> Instant {
    timeout
        .and_then(|t| now.checked_add(t))
        .map_or(end, |t| t.min(end))
}

async fn resolve(call: &CallInfo, target: &Target, by: Instant) -> Result<Vec<SocketAddr>, Error> {
    let name = match &target.host {
        TargetHost::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, target.port)]),
        TargetHost::Name(name) => name.as_str(),
    };
    let found = match timeout_at(by, tokio::net::lookup_host((name, target.port))).await {
        Err(_) => return Err(call.failed(Error::DnsTimeout, target, "name lookup")),
        Ok(Err(e)) => {
            let code = Error::DnsError {
                rcode: Some("the name does not resolve".into()),
                info_code: None,
            };
            return Err(call.failed(code, target, format_args!("name lookup: {e}")));
        }
        Ok(Ok(found)) => found,
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(call.failed(Error::DestinationNotFound, target, "no address"));
    }
    Ok(addrs)
}

/// The addresses the plugin may connect to. Without `allow_private` every non-public one is
/// dropped; a name with only those is refused. (A name with both is not: the request goes
/// to a public address, which is all the rule protects.)
fn permitted(
    call: &CallInfo,
    access: &HttpAccess,
    target: &Target,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Error> {
    if access.allow_private {
        return Ok(addrs);
    }
    let mut refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| match prohibited(addr.ip()) {
            None => true,
            Some(why) => {
                refused.get_or_insert((addr.ip(), why));
                false
            }
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (true, Some((ip, why))) => Err(call.refuse(
            Error::DestinationIpProhibited,
            target,
            format_args!("{ip} is a {why}, and grants.allow_private is off"),
        )),
        _ => Ok(allowed),
    }
}

async fn connect(
    call: &CallInfo,
    target: &Target,
    addrs: &[SocketAddr],
    by: Instant,
) -> Result<TcpStream, Error> {
    let mut last = Error::DestinationUnavailable;
    for addr in addrs {
        match timeout_at(by, TcpStream::connect(*addr)).await {
            Err(_) => {
                return Err(call.failed(Error::ConnectionTimeout, target, format_args!("{addr}")));
            }
            Ok(Ok(stream)) => {
                // Small requests and answers: no Nagle delay on the last segment.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => {
                last = call.failed(connect_error(&e), target, format_args!("{addr}: {e}"));
            }
        }
    }
    Err(last)
}

fn connect_error(e: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        ErrorKind::TimedOut => Error::ConnectionTimeout,
        ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
            Error::DestinationIpUnroutable
        }
        _ => Error::DestinationUnavailable,
    }
}

/// What a connection is: plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

async fn tls(
    call: &CallInfo,
    target: &Target,
    tcp: TcpStream,
    by: Instant,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    use rustls::pki_types::ServerName;

    let config = tls_config()
        .map_err(|e| call.failed(Error::InternalError(Some(e.clone())), target, "TLS set-up"))?;
    let server_name = match &target.host {
        TargetHost::Ip(ip) => ServerName::IpAddress((*ip).into()),
        TargetHost::Name(name) => ServerName::try_from(name.as_str())
            .map(|n| n.to_owned())
            .map_err(|_| call.failed(Error::HttpRequestUriInvalid, target, "not a TLS name"))?,
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    match timeout_at(by, connector.connect(server_name, tcp)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(call.failed(tls_error(&e), target, format_args!("TLS: {e}"))),
        Err(_) => Err(call.failed(Error::ConnectionTimeout, target, "TLS handshake")),
    }
}

/// One client configuration for the process: ring, Mozilla's roots, HTTP/1.1 by ALPN.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, &'static String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            // An explicit provider: the process-wide default panics if two are compiled in.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .as_ref()
        .cloned()
}

fn tls_error(e: &std::io::Error) -> Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// The error code a hyper error means to the plugin (wasmtime-wasi-http asks the hooks).
pub(crate) fn hyper_error_code(err: &hyper::Error) -> ErrorCode {
    if err.is_timeout() {
        ErrorCode::HttpResponseTimeout
    } else if err.is_incomplete_message() {
        ErrorCode::HttpResponseIncomplete
    } else if err.is_parse_too_large() {
        ErrorCode::HttpResponseHeaderSectionSize(None)
    } else if err.is_canceled() || err.is_closed() {
        ErrorCode::ConnectionTerminated
    } else {
        ErrorCode::HttpProtocolError
    }
}

/// `scheme://host:port` of `uri` for logs: never the path or query (they may carry tokens)
/// nor a user name and password.
fn origin_of(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}")
}

fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) if pq.as_str().starts_with('/') => Uri::from(pq.clone()),
        Some(pq) if pq.as_str().starts_with('?') => format!("/{pq}")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/")),
        _ => Uri::from_static("/"),
    }
}

fn content_length(response: &Response<Incoming>) -> Option<u64> {
    response
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A response body under the plugin's byte cap, the plugin's between-bytes timeout and the
/// request's deadline. It holds the request's concurrency slot until the plugin has read it
/// or dropped it.
struct LimitedBody {
    inner: Incoming,
    read: u64,
    max: u64,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    deadline: Pin<Box<Sleep>>,
    done: bool,
    call: CallInfo,
    target: Target,
    _permit: OwnedSemaphorePermit,
}

impl LimitedBody {
    fn fail(&mut self, code: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(code)))
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read = this.read.saturating_add(data.len() as u64);
                    if this.read > this.max {
                        let max = this.max;
                        let code = this.call.refuse(
                            Error::HttpResponseBodySize(Some(max)),
                            &this.target,
                            format_args!(
                                "the response body passed {max} bytes (grants.max_response_kb)"
                            ),
                        );
                        return this.fail(code);
                    }
                }
                if let Some((gap, idle)) = &mut this.idle {
                    idle.as_mut().reset(Instant::now() + *gap);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let code = Error::Hyper(e);
                this.fail(code)
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    let code = this.call.failed(
                        Error::HttpResponseTimeout,
                        &this.target,
                        "the body was not read before the call's deadline",
                    );
                    return this.fail(code);
                }
                if let Some((_, idle)) = &mut this.idle
                    && idle.as_mut().poll(cx).is_ready()
                {
                    let code = this.call.failed(
                        Error::ConnectionReadTimeout,
                        &this.target,
                        "between-bytes timeout",
                    );
                    return this.fail(code);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_out_in_origin_form() {
        for (uri, sent) in [
            ("http://a.example/x/y?z=1", "/x/y?z=1"),
            ("http://a.example", "/"),
            ("https://a.example/", "/"),
        ] {
            assert_eq!(
                origin_form(&uri.parse().unwrap()).to_string(),
                sent,
                "{uri}"
            );
        }
    }

    #[test]
    fn logs_show_the_origin_only() {
        assert_eq!(
            origin_of(
                &"https://user:pw@api.example.com:8443/x?token=s3cret"
                    .parse()
                    .unwrap()
            ),
            "https://api.example.com:8443"
        );
        assert_eq!(origin_of(&"/relative".parse().unwrap()), "?://");
    }

    #[test]
    fn the_plugins_timeouts_never_outlast_the_request() {
        let now = Instant::now();
        let end = now + Duration::from_millis(100);
        assert_eq!(within(now, None, end), end);
        assert_eq!(
            within(now, Some(Duration::from_millis(10)), end),
            now + Duration::from_millis(10)
        );
        assert_eq!(within(now, Some(Duration::from_secs(5)), end), end);
        assert_eq!(within(now, Some(Duration::MAX), end), end);
    }

    #[test]
    fn huge_plugin_timeouts_are_capped_not_overflowed() {
        let options = RequestOptions {
            connect_timeout: Some(Duration::MAX),
            first_byte_timeout: Some(Duration::MAX),
            between_bytes_timeout: Some(Duration::MAX),
        };
        let deadline = std::time::Instant::now() + Duration::from_millis(100);
        let clock = Clock::new(Some(deadline), Some(options));
        assert_eq!(clock.connect_by, clock.end);
        assert_eq!(clock.first_byte_by(), clock.end);
        assert!(clock.between_bytes.unwrap() <= Duration::from_millis(100));
    }

    #[test]
    fn connect_failures_have_their_own_codes() {
        use std::io::{Error as IoError, ErrorKind};
        assert!(matches!(
            connect_error(&IoError::from(ErrorKind::ConnectionRefused)),
            Error::ConnectionRefused
        ));
        assert!(matches!(
            connect_error(&IoError::from(ErrorKind::HostUnreachable)),
            Error::DestinationIpUnroutable
        ));
        assert!(matches!(
            connect_error(&IoError::from(ErrorKind::Other)),
            Error::DestinationUnavailable
        ));
    }

    #[test]
    fn the_tls_configuration_builds() {
        let config = tls_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
