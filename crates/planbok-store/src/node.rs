//! A node daemon's database: its keys (two-phase commit of DKG results, custody policy),
//! singleton blobs, and the shapes every query is built from. Refreshed shares are in
//! `node_shares.rs`, the replay sets in `node_replay.rs`, organizations in `node_orgs.rs`,
//! customers in `node_pins.rs`, `node_customers.rs`, `node_recovery.rs`.
//!
//! Every sealed blob is stored next to a `format_version`; a row written by a newer
//! planbok (a version this build does not know) is refused with `UnsupportedRecord`
//! instead of being misread.

use std::fmt;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::StoreError;
use crate::clock::now_ms;
use crate::db::{Backend, Db, Schema, step};

/// The node schema, one step per migration, for each backend.
static NODE_SCHEMA: Schema = Schema {
    history_table: "_planbok_node_migrations",
    steps: &[
        step!("node", 1, "node schema", "0001_node_schema.sql"),
        step!("node", 2, "pending shares", "0002_pending_shares.sql"),
        step!("node", 3, "key policy", "0003_key_policy.sql"),
        step!("node", 4, "require binding", "0004_require_binding.sql"),
        step!("node", 5, "customer pins", "0005_customer_pins.sql"),
        step!("node", 6, "customer keys", "0006_customer_keys.sql"),
        step!("node", 7, "customer recovery", "0007_customer_recovery.sql"),
        step!("node", 8, "customer email", "0008_customer_email.sql"),
    ],
};

/// The record format this build writes and the only one it reads.
pub(crate) const RECORD_FORMAT: i64 = 1;

/// An organization's custody mode, as a node records it with each key at its DKG (stored
/// in its wire form, `standard` or `trustless`).
pub use planbok_types::CustodyMode as Custody;

/// Why and when a key was disabled for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDisabled {
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// What the detecting run reported (no secret material).
    pub reason: String,
}

/// One row of a node's custody summary: how many active keys of `org_id` it holds with
/// `custody` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodySummary {
    /// The organization.
    pub org_id: String,
    /// The recorded mode; `None` for keys made before modes were recorded.
    pub custody: Option<Custody>,
    /// Active keys.
    pub keys: i64,
    /// Of which disabled.
    pub disabled: i64,
}

/// The result of a DKG, as this node stores it before both nodes have committed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The key's id, shared by both nodes.
    pub key_id: String,
    /// The organization that owns the key.
    pub org_id: String,
    /// The protocol the share belongs to (e.g. `"cggmp21"`, `"dkls23"`, `"frost-ed25519"`).
    pub protocol: String,
    /// The group public key.
    pub public_key: Vec<u8>,
    /// The BIP-32 chain code, for secp256k1 keys.
    pub chain_code: Option<Vec<u8>>,
    /// This node's share, sealed by the keystore.
    pub sealed_share: Vec<u8>,
    /// The custody mode the key was generated under (from the DKG grant).
    /// [`Custody::Customer`] needs `customer_id`, and only it may have one.
    pub custody: Custody,
    /// The customer the key belongs to (customer custody), from the DKG grant.
    pub customer_id: Option<String>,
}

/// An active key share.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's id, shared by both nodes.
    pub key_id: String,
    /// The organization that owns the key.
    pub org_id: String,
    /// The protocol the share belongs to.
    pub protocol: String,
    /// The group public key.
    pub public_key: Vec<u8>,
    /// The BIP-32 chain code, for secp256k1 keys.
    pub chain_code: Option<Vec<u8>>,
    /// This node's share, sealed by the keystore.
    pub sealed_share: Vec<u8>,
    /// When the pending row was written, unix milliseconds.
    pub created_at_ms: i64,
    /// 1 for the DKG's share, incremented by every refresh (`replace_share`,
    /// `activate_share`).
    pub share_version: i64,
    /// The version of a refreshed share stored next to this one and not yet activated
    /// (`insert_pending_share`), if any.
    pub pending_share_version: Option<i64>,
    /// The custody mode recorded at the DKG; `None` for a key made before modes were
    /// recorded (treat as not exportable).
    pub custody: Option<Custody>,
    /// Set if the key was disabled for good ([`NodeStore::disable_key`]).
    pub disabled: Option<KeyDisabled>,
    /// The customer the key belongs to (then `custody` is [`Custody::Customer`]).
    pub customer_id: Option<String>,
}

