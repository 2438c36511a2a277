//! Organizations on Node 1: their RSA key pairs and secret registrations (sealed records,
//! `format_version` checked on every read).

use std::fmt;

use sqlx::Row as _;

use crate::StoreError;
use crate::clock::now_ms;
use crate::node::{Len, NodeStore, RECORD_FORMAT};

/// An organization's RSA key pair (Node 1).
#[derive(Clone, PartialEq, Eq)]
pub struct OrgKeyRecord {
    /// The organization.
    pub org_id: String,
    /// The public key, PEM.
    pub public_key_pem: String,
    /// The private key, sealed by the keystore.
    pub sealed_private_key: Vec<u8>,
    /// When it was stored, unix milliseconds.
    pub created_at_ms: i64,
}

/// An organization's secret registration (Node 1).
#[derive(Clone, PartialEq, Eq)]
pub struct OrgSecretRecord {
    /// The organization.
    pub org_id: String,
    /// `"standard"` or `"trustless"`.
    pub mode: String,
    /// Checks a presented secret without storing it.
    pub verifier: [u8; 32],
    /// The secret itself, sealed; present only in standard mode.
    pub sealed_secret: Option<Vec<u8>>,
    /// When it was registered, unix milliseconds.
    pub created_at_ms: i64,
    /// Every ciphertext must carry a binding (sign and dkg too); only ever switched on.
    pub require_binding: bool,
}

impl fmt::Debug for OrgKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgKeyRecord")
            .field("org_id", &self.org_id)
            .field("public_key_pem", &Len(self.public_key_pem.as_bytes()))
            .field("sealed_private_key", &Len(&self.sealed_private_key))
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

impl fmt::Debug for OrgSecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgSecretRecord")
            .field("org_id", &self.org_id)
            .field("mode", &self.mode)
            .field("verifier", &Len(&self.verifier))
            .field("sealed_secret", &self.sealed_secret.as_deref().map(Len))
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

impl NodeStore {
    // ---- Organizations (Node 1) ----------------------------------------------------

    /// Stores an organization's RSA key pair; `Conflict` if it already has one.
    pub async fn put_org_key(
        &self,
        org_id: &str,
        public_key_pem: &str,
        sealed_private_key: Vec<u8>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO org_keys (org_id, public_key_pem, sealed_private_key, \
             format_version, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(public_key_pem)
        .bind(sealed_private_key)
        .bind(RECORD_FORMAT)
        .bind(now_ms());
        self.insert_new(query, || format!("organization {org_id} already has a key"))
            .await
    }

    /// An organization's RSA key pair.
    pub async fn org_key(&self, org_id: &str) -> Result<Option<OrgKeyRecord>, StoreError> {
        let query = sqlx::query(
            "SELECT org_id, public_key_pem, sealed_private_key, format_version, created_at_ms \
             FROM org_keys WHERE org_id = $1",
        )
        .bind(org_id);
        self.fetch_record("org_keys", query, |row| {
            Ok(OrgKeyRecord {
                org_id: row.try_get("org_id")?,
                public_key_pem: row.try_get("public_key_pem")?,
                sealed_private_key: row.try_get("sealed_private_key")?,
                created_at_ms: row.try_get("created_at_ms")?,
            })
        })
        .await
    }

    /// Registers an organization's secret, once: `Conflict` if already registered.
    /// `mode` is `"standard"` (with `sealed_secret`) or `"trustless"` (without);
    /// anything else is `InvalidInput`.
    pub async fn put_org_secret(
        &self,
        org_id: &str,
        mode: &str,
        verifier: [u8; 32],
        sealed_secret: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let refused = match (mode, sealed_secret.is_some()) {
            ("standard", true) | ("trustless", false) => None,
            ("standard", false) => Some("standard mode needs the sealed secret".to_owned()),
            ("trustless", true) => Some("trustless mode must not store the secret".to_owned()),
            _ => Some(format!("unknown secret mode {mode:?}")),
        };
        if let Some(reason) = refused {
            return Err(StoreError::InvalidInput(reason));
        }
        let query = sqlx::query(
            "INSERT INTO org_secrets (org_id, mode, verifier, sealed_secret, format_version, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(mode)
        .bind(verifier.as_slice())
        .bind(sealed_secret)
        .bind(RECORD_FORMAT)
        .bind(now_ms());
        self.insert_new(query, || {
            format!("organization {org_id} already registered its secret")
        })
        .await
    }

    /// An organization's secret registration.
    pub async fn org_secret(&self, org_id: &str) -> Result<Option<OrgSecretRecord>, StoreError> {
        let query = sqlx::query(
            "SELECT org_id, mode, verifier, sealed_secret, format_version, created_at_ms, \
             require_binding FROM org_secrets WHERE org_id = $1",
        )
        .bind(org_id);
        self.fetch_record("org_secrets", query, |row| {
            let verifier: Vec<u8> = row.try_get("verifier")?;
            let verifier =
                <[u8; 32]>::try_from(verifier).map_err(|v| StoreError::UnsupportedRecord {
                    table: "org_secrets",
                    detail: format!("verifier is {} bytes, not 32", v.len()),
                })?;
            Ok(OrgSecretRecord {
                org_id: row.try_get("org_id")?,
                mode: row.try_get("mode")?,
                verifier,
                sealed_secret: row.try_get("sealed_secret")?,
                created_at_ms: row.try_get("created_at_ms")?,
                require_binding: row.try_get::<i64, _>("require_binding")? == 1,
            })
        })
        .await
    }

    /// Makes the organization require a binding on every ciphertext, for good. `NotFound`
    /// if its secret is not registered; switching it on twice is not an error.
    pub async fn set_require_binding(&self, org_id: &str) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE org_secrets SET require_binding = 1 WHERE org_id = $1")
            .bind(org_id);
        if self.execute(query).await? == 0 {
            return Err(StoreError::NotFound(format!(
                "organization {org_id} has no registered secret"
            )));
        }
        Ok(())
    }
}
