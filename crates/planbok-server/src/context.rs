//! Per-request context: the request id, the client's IP (from the socket, or from
//! `X-Forwarded-For` only when the socket peer is a configured trusted proxy), the user
//! agent and Origin. Set once by the outermost middleware.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::App;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id (`-` outside a request).
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".into())
}

/// Who is calling, as far as the network tells.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The request id (also the `x-request-id` response header).
    pub request_id: String,
    /// The client IP.
    pub ip: IpAddr,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// `Origin`.
    pub origin: Option<String>,
}

/// The client IP: the socket peer, unless it is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(app: &App, peer: IpAddr, forwarded: Option<&str>) -> IpAddr {
    if !app.config.http.trusts(peer) {
        return peer;
    }
    let Some(list) = forwarded else { return peer };
    let mut ip = peer;
    for hop in list.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(hop) => {
                ip = hop;
                if !app.config.http.trusts(hop) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    ip
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

/// The outermost middleware: builds the [`Ctx`], scopes the request id, logs, counts.
pub async fn middleware(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let forwarded = header(&req, "x-forwarded-for");
    let ctx = Ctx {
        request_id: request_id.clone(),
        ip: client_ip(&app, peer.ip(), forwarded.as_deref()),
        user_agent: header(&req, "user-agent"),
        origin: header(&req, "origin"),
    };
    req.extensions_mut().insert(ctx);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut response = REQUEST_ID.scope(request_id.clone(), next.run(req)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<crate::metrics::RouteLabel>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "unmatched".into());
    app.metrics.observe(&method, &route, status, elapsed);
    tracing::info!(request_id = %request_id, %method, %path, status, ms = elapsed.as_secs_f64() * 1e3, "request");
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