/// Prints a byte field as its length only: blobs are sealed already, but a log line is
/// still no place for them (and a verifier is a brute-force target).
pub(crate) struct Len<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Len<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .field("org_id", &self.org_id)
            .field("protocol", &self.protocol)
            .field("public_key", &Len(&self.public_key))
            .field("chain_code", &self.chain_code.as_deref().map(Len))
            .field("sealed_share", &Len(&self.sealed_share))
            .field("custody", &self.custody)
            .field("customer_id", &self.customer_id)
            .finish()
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key_id", &self.key_id)
            .field("org_id", &self.org_id)
            .field("protocol", &self.protocol)
            .field("public_key", &Len(&self.public_key))
            .field("chain_code", &self.chain_code.as_deref().map(Len))
            .field("sealed_share", &Len(&self.sealed_share))
            .field("created_at_ms", &self.created_at_ms)
            .field("share_version", &self.share_version)
            .field("pending_share_version", &self.pending_share_version)
            .field("custody", &self.custody)
            .field("disabled", &self.disabled)
            .field("customer_id", &self.customer_id)
            .finish()
    }
}

/// A node's database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct NodeStore {
    pub(crate) db: Db,
}

/// A query with its parameters bound, ready to run on the pool.
pub(crate) type Bound = Query<'static, Any, AnyArguments>;

impl NodeStore {
    /// Connects to `url` (`sqlite:///path/node.db`, `sqlite::memory:`, `postgres://...`)
    /// and applies any migrations not yet applied.
    ///
    /// Installs sqlx's default `Any` drivers (SQLite and PostgreSQL) on first use; a
    /// process must not install a different driver set through `sqlx::any` itself.
    pub async fn connect(url: &str) -> Result<NodeStore, StoreError> {
        Self::connect_with(url, None).await
    }

