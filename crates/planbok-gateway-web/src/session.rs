//! One challenge's client state, step by step: each step takes the previous route's answer
//! (JSON, the envelope's `data`) and returns the next request (JSON). Plain Rust: the
//! `wasm_bindgen` wrapper in `lib.rs` only converts errors, so these steps are what the
//! native tests run.
//!
//! What a step keeps between calls (the blinded PIN, the opened PIN with the customer
//! secret, the recovered secret) stays in this struct, in the module's memory; the page's
//! script sees requests and answers, never a key.

use planbok_api::customer_ops::GatewayOperated;
use planbok_api::customers::{
    GatewayChallenge, GatewayEmailAttempt, GatewayEmailUnlocked, GatewayEvaluated, GatewayUnlocked,
    RecoveryQuestion,
};
use planbok_sdk::export::{ExportRecipientSecret, customer_csv};
use planbok_sdk::gateway::{
    EmailAttempt, GatewayError, OpenedEmail, OpenedPin, OpenedRecovery, PinError, PreparedAnswers,
    PreparedPin, check_new_pin, new_customer_secret, ops,
};
use planbok_sdk::trust::{OrgKeyTrust, TrustedOrgKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// A step's failure: a stable `code` the page words for the user, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// `weak_pin`, `wrong_pin`, `wrong_answers`, `wrong_code`, `org_key_refused`,
    /// `malformed`, `invalid_input`, `out_of_order`, `unsupported`, `export_failed`.
    pub code: &'static str,
    /// What went wrong (never a PIN, an answer or a key).
    pub message: String,
}

impl StepError {
    fn new(code: &'static str, message: impl Into<String>) -> StepError {
        StepError {
            code,
            message: message.into(),
        }
    }

    fn order(step: &str) -> StepError {
        StepError::new(
            "out_of_order",
            format!("{step}: the previous step has not run"),
        )
    }
}

impl From<GatewayError> for StepError {
    fn from(e: GatewayError) -> StepError {
        let code = match &e {
            GatewayError::WeakPin(_) => "weak_pin",
            GatewayError::Pin(PinError::WrongPin) => "wrong_pin",
            GatewayError::Malformed(_) => "malformed",
            GatewayError::OrgKey(_) => "org_key_refused",
            GatewayError::Code => "wrong_code",
            _ => "invalid_input",
        };
        StepError::new(code, e.to_string())
    }
}

type Step<T = String> = Result<T, StepError>;

fn parse<T: DeserializeOwned>(what: &'static str, json: &str) -> Step<T> {
    serde_json::from_str(json)
        .map_err(|_| StepError::new("malformed", format!("malformed {what} from the server")))
}

fn json<T: Serialize>(v: &T) -> Step {
    serde_json::to_string(v).map_err(|e| StepError::new("malformed", e.to_string()))
}

/// What a wrong PIN or wrong answers cost, worded with the attempts Node 2 reported.
fn wrong(e: GatewayError, attempts_left: u32, answers: bool) -> StepError {
    match e {
        GatewayError::Pin(PinError::WrongPin) => StepError::new(
            if answers {
                "wrong_answers"
            } else {
                "wrong_pin"
            },
            format!("{attempts_left}"),
        ),
        other => other.into(),
    }
}

/// The state of one challenge in the Gateway.
pub struct Session {
    ch: GatewayChallenge,
    /// A new PIN (or a current one) hashed and blinded, waiting for Node 2.
    pin: Option<PreparedPin>,
    /// New or existing answers, waiting for Node 2.
    answers: Option<PreparedAnswers>,
    /// A recovery-email code typed by the user.
    code: Option<EmailAttempt>,
    /// The current PIN, opened (holds the customer secret).
    opened: Option<OpenedPin>,
    /// The secret recovered by the answers or by the email code.
    recovered: Option<Recovered>,
    /// An operation's organization key, verified against Node 1's identity key.
    org_key: Option<TrustedOrgKey>,
    /// An export's one-time X25519 key: the nodes seal their shares to its public key.
    recipient: Option<ExportRecipientSecret>,
}

