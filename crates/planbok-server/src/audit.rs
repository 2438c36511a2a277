//! Writing the audit trail: who did what, from where, with which outcome. Never secrets.
//!
//! A critical operation appends a `requested` entry before it does anything (and is
//! refused if that write fails), then a `success` entry in the same database transaction
//! as its result, or a best-effort `failure` entry. Authorization failures are appended to
//! the organization's chain when the key names one, else only logged (an unknown key must
//! not let anyone grow the trail); repeated ones are aggregated per key (`denials.rs`).

use planbok_store::server::AuditDraft;
use serde_json::Value;

use crate::App;
use crate::auth::Caller;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::now_ms;

/// The chain of operator events.
pub const SYSTEM_CHAIN: &str = "system";

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// Nobody identified.
    Anonymous,
    /// The operator token.
    Operator,
    /// An authenticated member's key.
    Caller(&'a Caller),
    /// A key that failed authentication.
    Key(&'a str),
    /// The Gateway, acting under a challenge's one-time token.
    Challenge(&'a str),
}

impl Actor<'_> {
    fn actor(&self) -> String {
        match self {
            Actor::Anonymous => "anonymous".into(),
            Actor::Operator => "operator".into(),
            Actor::Caller(c) => c.actor(),
            Actor::Key(k) => format!("key:{k}"),
            Actor::Challenge(c) => format!("challenge:{c}"),
        }
    }

    fn key_id(&self) -> Option<String> {
        match self {
            Actor::Caller(c) => Some(c.key_id.clone()),
            Actor::Key(k) => Some((*k).to_owned()),
            _ => None,
        }
    }
}

/// An entry for `chain`.
pub fn draft(
    chain: &str,
    actor: Actor<'_>,
    ctx: &Ctx,
    action: &str,
    target: Option<String>,
    outcome: &str,
    detail: Value,
) -> AuditDraft {
    AuditDraft {
        chain: chain.to_owned(),
        at_ms: now_ms(),
        actor: actor.actor(),
        api_key_id: actor.key_id(),
        ip: Some(ctx.ip.to_string()),
        user_agent: ctx.user_agent.clone(),
        action: action.to_owned(),
        target,
        outcome: outcome.to_owned(),
        request_id: ctx.request_id.clone(),
        detail,
    }
}

/// An entry the server writes on its own (a background worker, not a request): actor
/// `system`, no key and no client; `request_id` names the worker and its item.
pub fn system_draft(
    chain: &str,
    request_id: String,
    action: &str,
    target: Option<String>,
    outcome: &str,
    detail: Value,
) -> AuditDraft {
    AuditDraft {
        chain: chain.to_owned(),
        at_ms: now_ms(),
        actor: "system".into(),
        api_key_id: None,
        ip: None,
        user_agent: None,
        action: action.to_owned(),
        target,
        outcome: outcome.to_owned(),
        request_id,
        detail,
    }
}

/// Records an authorization failure, best effort: appended at once while the key's window
/// has room, else counted into one later entry (`denials.rs`).
pub async fn denied(app: &App, chain: &str, actor: Actor<'_>, ctx: &Ctx, e: &ApiError) {
    let d = draft(
        chain,
        actor,
        ctx,
        "auth.denied",
        None,
        "failure",
        serde_json::json!({ "code": e.code.as_str() }),
    );
    let now = d.at_ms;
    append_all(app, app.denials.record(d, now)).await;
}

/// Appends `entries` in order, best effort (logged when a write fails).
pub async fn append_all(app: &App, entries: Vec<AuditDraft>) {
    for d in entries {
        let request_id = d.request_id.clone();
        if let Err(err) = app.store.append_audit(d).await {
            tracing::error!(request_id = %request_id, error = %err, "could not audit an authorization failure");
        }
    }
}

/// A critical operation of an organization member.
#[derive(Debug)]
pub struct Op<'a> {
    app: &'a App,
    caller: &'a Caller,
    ctx: &'a Ctx,
    action: &'static str,
    target: Option<String>,
    detail: Value,
}

impl<'a> Op<'a> {
    /// An operation `action` on `target`, with non-secret parameters `detail`.
    pub fn new(
        app: &'a App,
        caller: &'a Caller,
        ctx: &'a Ctx,
        action: &'static str,
        target: Option<String>,
        detail: Value,
    ) -> Self {
        Op {
            app,
            caller,
            ctx,
            action,
            target,
            detail,
        }
    }

    /// An entry with this outcome; `extra` is merged into the detail.
    pub fn draft(&self, outcome: &str, extra: Option<Value>) -> AuditDraft {
        let mut detail = self.detail.clone();
        if let (Some(Value::Object(extra)), Value::Object(d)) = (extra, &mut detail) {
            d.extend(extra);
        }
        draft(
            &self.caller.org_id,
            Actor::Caller(self.caller),
            self.ctx,
            self.action,
            self.target.clone(),
            outcome,
            detail,
        )
    }

    /// Appends the `requested` entry; the operation must not start if this fails.
    pub async fn requested(&self) -> ApiResult<()> {
        self.app
            .store
            .append_audit(self.draft("requested", None))
            .await
            .map(|_| ())
            .map_err(|e| self.refused(&e))
    }

    /// The refusal of an operation whose `requested` entry could not be written.
    pub fn refused(&self, e: &planbok_store::StoreError) -> ApiError {
        tracing::error!(request_id = %self.ctx.request_id, error = %e, "audit write failed; refusing the operation");
        ApiError::new(
            planbok_api::ErrorCode::StorageUnavailable,
            "the audit trail cannot be written; nothing was done",
        )
    }

    /// Appends a `failure` entry, best effort.
    pub async fn failed(&self, e: &ApiError) {
        let d = self.draft(
            "failure",
            Some(serde_json::json!({ "code": e.code.as_str() })),
        );
        if let Err(err) = self.app.store.append_audit(d).await {
            tracing::error!(request_id = %self.ctx.request_id, error = %err, "could not audit a failure");
        }
    }
}
