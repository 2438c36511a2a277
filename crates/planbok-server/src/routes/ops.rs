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

/// `GET /ready`: the database answers, both nodes are reachable and unsealed, and the
/// shared rate limiter (when configured) answers.
pub(crate) async fn ready(State(app): State<App>) -> Response {
    let db = app
        .store
        .audit_head(crate::audit::SYSTEM_CHAIN)
        .await
        .is_ok();
    let (node1, node2, cggmp) = match app.nodes.ready().await {
        Ok(r) => (seal(r.node1), seal(r.node2), r.cggmp_ready),
        Err(_) => ("unreachable", "unknown", false),
    };
    let limiter = app.limits.ready().await;
    let healthy = db && node1 == "unsealed" && node2 == "unsealed" && limiter != Some(false);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut detail = serde_json::json!({
        "database": if db { "ok" } else { "unavailable" },
        "node1": node1, "node2": node2, "cggmpReady": cggmp,
    });
    if let Some(up) = limiter {
        detail["rateLimiter"] = (if up { "ok" } else { "unavailable" }).into();
    }
    let mut envelope = planbok_api::Success::new(
        status.as_u16(),
        if healthy { "ready" } else { "not ready" },
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