enum Recovered {
    Answers(OpenedRecovery),
    Email(OpenedEmail),
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("challenge", &self.ch.challenge_id)
            .finish_non_exhaustive()
    }
}

/// The question catalog, `[{id, text}]`, for the page's choices.
pub fn catalog() -> String {
    let v: Vec<_> = planbok_api::customers::QUESTION_CATALOG
        .iter()
        .map(|(id, text)| serde_json::json!({"id": id, "text": text}))
        .collect();
    serde_json::Value::Array(v).to_string()
}

/// Checks a new PIN against the rules; the error names the rule.
pub fn check_pin(pin: &str) -> Step<()> {
    check_new_pin(pin).map_err(StepError::from)
}

impl Session {
    /// From `GET /gateway/api/challenge`'s `data`.
    pub fn new(challenge: &str) -> Step<Session> {
        Ok(Session {
            ch: parse("challenge", challenge)?,
            pin: None,
            answers: None,
            code: None,
            opened: None,
            recovered: None,
            org_key: None,
            recipient: None,
        })
    }

    /// The challenge, as the page reads it (type, questions, operation, return URL).
    pub fn challenge(&self) -> Step {
        json(&self.ch)
    }

    // ---- a new PIN ------------------------------------------------------------------

    /// A new PIN for `/gateway/api/pin/enroll`. `unlocked`: the `rekeyNonce` answer of
    /// an unlock (update, reset), or empty at the first setup.
    pub fn enroll_pin(&mut self, pin: &str, unlocked: &str) -> Step {
        // Both unlock answers (`pin/unlock`, `recovery/unlock`, `email/unlock`) carry it.
        let rekey = match unlocked {
            "" => None,
            u => Some(parse::<GatewayUnlocked>("unlock answer", u)?.rekey_nonce),
        };
        let (prepared, req) = PreparedPin::new_pin(pin, rekey)?;
        self.pin = Some(prepared);
        json(&req)
    }

    /// New questions (`[{id?, text?, hint?}]`) and their answers, for
    /// `/gateway/api/recovery/enroll`. Refused before anything is sent when a hint
    /// contains an answer or a rule fails.
    pub fn enroll_answers(&mut self, questions: &str, answers: &str) -> Step {
        let qs: Vec<RecoveryQuestion> = serde_json::from_str(questions)
            .map_err(|_| StepError::new("invalid_input", "the questions are not a list"))?;
        let answers: Vec<String> = serde_json::from_str(answers)
            .map_err(|_| StepError::new("invalid_input", "the answers are not a list"))?;
        let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
        let (prepared, req) = PreparedAnswers::new_answers(&qs, &refs)?;
        self.answers = Some(prepared);
        json(&req)
    }

    /// Initialize: both evaluations in, the commit (PIN and questions) for
    /// `/gateway/api/pin/commit`.
    pub fn commit_first(&mut self, pin_eval: &str, answers_eval: &str) -> Step {
        let eval: GatewayEvaluated = parse("evaluation", pin_eval)?;
        let rec_eval: GatewayEvaluated = parse("evaluation", answers_eval)?;
        let prepared = self.pin.take().ok_or(StepError::order("commit"))?;
        let answers = self.answers.take().ok_or(StepError::order("commit"))?;
        let secret = new_customer_secret();
        let (mut commit, keys) = prepared.enroll_first(&self.ch, &eval, &secret)?;
        commit.recovery = Some(answers.enroll(&self.ch, &rec_eval, &secret, &keys)?);
        json(&commit)
    }

    /// Update PIN: the new PIN's evaluation in, the commit signed by the old PIN's key.
    pub fn commit_update(&mut self, eval: &str) -> Step {
        let eval: GatewayEvaluated = parse("evaluation", eval)?;
        let next = self.pin.take().ok_or(StepError::order("commit"))?;
        let opened = self.opened.as_ref().ok_or(StepError::order("commit"))?;
        json(&next.enroll(&self.ch, &eval, opened.secret(), Some(opened))?)
    }

