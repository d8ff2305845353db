//! The webhook endpoint's [`Dispatch`]: every request is admitted (or refused with 403 or
//! 503) first; a `POST` to a callback path known when the endpoint was built then goes
//! straight to its handler, and anything else through the router, which answers the
//! `{command}` paths and every 404 and 405. Every refusal a request ends in is counted here.
//!
//! What it is not: a second router. Its table holds only the paths the router also routes to
//! the same [`CallbackPath`], so with the table empty the answers would be the same; a test
//! (`webhook_paths_answer_as_the_router_does`) holds it to that.
//!
//! The decision a reader may question: **a path table in front of axum's router**. Through
//! the router, each callback paid for a matchit lookup, three request extensions (each a
//! boxed value in a map allocated for it), and two boxed futures of ~5 KiB copied into place,
//! one for its route and one for the admission middleware. A hash lookup of the exact path
//! replaces all of that for the paths IM servers call, and took a callback from ~72.1k to
//! ~64.9k x86 instructions (callgrind, the seed message in reuse mode); axum keeps everything
//! else.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::error::Refusal;
use crate::ingress::CallbackPath;
use crate::listener::Dispatch;

/// The webhook endpoint: admission, the callback paths, the router for the rest.
#[derive(Debug, Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    app: Arc<App>,
    /// Exact paths, as the router matches its static routes: no decoding, no trailing-slash
    /// folding.
    paths: foldhash::HashMap<String, CallbackPath>,
    router: Router,
}

impl Webhooks {
    /// `paths` must be routed by `router` to the same [`CallbackPath`], for every method.
    pub(crate) fn new(
        app: Arc<App>,
        paths: Vec<(String, CallbackPath)>,
        router: Router,
    ) -> Webhooks {
        Webhooks {
            inner: Arc::new(Inner {
                app,
                paths: paths.into_iter().collect(),
                router,
            }),
        }
    }
}

impl Dispatch for Webhooks {
    fn dispatch(
        &self,
        request: Request<Body>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + use<> {
        let inner = self.inner.clone();
        async move {
            let app = &inner.app;
            // IPv4-mapped IPv6 (`::ffff:a.b.c.d`) folded to IPv4, so a dual-stack listener
            // counts one peer once.
            let source = peer.ip().to_canonical();
            let response = match app.admission.admit(source) {
                Ok(admitted) => {
                    let response = inner.answer(request, peer).await;
                    drop(admitted);
                    response
                }
                Err(refused) => {
                    tracing::debug!(%source, "request refused before reading its body");
                    refused.into_response()
                }
            };
            if let Some(refusal) = response.extensions().get::<Refusal>() {
                app.metrics.record_refused(refusal.code);
            }
            response
        }
    }
}

impl Inner {
    async fn answer(&self, request: Request<Body>, peer: SocketAddr) -> Response {
        let callback = match *request.method() {
            Method::POST => self.paths.get(request.uri().path()).copied(),
            _ => None,
        };
        match callback {
            Some(callback) => {
                let (parts, body) = request.into_parts();
                callback
                    .handle(&self.app, parts.uri, parts.headers, body)
                    .await
                    .into_response()
            }
            None => self.router.dispatch(request, peer).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use axum::http::{StatusCode, header};
    use hookbox_registry::Registry;
    use hookbox_runtime::{Runtime, RuntimeConfig};
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;

    const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"

[tencent]
path = "/tencent"

[[tencent.app]]
sdk_app_id = 1400000000
token_env = "WEBHOOKS_TEST_TOKEN"
"#;

    /// Status, content type and body: what an IM server reads.
    async fn read(response: Response) -> (StatusCode, Option<String>, String) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    fn request(method: &Method, path: &str, body: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .expect("a request")
    }

    #[tokio::test]
    async fn webhook_paths_answer_as_the_router_does() {
        let config = Config::parse(CONFIG, Path::new("test.toml")).expect("a valid config");
        // No plugin runs here: one instance slot, not the default's thousand reservations.
        let runtime = Runtime::new(RuntimeConfig {
            max_concurrent_calls: 1,
            ..RuntimeConfig::default()
        })
        .expect("a runtime");
        let registry = Arc::new(Registry::new(Arc::new(runtime)));
        let token = |_: &str| Some("secret".to_owned());
        let app = App::new(&config, registry, &token).expect("the app");
        let webhooks = app.router(&config).dispatch;
        assert!(
            webhooks.inner.paths.len() > 3,
            "the table has the callback paths"
        );

        let message = r#"{"sendID":"u1","recvID":"u2","contentType":101,"content":"{\"content\":\"hi\"}","sessionType":1,"operationID":"op1","callbackCommand":"callbackBeforeSendSingleMsgCommand"}"#;
        let mut cases: Vec<(Method, String, &str)> = Vec::new();
        for path in webhooks.inner.paths.keys() {
            for method in [Method::POST, Method::GET, Method::PUT] {
                cases.push((method.clone(), path.clone(), message));
                cases.push((
                    method,
                    format!("{path}?command=callbackBeforeSendSingleMsgCommand"),
                    "{",
                ));
            }
            cases.push((Method::POST, format!("{path}/"), message));
        }
        // Paths only the router answers: a command outside the table, a table command spelled
        // with a percent escape, and nothing at all.
        for path in [
            "/openim/callbackSomethingNewCommand",
            "/openim/callbackBeforeSendSingle%4DsgCommand",
            "/nowhere",
        ] {
            cases.push((Method::POST, path.to_owned(), message));
        }

        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        for (method, path, body) in cases {
            let direct = webhooks.dispatch(request(&method, &path, body), peer).await;
            let routed = webhooks
                .inner
                .router
                .clone()
                .oneshot(request(&method, &path, body))
                .await
                .expect("infallible");
            let (direct, routed) = (read(direct).await, read(routed).await);
            assert_eq!(direct, routed, "{method} {path}");
            if method == Method::POST && path == "/openim/callbackBeforeSendSingleMsgCommand" {
                assert_eq!(direct.0, StatusCode::OK, "{direct:?}");
                assert!(direct.2.contains("\"actionCode\":0"), "{direct:?}");
            }
        }
    }
}
