//! The organization's audit trail: a filtered list, and an NDJSON export of a range that
//! ends with the chain head, so the organization can verify its copy offline
//! (`planbok audit verify --file`).

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use planbok_api::model::{AuditExportQuery, AuditFilter};
use planbok_store::server::AuditQuery;
use tokio_stream::wrappers::ReceiverStream;

use super::{Page, convert, ok, query};
use crate::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Entries per database page of an export.
const EXPORT_PAGE: i64 = 500;

/// RFC 3339 or unix milliseconds.
fn instant(field: &str, s: &Option<String>) -> ApiResult<Option<i64>> {
    let Some(s) = s else { return Ok(None) };
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Some(ms));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| ApiError::invalid(format!("{field} must be RFC 3339 or unix milliseconds")))
}

/// `GET /v2/audit-logs`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<AuditFilter>, QueryRejection>,
) -> ApiResult<Response> {
    let f = query(q)?;
    let p = Page::from_parts(f.page, f.limit, f.order)?;
    let (items, total) = app
        .store
        .list_audit(&AuditQuery {
            chain: caller.org_id.clone(),
            action: f.action.clone(),
            actor: f.actor.clone(),
            from_ms: instant("from", &f.from)?,
            to_ms: instant("to", &f.to)?,
            page: p.page,
            limit: p.limit,
            desc: p.desc,
        })
        .await?;
    let items = items.iter().map(convert::audit_entry).collect();
    Ok(ok(StatusCode::OK, "Audit logs", p.list(items, total)))
}

/// `GET /v2/audit-logs/export`: one entry per line, then `{"head": {"seq", "hash"}}`.
pub(crate) async fn export(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<AuditExportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let from = q.from_seq.unwrap_or(1);
    if from < 1 || q.to_seq.is_some_and(|t| t < from) {
        return Err(ApiError::invalid(
            "fromSeq must be at least 1 and at most toSeq",
        ));
    }
    let head = app.store.audit_head(&caller.org_id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    let chain = caller.org_id.clone();
    let store = app.store.clone();
    let last = q.to_seq;
    tokio::spawn(async move {
        let mut next = from;
        loop {
            let to = match last {
                Some(l) => (next + EXPORT_PAGE - 1).min(l),
                None => next + EXPORT_PAGE - 1,
            };
            if last.is_some_and(|l| next > l) {
                break;
            }
            let page = match store.audit_range(&chain, next, Some(to)).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut chunk = String::new();
            for e in &page {
                if let Ok(line) = serde_json::to_string(&convert::audit_entry(e)) {
                    chunk.push_str(&line);
                    chunk.push('\n');
                }
            }
            if !chunk.is_empty() && tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            if (page.len() as i64) < to - next + 1 {
                break;
            }
            next = to + 1;
        }
        let head = match head {
            Some((seq, hash)) => serde_json::json!({ "head": { "seq": seq, "hash": hash } }),
            None => serde_json::json!({ "head": null }),
        };
        let _ = tx.send(Ok(format!("{head}\n"))).await;
    });
    let mut r = Body::from_stream(ReceiverStream::new(rx)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(r)
}
