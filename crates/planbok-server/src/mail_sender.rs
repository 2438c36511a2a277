//! The mail sender: sends what the mail outbox owes (`planbok_store::server` `mail_outbox`),
//! today the recovery code of a reset by email. Runs in every replica that has `[smtp]`;
//! each message is claimed with a lease, so one replica sends it.
//!
//! The row was committed with the reset-pin challenge, before any send. The code is
//! opened from its sealed copy only here, put into the message by `mail::Mailer`, and
//! dropped (zeroized); it is never logged, audited or stored in the outbox. A crash
//! between the relay's acceptance and the record of it sends the message again when the
//! lease lapses, with the same `Message-ID`. A message whose challenge has ended is not
//! sent; one that cannot be sent before its challenge expires fails (audited).

use std::time::Duration;

use planbok_envelope::email_code::EmailCode;
use planbok_store::server::{AuditDraft, ClaimedMail, Commit, MailOutcome};
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::mail::MailError;
use crate::now_ms;
use crate::routes::customers::effective_status;

/// How often the outbox is looked at without a wake-up.
const POLL: Duration = Duration::from_secs(5);
/// A lease outlasts the send's timeout by this much.
const LEASE_MARGIN_MS: i64 = 30_000;
/// The first retry's delay; each later one doubles it, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 2_000;
const MAX_BACKOFF_MS: i64 = 60_000;

/// Runs until `stop`: claims one due message at a time, sends it, records the outcome.
pub(crate) async fn run(app: App, stop: CancellationToken) {
    loop {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let now = now_ms();
            let token = uuid::Uuid::new_v4().simple().to_string();
            let lease_until = now + timeout_ms(&app) + LEASE_MARGIN_MS;
            match app.store.claim_mail(now, lease_until, &token).await {
                Ok(Some(m)) => send_one(&app, m).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "mail: could not claim the outbox");
                    break;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = app.mail_wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

fn timeout_ms(app: &App) -> i64 {
    app.config
        .smtp
        .as_ref()
        .map_or(15_000, |c| c.timeout_ms as i64)
}

fn backoff_ms(attempt: i64) -> i64 {
    let doublings = u32::try_from((attempt - 1).clamp(0, 10)).unwrap_or(10);
    (FIRST_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS)
}

/// Sends one claimed message and records how it went.
async fn send_one(app: &App, m: ClaimedMail) {
    let (outcome, expires_at) = attempt(app, &m).await;
    let now = now_ms();
    // A retry that could only come after the challenge expired is a failure now.
    let outcome = match outcome {
        MailOutcome::Retry { error, .. } if now + backoff_ms(m.attempt) > expires_at => {
            MailOutcome::Failed {
                error: format!("{error}; the challenge expires before another try"),
            }
        }
        MailOutcome::Retry { error, .. } => MailOutcome::Retry {
            retry_at_ms: now + backoff_ms(m.attempt),
            error,
        },
        o => o,
    };
    let audit = |action: &str, outcome: &str, detail: serde_json::Value| AuditDraft {
        chain: m.org_id.clone(),
        at_ms: now,
        actor: "system".into(),
        api_key_id: None,
        ip: None,
        user_agent: None,
        action: action.into(),
        target: Some(m.customer_id.clone()),
        outcome: outcome.into(),
        request_id: format!("mail-sender:{}", m.id),
        detail,
    };
    let commit = match &outcome {
        MailOutcome::Sent => Commit::audit(audit(
            "customer.recovery_email_sent",
            "success",
            serde_json::json!({ "challengeId": m.challenge_id, "attempt": m.attempt }),
        )),
        MailOutcome::Failed { error } => Commit::audit(audit(
            "customer.recovery_email_sent",
            "failure",
            serde_json::json!({ "challengeId": m.challenge_id, "attempt": m.attempt, "error": error }),
        )),
        MailOutcome::Retry { error, .. } => {
            tracing::warn!(org = %m.org_id, customer = %m.customer_id, challenge = %m.challenge_id,
                attempt = m.attempt, error = %error, "mail: the recovery code was not sent; will retry");
            Commit::none()
        }
        MailOutcome::Cancelled { .. } => Commit::none(),
    };
    match app.store.record_mail(&m, &outcome, now, &commit).await {
        Ok(true) => {
            if let MailOutcome::Failed { error } = &outcome {
                tracing::error!(alert = true, org = %m.org_id, customer = %m.customer_id,
                    challenge = %m.challenge_id, error = %error, "mail: the recovery code could not be sent");
            }
        }
        Ok(false) => {
            tracing::warn!(mail = %m.id, "mail: the lease lapsed before the outcome was recorded")
        }
        Err(e) => tracing::warn!(error = %e, mail = %m.id, "mail: could not record an attempt"),
    }
}

/// One attempt, and the challenge's expiry (for the retry decision).
async fn attempt(app: &App, m: &ClaimedMail) -> (MailOutcome, i64) {
    let failed = |error: String| (MailOutcome::Failed { error }, 0);
    let Some(mailer) = &app.mailer else {
        return failed("this server has no SMTP relay".into());
    };
    if m.kind != "recovery_code" {
        return failed(format!("unknown mail kind {:?}", m.kind));
    }
    let ch = match app
        .store
        .challenge(&m.org_id, &m.customer_id, &m.challenge_id)
        .await
    {
        Ok(Some(ch)) => ch,
        Ok(None) => {
            let error = "the challenge is gone".into();
            return (MailOutcome::Cancelled { error }, 0);
        }
        Err(e) => return retry(e.to_string(), i64::MAX),
    };
    if effective_status(&ch, now_ms()) != "pending" {
        let error = "the challenge ended before the code was sent".into();
        return (MailOutcome::Cancelled { error }, ch.expires_at_ms);
    }
    let c = match app.store.customer(&m.org_id, &m.customer_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return failed("the customer is gone".into()),
        Err(e) => return retry(e.to_string(), ch.expires_at_ms),
    };
    let (Some(to), Some(sealed)) = (&c.email, &c.email_code) else {
        return failed("the customer has no address or no enrolled code".into());
    };
    let code = match app
        .secrets
        .open_email_code(&c.id, sealed)
        .and_then(|b| EmailCode::from_bytes(&b).map_err(|e| e.to_string()))
    {
        Ok(code) => code,
        Err(e) => return failed(e),
    };
    let sent = mailer
        .send_recovery_code(to, &c.name, &ch.id, &code.display())
        .await;
    drop(code);
    match sent {
        Ok(()) => {
            tracing::info!(org = %m.org_id, customer = %m.customer_id, challenge = %ch.id,
                "mail: the recovery code was sent");
            (MailOutcome::Sent, ch.expires_at_ms)
        }
        Err(e @ (MailError::Recipient | MailError::Config(_))) => failed(e.to_string()),
        Err(e @ MailError::Relay(_)) => retry(e.to_string(), ch.expires_at_ms),
    }
}

fn retry(error: String, expires_at: i64) -> (MailOutcome, i64) {
    (
        MailOutcome::Retry {
            retry_at_ms: 0,
            error,
        },
        expires_at,
    )
}
