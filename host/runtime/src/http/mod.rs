//! The host side of `wasi:http/outgoing-handler`: wasmtime-wasi-http's implementation of the
//! interface, with hookbox's own sender behind it, so every request a plugin makes passes
//! its grants first.
//!
//! What a request must pass, in order ([`send`]): a grant at all (an [`HttpAccess`]), an
//! `http`/`https` URL without a user name, a scheme, host and port on the plugin's
//! `grants.outbound_hosts` ([`HostPattern`]), a free slot of its concurrent-request cap, then
//! addresses: hookbox resolves the name itself and drops every private, loopback, link-local,
//! metadata and otherwise non-public address (unless `grants.allow_private`), and connects
//! to one that is left, by address. TLS is rustls with Mozilla's roots and the host name for
//! SNI and certificate checks. The response body is capped (`grants.max_response_kb`) and
//! the request is cut off shortly before the call's own deadline.
//!
//! This module is *not* a general HTTP client: it speaks HTTP/1.1 only, keeps no connection
//! pool (one connection per request, closed after it), and never follows a redirect. A 3xx
//! reaches the plugin as it is; a plugin that follows it makes a new request, checked like
//! the first.
//!
//! The decision a reader may question: the sender is hookbox's own rather than
//! wasmtime-wasi-http's `default_send_request`, which resolves and connects in one step
//! (`TcpStream::connect("host:port")`). Checking a name's addresses and then letting the
//! connect resolve it again would leave a gap a rebinding DNS server could use; connecting to
//! the address that was checked leaves none. The crate is used without its
//! `default-send-request` feature, so no request can fall through to an unchecked sender.

mod address;
mod allowlist;
mod send;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

pub use allowlist::{HostPattern, PatternError};

use crate::host::CallState;
use allowlist::Allowlist;

/// One plugin's outbound HTTP grant, as the registry read it from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Where requests may go (`grants.outbound_hosts`).
    pub hosts: Vec<HostPattern>,
    /// Whether private, loopback, link-local and metadata addresses may be reached
    /// (`grants.allow_private`).
    pub allow_private: bool,
    /// Largest response body; a larger one is an error to the plugin.
    pub max_response_bytes: u64,
    /// Requests of this plugin (across all its calls) in flight at once; one more fails at
    /// once instead of waiting.
    pub max_concurrent_requests: usize,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            hosts: Vec::new(),
            allow_private: false,
            max_response_bytes: 1 << 20,
            max_concurrent_requests: 16,
        }
    }
}

/// What one plugin may reach over HTTP, shared by all its calls (the concurrency cap counts
/// across them). Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct HttpAccess {
    allowlist: Allowlist,
    allow_private: bool,
    max_response_bytes: u64,
    max_concurrent_requests: usize,
    in_flight: Arc<Semaphore>,
}

impl HttpAccess {
    /// Access under `policy`.
    pub fn new(policy: HttpPolicy) -> Self {
        HttpAccess {
            allowlist: Allowlist(policy.hosts),
            allow_private: policy.allow_private,
            max_response_bytes: policy.max_response_bytes,
            max_concurrent_requests: policy.max_concurrent_requests,
            in_flight: Arc::new(Semaphore::new(policy.max_concurrent_requests)),
        }
    }

    /// Requests in flight now (sent, and their response body not yet read or dropped).
    pub fn in_flight(&self) -> usize {
        self.max_concurrent_requests - self.in_flight.available_permits()
    }
}

/// How much of a call's time an outbound request may not use: the plugin needs a moment to
/// see the error and still answer before its own deadline, also on a busy host where its
/// task waits a while to be scheduled again.
fn answer_reserve(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(5), Duration::from_millis(100))
}

/// The outbound-HTTP part of one instance's store data. The `WasiHttpCtx` is built on first
/// use, like the `WasiCtx`: most plugins never make a request.
pub(crate) struct CallHttp {
    access: Option<Arc<HttpAccess>>,
    state: Option<(WasiHttpCtx, OutboundHooks)>,
    /// When the current call's requests must be done by.
    deadline: Option<Instant>,
}

impl CallHttp {
    pub(crate) fn new(access: Option<Arc<HttpAccess>>) -> Self {
        CallHttp {
            access,
            state: None,
            deadline: None,
        }
    }

    /// Start a call that may run for `timeout` from `started`.
    pub(crate) fn begin_call(&mut self, started: Instant, timeout: Duration) {
        self.deadline = Some(started + timeout.saturating_sub(answer_reserve(timeout)));
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let CallHttp {
            access,
            state,
            deadline,
        } = &mut self.http;
        let (ctx, hooks) = state.get_or_insert_with(|| {
            let hooks = OutboundHooks {
                access: access.clone(),
                call: send::CallInfo::default(),
            };
            (WasiHttpCtx::new(), hooks)
        });
        // Refreshed on every use: in reuse mode one instance serves many calls.
        hooks.call = send::CallInfo {
            plugin: self.log.plugin(),
            operation_id: self.log.operation_id(),
            deadline: *deadline,
        };
        WasiHttpCtxView {
            ctx,
            table: &mut self.table,
            hooks,
        }
    }
}

/// The policy half of wasi:http: hookbox's sender, and error codes for the plugin.
struct OutboundHooks {
    access: Option<Arc<HttpAccess>>,
    call: send::CallInfo,
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = send::Sent> + Send> {
        Box::new(send::send(
            self.access.clone(),
            self.call.clone(),
            request,
            options,
        ))
    }

    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        send::hyper_error_code(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_end_before_the_call_does() {
        let ms = Duration::from_millis;
        assert_eq!(answer_reserve(ms(200)), ms(20));
        assert_eq!(answer_reserve(ms(10)), ms(5));
        assert_eq!(answer_reserve(ms(600)), ms(60));
        assert_eq!(answer_reserve(ms(15_000)), ms(100));
        let started = Instant::now();
        let mut call = CallHttp::new(None);
        call.begin_call(started, ms(2));
        assert_eq!(call.deadline, Some(started), "never after the call's start");
        call.begin_call(started, ms(1000));
        assert_eq!(call.deadline, Some(started + ms(900)));
    }

    #[test]
    fn in_flight_counts_held_slots() {
        let access = HttpAccess::new(HttpPolicy {
            max_concurrent_requests: 2,
            ..HttpPolicy::default()
        });
        assert_eq!(access.in_flight(), 0);
        let held = access.in_flight.clone().try_acquire_owned().unwrap();
        assert_eq!(access.in_flight(), 1);
        drop(held);
        assert_eq!(access.in_flight(), 0);
    }
}