    /// Reset PIN: the new PIN's evaluation in, the commit signed by the recovered keys.
    pub fn commit_reset(&mut self, eval: &str) -> Step {
        let eval: GatewayEvaluated = parse("evaluation", eval)?;
        let next = self.pin.take().ok_or(StepError::order("commit"))?;
        let commit = match self.recovered.as_ref().ok_or(StepError::order("commit"))? {
            Recovered::Answers(r) => next.enroll_reset(&self.ch, &eval, r)?,
            Recovered::Email(r) => next.enroll_reset_email(&self.ch, &eval, r)?,
        };
        json(&commit)
    }

    /// Change of questions (a `recovery` challenge, after the PIN opened): the new
    /// answers' evaluation in, the commit for `/gateway/api/recovery/commit`.
    pub fn commit_answers(&mut self, answers_eval: &str) -> Step {
        let eval: GatewayEvaluated = parse("evaluation", answers_eval)?;
        let prepared = self.answers.take().ok_or(StepError::order("commit"))?;
        let opened = self.opened.as_ref().ok_or(StepError::order("commit"))?;
        json(&prepared.enroll(&self.ch, &eval, opened.secret(), opened.keys())?)
    }

    // ---- the current PIN ------------------------------------------------------------

    /// The current PIN, for `/gateway/api/pin/evaluate` (one counted attempt).
    pub fn evaluate_pin(&mut self, pin: &str) -> Step {
        let enrolled = self
            .ch
            .pin
            .as_ref()
            .ok_or(StepError::new("unsupported", "the customer has no PIN"))?;
        let (prepared, req) = PreparedPin::existing_pin(pin, enrolled)?;
        self.pin = Some(prepared);
        json(&req)
    }

    /// Node 2's evaluation in: the PIN opens `W_pin` here (error `wrong_pin` with the
    /// attempts left as its message otherwise); the unlock request for
    /// `/gateway/api/pin/unlock` out.
    pub fn open_pin(&mut self, eval: &str) -> Step {
        let eval: GatewayEvaluated = parse("evaluation", eval)?;
        let prepared = self.pin.take().ok_or(StepError::order("open"))?;
        let opened = prepared
            .open(&self.ch, &eval)
            .map_err(|e| wrong(e, eval.attempts_left, false))?;
        let unlock = opened.unlock()?;
        self.opened = Some(opened);
        json(&unlock)
    }

    // ---- recovery -------------------------------------------------------------------

    /// The enrolled questions' answers, for `/gateway/api/recovery/evaluate`.
    pub fn evaluate_answers(&mut self, answers: &str) -> Step {
        let enrolled = self.ch.recovery.as_ref().ok_or(StepError::new(
            "unsupported",
            "the customer has no security questions",
        ))?;
        let answers: Vec<String> = serde_json::from_str(answers)
            .map_err(|_| StepError::new("invalid_input", "the answers are not a list"))?;
        let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
        let (prepared, req) = PreparedAnswers::existing(enrolled, &refs)?;
        self.answers = Some(prepared);
        json(&req)
    }

    /// The answers' evaluation in (error `wrong_answers` with the attempts left), the
    /// unlock request for `/gateway/api/recovery/unlock` out.
    pub fn open_answers(&mut self, eval: &str) -> Step {
        let eval: GatewayEvaluated = parse("evaluation", eval)?;
        let prepared = self.answers.take().ok_or(StepError::order("open"))?;
        let recovered = prepared
            .open(&self.ch, &eval)
            .map_err(|e| wrong(e, eval.attempts_left, true))?;
        let unlock = recovered.unlock()?;
        self.recovered = Some(Recovered::Answers(recovered));
        json(&unlock)
    }

    /// The typed email code, checked for shape before an attempt is spent.
    pub fn email_code(&mut self, typed: &str) -> Step<()> {
        self.code = Some(EmailAttempt::new(&self.ch, typed)?);
        Ok(())
    }

