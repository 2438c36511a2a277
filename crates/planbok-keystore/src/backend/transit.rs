//! The transit backend: data keys are wrapped by an OpenBao/Vault transit key
//! (`aes256-gcm96`), with the blob's associated data passed as `associated_data`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ureq::Agent;
use ureq::http::Response;
use zeroize::Zeroizing;

use super::{Kek, secret_from_env, to_key};
use crate::{BackendId, KeystoreError};

const KEY_TYPE: &str = "aes256-gcm96";
const TIMEOUT: Duration = Duration::from_secs(10);
const TOKEN_HEADER: &str = "X-Vault-Token";

pub(crate) struct TransitKek {
    agent: Agent,
    token: Zeroizing<String>,
    /// `{address}/v1/{mount}/{op}/{key}` for each op, built once at open.
    keys_url: String,
    encrypt_url: String,
    decrypt_url: String,
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
        let token = secret_from_env(token_env)?;
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let url = |op: &str| {
            format!(
                "{}/v1/{}/{op}/{}",
                address.trim_end_matches('/'),
                mount.trim_matches('/'),
                key_name.trim_matches('/')
            )
        };
        let this = Self {
            agent,
            token,
            keys_url: url("keys"),
            encrypt_url: url("encrypt"),
            decrypt_url: url("decrypt"),
        };
        this.ensure_key()?;
        Ok(this)
    }

    fn ensure_key(&self) -> Result<(), KeystoreError> {
        const READING: &str = "reading the transit key";
        const CREATING: &str = "creating the transit key";
        let resp = self
            .agent
            .get(&self.keys_url)
            .header(TOKEN_HEADER, self.token.as_str())
            .call()
            .map_err(transit_err(READING))?;
        match resp.status().as_u16() {
            200 => {
                let info: KeyInfo = read_data(READING, resp)?;
                if info.key_type != KEY_TYPE {
                    return Err(KeystoreError::Config(format!(
                        "transit key has type {}, expected {KEY_TYPE}",
                        info.key_type
                    )));
                }
                Ok(())
            }
            404 => {
                tracing::info!(url = %self.keys_url, "creating the keystore's transit key");
                let resp = self.post(
                    &self.keys_url,
                    CREATING,
                    &serde_json::json!({ "type": KEY_TYPE }),
                )?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(status_err(CREATING, resp))
                }
            }
            _ => Err(status_err(READING, resp)),
        }
    }

    /// POSTs `body` as JSON with the token. The serialized request is zeroized once sent: it
    /// carries a data key on `encrypt`.
    fn post(
        &self,
        url: &str,
        context: &'static str,
        body: &impl Serialize,
    ) -> Result<Response<ureq::Body>, KeystoreError> {
        let json = Zeroizing::new(
            serde_json::to_vec(body).map_err(|_| KeystoreError::Internal("transit request"))?,
        );
        self.agent
            .post(url)
            .header(TOKEN_HEADER, self.token.as_str())
            .header("Content-Type", "application/json")
            .send(json.as_slice())
            .map_err(transit_err(context))
    }
}

/// Reads a JSON answer through a zeroizing buffer: on `decrypt` it carries a data key.
fn read_data<T: DeserializeOwned>(
    context: &'static str,
    mut resp: Response<ureq::Body>,
) -> Result<T, KeystoreError> {
    let body = Zeroizing::new(
        resp.body_mut()
            .read_to_vec()
            .map_err(transit_err(context))?,
    );
    serde_json::from_slice::<Envelope<T>>(&body)
        .map(|envelope| envelope.data)
        .map_err(|e| KeystoreError::Transit {
            context,
            // Not `e.to_string()`: serde_json quotes offending values, and this body may
            // hold a data key.
            reason: format!(
                "unexpected answer ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
}

impl Kek for TransitKek {
    fn id(&self) -> BackendId {
        BackendId::Transit
    }

    fn wrap(&self, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        const CONTEXT: &str = "encrypt";
        let plaintext = Zeroizing::new(B64.encode(dek));
        let resp = self.post(
            &self.encrypt_url,
            CONTEXT,
            &EncryptRequest {
                plaintext: &plaintext,
                associated_data: &B64.encode(aad),
            },
        )?;
        if !resp.status().is_success() {
            return Err(status_err(CONTEXT, resp));
        }
        let out: Ciphertext = read_data(CONTEXT, resp)?;
        Ok(out.ciphertext.into_bytes())
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        const CONTEXT: &str = "decrypt";
        let ciphertext =
            std::str::from_utf8(wrapped).map_err(|_| KeystoreError::DataKeyRejected)?;
        let resp = self.post(
            &self.decrypt_url,
            CONTEXT,
            &DecryptRequest {
                ciphertext,
                associated_data: &B64.encode(aad),
            },
        )?;
        match resp.status().as_u16() {
            200 => {}
            // Transit answers 400 both for a failed tag check and for a malformed
            // ciphertext: either way the wrapped key is not one it made for this AAD.
            400 => return Err(KeystoreError::DataKeyRejected),
            _ => return Err(status_err(CONTEXT, resp)),
        }
        let out: Plaintext = read_data(CONTEXT, resp)?;
        let plaintext = Zeroizing::new(out.plaintext);
        let dek = Zeroizing::new(
            B64.decode(plaintext.as_bytes())
                .map_err(|_| KeystoreError::DataKeyRejected)?,
        );
        to_key(&dek)
    }
}
