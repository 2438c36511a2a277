//! The Gateway's client side: what the end user's device computes to set, prove and
//! change a PIN. No IO (no sockets, no clock, no async runtime): it turns the Gateway
//! routes' answers into the next request, so the same code drives the CLI
//! (`planbok customer complete`) now and the browser page (compiled to WASM) next.
//!
//! The PIN never leaves this module: it becomes `h = Argon2id(PIN, salt)`, which is sent
//! only blinded (RFC 9497 OPRF) to Node 2. The customer secret `S_c` is made here and
//! leaves only wrapped (`W_pin`). See `planbok_envelope::pin` and `docs/customer-custody.md`.

use base64::Engine as _;
use planbok_api::customers::{
    GatewayChallenge, GatewayCommit, GatewayEvaluate, GatewayEvaluated, GatewayPin, GatewayUnlock,
};
use planbok_envelope::pin::{self, Blinded, KdfParams};
pub use planbok_envelope::pin::{PinError, PinKeys};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

mod email;
pub mod ops;
mod recovery;
pub use email::{EmailAttempt, OpenedEmail};
pub use recovery::{OpenedRecovery, PreparedAnswers, questions as recovery_questions};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why the Gateway client refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The new PIN is refused (the reason says which rule).
    #[error("weak PIN: {0}")]
    WeakPin(&'static str),
    /// A PIN step failed (a wrong PIN is [`PinError::WrongPin`]).
    #[error(transparent)]
    Pin(#[from] PinError),
    /// The server sent something that is not what the protocol expects.
    #[error("malformed {0} from the server")]
    Malformed(&'static str),
    /// The Gateway URL is not one.
    #[error("not a Gateway URL: {0}")]
    Link(&'static str),
    /// The organization key does not carry Node 1's signature (or another org's): the
    /// customer secret is never encrypted to it.
    #[error("organization key refused: {0}")]
    OrgKey(planbok_envelope::OrgKeyError),
    /// The operation shown cannot be computed (a malformed message, typed data or
    /// transaction).
    #[error("the operation cannot be prepared: {0}")]
    Request(String),
    /// Security questions, answers or hints refused (never names an answer).
    #[error(transparent)]
    Recovery(#[from] planbok_envelope::recovery::RecoveryError),
    /// A question id that is not in the catalog.
    #[error("unknown question id {0:?}")]
    UnknownQuestion(String),
    /// A typed recovery code that cannot be one (never names what was typed).
    #[error("{}", planbok_envelope::email_code::CodeError::Malformed)]
    Code,
}

/// PINs refused whatever their shape: the most common 6-digit choices that are neither a
/// repeat nor a run (those are caught by rule).
const COMMON: &[&str] = &[
    "123123", "121212", "112233", "123321", "654321", "696969", "159753", "147258", "131313",
    "101010", "252525", "200000", "100000", "123654", "520520", "007007", "159357", "147852",
    "789456", "456123", "000007", "102030", "110110", "120120", "142536", "232323", "282828",
    "292929", "202020", "212121", "747474", "777888", "789789", "456456", "321321", "111222",
    "999888", "998877", "135790", "246810", "753951", "852456", "258456", "369369", "124578",
];

/// The PIN rules: exactly 6 ASCII digits, not one digit repeated, not a run up or down
/// (`123456`, `987654`, also wrapping `890123`), not two or three repeated blocks
/// (`121212`, `123123`), and not on the common list.
pub fn check_new_pin(pin: &str) -> Result<(), GatewayError> {
    let d: Vec<u8> = pin.bytes().collect();
    if d.len() != 6 || !d.iter().all(u8::is_ascii_digit) {
        return Err(GatewayError::WeakPin("a PIN is exactly 6 digits"));
    }
    if d.iter().all(|&c| c == d[0]) {
        return Err(GatewayError::WeakPin("all digits are the same"));
    }
    let step = |up: bool| {
        d.windows(2).all(|w| {
            let (a, b) = (w[0] - b'0', w[1] - b'0');
            if up {
                b == (a + 1) % 10
            } else {
                a == (b + 1) % 10
            }
        })
    };
    if step(true) || step(false) {
        return Err(GatewayError::WeakPin("the digits are a sequence"));
    }
    if (d[..2] == d[2..4] && d[2..4] == d[4..]) || d[..3] == d[3..] {
        return Err(GatewayError::WeakPin("the digits repeat a pattern"));
    }
    if COMMON.contains(&pin) {
        return Err(GatewayError::WeakPin("the PIN is too common"));
    }
    Ok(())
}

/// A Gateway URL, split: `<origin>/gateway/?challenge=<id>#<token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayLink {
    /// The server's origin (where `/gateway/api/…` lives).
    pub origin: String,
    /// The challenge id.
    pub challenge_id: String,
    /// The one-time token (from the fragment).
    pub token: Zeroizing<String>,
}

impl std::fmt::Debug for GatewayLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayLink")
            .field("origin", &self.origin)
            .field("challenge_id", &self.challenge_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl GatewayLink {
    /// Parses a Gateway URL.
    pub fn parse(url: &str) -> Result<GatewayLink, GatewayError> {
        let (rest, token) = url
            .split_once('#')
            .ok_or(GatewayError::Link("no token in the fragment"))?;
        let (origin, query) = rest
            .split_once("/gateway/")
            .ok_or(GatewayError::Link("no /gateway/ path"))?;
        let challenge_id = query
            .trim_start_matches('?')
            .split('&')
            .find_map(|kv| kv.strip_prefix("challenge="))
            .ok_or(GatewayError::Link("no challenge id"))?;
        if token.is_empty() || !(origin.starts_with("http://") || origin.starts_with("https://")) {
            return Err(GatewayError::Link("no origin or token"));
        }
        Ok(GatewayLink {
            origin: origin.to_owned(),
            challenge_id: challenge_id.to_owned(),
            token: Zeroizing::new(token.to_owned()),
        })
    }
}

pub(crate) fn decode(what: &'static str, s: &str) -> Result<Vec<u8>, GatewayError> {
    B64.decode(s).map_err(|_| GatewayError::Malformed(what))
}

/// A PIN hashed and blinded, waiting for Node 2's evaluation. `Debug` is redacted.
#[derive(Debug)]
pub struct PreparedPin {
    blinded: Blinded,
    salt: Vec<u8>,
    params: KdfParams,
}

impl PreparedPin {
    /// A new PIN: the rules checked, a fresh salt, the current parameters. The request is
    /// for `enroll` (with the rekey nonce of an unlock when a PIN is being changed).
    pub fn new_pin(
        pin: &str,
        rekey_nonce: Option<String>,
    ) -> Result<(PreparedPin, GatewayEvaluate), GatewayError> {
        check_new_pin(pin)?;
        let salt = pin::new_salt().to_vec();
        Self::prepare(pin, salt, KdfParams::V1, rekey_nonce)
    }

    /// The enrolled PIN, for `evaluate`, with its recorded salt and parameters (refused
    /// if the server offers parameters under the floor).
    pub fn existing_pin(
        pin: &str,
        enrolled: &GatewayPin,
    ) -> Result<(PreparedPin, GatewayEvaluate), GatewayError> {
        let params: KdfParams = serde_json::from_value(enrolled.params.clone())
            .map_err(|_| GatewayError::Malformed("PIN parameters"))?;
        let salt = decode("salt", &enrolled.salt)?;
        Self::prepare(pin, salt, params, None)
    }

    fn prepare(
        pin: &str,
        salt: Vec<u8>,
        params: KdfParams,
        rekey_nonce: Option<String>,
    ) -> Result<(PreparedPin, GatewayEvaluate), GatewayError> {
        let h = pin::hash_pin(pin.as_bytes(), &salt, &params)?;
        let blinded = Blinded::new(h)?;
        let req = GatewayEvaluate {
            blinded: B64.encode(blinded.message),
            rekey_nonce,
        };
        Ok((
            PreparedPin {
                blinded,
                salt,
                params,
            },
            req,
        ))
    }

    /// The enrolled PIN's keys, proven by opening its wrap: the customer secret and the
    /// unlock key. [`PinError::WrongPin`] if the PIN was wrong (Node 2 has counted it).
    pub fn open(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
    ) -> Result<OpenedPin, GatewayError> {
        let enrolled = challenge
            .pin
            .as_ref()
            .ok_or(GatewayError::Malformed("challenge without a PIN"))?;
        let keys = self.blinded.finish(
            &decode("evaluation", &evaluated.evaluated)?,
            &challenge.organization_id,
            &challenge.customer_id,
        )?;
        let secret = keys.unwrap(&decode("wrap", &enrolled.wrapped)?)?;
        Ok(OpenedPin {
            keys,
            secret,
            attempt_nonce: evaluated.nonce.clone(),
        })
    }

    /// The commit of a new PIN wrapping `secret`; over an enrolled PIN, signed by the old
    /// one (`old`).
    pub fn enroll(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
        secret: &[u8; 32],
        old: Option<&OpenedPin>,
    ) -> Result<GatewayCommit, GatewayError> {
        let signer = old.map(|o| (&o.keys, None));
        Ok(self.enroll_with(challenge, evaluated, secret, signer)?.0)
    }

    /// The commit of the first PIN and its keys, which then sign the security questions'
    /// enrollment ([`PreparedAnswers::enroll`]); add that as the commit's `recovery`.
    pub fn enroll_first(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
        secret: &[u8; 32],
    ) -> Result<(GatewayCommit, PinKeys), GatewayError> {
        self.enroll_with(challenge, evaluated, secret, None)
    }

    /// The commit of a new PIN after recovery: wraps the recovered secret (the same
    /// `S_c`), signed by the security questions' unlock key.
    pub fn enroll_reset(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
        recovered: &OpenedRecovery,
    ) -> Result<GatewayCommit, GatewayError> {
        let signer = Some((recovered.keys(), Some("securityQuestions")));
        Ok(self
            .enroll_with(challenge, evaluated, recovered.secret(), signer)?
            .0)
    }

    /// The commit of a new PIN after recovery by email: wraps the recovered secret,
    /// signed by the emailed code's key (and, as the challenge requires, a new code).
    pub fn enroll_reset_email(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
        recovered: &OpenedEmail,
    ) -> Result<GatewayCommit, GatewayError> {
        let signer = Some((
            recovered.keys(),
            Some(planbok_api::customers::RECOVERY_EMAIL),
        ));
        Ok(self
            .enroll_with(challenge, evaluated, recovered.secret(), signer)?
            .0)
    }

    /// The commit; when the challenge says `emailRecovery`, with a new email recovery
    /// code's enrollment signed by the new PIN.
    fn enroll_with(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
        secret: &[u8; 32],
        signer: Option<(&PinKeys, Option<&str>)>,
    ) -> Result<(GatewayCommit, PinKeys), GatewayError> {
        let nonce = decode("enrollment nonce", &evaluated.nonce)?;
        let keys = self.blinded.finish(
            &decode("evaluation", &evaluated.evaluated)?,
            &challenge.organization_id,
            &challenge.customer_id,
        )?;
        let verify_key = keys.verify_key();
        let signature = signer
            .map(|(k, _)| B64.encode(k.sign_commit_of(pin::Factor::Pin, &nonce, &verify_key)));
        let commit = GatewayCommit {
            nonce: evaluated.nonce.clone(),
            verify_key: B64.encode(verify_key),
            signature,
            signer: signer.and_then(|(_, s)| s.map(str::to_owned)),
            salt: B64.encode(&self.salt),
            params: serde_json::to_value(self.params)
                .map_err(|_| GatewayError::Malformed("parameters"))?,
            wrapped: B64.encode(keys.wrap(secret)?),
            recovery: None,
            email: if challenge.email_recovery {
                Some(email::enroll(challenge, secret, &keys)?)
            } else {
                None
            },
        };
        Ok((commit, keys))
    }
}

/// A proven PIN: its keys and the customer secret it unwrapped. `Debug` is redacted.
pub struct OpenedPin {
    keys: PinKeys,
    secret: Zeroizing<[u8; 32]>,
    attempt_nonce: String,
}

impl std::fmt::Debug for OpenedPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedPin(<redacted>)")
    }
}

impl OpenedPin {
    /// The unlock request for the attempt that opened it (resets Node 2's counter).
    pub fn unlock(&self) -> Result<GatewayUnlock, GatewayError> {
        let nonce = decode("attempt nonce", &self.attempt_nonce)?;
        Ok(GatewayUnlock {
            nonce: self.attempt_nonce.clone(),
            signature: B64.encode(self.keys.sign_unlock(&nonce)),
        })
    }

    /// The customer secret `S_c`.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The PIN's keys (they sign a change of the security questions).
    pub fn keys(&self) -> &PinKeys {
        &self.keys
    }
}

/// A fresh customer secret `S_c` (made once, at PIN setup).
pub fn new_customer_secret() -> Zeroizing<[u8; 32]> {
    let mut s = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(s.as_mut());
    s
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn weak_pins_are_refused() {
        for bad in [
            "",
            "12345",
            "1234567",
            "12a456",
            "000000",
            "999999",
            "123456",
            "654321",
            "890123",
            "987654",
            "121212",
            "123123",
            "456456",
            "147258",
            "１２３４５６",
        ] {
            assert!(check_new_pin(bad).is_err(), "{bad}");
        }
        for good in ["284913", "730518", "502977", "119283"] {
            check_new_pin(good).unwrap();
        }
    }

    #[test]
    fn gateway_links_parse_and_hide_their_token() {
        let l = GatewayLink::parse("http://127.0.0.1:8080/gateway/?challenge=abc#tok_en").unwrap();
        assert_eq!(l.origin, "http://127.0.0.1:8080");
        assert_eq!(l.challenge_id, "abc");
        assert_eq!(l.token.as_str(), "tok_en");
        assert!(!format!("{l:?}").contains("tok_en"));
        assert!(GatewayLink::parse("http://x/gateway/?challenge=abc").is_err());
        assert!(GatewayLink::parse("http://x/other/?challenge=abc#t").is_err());
    }
}
