//! The transit backend: data keys are wrapped by an OpenBao/Vault transit key
//! (`aes256-gcm96`), with the blob's associated data passed as `associated_data`.
//!
//! Every request carries the token and a data key (in the request on `encrypt`, in the
//! answer on `decrypt`), so the connection is TLS, verified against the configured CA bundle
//! only, except to a loopback address ([`TransitAddress`] refuses the rest when it is
//! parsed). No proxy from the environment and no redirect is followed: either would send
//! the same bytes somewhere the configuration does not name.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ureq::Agent;
use ureq::http::Response;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};
use zeroize::Zeroizing;

use super::{Kek, secret_from_env, to_key};
use crate::config::TransitAddress;
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

/// The TLS files named in the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TlsFiles<'a> {
    pub(crate) ca_file: Option<&'a Path>,
    pub(crate) client_cert: Option<&'a Path>,
    pub(crate) client_key: Option<&'a Path>,
}

impl TlsFiles<'_> {
    /// Which files go with which scheme: checked before any file is read or any socket
    /// opened.
    fn check(&self, address: &TransitAddress) -> Result<(), KeystoreError> {
        let bad = |why: &str| KeystoreError::Config(format!("transit {address}: {why}"));
        if address.is_tls() {
            if self.ca_file.is_none() {
                return Err(bad(
                    "https:// needs ca_file, the PEM bundle of the CA that signs the server's certificate",
                ));
            }
        } else if self.ca_file.is_some() || self.client_cert.is_some() || self.client_key.is_some()
        {
            return Err(bad(
                "ca_file, client_cert and client_key are for https://; this address is plain http://",
            ));
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(bad("client_cert and client_key go together"));
        }
        Ok(())
    }

    /// The agent's TLS settings: only the configured CA roots, and the client certificate if
    /// one is configured. For a loopback `http://` address, an empty root set (never used).
    fn tls_config(&self) -> Result<TlsConfig, KeystoreError> {
        let roots = match self.ca_file {
            Some(path) => read_ca_bundle(path)?,
            None => Vec::new(),
        };
        let client = match (self.client_cert, self.client_key) {
            (Some(cert), Some(key)) => Some(read_client_cert(cert, key)?),
            _ => None,
        };
        Ok(TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(RootCerts::new_with_certs(&roots))
            .client_cert(client)
            .build())
    }
}

fn pem_err(path: &Path, why: impl std::fmt::Display) -> KeystoreError {
    KeystoreError::Config(format!("{}: {why}", path.display()))
}

/// Every certificate in a PEM file; an error if there is none that rustls can use as a
/// root (rustls would otherwise skip unusable ones silently and trust nothing).
fn read_ca_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, KeystoreError> {
    let pem = std::fs::read(path).map_err(|e| KeystoreError::io(path, e))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| pem_err(path, e))? {
            certs.push(cert);
        }
    }
    let mut store = rustls::RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(
        certs
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.der())),
    );
    if added == 0 {
        return Err(pem_err(path, "no usable CA certificate in this PEM file"));
    }
    Ok(certs)
}

/// The client certificate chain and its key. The key file is read into a zeroizing buffer.
fn read_client_cert(cert_path: &Path, key_path: &Path) -> Result<ClientCert, KeystoreError> {
    let pem = std::fs::read(cert_path).map_err(|e| KeystoreError::io(cert_path, e))?;
    let mut chain = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| pem_err(cert_path, e))? {
            chain.push(cert);
        }
    }
    if chain.is_empty() {
        return Err(pem_err(cert_path, "no certificate in this PEM file"));
    }
    let key_pem =
        Zeroizing::new(std::fs::read(key_path).map_err(|e| KeystoreError::io(key_path, e))?);
    // Not the parser's message: it could quote the key's bytes.
    let key = PrivateKey::from_pem(&key_pem).map_err(|_| {
        pem_err(
            key_path,
            "no PKCS#8, PKCS#1 or SEC1 private key in this PEM file",
        )
    })?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

impl TransitKek {
    pub(crate) fn open(
        address: &TransitAddress,
        token_env: &str,
        mount: &str,
        key_name: &str,
        tls: TlsFiles<'_>,
    ) -> Result<Self, KeystoreError> {
        tls.check(address)?;
        let token = secret_from_env(token_env)?;
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            // The address is the only place the token and data keys may go.
            .proxy(None)
            .max_redirects(0)
            .https_only(address.is_tls())
            .tls_config(tls.tls_config()?)
            .build()
            .into();
        let url = |op: &str| {
            format!(
                "{}/v1/{}/{op}/{}",
                address.as_str(),
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
