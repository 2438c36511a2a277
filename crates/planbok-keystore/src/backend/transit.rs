//! The transit backend: data keys are wrapped by an OpenBao/Vault transit key
//! (`aes256-gcm96`), with the blob's associated data passed as `associated_data`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use ureq::Agent;
use ureq::http::Response;
use zeroize::Zeroizing;

use super::{Kek, to_key};
use crate::{BackendId, KeystoreError};

const KEY_TYPE: &str = "aes256-gcm96";
const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct TransitKek {
    agent: Agent,
    base: String,
    token: Zeroizing<String>,
}

#[derive(Serialize)]
struct EncryptRequest<'a> {
    plaintext: &'a str,
    associated_data: &'a str,
}

#[derive(Serialize)]
struct DecryptRequest<'a> {
    ciphertext: &'a str,
    associated_data: &'a str,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Ciphertext {
    ciphertext: String,
}

#[derive(Deserialize)]
struct Plaintext {
    plaintext: String,
}

#[derive(Deserialize)]
struct KeyInfo {
    #[serde(rename = "type")]
    key_type: String,
}

fn transit_err(context: &'static str) -> impl FnOnce(ureq::Error) -> KeystoreError {
    move |e| KeystoreError::Transit {
        context,
        reason: e.to_string(),
    }
}

/// Turns a non-2xx answer into an error carrying the status and the server's message.
fn status_err(context: &'static str, mut resp: Response<ureq::Body>) -> KeystoreError {
    let status = resp.status();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    KeystoreError::Transit {
        context,
        reason: format!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        ),
    }
}

impl TransitKek {
    pub(crate) fn open(
        address: &str,
        token_env: &str,
        mount: &str,
        key_name: &str,
    ) -> Result<Self, KeystoreError> {
        let token = Zeroizing::new(
            std::env::var(token_env)
                .map_err(|_| KeystoreError::MissingEnv(token_env.to_owned()))?,
        );
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let this = Self {
            agent,
            base: format!(
                "{}/v1/{}/{{op}}/{}",
                address.trim_end_matches('/'),
                mount.trim_matches('/'),
                key_name.trim_matches('/')
            ),
            token,
        };
        this.ensure_key()?;
        Ok(this)
    }

    fn url(&self, op: &str) -> String {
        self.base.replace("{op}", op)
    }

    fn ensure_key(&self) -> Result<(), KeystoreError> {
        let mut resp = self
            .agent
            .get(self.url("keys"))
            .header("X-Vault-Token", self.token.as_str())
            .call()
            .map_err(transit_err("reading the transit key"))?;
        match resp.status().as_u16() {
            200 => {
                let info: Envelope<KeyInfo> = resp
                    .body_mut()
                    .read_json()
                    .map_err(transit_err("reading the transit key"))?;
                if info.data.key_type != KEY_TYPE {
                    return Err(KeystoreError::Config(format!(
                        "transit key has type {}, expected {KEY_TYPE}",
                        info.data.key_type
                    )));
                }
                Ok(())
            }
            404 => {
                tracing::info!(url = %self.url("keys"), "creating the keystore's transit key");
                let resp = self
                    .agent
                    .post(self.url("keys"))
                    .header("X-Vault-Token", self.token.as_str())
                    .send_json(serde_json::json!({ "type": KEY_TYPE }))
                    .map_err(transit_err("creating the transit key"))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(status_err("creating the transit key", resp))
                }
            }
            _ => Err(status_err("reading the transit key", resp)),
        }
    }
}

impl Kek for TransitKek {
    fn id(&self) -> BackendId {
        BackendId::Transit
    }

    fn wrap(&self, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        let plaintext = Zeroizing::new(B64.encode(dek));
        let mut resp = self
            .agent
            .post(self.url("encrypt"))
            .header("X-Vault-Token", self.token.as_str())
            .send_json(EncryptRequest {
                plaintext: &plaintext,
                associated_data: &B64.encode(aad),
            })
            .map_err(transit_err("encrypt"))?;
        if !resp.status().is_success() {
            return Err(status_err("encrypt", resp));
        }
        let out: Envelope<Ciphertext> = resp
            .body_mut()
            .read_json()
            .map_err(transit_err("encrypt"))?;
        Ok(out.data.ciphertext.into_bytes())
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        let ciphertext =
            std::str::from_utf8(wrapped).map_err(|_| KeystoreError::DataKeyRejected)?;
        let mut resp = self
            .agent
            .post(self.url("decrypt"))
            .header("X-Vault-Token", self.token.as_str())
            .send_json(DecryptRequest {
                ciphertext,
                associated_data: &B64.encode(aad),
            })
            .map_err(transit_err("decrypt"))?;
        match resp.status().as_u16() {
            200 => {}
            // Transit answers 400 both for a failed tag check and for a malformed
            // ciphertext: either way the wrapped key is not one it made for this AAD.
            400 => return Err(KeystoreError::DataKeyRejected),
            _ => return Err(status_err("decrypt", resp)),
        }
        let out: Envelope<Plaintext> = resp
            .body_mut()
            .read_json()
            .map_err(transit_err("decrypt"))?;
        let plaintext = Zeroizing::new(out.data.plaintext);
        let dek = Zeroizing::new(
            B64.decode(plaintext.as_bytes())
                .map_err(|_| KeystoreError::DataKeyRejected)?,
        );
        to_key(&dek)
    }
}
