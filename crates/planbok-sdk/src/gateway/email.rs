//! The Gateway's client side of recovery by email (`planbok_envelope::email_code`).
//!
//! - **Enrollment**: whenever the challenge says `emailRecovery`, a PIN commit made by
//!   [`super::PreparedPin`] carries a fresh code `R` (made here), `W_email` of the customer
//!   secret under it, and the new PIN's signature over both. The user never sees this code;
//!   the server emails it at a reset.
//! - **Recovery** (a reset-pin challenge with `recoveryMethod: email`): the user types the
//!   emailed code; [`EmailAttempt`] signs Node 2's attempt nonce with the code's key and
//!   opens the `W_email` Node 2 returns, giving the customer secret, whose new PIN is then
//!   committed signed by the code's key ([`super::PreparedPin::enroll_reset_email`]).

use base64::Engine as _;
use planbok_api::customers::{
    GatewayChallenge, GatewayEmailAttempt, GatewayEmailCommit, GatewayEmailUnlocked, GatewayUnlock,
};
use planbok_envelope::email_code::{self, EmailCode};
use planbok_envelope::pin::{Factor, PinKeys};
use zeroize::Zeroizing;

use super::{B64, GatewayError, decode};

/// A new code's enrollment for a PIN commit: `W_email` of `secret`, signed by the new PIN's
/// keys `pin`. The code is made here and leaves only in the commit (for the server to
/// keep sealed).
pub(crate) fn enroll(
    challenge: &GatewayChallenge,
    secret: &[u8; 32],
    pin: &PinKeys,
) -> Result<GatewayEmailCommit, GatewayError> {
    let code = EmailCode::generate();
    let keys = code.keys(&challenge.organization_id, &challenge.customer_id);
    let wrapped = keys.wrap(secret)?;
    let verify_key = keys.verify_key();
    let nonce = email_code::enroll_nonce(&wrapped);
    Ok(GatewayEmailCommit {
        code: code.display().to_string(),
        verify_key: B64.encode(verify_key),
        wrapped: B64.encode(&wrapped),
        signature: B64.encode(pin.sign_commit_of(Factor::Email, &nonce, &verify_key)),
    })
}

/// A typed code, waiting to prove itself to Node 2. `Debug` is redacted.
pub struct EmailAttempt {
    keys: PinKeys,
}

impl std::fmt::Debug for EmailAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailAttempt(<redacted>)")
    }
}

impl EmailAttempt {
    /// The code as the user typed it (case, spaces and dashes do not matter). A mistyped
    /// code (not 32 base32 characters) is refused here, before any attempt is spent.
    pub fn new(challenge: &GatewayChallenge, typed: &str) -> Result<EmailAttempt, GatewayError> {
        let code = EmailCode::parse(typed).map_err(|_| GatewayError::Code)?;
        Ok(EmailAttempt {
            keys: code.keys(&challenge.organization_id, &challenge.customer_id),
        })
    }

    /// The unlock request for the attempt Node 2 counted (`attempt`, the answer to
    /// `/gateway/api/email/evaluate`): its nonce signed by the code's key.
    pub fn unlock(&self, attempt: &GatewayEmailAttempt) -> Result<GatewayUnlock, GatewayError> {
        let nonce = decode("attempt nonce", &attempt.nonce)?;
        Ok(GatewayUnlock {
            nonce: attempt.nonce.clone(),
            signature: B64.encode(self.keys.sign_unlock(&nonce)),
        })
    }

    /// Opens the `W_email` Node 2 returned for the proven code: the customer secret.
    pub fn open(self, unlocked: &GatewayEmailUnlocked) -> Result<OpenedEmail, GatewayError> {
        let secret = self.keys.unwrap(&decode("wrap", &unlocked.wrapped)?)?;
        Ok(OpenedEmail {
            keys: self.keys,
            secret,
        })
    }
}

/// A proven code: its keys and the customer secret it unwrapped. `Debug` is redacted.
pub struct OpenedEmail {
    keys: PinKeys,
    secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for OpenedEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedEmail(<redacted>)")
    }
}

impl OpenedEmail {
    /// The recovered customer secret `S_c`.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The code's keys (they sign the new PIN's enrollment).
    pub(crate) fn keys(&self) -> &PinKeys {
        &self.keys
    }
}
