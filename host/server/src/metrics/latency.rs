//! The plugin-duration histogram: exported at `/metrics` as a Prometheus histogram, and read
//! back by `GET /plugins` as percentiles, so both views count the same observations.
//!
//! It is *not* a general histogram: the bucket bounds are fixed (10 µs doubling to ~5 s,
//! the range a plugin call can take between a warm Rust instance and a time-out), and the
//! percentiles are estimated inside a bucket the way Prometheus' `histogram_quantile` does,
//! by linear interpolation, so they are as coarse as the buckets.
//!
//! The decision a reader may question: its own type instead of `prometheus_client`'s
//! `Histogram`, which cannot be read back outside tests and takes a mutex per observation;
//! the buckets here are atomics, so recording a call never waits for a scrape or another
//! call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the finite buckets in seconds: 10 µs × 2^i. A last bucket (+Inf) holds
/// the rest.
const BUCKETS: usize = 20;

fn upper_bound(bucket: usize) -> f64 {
    0.000_01 * f64::from(1u32 << bucket)
}

/// Call durations in buckets. Clones count into the same buckets (like `prometheus_client`'s
/// own metrics), so a handle can be kept outside the family that exports it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyHistogram(Arc<Buckets>);

#[derive(Debug)]
struct Buckets {
    /// Per-bucket counts (not cumulative); the last is +Inf.
    counts: [AtomicU64; BUCKETS + 1],
    sum_nanos: AtomicU64,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// Percentiles of the durations observed so far.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Observations.
    pub count: u64,
    /// Median, in microseconds.
    pub p50_us: f64,
    /// 90th percentile, in microseconds.
    pub p90_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
}

impl LatencyHistogram {
    /// Count one call that took `elapsed`.
    pub(crate) fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = (0..BUCKETS)
            .find(|&i| seconds <= upper_bound(i))
            .unwrap_or(BUCKETS);
        self.0.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn counts(&self) -> [u64; BUCKETS + 1] {
        std::array::from_fn(|i| self.0.counts[i].load(Ordering::Relaxed))
    }

    /// p50, p90 and p99 of everything observed, or `None` before the first observation.
    pub(crate) fn percentiles(&self) -> Option<Percentiles> {
        let counts = self.counts();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return None;
        }
        // Microseconds to one decimal: finer would be noise at this resolution.
        let us = |q: f64| (quantile(&counts, count, q) * 1e7).round() / 10.0;
        Some(Percentiles {
            count,
            p50_us: us(0.50),
            p90_us: us(0.90),
            p99_us: us(0.99),
        })
    }
}

/// The `q`-quantile in seconds, interpolated linearly inside its bucket (Prometheus'
/// `histogram_quantile`). In the +Inf bucket the answer is the largest finite bound.
fn quantile(counts: &[u64; BUCKETS + 1], total: u64, q: f64) -> f64 {
    // Counts stay far below 2^53, where u64 → f64 is exact.
    let rank = q * total as f64;
    let mut below = 0u64;
    for (bucket, &n) in counts.iter().enumerate() {
        let reached = (below + n) as f64 >= rank;
        if n > 0 && reached {
            if bucket == BUCKETS {
                return upper_bound(BUCKETS - 1);
            }
            let lower = if bucket == 0 {
                0.0
            } else {
                upper_bound(bucket - 1)
            };
            let within = (rank - below as f64) / n as f64;
            return lower + (upper_bound(bucket) - lower) * within;
        }
        below += n;
    }
    upper_bound(BUCKETS - 1)
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts = self.counts();
        // The count is the buckets' sum, so `_count` always equals the +Inf bucket even
        // while calls are being recorded.
        let count = counts.iter().sum();
        let buckets: Vec<(f64, u64)> = counts
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let bound = if i == BUCKETS {
                    f64::INFINITY
                } else {
                    upper_bound(i)
                };
                (bound, n)
            })
            .collect();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(us: u64) -> Duration {
        Duration::from_micros(us)
    }

    #[test]
    fn no_observations_no_percentiles() {
        assert_eq!(LatencyHistogram::default().percentiles(), None);
    }

    #[test]
    fn percentiles_interpolate_within_the_bucket() {
        let histogram = LatencyHistogram::default();
        // 100 calls spread evenly over (10 µs, 20 µs]: the second bucket.
        for _ in 0..100 {
            histogram.observe(micros(15));
        }
        let p = histogram.percentiles().unwrap();
        assert_eq!(p.count, 100);
        assert!((p.p50_us - 15.0).abs() < 1e-6, "{p:?}");
        assert!((p.p90_us - 19.0).abs() < 1e-6, "{p:?}");
        assert!((p.p99_us - 19.9).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn a_slow_tail_shows_in_p99_not_p50() {
        let histogram = LatencyHistogram::default();
        for _ in 0..95 {
            histogram.observe(micros(8)); // first bucket, (0, 10 µs]
        }
        for _ in 0..5 {
            histogram.observe(Duration::from_millis(3)); // (2.56 ms, 5.12 ms]
        }
        let p = histogram.percentiles().unwrap();
        assert!(p.p50_us <= 10.0, "{p:?}");
        assert!(p.p90_us <= 10.0, "{p:?}");
        assert!((2560.0..=5120.0).contains(&p.p99_us), "{p:?}");
    }

    #[test]
    fn beyond_the_last_bound_reports_the_last_bound() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_secs(60));
        let p = histogram.percentiles().unwrap();
        assert!((p.p50_us - upper_bound(BUCKETS - 1) * 1e6).abs() < 1e-3);
    }

    #[test]
    fn exported_buckets_are_cumulative_and_match_the_count() {
        let histogram = LatencyHistogram::default();
        histogram.observe(micros(5));
        histogram.observe(micros(15));
        histogram.observe(Duration::from_secs(60));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_with_unit(
            "d",
            "durations",
            prometheus_client::registry::Unit::Seconds,
            histogram,
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("d_seconds_count 3\n"), "{text}");
        assert!(
            text.contains("d_seconds_bucket{le=\"0.00001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{le=\"0.00002\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("d_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("d_seconds_sum 60.00002"), "{text}");
    }
}