    /// `/gateway/api/email/evaluate`'s answer in, the unlock request out.
    pub fn email_unlock(&mut self, attempt: &str) -> Step {
        let attempt: GatewayEmailAttempt = parse("email attempt", attempt)?;
        let code = self.code.as_ref().ok_or(StepError::order("unlock"))?;
        json(&code.unlock(&attempt)?)
    }

    /// `/gateway/api/email/unlock`'s answer in: the secret it carries opened.
    pub fn email_open(&mut self, unlocked: &str) -> Step<()> {
        let unlocked: GatewayEmailUnlocked = parse("unlock answer", unlocked)?;
        let code = self.code.take().ok_or(StepError::order("open"))?;
        self.recovered = Some(Recovered::Email(code.open(&unlocked)?));
        Ok(())
    }

    // ---- operations -----------------------------------------------------------------

    /// Verifies the operation's organization key against Node 1's identity key
    /// (`ed25519:…`, pinned in the page): the customer secret is encrypted to no other.
    pub fn trust(&mut self, node_key: &str) -> Step<()> {
        let node = OrgKeyTrust::parse_node_key(node_key)
            .map_err(|e| StepError::new("org_key_refused", e.to_string()))?;
        self.org_key = Some(ops::trusted_key(&self.ch, &node)?);
        Ok(())
    }

    /// A transaction's nonce and fees (`/gateway/api/transaction/prepare`'s answer) set
    /// on the operation shown.
    pub fn prepared(&mut self, prepared: &str) -> Step<()> {
        let p = parse("prepared transaction", prepared)?;
        let tx = self
            .ch
            .operation
            .as_mut()
            .and_then(|o| o.transaction.as_mut())
            .ok_or(StepError::new("unsupported", "not a transaction"))?;
        tx.prepared = Some(p);
        Ok(())
    }

    /// What the user authorizes, one line each, computed from the challenge (the same
    /// words as the CLI's).
    pub fn describe(&self) -> Step {
        json(&ops::describe(&self.ch)?)
    }

    /// After the PIN opened: the authorization of exactly the operations shown, for
    /// `/gateway/api/operation`, timestamped `now_ms`. An export's authorization carries
    /// the public key of a one-time X25519 key made here (its secret stays here): the nodes
    /// seal their shares to it, and [`Session::export_csv`] opens them.
    pub fn authorize(&mut self, now_ms: f64) -> Step {
        let key = self.org_key.as_ref().ok_or(StepError::order("authorize"))?;
        let opened = self.opened.take().ok_or(StepError::order("authorize"))?;
        let export = self
            .ch
            .operation
            .as_ref()
            .is_some_and(|o| o.export.is_some());
        let recipient_pk = if export {
            let (sk, pk) = ExportRecipientSecret::generate();
            self.recipient = Some(sk);
            Some(pk)
        } else {
            None
        };
        json(&opened.authorize(&self.ch, key, recipient_pk.as_ref(), now_ms as i64)?)
    }

