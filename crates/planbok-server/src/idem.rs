//! Mandatory idempotency (API.md, "Conventions").
//!
//! The key is a UUID v4 from the body, scoped to the organization. The fingerprint is
//! SHA-256 over the route and the canonical JSON body without `encryptedOrganizationSecret`
//! (a retry must carry a fresh ciphertext). Only successes are stored, in the same
//! transaction as the object they create; after a failure the record is dropped so that
//! the client may retry with the same key.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use planbok_api::ErrorCode;
use planbok_store::server::{IdemBegin, IdemClaim, IdemDone};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::now_ms;

/// Starts an idempotent request (`idem::begin`), or returns from the calling handler with
/// the stored response of the first one.
macro_rules! begin_or_replay {
    ($app:expr, $caller:expr, $route:expr, $key:expr, $json:expr) => {
        match $crate::idem::begin($app, $caller, $route, $key, $json).await? {
            $crate::idem::Began::Replay(r) => return Ok(r),
            $crate::idem::Began::Fresh(i) => i,
        }
    };
}
pub(crate) use begin_or_replay;

/// A started idempotent request.
#[derive(Debug, Clone)]
pub struct Idem {
    org_id: String,
    key: String,
}

/// What `begin` found.
#[derive(Debug)]
pub enum Began {
    /// Run the request.
    Fresh(Idem),
    /// The stored response of the first request.
    Replay(Response),
}

/// Checks that `key` is a UUID v4 (the message names the field).
pub fn parse_key(key: Option<&str>) -> ApiResult<String> {
    let key = key.ok_or_else(|| ApiError::invalid("idempotencyKey is required"))?;
    match uuid::Uuid::parse_str(key) {
        Ok(u) if u.get_version_num() == 4 => Ok(u.hyphenated().to_string()),
        _ => Err(ApiError::invalid("idempotencyKey must be a UUID v4")),
    }
}

/// The fingerprint of a request body.
pub fn fingerprint(route: &str, body: &Value) -> [u8; 32] {
    let mut body = body.clone();
    if let Value::Object(m) = &mut body {
        m.remove("encryptedOrganizationSecret");
        m.remove("idempotencyKey");
    }
    let mut canonical = String::new();
    write_canonical(&body, &mut canonical);
    let mut h = Sha256::new();
    h.update(b"planbok/idempotency/v1\0");
    h.update(route.as_bytes());
    h.update([0]);
    h.update(canonical.as_bytes());
    h.finalize().into()
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = m.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A request's claim on its key: checked and fingerprinted, not yet taken.
#[derive(Debug, Clone)]
pub struct Claim {
    org_id: String,
    key: String,
    route: String,
    fingerprint: [u8; 32],
}

impl Claim {
    /// Checks the key and fingerprints `body` for `route`.
    pub fn new(caller: &Caller, route: &str, key: Option<&str>, body: &Value) -> ApiResult<Claim> {
        Ok(Claim {
            org_id: caller.org_id.clone(),
            key: parse_key(key)?,
            route: route.to_owned(),
            fingerprint: fingerprint(route, body),
        })
    }

    fn store(&self) -> IdemClaim<'_> {
        IdemClaim {
            org_id: &self.org_id,
            key: &self.key,
            route: &self.route,
            fingerprint: &self.fingerprint,
        }
    }

    /// Takes the key; see [`begin`].
    async fn take(self, app: &App, requested: Option<&Op<'_>>) -> ApiResult<Began> {
        Ok(match self.take_raw(app, requested).await? {
            Ok(idem) => Began::Fresh(idem),
            Err((status, body)) => Began::Replay(replay(status, body)),
        })
    }

    /// Takes the key: the started request, or the first one's stored status and body.
    async fn take_raw(
        self,
        app: &App,
        requested: Option<&Op<'_>>,
    ) -> ApiResult<Result<Idem, (u16, String)>> {
        let draft = requested.map(|op| op.draft("requested", None));
        let began = app
            .store
            .idem_begin_audited(
                self.store(),
                now_ms(),
                app.config.http.idempotency_lease_ms,
                draft.as_ref(),
            )
            .await;
        let began = match (began, requested) {
            (Ok(b), _) => b,
            (Err(e), None) => return Err(e.into()),
            (Err(e), Some(op)) => return Err(op.refused(&e)),
        };
        match began {
            IdemBegin::Started => Ok(Ok(Idem {
                org_id: self.org_id,
                key: self.key,
            })),
            IdemBegin::InProgress => Err(ApiError::new(
                ErrorCode::IdempotencyInProgress,
                "a request with this idempotencyKey is still running",
            )),
            IdemBegin::Conflict => Err(ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this idempotencyKey was used with other parameters",
            )),
            IdemBegin::Done { status, body } => Ok(Err((status, body))),
        }
    }

    /// Takes the key and appends `op`'s `requested` entry in one transaction: the
    /// operation may start once this returns `Fresh`. Refused (503 `storage_unavailable`)
    /// if either cannot be written.
    pub async fn take_requested(self, app: &App, op: &Op<'_>) -> ApiResult<Began> {
        self.take(app, Some(op)).await
    }

    /// For a request that failed its checks before taking its key: a repeat of a request
    /// that succeeded gets the stored answer, anything else gets `e`.
    pub async fn replay_or(&self, app: &App, e: ApiError) -> ApiResult<Response> {
        match app.store.idem_stored(self.store()).await {
            Ok(Some((status, body))) => Ok(replay(status, body)),
            Ok(None) => Err(e),
            Err(lookup) => {
                tracing::warn!(error = %lookup, "could not look for a stored response");
                Err(e)
            }
        }
    }
}

