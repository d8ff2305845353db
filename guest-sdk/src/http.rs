//! Outbound HTTP (`wasi:http/outgoing-handler`): a plugin calls another system, e.g. to
//! archive a message or ask a moderation service.
//!
//! Needs `grants.outbound_hosts` in the plugin's manifest; a component that calls any of these
//! without the grant is refused when it loads. The host sends a request only to a scheme,
//! host and port the grant lists, only to public addresses unless `grants.allow_private` is
//! set, caps the response body (`grants.max_response_kb`) and ends the request shortly before
//! the call's deadline. A refused request is an [`Error`] naming the grant that refused it.
//!
//! Redirects are not followed: a 3xx comes back as a [`Response`] like any other status.
//! Every call blocks the plugin until the whole response body is in.
//!
//! Outside WebAssembly (native unit tests of plugin logic) nothing is sent: requests are
//! recorded on a per-thread list read with `take_native_requests`, and each is answered with
//! what `set_native_response` set (by default `200` with an empty body).

use std::time::Duration;

use crate::Error;

/// A request to send with [`Request::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, …) to `url` (`http://` or `https://`).
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET` to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` to `url`.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new("POST", url)
    }

    /// Add a header (`Host`, `Connection` and the other hop-by-hop headers are the host's).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Set the body to `value` as JSON, with `Content-Type: application/json` unless a
    /// `Content-Type` header was added already.
    ///
    /// # Errors
    ///
    /// `value` cannot be serialised.
    pub fn json(self, value: &impl serde::Serialize) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)?;
        let typed = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        let request = if typed {
            self
        } else {
            self.header("content-type", "application/json")
        };
        Ok(request.body(body))
    }

    /// Give up after `timeout` connecting, waiting for the response, or between two parts of
    /// its body. The host's own limit (shortly before the call's deadline) applies anyway.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Send the request and read the whole response.
    ///
    /// # Errors
    ///
    /// The URL is not `http(s)://host…`; the host refused the request (not in
    /// `grants.outbound_hosts`, a private address, too many in flight); the connection, TLS or
    /// the server failed; a timeout; a response body over `grants.max_response_kb`. A response
    /// with any status, 4xx and 5xx included, is `Ok`.
    pub fn send(self) -> Result<Response, Error> {
        let url = Url::parse(&self.url)?;
        imp::send(&self, &url)
    }
}

/// A response: status, headers and the whole body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// The body is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|_| Error::new("http: the body is not UTF-8"))
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// The body is not JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// `POST` `body` as JSON to `url` with `headers`, and read the response.
///
/// # Errors
///
/// As [`Request::send`], or `body` cannot be serialised.
pub fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: &impl serde::Serialize,
) -> Result<Response, Error> {
    let mut request = Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.json(body)?.send()
}

/// `GET` `url` with `headers`, and read the response.
///
/// # Errors
///
/// As [`Request::send`].
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    let mut request = Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send()
}

/// A URL taken apart the way wasi:http wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url<'a> {
    secure: bool,
    authority: &'a str,
    path_with_query: String,
}

impl<'a> Url<'a> {
    /// `http(s)://authority[/path][?query][#fragment]`; the fragment is never sent.
    fn parse(url: &'a str) -> Result<Url<'a>, Error> {
        let bad = |why: &str| Error::new(format!("http: {url:?} {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("is not an absolute http(s) URL"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("does not start with http:// or https://")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        if authority.contains('@') {
            return Err(bad("carries a user name; send credentials in a header"));
        }
        let tail = tail.split('#').next().unwrap_or("");
        let path_with_query = match tail {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(Url {
            secure,
            authority,
            path_with_query,
        })
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Request, Response, Url};
    use crate::Error;
    use crate::bindings::wasi::http::outgoing_handler;
    use crate::bindings::wasi::http::types::{
        ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
        Scheme,
    };
    use crate::bindings::wasi::io::streams::StreamError;

    /// wasi:io output streams take at most 4 KiB per blocking write.
    const WRITE_CHUNK: usize = 4096;
    /// Read the response body in pieces this large.
    const READ_CHUNK: u64 = 64 * 1024;

    fn describe(code: &ErrorCode) -> Error {
        let why = match code {
            ErrorCode::HttpRequestDenied => {
                "the host refused the request: its scheme, host and port are not in grants.outbound_hosts".to_owned()
            }
            ErrorCode::DestinationIpProhibited => {
                "the host refused the request: the destination is a private address and grants.allow_private is off".to_owned()
            }
            ErrorCode::ConnectionLimitReached => {
                "the host refused the request: too many requests in flight (grants.max_concurrent_requests)".to_owned()
            }
            ErrorCode::HttpResponseBodySize(_) => {
                "the response body is larger than grants.max_response_kb".to_owned()
            }
            ErrorCode::ConnectionTimeout => "timed out connecting".to_owned(),
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                "timed out waiting for the response".to_owned()
            }
            ErrorCode::ConnectionRefused => "the server refused the connection".to_owned(),
            other => format!("{other:?}"),
        };
        Error::new(format!("http: {why}"))
    }

    fn method(name: &str) -> Method {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            _ => Method::Other(name.to_owned()),
        }
    }

    fn refused(what: &str) -> Error {
        Error::new(format!("http: the host refused the request's {what}"))
    }

    pub(super) fn send(request: &Request, url: &Url<'_>) -> Result<Response, Error> {
        let headers = Fields::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| Error::new(format!("http: header {name:?}: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        outgoing
            .set_method(&method(&request.method))
            .map_err(|()| refused("method"))?;
        let scheme = if url.secure {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| refused("scheme"))?;
        outgoing
            .set_authority(Some(url.authority))
            .map_err(|()| refused("host"))?;
        outgoing
            .set_path_with_query(Some(&url.path_with_query))
            .map_err(|()| refused("path"))?;
        let options = match request.timeout {
            None => None,
            Some(timeout) => {
                let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
                let options = RequestOptions::new();
                options
                    .set_connect_timeout(Some(nanos))
                    .and_then(|()| options.set_first_byte_timeout(Some(nanos)))
                    .and_then(|()| options.set_between_bytes_timeout(Some(nanos)))
                    .map_err(|()| refused("timeouts"))?;
                Some(options)
            }
        };
        let body = outgoing.body().map_err(|()| refused("body"))?;
        let pending = outgoing_handler::handle(outgoing, options).map_err(|e| describe(&e))?;

        // The body goes out while the request is in flight; if that fails, the response's
        // error (written after) says why.
        let written = write_body(&body, &request.body);
        let finished = OutgoingBody::finish(body, None);
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(describe(&code)),
            Some(Err(())) | None => {
                return Err(Error::new("http: the host lost the response"));
            }
        };
        written?;
        finished.map_err(|e| describe(&e))?;
        read_response(&response)
    }

    fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), Error> {
        let stream = body
            .write()
            .map_err(|()| Error::new("http: the request body was already written"))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| stream_error("sending the body", e))?;
        }
        Ok(())
    }

    fn read_response(response: &IncomingResponse) -> Result<Response, Error> {
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| Error::new("http: the response body was already taken"))?;
        let stream = incoming
            .stream()
            .map_err(|()| Error::new("http: the response body was already taken"))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(bytes) => body.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error("reading the response body", e)),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn stream_error(what: &str, error: StreamError) -> Error {
        match error {
            StreamError::Closed => Error::new(format!("http: {what}: the connection closed")),
            StreamError::LastOperationFailed(e) => {
                match crate::bindings::wasi::http::types::http_error_code(&e) {
                    Some(code) => describe(&code),
                    None => Error::new(format!("http: {what}: {}", e.to_debug_string())),
                }
            }
        }
    }
}

