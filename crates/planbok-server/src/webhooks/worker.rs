//! The delivery worker: claims due deliveries (a lease each, the attempt counted before it
//! is sent), posts each with both header sets, and records the outcome. Runs in every
//! replica; the store's claim gives each delivery to one worker at a time.
//!
//! Each attempt resolves the endpoint's host again, checks every address (`guard.rs`) and
//! connects to one of those addresses itself, so what was checked is what is reached. One
//! connection per attempt, HTTP/1.1, no redirects followed (a 3xx is a failure), the whole
//! attempt bounded by `timeout_ms`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Request, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use planbok_store::server::{AttemptOutcome, ClaimedDelivery};
use rand_core::{OsRng, RngCore};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::guard;
use crate::config::WebhookConfig;
use crate::{App, now_ms};

/// How long past its timeout an attempt's lease lasts: the time to record its outcome.
const LEASE_MARGIN_MS: u64 = 5_000;
/// The system CA bundles tried when `ca_file` is not set.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];
/// The user agent sent.
const USER_AGENT: &str = concat!("planbok-webhooks/", env!("CARGO_PKG_VERSION"));

/// The TLS client for `https://` endpoints: the configured CA bundle, or the system's.
/// `None` (logged) when there is none: https deliveries then fail with a clear error.
pub(crate) fn tls_config(cfg: &WebhookConfig) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    let path = match &cfg.ca_file {
        Some(p) => p.clone(),
        None => match SYSTEM_BUNDLES
            .iter()
            .find(|p| std::path::Path::new(p).exists())
        {
            Some(p) => p.into(),
            None => {
                tracing::warn!(
                    "no system CA bundle found and webhooks.ca_file is not set: deliveries to https:// endpoints will fail"
                );
                return Ok(None);
            }
        },
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "{}: no usable CA certificate in this PEM file",
            path.display()
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// Runs until `stop`: claims, sends, records. On stop, attempts in flight get their
/// timeout to finish; any cut short is sent again by a later claim (its lease lapses).
pub(crate) async fn run(app: App, tls: Option<Arc<rustls::ClientConfig>>, stop: CancellationToken) {
    let cfg = app.config.webhooks.clone();
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let mut tasks: JoinSet<()> = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let free = i64::from(cfg.max_in_flight) - tasks.len() as i64;
        let mut full = false;
        if free > 0 {
            let now = now_ms();
            let token = uuid::Uuid::new_v4().simple().to_string();
            let lease_until = now + (cfg.timeout_ms + LEASE_MARGIN_MS) as i64;
            match app
                .store
                .claim_deliveries(
                    now,
                    free,
                    i64::from(cfg.max_in_flight_per_endpoint),
                    lease_until,
                    &token,
                )
                .await
            {
                Ok(claimed) => {
                    full = claimed.len() as i64 == free;
                    for d in claimed {
                        tasks.spawn(attempt(app.clone(), tls.clone(), d));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks: could not claim deliveries"),
            }
        }
        if full {
            // More may be due: claim again once a slot frees up.
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tasks.join_next() => {}
            }
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = app.webhooks.woken() => {}
            () = tokio::time::sleep(poll) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let grace = Duration::from_millis(cfg.timeout_ms + 1000);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// An answer: its status and `Retry-After` in seconds, if any.
struct Answer {
    status: u16,
    retry_after_s: Option<u64>,
}

/// Sends one attempt of `d` and records its outcome.
async fn attempt(app: App, tls: Option<Arc<rustls::ClientConfig>>, d: ClaimedDelivery) {
    let cfg = &app.config.webhooks;
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let sent = tokio::time::timeout(timeout, send(&app, tls, &d)).await;
    let now = now_ms();
    let retry = |min_delay_ms: u64| -> Option<i64> {
        let idx = usize::try_from(d.attempt).ok()?;
        let base = *cfg.retry_schedule_ms.get(idx)?;
        let jitter = if base >= 10 {
            OsRng.next_u64() % (base / 10 + 1)
        } else {
            0
        };
        Some(now + (base + jitter).max(min_delay_ms) as i64)
    };
    let outcome = match sent {
        Ok(Ok(a)) if (200..300).contains(&a.status) => AttemptOutcome::Succeeded {
            status: i64::from(a.status),
        },
        Ok(Ok(a)) => {
            // Retry-After (429, 503) is honoured up to one day.
            let min = match (a.status, a.retry_after_s) {
                (429 | 503, Some(s)) => s.min(86_400) * 1000,
                _ => 0,
            };
            AttemptOutcome::Failed {
                status: Some(i64::from(a.status)),
                error: format!("the endpoint answered HTTP {}", a.status),
                retry_at_ms: if a.status == 410 { None } else { retry(min) },
                disable: (a.status == 410).then(|| "the endpoint answered 410 Gone".to_owned()),
            }
        }
        Ok(Err(error)) => AttemptOutcome::Failed {
            status: None,
            error,
            retry_at_ms: retry(0),
            disable: None,
        },
        Err(_) => AttemptOutcome::Failed {
            status: None,
            error: format!("no answer within {} ms", cfg.timeout_ms),
            retry_at_ms: retry(0),
            disable: None,
        },
    };
    match &outcome {
        AttemptOutcome::Succeeded { status } => {
            tracing::info!(delivery = %d.id, event = %d.event_id, endpoint = %d.endpoint_id, attempt = d.attempt, status, "webhook delivered");
        }
        AttemptOutcome::Failed {
            error, retry_at_ms, ..
        } => {
            tracing::warn!(delivery = %d.id, event = %d.event_id, endpoint = %d.endpoint_id, attempt = d.attempt, error = %error, retry = retry_at_ms.is_some(), "webhook attempt failed");
        }
    }
    let disable_before = now - cfg.disable_after_ms as i64;
    let (org, endpoint, delivery) = (d.org_id.clone(), d.endpoint_id.clone(), d.id.clone());
    let audit = move |reason: &str| {
        crate::audit::system_draft(
            &org,
            format!("webhook-worker:{delivery}"),
            "webhook.disable",
            Some(endpoint),
            "success",
            serde_json::json!({ "reason": reason, "deliveryId": delivery }),
        )
    };
    match app
        .store
        .record_attempt(&d, &outcome, now, disable_before, audit)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(delivery = %d.id, "webhook attempt outlived its lease; another worker owns the delivery")
        }
        Err(e) => {
            tracing::error!(delivery = %d.id, error = %e, "could not record a webhook attempt; it will be sent again when its lease lapses")
        }
    }
}

/// Builds and sends the request of `d`'s attempt.
async fn send(
    app: &App,
    tls: Option<Arc<rustls::ClientConfig>>,
    d: &ClaimedDelivery,
) -> Result<Answer, String> {
    let cfg = &app.config.webhooks;
    let target = guard::parse(&d.url, cfg).map_err(|e| e.to_string())?;
    let addrs = guard::resolve(&target, cfg)
        .await
        .map_err(|e| e.to_string())?;
    let secret = app.secrets.open(&d.endpoint_id, &d.secret)?;
    // A previous secret that no longer opens (the grant key was replaced since) is left
    // out rather than failing the delivery.
    let previous = d.previous_secret.as_ref().and_then(|p| {
        app.secrets
            .open(&d.endpoint_id, p)
            .map_err(|e| tracing::warn!(endpoint = %d.endpoint_id, error = %e, "previous webhook secret left out"))
            .ok()
    });
    let ts = now_ms() / 1000;
    let body = d.body.as_bytes();
    // Standard Webhooks: one `v1,` entry per valid secret. The platform's header carries
    // one signature: the previous secret's while it is valid (an unchanged receiver keeps
    // working for the overlap), the new one's in `X-Webhook-Signature-Next`.
    let mut standard = Vec::new();
    for s in std::iter::once(&secret).chain(previous.as_ref()) {
        standard.push(
            super::standard_signature(s, &d.event_id, ts, body)
                .ok_or("the endpoint's secret is not a whsec_ key")?,
        );
    }
    let (platform, next) = match &previous {
        Some(p) => (
            super::platform_signature(p, ts, body),
            Some(super::platform_signature(&secret, ts, body)),
        ),
        None => (super::platform_signature(&secret, ts, body), None),
    };
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let default_port = if target.https { 443 } else { 80 };
    let host_header = if target.port == default_port {
        host
    } else {
        format!("{host}:{}", target.port)
    };
    let mut req = Request::post(target.path_and_query.as_str())
        .header(header::HOST, host_header)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, USER_AGENT)
        .header("X-Webhook-Id", d.event_id.as_str())
        .header("X-Webhook-Event", d.event.as_str())
        .header("X-Webhook-Timestamp", ts.to_string())
        .header("X-Webhook-Signature", platform)
        .header("webhook-id", d.event_id.as_str())
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", standard.join(" "))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| format!("request: {e}"))?;
    if let Some(next) = next {
        let v = HeaderValue::from_str(&next).map_err(|e| e.to_string())?;
        req.headers_mut().insert("X-Webhook-Signature-Next", v);
    }
    let mut last = String::from("no address");
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    if target.https {
        let tls =
            tls.ok_or("no CA certificates to verify https endpoints with (set webhooks.ca_file)")?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| format!("{} is not a valid TLS server name", target.host))?;
        let tls = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        exchange(tls, req).await
    } else {
        exchange(stream, req).await
    }
}

async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let answer = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {e}"));
    conn.abort();
    let resp = answer?;
    let retry_after_s = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Ok(Answer {
        status: resp.status().as_u16(),
        retry_after_s,
    })
}
