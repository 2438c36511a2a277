//! The mail sender: sends what the mail outbox owes (`planbok_store::server` `mail_outbox`):
//! the recovery code of a reset by email, and security notices. Runs in every replica that
//! has `[smtp]`; each message is claimed with a lease, so one replica sends it.
//!
//! The row was committed with the change that owes it (the reset-pin challenge; the PIN
//! commit, lockout or export a notice tells of), before any send. The code is opened from
//! its sealed copy only here, put into the message by `mail::Mailer`, and dropped
//! (zeroized); it is never logged, audited or stored in the outbox. A crash between the
//! relay's acceptance and the record of it sends the message again when the lease lapses,
//! with the same `Message-ID`. A code whose challenge has ended is not sent; one that
//! cannot be sent before its challenge expires fails (audited). A notice is sent whatever
//! became of its challenge, and retried for [`NOTICE_RETRY_MS`].

use std::time::Duration;

use planbok_envelope::email_code::EmailCode;
use planbok_store::server::{
    ChallengeRecord, ClaimedMail, Commit, MailDraft, MailKind, MailOutcome,
};
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::audit::system_draft;
use crate::mail::{MailError, Mailer, Notice};
use crate::now_ms;
use crate::routes::customers::effective_status;

/// How often the outbox is looked at without a wake-up.
const POLL: Duration = Duration::from_secs(5);
/// A lease outlasts the send's timeout by this much.
const LEASE_MARGIN_MS: i64 = 30_000;
/// The first retry's delay; each later one doubles it, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 2_000;
const MAX_BACKOFF_MS: i64 = 60_000;
/// How long a notice is tried (from when it was queued) before it fails.
const NOTICE_RETRY_MS: i64 = 24 * 60 * 60 * 1000;

