//! Prometheus text metrics of this node process, served on a separate plain-HTTP listener
//! (`metrics_listen`, off by default) so that a scraper needs no certificate and reaches
//! nothing else: protocol runs by kind and outcome, their durations, refusals by code,
//! the seal state. Every label comes from a finite set (run kinds, error codes).
//!
//! The counters are per process (a static), like the process they describe.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::SealState;

use crate::error::{NodeError, NodeResult};
use crate::state::NodeState;

const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    runs: BTreeMap<(&'static str, &'static str), u64>,
    seconds: BTreeMap<&'static str, Histogram>,
    refusals: BTreeMap<&'static str, u64>,
}

static METRICS: Mutex<Inner> = Mutex::new(Inner {
    runs: BTreeMap::new(),
    seconds: BTreeMap::new(),
    refusals: BTreeMap::new(),
});

/// Records one finished run (or request) of `kind`: its outcome (`ok` or the error's
/// code) and its duration; a failure also counts as a refusal with its code.
pub(crate) fn record(kind: &'static str, started: Instant, outcome: Result<(), ErrorCode>) {
    let secs = started.elapsed().as_secs_f64();
    let Ok(mut m) = METRICS.lock() else {
        return;
    };
    let label = match outcome {
        Ok(()) => "ok",
        Err(code) => {
            *m.refusals.entry(code.as_str()).or_default() += 1;
            code.as_str()
        }
    };
    *m.runs.entry((kind, label)).or_default() += 1;
    let h = m.seconds.entry(kind).or_default();
    for (i, b) in BUCKETS.iter().enumerate() {
        if secs <= *b {
            h.counts[i] += 1;
        }
    }
    h.sum += secs;
    h.count += 1;
}

/// Counts a request refused before any run started (a malformed or unauthorized one).
pub(crate) fn refused(code: ErrorCode) {
    if let Ok(mut m) = METRICS.lock() {
        *m.refusals.entry(code.as_str()).or_default() += 1;
    }
}

/// Runs `fut` as one observed `kind`.
pub(crate) async fn observe<T>(
    kind: &'static str,
    fut: impl Future<Output = NodeResult<T>>,
) -> NodeResult<T> {
    let started = Instant::now();
    let r = fut.await;
    record(
        kind,
        started,
        r.as_ref().map(|_| ()).map_err(|e: &NodeError| e.code),
    );
    r
}

fn render(seal: SealState, cggmp_ready: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE planbok_node_runs_total counter");
    let _ = writeln!(out, "# TYPE planbok_node_run_seconds histogram");
    let _ = writeln!(out, "# TYPE planbok_node_refusals_total counter");
    if let Ok(m) = METRICS.lock() {
        for ((kind, outcome), n) in &m.runs {
            let _ = writeln!(
                out,
                "planbok_node_runs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        for (kind, h) in &m.seconds {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "planbok_node_run_seconds_bucket{{kind=\"{kind}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "planbok_node_run_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "planbok_node_run_seconds_sum{{kind=\"{kind}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "planbok_node_run_seconds_count{{kind=\"{kind}\"}} {}",
                h.count
            );
        }
        for (code, n) in &m.refusals {
            let _ = writeln!(out, "planbok_node_refusals_total{{code=\"{code}\"}} {n}");
        }
    }
    let _ = writeln!(out, "# TYPE planbok_node_sealed gauge");
    let _ = writeln!(
        out,
        "planbok_node_sealed {}",
        u8::from(seal != SealState::Unsealed)
    );
    let _ = writeln!(out, "# TYPE planbok_node_seal_state gauge");
    for s in [
        SealState::Uninitialized,
        SealState::Sealed,
        SealState::Unsealed,
    ] {
        let name = s
            .as_str_name()
            .trim_start_matches("SEAL_STATE_")
            .to_lowercase();
        let _ = writeln!(
            out,
            "planbok_node_seal_state{{state=\"{name}\"}} {}",
            u8::from(s == seal)
        );
    }
    let _ = writeln!(out, "# TYPE planbok_node_cggmp_ready gauge");
    let _ = writeln!(out, "planbok_node_cggmp_ready {}", u8::from(cggmp_ready));
    out
}

/// Serves `GET /metrics` on `listener` until `stop` fires.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<NodeState>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                let st = state.status().await;
                let seal = SealState::try_from(st.seal_state).unwrap_or(SealState::Sealed);
                let mut r = render(seal, st.cggmp_ready).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "the metrics listener failed");
    }
}