/// Starts an idempotent request.
pub async fn begin(
    app: &App,
    caller: &Caller,
    route: &str,
    key: Option<&str>,
    body: &Value,
) -> ApiResult<Began> {
    Claim::new(caller, route, key, body)?.take(app, None).await
}

/// Starts an idempotent request whose stored answer the route completes itself on a
/// repeat (it leaves out what must not be stored, e.g. a webhook secret): the started
/// request, or the stored status and body.
pub async fn begin_raw(
    app: &App,
    caller: &Caller,
    route: &str,
    key: Option<&str>,
    body: &Value,
) -> ApiResult<Result<Idem, (u16, String)>> {
    Claim::new(caller, route, key, body)?
        .take_raw(app, None)
        .await
}

/// The stored response, marked as a replay.
pub fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        "idempotent-replay",
        axum::http::HeaderValue::from_static("true"),
    );
    r
}

impl Idem {
    /// The completion to commit with the result.
    pub fn done(&self, status: u16, body: String) -> IdemDone {
        IdemDone {
            org_id: self.org_id.clone(),
            key: self.key.clone(),
            status,
            body,
        }
    }

    /// The key (a creation secret's binding names it: `Binding::creation`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Drops the record after a failure, so the client may retry with the same key.
    pub async fn abandon(&self, app: &App) {
        if let Err(e) = app.store.idem_abandon(&self.org_id, &self.key).await {
            tracing::warn!(error = %e, "could not release an idempotency record; it expires with its lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_ignores_the_secret_and_key_order() {
        let a = serde_json::json!({"name": "x", "count": 2, "encryptedOrganizationSecret": "AAA", "idempotencyKey": "k"});
        let b = serde_json::json!({"count": 2, "name": "x", "encryptedOrganizationSecret": "BBB"});
        assert_eq!(fingerprint("r", &a), fingerprint("r", &b));
        let c = serde_json::json!({"count": 3, "name": "x"});
        assert_ne!(fingerprint("r", &a), fingerprint("r", &c));
        assert_ne!(fingerprint("r", &a), fingerprint("s", &a));
    }

    #[test]
    fn keys_must_be_uuid_v4() {
        assert!(parse_key(None).is_err());
        assert!(parse_key(Some("nope")).is_err());
        assert!(parse_key(Some("00000000-0000-1000-8000-000000000000")).is_err());
        assert!(parse_key(Some(&uuid::Uuid::new_v4().to_string())).is_ok());
    }
}
