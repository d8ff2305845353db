//! Where hookbox's own diagnostics go: the log (text or JSON lines on stderr, filtered by
//! `HOOKBOX_LOG`, default `info`) and, in a binary built with `--features otlp` whose config
//! sets `[telemetry] otlp_endpoint`, traces over OTLP/HTTP.
//!
//! What is traced: each callback's `callback` span (dialect, command, `operationID` or
//! Tencent's `MsgKey`), one child `plugin` span per plugin call (name, version), and
//! hookbox's own log events at info and above as events of the span they happen in (a
//! plugin's log lines, a plugin failure). Not metrics: those are Prometheus text at the admin
//! API's `GET /metrics`.
//!
//! The decision a reader may question: the trace exporter has **its own filter** instead of
//! `HOOKBOX_LOG`. `plugin` spans are at debug level so they cost nothing in the log; an
//! operator who turns traces on must get them without turning on debug logging, and an
//! operator who debugs the log must not flood the collector.

use anyhow::Result;
use hookbox_server::config::TelemetryConfig;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::LogFormat;

/// What must outlive the process's work: the trace exporter, flushed by [`Telemetry::shutdown`].
pub(crate) struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (a callback answered just before SIGTERM is exported,
    /// not lost) and stops the exporter. Call it outside the async runtime: the exporter's
    /// HTTP client blocks.
    pub(crate) fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last traces");
        }
    }
}

/// Fails if `telemetry` asks for trace export and this binary cannot export traces (built
/// without `--features otlp`).
pub(crate) fn check_export(telemetry: &TelemetryConfig) -> Result<()> {
    match &telemetry.otlp_endpoint {
        Some(endpoint) if !cfg!(feature = "otlp") => anyhow::bail!(
            "[telemetry] otlp_endpoint = {endpoint:?}, but this hookbox was built without trace \
             export: build it with `cargo build --release -p hookbox --features otlp`, or remove \
             the key"
        ),
        _ => Ok(()),
    }
}

/// Installs the global subscriber: the log, and the trace exporter when `telemetry` asks for
/// one. Fails if it asks for one and this binary was built without `--features otlp`.
pub(crate) fn init(format: LogFormat, telemetry: Option<&TelemetryConfig>) -> Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let log = match format {
        LogFormat::Text => log.boxed(),
        LogFormat::Json => log.json().boxed(),
    };
    let endpoint = telemetry.and_then(|t| t.otlp_endpoint.as_deref());
    #[cfg(feature = "otlp")]
    let (traces, provider) = match (endpoint, telemetry) {
        (Some(endpoint), Some(telemetry)) => {
            let (layer, provider) = otlp::layer(endpoint, &telemetry.service_name)?;
            (Some(layer), Some(provider))
        }
        _ => (None, None),
    };
    #[cfg(not(feature = "otlp"))]
    let traces: Option<tracing_subscriber::layer::Identity> = {
        if let Some(telemetry) = telemetry {
            check_export(telemetry)?;
        }
        None
    };
    tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(traces)
        .init();
    if let Some(endpoint) = endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry {
        #[cfg(feature = "otlp")]
        provider,
    })
}

#[cfg(feature = "otlp")]
mod otlp {
    use anyhow::{Context, Result};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing::{Level, Subscriber};
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::registry::LookupSpan;

    /// The layer that turns hookbox's spans into OTLP spans, batched and sent to `endpoint`
    /// from the SDK's own thread, and the provider that owns that thread.
    pub(super) fn layer<S>(
        endpoint: &str,
        service_name: &str,
    ) -> Result<(impl Layer<S> + Send + Sync + 'static, SdkTracerProvider)>
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .with_context(|| format!("cannot export traces to {endpoint}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("hookbox");
        // Decided per callsite from its metadata alone, so tracing caches the answer.
        let exported = filter_fn(|metadata| {
            if metadata.is_span() {
                matches!(metadata.name(), "callback" | "plugin")
            } else {
                *metadata.level() <= Level::INFO && metadata.target().starts_with("hookbox")
            }
        });
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(exported);
        Ok((layer, provider))
    }
}