/// Answer every request on this thread with `response` from now on (native builds only: for
/// unit tests of plugin logic).
#[cfg(not(target_arch = "wasm32"))]
pub fn set_native_response(response: Result<Response, Error>) {
    imp::NATIVE.with(|native| native.borrow_mut().response = Some(response));
}

/// The requests sent on this thread so far, oldest first, leaving the list empty (native
/// builds only).
#[cfg(not(target_arch = "wasm32"))]
pub fn take_native_requests() -> Vec<Request> {
    imp::NATIVE.with(|native| std::mem::take(&mut native.borrow_mut().requests))
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;

    use super::{Request, Response, Url};
    use crate::Error;

    #[derive(Default)]
    pub(super) struct Native {
        pub(super) requests: Vec<Request>,
        pub(super) response: Option<Result<Response, Error>>,
    }

    thread_local! {
        pub(super) static NATIVE: RefCell<Native> = RefCell::new(Native::default());
    }

    pub(super) fn send(request: &Request, _url: &Url<'_>) -> Result<Response, Error> {
        NATIVE.with(|native| {
            let mut native = native.borrow_mut();
            native.requests.push(request.clone());
            native.response.clone().unwrap_or_else(|| {
                Ok(Response {
                    status: 200,
                    ..Response::default()
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let url = Url::parse("https://api.example.com/v1/items?x=1#frag").unwrap();
        assert_eq!(
            url,
            Url {
                secure: true,
                authority: "api.example.com",
                path_with_query: "/v1/items?x=1".into(),
            }
        );
        let url = Url::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!(
            (url.secure, url.authority, url.path_with_query.as_str()),
            (false, "127.0.0.1:8080", "/")
        );
        let url = Url::parse("http://h?q=1").unwrap();
        assert_eq!(url.path_with_query, "/?q=1");
        let url = Url::parse("https://[::1]:8443/x").unwrap();
        assert_eq!(url.authority, "[::1]:8443");
        for bad in [
            "api.example.com/x",
            "ftp://example.com/",
            "https:///path",
            "https://user:pw@example.com/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_requests_are_recorded_and_answered() {
        let _ = take_native_requests();
        let answer = post_json(
            "https://archive.example.com/messages",
            &[("authorization", "Bearer k")],
            &serde_json::json!({ "a": 1 }),
        )
        .unwrap();
        assert_eq!(answer.status, 200);
        let sent = take_native_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].method(), "POST");
        assert_eq!(sent[0].url(), "https://archive.example.com/messages");
        assert_eq!(
            sent[0].headers(),
            [
                ("authorization".to_owned(), "Bearer k".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned())
            ]
        );
        assert_eq!(sent[0].body_bytes(), br#"{"a":1}"#);

        post_json(
            "https://archive.example.com/messages",
            &[("Content-Type", "application/x-ndjson")],
            &1,
        )
        .unwrap();
        let sent = take_native_requests();
        assert_eq!(
            sent[0].headers(),
            [("Content-Type".to_owned(), "application/x-ndjson".to_owned())]
        );

        set_native_response(Err(Error::new("http: refused")));
        assert_eq!(
            get("https://x.example/", &[]).unwrap_err().message(),
            "http: refused"
        );
        assert!(get("not a url", &[]).is_err());
        // A bad URL never reaches the host.
        assert_eq!(take_native_requests().len(), 1);
        set_native_response(Ok(Response::default()));
    }

    #[test]
    fn responses_read_as_text_json_and_headers() {
        let response = Response {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"id":7}"#.to_vec(),
        };
        assert!(response.is_success());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.text().unwrap(), r#"{"id":7}"#);
        let value: serde_json::Value = response.json().unwrap();
        assert_eq!(value["id"], 7);
        assert!(
            !Response {
                status: 302,
                ..Response::default()
            }
            .is_success()
        );
    }
}
