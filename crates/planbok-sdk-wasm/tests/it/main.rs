//! `planbok-sdk-wasm`: its operations natively (`ops`), and the committed module in
//! `sdk-js/wasm/` run by node against keys made here, its ciphertexts opened as Node 1
//! opens them (`roundtrip`).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

mod ops;
mod roundtrip;

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use planbok_envelope::NodeIdentity;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};

/// An organization as Node 1 makes it: its RSA key and the attestation the server relays.
pub(crate) struct Org {
    pub id: String,
    pub rsa: rsa::RsaPrivateKey,
    pub node: SigningKey,
    /// `GET /v2/config/organization/public-key`'s `data`.
    pub served: serde_json::Value,
}

impl Org {
    pub fn new(id: &str) -> Org {
        let rsa = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 3072).unwrap();
        let node = SigningKey::generate(&mut rand_core::OsRng);
        let served = attested(id, &rsa.to_public_key(), &node, 1_700_000_000_000);
        Org {
            id: id.into(),
            rsa,
            node,
            served,
        }
    }

    /// Node 1's identity key, as `planbok dev` prints it.
    pub fn node_key(&self) -> String {
        NodeIdentity::of(&self.node).to_text()
    }
}

/// The served answer for `key`, signed by `node` for `org`.
pub(crate) fn attested(
    org: &str,
    key: &rsa::RsaPublicKey,
    node: &SigningKey,
    created_at: i64,
) -> serde_json::Value {
    let der = key.to_public_key_der().unwrap();
    let sig = planbok_envelope::org_key::attest(node, org, der.as_bytes(), created_at);
    serde_json::json!({
        "publicKey": key.to_public_key_pem(LineEnding::LF).unwrap(),
        "signature": base64::engine::general_purpose::STANDARD.encode(sig),
        "nodeKeyId": NodeIdentity::of(node).key_id(),
        "createdAt": created_at,
    })
}
