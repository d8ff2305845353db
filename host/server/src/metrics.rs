//! Every metric hookbox exports, declared in one place, recorded from the chain's reports
//! and the queue's outcomes, and rendered in the Prometheus/OpenMetrics text format at `GET /metrics` on the admin
//! listener.
//!
//! This module is *not* a metrics framework: it reads the measurements the chain and the
//! registry already return (a [`ChainReport`] per callback, the registry's swap counters)
//! and never reaches into the runtime.
//!
//! The decision a reader may question: one registry per [`App`](crate::App) instead of a
//! process-global recorder. A process serves one app, so nothing changes in production,
//! and tests that run several servers in one process can assert exact counter values.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock};

use hookbox_model::DialectKind;
use hookbox_queue::QueueStats;
use hookbox_registry::{ChainReport, Registry, StepReport, StepResult};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as MetricRegistry;

mod latency;

use latency::LatencyHistogram;
pub use latency::Percentiles;

/// `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    dialect: &'static str,
    command: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginCallLabels {
    plugin: String,
    version: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabels {
    dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    plugin: String,
    outcome: &'static str,
}

/// One `callbacks` series of a command: its dialect, its outcome, its counter.
type CallbackSeries = (DialectKind, &'static str, Counter);

/// The series one version of a plugin records its calls in, taken out of their families
/// once: finding them there for every call (four hashed lookups, three label strings
/// cloned) cost ~2k instructions per call, ~2 % of a whole callback.
struct PluginSeries {
    sha256: String,
    /// `plugin_calls` by outcome, for the outcomes seen so far.
    calls: Vec<(&'static str, Counter)>,
    duration: LatencyHistogram,
    fuel: Counter,
    memory_peak: Gauge,
}

impl PluginSeries {
    /// Records `step`; `None` (and nothing recorded) if its outcome has no counter here yet.
    fn record(&self, step: &StepReport, outcome: &'static str) -> Option<()> {
        let (_, calls) = self.calls.iter().find(|(known, _)| *known == outcome)?;
        calls.inc();
        self.duration.observe(step.elapsed);
        self.fuel.inc_by(step.fuel_used);
        let peak = i64::try_from(step.peak_memory_bytes).unwrap_or(i64::MAX);
        if peak > self.memory_peak.get() {
            self.memory_peak.set(peak);
        }
        Some(())
    }
}

/// The metrics of one server.
pub struct Metrics {
    registry: MetricRegistry,
    callbacks: Family<CallbackLabels, Counter>,
    unknown_commands: Family<DialectLabels, Counter>,
    plugin_calls: Family<PluginCallLabels, Counter>,
    plugin_duration: Family<PluginLabels, LatencyHistogram>,
    plugin_fuel: Family<PluginLabels, Counter>,
    plugin_memory_peak: Family<PluginLabels, Gauge>,
    auth_failures: Family<DialectLabels, Counter>,
    refused_requests: Family<RefusalLabels, Counter>,
    in_flight: Gauge,
    queue_enqueued: Family<QueueLabels, Counter>,
    queue_deliveries: Family<QueueLabels, Counter>,
    queue_depth: Family<PluginLabels, Gauge>,
    queue_dead_letters: Family<PluginLabels, Gauge>,
    swaps: Counter,
    load_failures: Counter,
    /// Each plugin's series, for the version that ran last: see [`PluginSeries`].
    plugin_series: RwLock<foldhash::HashMap<String, PluginSeries>>,
    /// `callbacks` by command, then by dialect and outcome, taken out of the family once (the
    /// family's lookup hashes three labels with SipHash and needs the command as an owned
    /// `String`). Only known commands are keys, so a sender cannot grow it.
    callback_series: RwLock<foldhash::HashMap<String, Vec<CallbackSeries>>>,
    // The registry's own counters, mirrored into the exported ones at render time.
    seen_swaps: AtomicI64,
    seen_load_failures: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All metrics at zero.
    pub fn new() -> Self {
        let mut registry = MetricRegistry::with_prefix("hookbox");
        let callbacks = Family::default();
        registry.register(
            "callbacks",
            "Callbacks answered, by dialect, command and the verdict sent",
            callbacks.clone(),
        );
        let unknown_commands = Family::default();
        registry.register(
            "unknown_commands",
            "Callbacks whose command is not in the dialect's command table",
            unknown_commands.clone(),
        );
        let plugin_calls = Family::default();
        registry.register(
            "plugin_calls",
            "Plugin invocations by plugin, version (sha256) and outcome (verdict kind or failure kind)",
            plugin_calls.clone(),
        );
        let plugin_duration = Family::default();
        registry.register(
            "plugin_duration_seconds",
            "Wall time of plugin calls",
            plugin_duration.clone(),
        );
        let plugin_fuel = Family::default();
        registry.register(
            "plugin_fuel",
            "Fuel (wasm instructions) used by plugin calls",
            plugin_fuel.clone(),
        );
        let plugin_memory_peak = Family::default();
        registry.register(
            "plugin_memory_peak_bytes",
            "Largest linear memory any call of the plugin reached",
            plugin_memory_peak.clone(),
        );
        let auth_failures = Family::default();
        registry.register(
            "auth_failures",
            "Requests refused by authentication",
            auth_failures.clone(),
        );
        let refused_requests = Family::default();
        registry.register(
            "refused_requests",
            "Requests refused before any plugin ran, by error code: malformed (body_not_json, ...), out of bounds (body_too_large, headers_too_large, header_timeout, request_timeout), shed (overloaded, source_overloaded), not allowed (source_not_allowed)",
            refused_requests.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight_requests",
            "Webhook requests being answered",
            in_flight.clone(),
        );
        let queue_enqueued = Family::default();
        registry.register(
            "queue_enqueued",
            "After-callback events handed to the durable queue, by plugin and outcome: queued, duplicate (dropped: already queued), overflow (the plugin's queue was full: kept in its dead letters), inline_fallback (the queue failed: the plugin ran before the answer)",
            queue_enqueued.clone(),
        );
        let queue_deliveries = Family::default();
        registry.register(
            "queue_deliveries",
            "Queued after-callback deliveries settled, by plugin and outcome: delivered, retry, dead_lettered, lease_lost",
            queue_deliveries.clone(),
        );
        let queue_depth = Family::default();
        registry.register(
            "queue_depth",
            "After-callback events waiting for the plugin (leased and retrying ones included), as of this scrape",
            queue_depth.clone(),
        );
        let queue_dead_letters = Family::default();
        registry.register(
            "queue_dead_letters",
            "The plugin's dead letters, as of this scrape",
            queue_dead_letters.clone(),
        );
        let swaps = Counter::default();
        registry.register(
            "plugin_swaps",
            "Routing snapshots published (loads, swaps, rollbacks, removals)",
            swaps.clone(),
        );
        let load_failures = Counter::default();
        registry.register(
            "plugin_load_failures",
            "Plugin versions refused at load",
            load_failures.clone(),
        );
        Metrics {
            registry,
            callbacks,
            unknown_commands,
            plugin_calls,
            plugin_duration,
            plugin_fuel,
            plugin_memory_peak,
            auth_failures,
            refused_requests,
            in_flight,
            queue_enqueued,
            queue_deliveries,
            queue_depth,
            queue_dead_letters,
            swaps,
            load_failures,
            plugin_series: RwLock::default(),
            callback_series: RwLock::default(),
            seen_swaps: AtomicI64::new(0),
            seen_load_failures: AtomicI64::new(0),
        }
    }

    /// Record one answered callback and every plugin call in it.
    pub fn record_callback(
        &self,
        dialect: DialectKind,
        command: &str,
        known: bool,
        report: &ChainReport,
    ) {
        // Unknown commands share one label value so a sender cannot grow the series without bound.
        let command = if known { command } else { "unknown" };
        if !known {
            self.unknown_commands
                .get_or_create(&DialectLabels {
                    dialect: dialect.as_str(),
                })
                .inc();
        }
        let outcome = report.verdict.kind();
        let find = |series: &[CallbackSeries]| {
            series
                .iter()
                .position(|(d, o, _)| *d == dialect && *o == outcome)
        };
        let all = self
            .callback_series
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = all.get(command)
            && let Some(at) = find(series)
        {
            series[at].2.inc();
        } else {
            drop(all);
            // Nothing panics while holding the lock; were it poisoned, the map is still whole.
            let mut all = self
                .callback_series
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let series = all.entry(command.to_owned()).or_default();
            let at = find(series).unwrap_or_else(|| {
                let counter = self.callbacks.get_or_create(&CallbackLabels {
                    dialect: dialect.as_str(),
                    command: command.to_owned(),
                    outcome,
                });
                series.push((dialect, outcome, counter.clone()));
                series.len() - 1
            });
            series[at].2.inc();
        }
        self.record_steps(&report.steps);
    }

    /// Record plugin calls: those of an answered callback, or a queued delivery's.
    pub fn record_steps(&self, steps: &[StepReport]) {
        for step in steps {
            let outcome = match &step.result {
                StepResult::Decided(kind) => kind,
                StepResult::Failed { kind, .. } => kind,
            };
            let all = self
                .plugin_series
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let known = all
                .get(&step.plugin)
                .filter(|series| series.sha256 == step.sha256)
                .and_then(|series| series.record(step, outcome));
            drop(all);
            if known.is_none() {
                self.record_step_first(step, outcome);
            }
        }
    }

    /// [`Metrics::record_steps`] for a step whose plugin version or outcome is not in
    /// `plugin_series` yet: finds its series in the families and keeps them there.
    fn record_step_first(&self, step: &StepReport, outcome: &'static str) {
        let plugin = PluginLabels {
            plugin: step.plugin.clone(),
        };
        let calls = |outcome| {
            self.plugin_calls
                .get_or_create(&PluginCallLabels {
                    plugin: step.plugin.clone(),
                    version: step.sha256.clone(),
                    outcome,
                })
                .clone()
        };
        // Nothing panics while holding the lock; were it poisoned, the map is still whole.
        let mut all = self
            .plugin_series
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let series = match all.get_mut(&step.plugin) {
            Some(series) if series.sha256 == step.sha256 => series,
            // A new plugin, or a new version of it: its series replace the last version's.
            _ => {
                let fresh = PluginSeries {
                    sha256: step.sha256.clone(),
                    calls: Vec::new(),
                    duration: self.plugin_duration.get_or_create(&plugin).clone(),
                    fuel: self.plugin_fuel.get_or_create(&plugin).clone(),
                    memory_peak: self.plugin_memory_peak.get_or_create(&plugin).clone(),
                };
                all.entry(step.plugin.clone())
                    .insert_entry(fresh)
                    .into_mut()
            }
        };
        if !series.calls.iter().any(|(known, _)| *known == outcome) {
            series.calls.push((outcome, calls(outcome)));
        }
        series.record(step, outcome);
    }

    /// Percentiles of `plugin`'s call durations since the server started (all versions),
    /// from the histogram `/metrics` exports; `None` before its first call.
    pub fn plugin_latency(&self, plugin: &str) -> Option<Percentiles> {
        let labels = PluginLabels {
            plugin: plugin.to_owned(),
        };
        self.plugin_duration.get(&labels)?.percentiles()
    }

    /// Count what the queue did with an after-callback for `plugin` (`queued`, `duplicate`,
    /// `overflow`, `inline_fallback`).
    pub fn record_enqueue(&self, plugin: &str, outcome: &'static str) {
        self.queue_enqueued
            .get_or_create(&QueueLabels {
                plugin: plugin.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Count how a queued delivery to `plugin` was settled (`delivered`, `retry`,
    /// `dead_lettered`, `lease_lost`).
    pub fn record_delivery(&self, plugin: &str, outcome: &'static str) {
        self.queue_deliveries
            .get_or_create(&QueueLabels {
                plugin: plugin.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Set `plugin`'s queue gauges from its current numbers.
    pub fn set_queue_stats(&self, plugin: &str, stats: &QueueStats) {
        let labels = PluginLabels {
            plugin: plugin.to_owned(),
        };
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.queue_depth
            .get_or_create(&labels)
            .set(gauge(stats.depth));
        self.queue_dead_letters
            .get_or_create(&labels)
            .set(gauge(stats.dead_letters));
    }

    /// Record a request refused by authentication.
    pub fn record_auth_failure(&self, dialect: DialectKind) {
        self.auth_failures
            .get_or_create(&DialectLabels {
                dialect: dialect.as_str(),
            })
            .inc();
    }

    /// Record a request refused before any plugin ran: answered with an HTTP error, or a
    /// connection closed before its request head was complete.
    pub fn record_refused(&self, code: &'static str) {
        self.refused_requests
            .get_or_create(&RefusalLabels { code })
            .inc();
    }

    /// Count a request as in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// The metrics in the OpenMetrics text format, with the registry's counters brought up
    /// to date first.
    pub fn render(&self, plugins: &Registry) -> String {
        mirror(&self.swaps, &self.seen_swaps, plugins.swap_count());
        mirror(
            &self.load_failures,
            &self.seen_load_failures,
            plugins.load_failure_count(),
        );
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Bring an exported counter up to a monotonic source counter's value.
fn mirror(counter: &Counter, seen: &AtomicI64, now: u64) {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let before = seen.swap(now, Ordering::Relaxed);
    if now > before {
        counter.inc_by(u64::try_from(now - before).unwrap_or(0));
    }
}

/// Decrements the in-flight gauge when the request is done, however it ends.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hookbox_model::Verdict;

    use super::*;

    fn step(plugin: &str, sha256: &str, result: StepResult, fuel_used: u64) -> StepReport {
        StepReport {
            plugin: plugin.to_owned(),
            sha256: sha256.to_owned(),
            result,
            elapsed: Duration::from_micros(50),
            fuel_used,
            peak_memory_bytes: 65_536,
        }
    }

    #[test]
    fn calls_land_in_their_version_s_series_across_swaps_and_rollbacks() {
        let metrics = Metrics::new();
        let allow = || StepResult::Decided("allow");
        let trap = || StepResult::Failed {
            kind: "trap",
            message: "unreachable".to_owned(),
        };
        metrics.record_steps(&[step("p", "v1", allow(), 10), step("q", "v1", allow(), 1)]);
        metrics.record_steps(&[step("p", "v1", allow(), 10)]);
        metrics.record_steps(&[step("p", "v1", trap(), 0)]);
        // A swap to v2, then a rollback to v1 while a v2 call is still finishing.
        metrics.record_steps(&[step("p", "v2", allow(), 100)]);
        metrics.record_steps(&[step("p", "v1", allow(), 10)]);
        metrics.record_steps(&[step("p", "v2", trap(), 0)]);

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).expect("encodes");
        for line in [
            r#"hookbox_plugin_calls_total{plugin="p",version="v1",outcome="allow"} 3"#,
            r#"hookbox_plugin_calls_total{plugin="p",version="v1",outcome="trap"} 1"#,
            r#"hookbox_plugin_calls_total{plugin="p",version="v2",outcome="allow"} 1"#,
            r#"hookbox_plugin_calls_total{plugin="p",version="v2",outcome="trap"} 1"#,
            r#"hookbox_plugin_calls_total{plugin="q",version="v1",outcome="allow"} 1"#,
            r#"hookbox_plugin_fuel_total{plugin="p"} 130"#,
            r#"hookbox_plugin_fuel_total{plugin="q"} 1"#,
            r#"hookbox_plugin_duration_seconds_count{plugin="p"} 6"#,
            r#"hookbox_plugin_memory_peak_bytes{plugin="p"} 65536"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert_eq!(metrics.plugin_latency("p").map(|p| p.count), Some(6));
    }

    #[test]
    fn callbacks_count_by_dialect_command_and_outcome_with_unknown_commands_folded() {
        let metrics = Metrics::new();
        let report = |verdict| ChainReport {
            verdict,
            steps: Vec::new(),
        };
        let cmd = "callbackBeforeSendSingleMsgCommand";
        for _ in 0..3 {
            metrics.record_callback(DialectKind::Openim, cmd, true, &report(Verdict::Allow));
        }
        metrics.record_callback(DialectKind::Openim, cmd, true, &report(Verdict::Discard));
        metrics.record_callback(DialectKind::Tencent, cmd, true, &report(Verdict::Allow));
        for forged in ["x", "y"] {
            metrics.record_callback(DialectKind::Openim, forged, false, &report(Verdict::Allow));
        }

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).expect("encodes");
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("hookbox_callbacks_total{"))
            .collect();
        let mut expected = [
            format!(
                r#"hookbox_callbacks_total{{dialect="openim",command="{cmd}",outcome="allow"}} 3"#
            ),
            format!(
                r#"hookbox_callbacks_total{{dialect="openim",command="{cmd}",outcome="discard"}} 1"#
            ),
            format!(
                r#"hookbox_callbacks_total{{dialect="tencent",command="{cmd}",outcome="allow"}} 1"#
            ),
            r#"hookbox_callbacks_total{dialect="openim",command="unknown",outcome="allow"} 2"#
                .to_owned(),
        ];
        let mut found: Vec<String> = series.iter().map(|l| (*l).to_owned()).collect();
        expected.sort();
        found.sort();
        assert_eq!(found, expected);
        assert!(
            text.lines()
                .any(|l| l == r#"hookbox_unknown_commands_total{dialect="openim"} 2"#),
            "{text}"
        );
    }
}
