//! Prometheus text metrics: requests by route and status, latency histograms by route,
//! node calls by operation and outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;

/// The matched route template, attached to a response for the metrics. Requests no route
/// matched (404, 405) carry none and count under [`UNMATCHED`].
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

/// The route label of requests that matched no route: one label, whatever the path.
pub const UNMATCHED: &str = "unmatched";

/// The method as a label: the standard methods by name, anything else (HTTP allows any
/// token) as `OTHER`, so a client cannot add a label per request.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

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
    requests: BTreeMap<(&'static str, String, u16), u64>,
    latency: BTreeMap<(&'static str, String), Histogram>,
    /// By (pair, op, outcome).
    node_calls: BTreeMap<(String, &'static str, &'static str), u64>,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    /// Records one HTTP request. `route` is a route template or [`UNMATCHED`], never a
    /// client's path: every label is from a finite set.
    pub fn observe(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let Ok(mut m) = self.0.lock() else { return };
        let key = (method_label(method), route.to_owned());
        *m.requests
            .entry((key.0, key.1.clone(), status))
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

    /// Records one call to a node pair's Node 1 (`pair` is a configured pair's name: a
    /// finite set).
    pub fn node_call(&self, pair: &str, op: &'static str, outcome: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.node_calls
                .entry((pair.to_owned(), op, outcome))
                .or_default() += 1;
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
        for ((pair, op, outcome), n) in &m.node_calls {
            let _ = writeln!(
                out,
                "planbok_node_calls_total{{pair=\"{pair}\",op=\"{op}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn arbitrary_methods_share_one_label() {
        let m = Metrics::default();
        for i in 0..1000 {
            let method = Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
            m.observe(&method, UNMATCHED, 405, Duration::from_millis(1));
        }
        m.observe(&Method::GET, "/health", 200, Duration::from_millis(1));
        let inner = m.0.lock().unwrap();
        assert_eq!(inner.requests.len(), 2, "{:?}", inner.requests.keys());
        assert_eq!(inner.requests[&("OTHER", UNMATCHED.to_owned(), 405)], 1000);
        assert_eq!(inner.latency.len(), 2);
        drop(inner);
        let text = m.render();
        assert!(!text.contains("FOO"), "{text}");
        assert!(text.contains("method=\"OTHER\",route=\"unmatched\",status=\"405\"} 1000"));
    }
}