    /// [`NodeStore::connect`], logging in as short-lived users from OpenBao when given.
    pub async fn connect_with(
        url: &str,
        openbao: Option<&crate::OpenBaoDatabase>,
    ) -> Result<NodeStore, StoreError> {
        Ok(NodeStore {
            db: Db::connect(url, &NODE_SCHEMA, openbao).await?,
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.db.backend.as_str()
    }

    /// The backend as a value.
    pub fn backend_kind(&self) -> Backend {
        self.db.backend
    }

    // ---- Keys: two-phase commit of DKG results -------------------------------------

    /// Phase one: stores a DKG result as `pending`, invisible to `active_key`.
    /// A row with the same `key_id`, pending or active, is a `Conflict`.
    pub async fn insert_pending_key(&self, k: &NewKey) -> Result<(), StoreError> {
        // A customer's key is stored as 'trustless' (the column's values predate customers)
        // with its customer: `customer_id` is what reads back as `Custody::Customer`.
        let custody = match (k.custody, k.customer_id.is_some()) {
            (Custody::Customer, true) => Custody::Trustless,
            (Custody::Customer, false) | (_, true) => {
                return Err(StoreError::InvalidInput(
                    "a customer's key, and only one, names its customer".into(),
                ));
            }
            (c, false) => c,
        };
        let query = sqlx::query(
            "INSERT INTO node_keys (key_id, org_id, protocol, status, public_key, chain_code, \
             sealed_share, share_version, format_version, created_at_ms, custody_mode, \
             customer_id) \
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, 1, $7, $8, $9, $10) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(k.key_id.as_str())
        .bind(k.org_id.as_str())
        .bind(k.protocol.as_str())
        .bind(k.public_key.as_slice())
        .bind(k.chain_code.as_deref())
        .bind(k.sealed_share.as_slice())
        .bind(RECORD_FORMAT)
        .bind(now_ms())
        .bind(custody.as_str())
        .bind(k.customer_id.as_deref());
        self.insert_new(query, || format!("key {} already exists", k.key_id))
            .await
    }

    /// Phase two: makes a pending key active. Activating an active key again succeeds
    /// (the commit message may be retried); no row at all is `NotFound`.
    pub async fn activate_key(&self, key_id: &str) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE node_keys SET status = 'active' WHERE key_id = $1 AND status = 'pending'",
        )
        .bind(key_id);
        if self.execute(query).await? > 0 || self.active_share_version(key_id).await?.is_some() {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("no pending key {key_id}")))
        }
    }

    /// Aborts phase one for one key. Returns whether a pending row was deleted; an active
    /// key is never touched.
    pub async fn delete_pending_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM node_keys WHERE key_id = $1 AND status = 'pending'")
            .bind(key_id);
        Ok(self.execute(query).await? > 0)
    }

    /// Deletes every pending key (at node start: a DKG that did not commit before a
    /// restart never will). Returns how many.
    pub async fn cleanup_pending_keys(&self) -> Result<u64, StoreError> {
        self.execute(sqlx::query(
            "DELETE FROM node_keys WHERE status = 'pending'",
        ))
        .await
    }

    /// An active key; pending keys are not returned.
    pub async fn active_key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        // One round trip for the share and whether a refresh of it is in doubt.
        let query = sqlx::query(
            "SELECT k.key_id, k.org_id, k.protocol, k.public_key, k.chain_code, \
             k.sealed_share, k.share_version, k.format_version, k.created_at_ms, \
             k.custody_mode, k.disabled_at_ms, k.disabled_reason, k.customer_id, \
             p.share_version AS pending_share_version \
             FROM node_keys k LEFT JOIN pending_shares p ON p.key_id = k.key_id \
             WHERE k.key_id = $1 AND k.status = 'active'",
        )
        .bind(key_id);
        self.fetch_record("node_keys", query, |row| {
            let customer_id: Option<String> = row.try_get("customer_id")?;
            let custody = match customer_id {
                Some(_) => Some(Custody::Customer),
                None => custody_column(row)?,
            };
            let disabled = match row.try_get::<Option<i64>, _>("disabled_at_ms")? {
                None => None,
                Some(at_ms) => Some(KeyDisabled {
                    at_ms,
                    reason: row
                        .try_get::<Option<String>, _>("disabled_reason")?
                        .unwrap_or_default(),
                }),
            };
            Ok(KeyRecord {
                key_id: row.try_get("key_id")?,
                org_id: row.try_get("org_id")?,
                protocol: row.try_get("protocol")?,
                public_key: row.try_get("public_key")?,
                chain_code: row.try_get("chain_code")?,
                sealed_share: row.try_get("sealed_share")?,
                created_at_ms: row.try_get("created_at_ms")?,
                share_version: row.try_get("share_version")?,
                pending_share_version: row.try_get("pending_share_version")?,
                custody,
                disabled,
                customer_id,
            })
        })
        .await
    }

    // ---- Key policy: custody mode and disabling --------------------------------------

    /// Disables key `key_id` for good (pending or active): `true` if this call disabled it,
    /// `false` if it was disabled already (the first reason is kept); `NotFound` if there is
    /// no such key. Nothing clears it.
    pub async fn disable_key(&self, key_id: &str, reason: &str) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE node_keys SET disabled_at_ms = $1, disabled_reason = $2 \
             WHERE key_id = $3 AND disabled_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(reason)
        .bind(key_id);
        if self.execute(query).await? > 0 {
            return Ok(true);
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT share_version FROM node_keys WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(&self.db.pool)
                .await?;
        match exists {
            Some(_) => Ok(false),
            None => Err(StoreError::NotFound(format!("no key {key_id}"))),
        }
    }

    /// How many active keys this node holds per organization and recorded custody mode
    /// (`org_id`: that organization only), sorted by organization, unrecorded first.
    pub async fn custody_summary(
        &self,
        org_id: Option<&str>,
    ) -> Result<Vec<CustodySummary>, StoreError> {
        const ALL: &str = "SELECT org_id, custody_mode, COUNT(*) AS keys, \
             COUNT(disabled_at_ms) AS disabled FROM node_keys WHERE status = 'active' \
             GROUP BY org_id, custody_mode";
        const ONE: &str = "SELECT org_id, custody_mode, COUNT(*) AS keys, \
             COUNT(disabled_at_ms) AS disabled FROM node_keys \
             WHERE status = 'active' AND org_id = $1 GROUP BY org_id, custody_mode";
        let rows = match org_id {
            None => sqlx::query(ALL).fetch_all(&self.db.pool).await?,
            Some(org) => sqlx::query(ONE).bind(org).fetch_all(&self.db.pool).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let custody = custody_column(&row)?;
            out.push(CustodySummary {
                org_id: row.try_get("org_id")?,
                custody,
                keys: row.try_get("keys")?,
                disabled: row.try_get("disabled")?,
            });
        }
        out.sort_by(|a, b| {
            (a.org_id.as_str(), a.custody.map(Custody::as_str))
                .cmp(&(b.org_id.as_str(), b.custody.map(Custody::as_str)))
        });
        Ok(out)
    }

    /// Records `custody` for every key of `org_id` whose mode was never recorded (keys made
    /// before schema 3, on a node that could not know it). Returns how many. A mode recorded
    /// already is never changed: if any key of the organization carries another mode, nothing
    /// is written and the answer is `Conflict` (the organization's mode is permanent, so the
    /// claim is wrong).
    pub async fn set_unrecorded_custody(
        &self,
        org_id: &str,
        custody: Custody,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let other: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM node_keys \
             WHERE org_id = $1 AND custody_mode IS NOT NULL AND custody_mode <> $2",
        )
        .bind(org_id)
        .bind(custody.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if other > 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "organization {org_id} has {other} key(s) recorded with another custody mode"
            )));
        }
        let set = sqlx::query(
            "UPDATE node_keys SET custody_mode = $1 WHERE org_id = $2 AND custody_mode IS NULL",
        )
        .bind(custody.as_str())
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(set)
    }

    /// Replaces an active key's share after a refresh, if its version is still
    /// `expected_version`, and increments the version. A moved version is a `Conflict`
    /// (someone else refreshed first); no active key is `NotFound`.
    pub async fn replace_share(
        &self,
        key_id: &str,
        expected_version: i64,
        sealed_share: Vec<u8>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE node_keys SET sealed_share = $1, format_version = $2, \
             share_version = share_version + 1 \
             WHERE key_id = $3 AND status = 'active' AND share_version = $4",
        )
        .bind(sealed_share)
        .bind(RECORD_FORMAT)
        .bind(key_id)
        .bind(expected_version);
        if self.execute(query).await? > 0 {
            return Ok(());
        }
        // Only to say why it failed; the update above already decided.
        match self.active_share_version(key_id).await? {
            Some(v) => Err(StoreError::Conflict(format!(
                "key {key_id}: share version is {v}, expected {expected_version}"
            ))),
            None => Err(StoreError::NotFound(format!("no active key {key_id}"))),
        }
    }

    // ---- Singleton blobs -----------------------------------------------------------

    /// Stores `sealed` under `name`, replacing any previous value.
    pub async fn put_blob(&self, name: &str, sealed: Vec<u8>) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO blobs (name, sealed, format_version, updated_at_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, \
             format_version = excluded.format_version, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(name)
        .bind(sealed)
        .bind(RECORD_FORMAT)
        .bind(now_ms());
        self.execute(query).await?;
        Ok(())
    }

    /// The blob stored under `name`.
    pub async fn blob(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let query =
            sqlx::query("SELECT sealed, format_version FROM blobs WHERE name = $1").bind(name);
        self.fetch_record("blobs", query, |row| Ok(row.try_get("sealed")?))
            .await
    }

    // ---- The three shapes every query of the node store is built from --------------------------

    /// Runs a write; returns how many rows it touched.
    pub(crate) async fn execute(&self, query: Bound) -> Result<u64, StoreError> {
        Ok(query.execute(&self.db.pool).await?.rows_affected())
    }

    /// Runs an `INSERT ... ON CONFLICT DO NOTHING`: a row already there is a `Conflict`,
    /// described by `conflict`.
    pub(crate) async fn insert_new(
        &self,
        query: Bound,
        conflict: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        if self.execute(query).await? == 0 {
            return Err(StoreError::Conflict(conflict()));
        }
        Ok(())
    }

    /// Fetches at most one row holding a sealed record. Its `format_version` is checked
    /// before `decode` sees it, so no reader can forget to.
    pub(crate) async fn fetch_record<T>(
        &self,
        table: &'static str,
        query: Bound,
        decode: impl FnOnce(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some(row) = query.fetch_optional(&self.db.pool).await? else {
            return Ok(None);
        };
        check_format(table, &row)?;
        decode(&row).map(Some)
    }
}

/// A `node_keys.custody_mode` column: `None` if never recorded.
pub(crate) fn custody_column(row: &AnyRow) -> Result<Option<Custody>, StoreError> {
    match row.try_get::<Option<String>, _>("custody_mode")? {
        None => Ok(None),
        Some(s) => Custody::parse(&s)
            .map(Some)
            .map_err(|_| StoreError::UnsupportedRecord {
                table: "node_keys",
                detail: format!("custody mode {s:?}"),
            }),
    }
}

/// Refuses a row whose `format_version` this build does not know.
pub(crate) fn check_format(table: &'static str, row: &AnyRow) -> Result<(), StoreError> {
    let version: i64 = row.try_get("format_version")?;
    if version == RECORD_FORMAT {
        Ok(())
    } else {
        Err(StoreError::UnsupportedRecord {
            table,
            detail: format!("format_version {version}, this build reads {RECORD_FORMAT}"),
        })
    }
}
