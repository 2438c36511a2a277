//! Liveness, readiness and metrics (no authentication).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use planbok_api::model::Health;
use planbok_proto::pb::SealState;

use super::ok;
use crate::App;

/// `GET /health`: the process answers.
pub(crate) async fn health() -> Response {
    ok(
        StatusCode::OK,
        "healthy",
        Health {
            healthy: true,
            detail: None,
        },
    )
}

fn seal(s: i32) -> &'static str {
    match SealState::try_from(s) {
        Ok(SealState::Unsealed) => "unsealed",
        Ok(SealState::Sealed) => "sealed",
        Ok(SealState::Uninitialized) => "uninitialized",
        _ => "unreachable",
    }
}

/// One pair's state for `/ready`: each node's seal state, CGGMP provisioning, and whether
/// the pair can serve.
fn pair_state(r: &crate::nodes::PairReady) -> (bool, serde_json::Value) {
    let (node1, node2, cggmp) = match &r.ready {
        Ok(r) => (seal(r.node1), seal(r.node2), r.cggmp_ready),
        Err(_) => ("unreachable", "unknown", false),
    };
    let up = node1 == "unsealed" && node2 == "unsealed";
    (
        up,
        serde_json::json!({ "node1": node1, "node2": node2, "cggmpReady": cggmp }),
    )
}

/// `GET /ready`: the database answers, the shared rate limiter (when configured) answers,
/// and at least one node pair has both nodes reachable and unsealed. Every pair is
/// reported; a pair that is down makes the answer `degraded`, not 503: it fails only its
/// own organizations, and taking every replica out of the balancer would fail them all.
pub(crate) async fn ready(State(app): State<App>) -> Response {
    let db = app
        .store
        .audit_head(crate::audit::SYSTEM_CHAIN)
        .await
        .is_ok();
    let pairs: Vec<(String, bool, serde_json::Value)> = app
        .nodes
        .ready()
        .await
        .iter()
        .map(|r| {
            let (up, detail) = pair_state(r);
            (r.name.clone(), up, detail)
        })
        .collect();
    let limiter = app.limits.ready().await;
    let any_pair = pairs.iter().any(|p| p.1);
    let degraded = pairs.iter().any(|p| !p.1);
    let healthy = db && any_pair && limiter != Some(false);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut detail = serde_json::json!({
        "database": if db { "ok" } else { "unavailable" },
        "nodePairs": pairs.into_iter().map(|(name, _, d)| (name, d)).collect::<serde_json::Map<_, _>>(),
        "degraded": degraded,
    });
    if let Some(up) = limiter {
        detail["rateLimiter"] = (if up { "ok" } else { "unavailable" }).into();
    }
    let message = match (healthy, degraded) {
        (false, _) => "not ready",
        (true, true) => "ready (degraded: a node pair is down)",
        (true, false) => "ready",
    };
    let mut envelope = planbok_api::Success::new(
        status.as_u16(),
        message,
        Health {
            healthy,
            detail: Some(detail),
        },
    );
    // A 503 is not a success: `success` says so too (the data stays, for the detail).
    envelope.success = healthy;
    (status, axum::Json(envelope)).into_response()
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let mut text = app.metrics.render();
    text.push_str("# TYPE planbok_node_pair_up gauge\n");
    for r in app.nodes.ready().await {
        let up = u8::from(pair_state(&r).0);
        text.push_str(&format!(
            "planbok_node_pair_up{{pair=\"{}\"}} {up}\n",
            r.name
        ));
    }
    // The in-memory state clients can make grow, pruned by the housekeeping task.
    text.push_str(&format!(
        "# TYPE planbok_rate_limiter_keys gauge\nplanbok_rate_limiter_keys {}\n\
         # TYPE planbok_audit_denial_windows gauge\nplanbok_audit_denial_windows {}\n",
        app.limits.len(),
        app.denials.len()
    ));
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}
