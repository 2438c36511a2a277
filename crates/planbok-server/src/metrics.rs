//! Prometheus text metrics: requests by route and status, latency histograms by route,
//! node calls by operation and outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;

/// The matched route template, attached to a response for the metrics.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    node_calls: BTreeMap<(&'static str, &'static str), u64>,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    /// Records one HTTP request.
    pub fn observe(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let Ok(mut m) = self.0.lock() else { return };
        let key = (method.to_string(), route.to_owned());
        *m.requests
            .entry((key.0.clone(), key.1.clone(), status))
            .or_default() += 1;
        let h = m.latency.entry(key).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Records one call to Node 1.
    pub fn node_call(&self, op: &'static str, outcome: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.node_calls.entry((op, outcome)).or_default() += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let Ok(m) = self.0.lock() else {
            return String::new();
        };
        let mut out = String::new();
        out.push_str("# TYPE planbok_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "planbok_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# TYPE planbok_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &m.latency {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "planbok_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "planbok_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "planbok_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "planbok_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# TYPE planbok_node_calls_total counter\n");
        for ((op, outcome), n) in &m.node_calls {
            let _ = writeln!(
                out,
                "planbok_node_calls_total{{op=\"{op}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}