    /// An export's end: `/gateway/api/operation`'s answer in, the CSV out (the same as
    /// `planbok customer complete`'s: the nodes' shares opened with the one-time key, every
    /// key rebuilt and checked against its wallet's address). The one-time key is dropped
    /// (zeroized); the CSV is the only secret that leaves the module, for the user to save.
    pub fn export_csv(&mut self, operated: &str) -> Step<Zeroizing<String>> {
        let done: GatewayOperated = parse("operation answer", operated)?;
        let sk = self.recipient.take().ok_or(StepError::order("export"))?;
        let export = self
            .ch
            .operation
            .as_ref()
            .and_then(|o| o.export.as_ref())
            .ok_or(StepError::new("unsupported", "not an export"))?;
        let exported = done.exported.as_ref().ok_or(StepError::new(
            "malformed",
            "the export's answer carries no sealed shares",
        ))?;
        customer_csv(&self.ch.customer_id, export, exported, &sk)
            .map_err(|e| StepError::new("export_failed", e.to_string()))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn challenge(kind: &str) -> String {
        serde_json::json!({
            "challengeId": "c1",
            "type": kind,
            "organizationId": "o1",
            "customerId": "u1",
            "expiresAt": "2026-12-01T00:00:00Z",
            "pin": null,
            "returnUrl": null,
        })
        .to_string()
    }

    #[test]
    fn the_catalog_lists_every_question_with_its_text() {
        let v: serde_json::Value = serde_json::from_str(&catalog()).unwrap();
        let list = v.as_array().unwrap();
        assert_eq!(list.len(), planbok_api::customers::QUESTION_CATALOG.len());
        assert_eq!(list[0]["id"], "first_pet");
        assert!(list[0]["text"].as_str().unwrap().ends_with('?'));
    }

    #[test]
    fn weak_pins_carry_the_weak_pin_code() {
        assert_eq!(check_pin("123456").unwrap_err().code, "weak_pin");
        assert_eq!(check_pin("12345").unwrap_err().code, "weak_pin");
        check_pin("284913").unwrap();
    }

    #[test]
    fn steps_out_of_order_and_malformed_answers_are_refused_by_code() {
        assert_eq!(Session::new("{").unwrap_err().code, "malformed");
        let mut s = Session::new(&challenge("initialize")).unwrap();
        assert_eq!(
            s.commit_first("{}", "{}").unwrap_err().code,
            "malformed",
            "an evaluation without its fields"
        );
        let eval = r#"{"evaluated":"AA","nonce":"AA","attemptsLeft":5}"#;
        assert_eq!(s.commit_first(eval, eval).unwrap_err().code, "out_of_order");
        assert_eq!(s.open_pin(eval).unwrap_err().code, "out_of_order");
        assert_eq!(s.authorize(0.0).unwrap_err().code, "out_of_order");
        // No PIN enrolled: nothing to evaluate.
        assert_eq!(s.evaluate_pin("284913").unwrap_err().code, "unsupported");
        // A weak PIN is refused before anything is computed.
        assert_eq!(s.enroll_pin("111111", "").unwrap_err().code, "weak_pin");
        assert!(s.enroll_pin("284913", "").unwrap().contains("blinded"));
    }

    #[test]
    fn an_export_csv_needs_its_own_authorization_and_an_export() {
        let mut s = Session::new(&challenge("export_private_keys")).unwrap();
        assert_eq!(s.export_csv("{").unwrap_err().code, "malformed");
        let operated = |exported: &str| {
            format!(
                r#"{{"challenge":{{"challengeId":"c1","id":"c1","customerId":"u1","type":"export_private_keys","status":"complete","redirectUrl":null,"expiresAt":"2026-12-01T00:00:00Z","result":null,"errorCode":null}},"exported":{exported}}}"#
            )
        };
        // No one-time key made here (no authorization): nothing to open with.
        assert_eq!(
            s.export_csv(&operated("[]")).unwrap_err().code,
            "out_of_order"
        );
        // With a key, still nothing for a challenge that is not an export.
        s.recipient = Some(ExportRecipientSecret::generate().0);
        assert_eq!(
            s.export_csv(&operated("null")).unwrap_err().code,
            "unsupported"
        );
        // The key is used once: dropped with the first answer.
        assert!(s.recipient.is_none());
    }

    #[test]
    fn answers_that_a_hint_gives_away_are_refused_before_sending() {
        let mut s = Session::new(&challenge("initialize")).unwrap();
        let qs = r#"[{"id":"first_pet","hint":"rex"},{"id":"birth_city"},{"id":"first_school"}]"#;
        let e = s
            .enroll_answers(qs, r#"["Rex","Zürich","St. Mary's"]"#)
            .unwrap_err();
        assert_eq!(e.code, "invalid_input");
        assert!(!e.message.contains("Zürich"), "{}", e.message);
        let ok = r#"[{"id":"first_pet","hint":"a dog"},{"id":"birth_city"},{"id":"first_school"}]"#;
        assert!(
            s.enroll_answers(ok, r#"["Rex","Zürich","St. Mary's"]"#)
                .unwrap()
                .contains("blinded")
        );
    }
}