/// Runs until `stop`: claims one due message at a time, sends it through `mailer`, records
/// the outcome.
pub(crate) async fn run(app: App, mailer: Mailer, timeout_ms: u64, stop: CancellationToken) {
    let lease_ms = i64::try_from(timeout_ms).unwrap_or(i64::MAX / 2) + LEASE_MARGIN_MS;
    loop {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let now = now_ms();
            let token = uuid::Uuid::new_v4().simple().to_string();
            match app.store.claim_mail(now, now + lease_ms, &token).await {
                Ok(Some(m)) => send_one(&app, &mailer, m).await,
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

fn backoff_ms(attempt: i64) -> i64 {
    let doublings = u32::try_from((attempt - 1).clamp(0, 10)).unwrap_or(10);
    (FIRST_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS)
}

/// Why a send did not happen.
enum Failure {
    /// Worth another try (the relay or the database did not answer).
    Transient(String),
    /// Another try would fail the same way.
    Permanent(String),
}

/// Sends one claimed message (if its challenge still waits for it) and records how it
/// went: a transient failure is retried with backoff while the challenge lives.
async fn send_one(app: &App, mailer: &Mailer, m: ClaimedMail) {
    let notice = notice_of(m.kind);
    let outcome = match app
        .store
        .challenge(&m.org_id, &m.customer_id, &m.challenge_id)
        .await
    {
        Ok(Some(ch)) if notice.is_some() || effective_status(&ch, now_ms()) == "pending" => {
            // A code is useless after its challenge; a notice stays worth sending a day.
            let deadline = match notice {
                Some(_) => m.created_at_ms.saturating_add(NOTICE_RETRY_MS),
                None => ch.expires_at_ms,
            };
            let sent = match notice {
                Some(n) => send_notice(app, mailer, &m, n).await,
                None => send(app, mailer, &m, &ch).await,
            };
            match sent {
                Ok(()) => MailOutcome::Sent,
                Err(Failure::Permanent(error)) => MailOutcome::Failed { error },
                Err(Failure::Transient(error)) => retry(m.attempt, error, deadline),
            }
        }
        Ok(_) => MailOutcome::Cancelled {
            error: "the challenge ended before the code was sent".into(),
        },
        Err(e) => retry(m.attempt, e.to_string(), i64::MAX),
    };
    let (action, what) = match notice {
        Some(_) => ("customer.notice_sent", "a notice"),
        None => ("customer.recovery_email_sent", "the recovery code"),
    };
    let audit = |outcome: &str, detail: serde_json::Value| {
        Commit::audit(system_draft(
            &m.org_id,
            format!("mail-sender:{}", m.id),
            action,
            Some(m.customer_id.clone()),
            outcome,
            detail,
        ))
    };
    let mut detail = serde_json::json!({ "challengeId": m.challenge_id, "attempt": m.attempt });
    if notice.is_some() {
        detail["kind"] = m.kind.as_str().into();
    }
    let commit = match &outcome {
        MailOutcome::Sent => audit("success", detail),
        MailOutcome::Failed { error } => {
            tracing::error!(alert = true, org = %m.org_id, customer = %m.customer_id,
                challenge = %m.challenge_id, kind = m.kind.as_str(), error = %error,
                "mail: {what} could not be sent");
            detail["error"] = error.as_str().into();
            audit("failure", detail)
        }
        MailOutcome::Retry { error, .. } => {
            tracing::warn!(org = %m.org_id, customer = %m.customer_id, challenge = %m.challenge_id,
                kind = m.kind.as_str(), attempt = m.attempt, error = %error,
                "mail: {what} was not sent; will retry");
            Commit::none()
        }
        MailOutcome::Cancelled { .. } => Commit::none(),
    };
    match app.store.record_mail(&m, &outcome, now_ms(), &commit).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(mail = %m.id, "mail: the lease lapsed before the outcome was recorded")
        }
        Err(e) => tracing::warn!(error = %e, mail = %m.id, "mail: could not record an attempt"),
    }
}

/// Another try after the backoff, or a failure if that would come after the challenge
/// expired (nobody could use the code then).
fn retry(attempt: i64, error: String, expires_at_ms: i64) -> MailOutcome {
    let at = now_ms() + backoff_ms(attempt);
    if at > expires_at_ms {
        MailOutcome::Failed {
            error: format!("{error}; the challenge expires before another try"),
        }
    } else {
        MailOutcome::Retry {
            retry_at_ms: at,
            error,
        }
    }
}

/// The outbox row of the mail `kind` about `ch`, to queue with a change's commit
/// ([`Commit::with_mail`]); after the commit, [`App::wake_mail_for`] wakes the sender.
pub(crate) fn queued(ch: &ChallengeRecord, kind: MailKind, at_ms: i64) -> MailDraft {
    MailDraft {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: ch.org_id.clone(),
        customer_id: ch.customer_id.clone(),
        challenge_id: ch.id.clone(),
        kind,
        at_ms,
    }
}

/// The notice a kind of mail is, or `None` for the recovery code.
fn notice_of(kind: MailKind) -> Option<Notice> {
    match kind {
        MailKind::RecoveryCode => None,
        MailKind::PinChanged => Some(Notice::PinChanged),
        MailKind::PinReset => Some(Notice::PinReset),
        MailKind::LockedOut => Some(Notice::LockedOut),
        MailKind::KeysExported => Some(Notice::KeysExported),
    }
}

fn store_failure(e: planbok_store::StoreError) -> Failure {
    Failure::Transient(e.to_string())
}

/// Mails the customer the notice `n` (nothing secret in it).
async fn send_notice(
    app: &App,
    mailer: &Mailer,
    m: &ClaimedMail,
    n: Notice,
) -> Result<(), Failure> {
    let c = app
        .store
        .customer(&m.org_id, &m.customer_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Failure::Permanent("the customer is gone".into()))?;
    let Some(to) = &c.email else {
        return Err(Failure::Permanent("the customer has no address".into()));
    };
    let org = app
        .store
        .org(&m.org_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Failure::Permanent("the organization is gone".into()))?;
    let at = crate::routes::convert::rfc3339(m.created_at_ms);
    match mailer
        .send_notice(to, &c.name, &org.name, &m.challenge_id, n, &at)
        .await
    {
        Ok(()) => {
            tracing::info!(org = %m.org_id, customer = %m.customer_id, kind = m.kind.as_str(),
                "mail: a notice was sent");
            Ok(())
        }
        Err(e) => Err(classify(e)),
    }
}

/// A send's error: worth a retry only when the relay did not take it.
fn classify(e: MailError) -> Failure {
    match e {
        e @ (MailError::Recipient | MailError::Config(_)) => Failure::Permanent(e.to_string()),
        e @ MailError::Relay(_) => Failure::Transient(e.to_string()),
    }
}

/// Opens the customer's sealed code and mails it for `ch`.
async fn send(
    app: &App,
    mailer: &Mailer,
    m: &ClaimedMail,
    ch: &ChallengeRecord,
) -> Result<(), Failure> {
    let c = app
        .store
        .customer(&m.org_id, &m.customer_id)
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?
        .ok_or_else(|| Failure::Permanent("the customer is gone".into()))?;
    let (Some(to), Some(sealed)) = (&c.email, &c.email_code) else {
        return Err(Failure::Permanent(
            "the customer has no address or no enrolled code".into(),
        ));
    };
    let code = app
        .secrets
        .open_email_code(&c.id, sealed)
        .and_then(|b| EmailCode::from_bytes(&b).map_err(|e| e.to_string()))
        .map_err(Failure::Permanent)?;
    let sent = mailer
        .send_recovery_code(to, &c.name, &ch.id, &code.display())
        .await;
    drop(code);
    match sent {
        Ok(()) => {
            tracing::info!(org = %m.org_id, customer = %m.customer_id, challenge = %ch.id,
                "mail: the recovery code was sent");
            Ok(())
        }
        Err(e) => Err(classify(e)),
    }
}
