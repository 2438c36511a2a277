//! API keys: stored as a hash of their secret, revoked rather than deleted.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::access::ApiKeyRecord;
use super::commit::Commit;
use super::{ServerStore, Tx};
use crate::StoreError;

const KEY_COLUMNS: &str = "id, org_id, member_id, name, secret_hash, access, allowed_ips, \
     allowed_origins, created_at_ms, revoked_at_ms, last_used_at_ms";

/// `touch_api_key` writes at most once per this interval per key: "last used" is for
/// humans, not worth a write on every request.
const TOUCH_GRANULARITY_MS: i64 = 60_000;

impl ServerStore {
    /// Stores a new key for a member of its organization (`NotFound` if the member is
    /// not one); an existing id is a `Conflict`.
    pub async fn create_api_key(&self, key: &ApiKeyRecord, c: &Commit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_api_key(&mut tx, key).await?;
        self.finish(tx, c).await
    }

    /// A key by id, whatever its organization (the server authenticates with it, then
    /// checks the organization and `revoked_at_ms`).
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// The key `id` and the role of the member it belongs to (`None` if the member is
    /// gone), in one query: what authenticating a request needs.
    pub async fn api_key_with_role(
        &self,
        id: &str,
    ) -> Result<Option<(ApiKeyRecord, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT k.id, k.org_id, k.member_id, k.name, k.secret_hash, k.access, \
             k.allowed_ips, k.allowed_origins, k.created_at_ms, k.revoked_at_ms, \
             k.last_used_at_ms, m.role AS member_role \
             FROM api_keys k LEFT JOIN members m ON m.org_id = k.org_id AND m.id = k.member_id \
             WHERE k.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref()
            .map(|r| Ok((key_from_row(r)?, r.try_get("member_role")?)))
            .transpose()
    }

    /// One page of an organization's keys, revoked ones included (by creation time), and
    /// how many it has.
    pub async fn list_api_keys(
        &self,
        org_id: &str,
        page: u32,
        limit: u32,
        desc: bool,
    ) -> Result<(Vec<ApiKeyRecord>, i64), StoreError> {
        self.page_of_org(
            "api_keys",
            KEY_COLUMNS,
            org_id,
            (page, limit, desc),
            key_from_row,
        )
        .await
    }

    /// Revokes a key at `at_ms`. `NotFound` if it is not a key of `org_id`, or is
    /// revoked already.
    pub async fn revoke_api_key(
        &self,
        org_id: &str,
        id: &str,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE org_id = $2 AND id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked == 0 {
            return Err(StoreError::NotFound(format!(
                "active API key {id} of {org_id}"
            )));
        }
        self.finish(tx, c).await
    }

    /// Records that a key was used at `at_ms`. Coarse and best effort: written only if
    /// the stored time is more than a minute older, never moved backwards.
    pub async fn touch_api_key(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2 \
             AND (last_used_at_ms IS NULL OR last_used_at_ms <= $3)",
        )
        .bind(at_ms)
        .bind(id)
        .bind(at_ms.saturating_sub(TOUCH_GRANULARITY_MS))
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}

/// Inserts `key` if its member belongs to its organization.
pub(super) async fn insert_api_key(tx: &mut Tx, key: &ApiKeyRecord) -> Result<(), StoreError> {
    if key.secret_hash.len() != 32 {
        return Err(StoreError::InvalidInput(format!(
            "secret hash is {} bytes, not 32",
            key.secret_hash.len()
        )));
    }
    if !matches!(key.access.as_str(), "full" | "read_only") {
        return Err(StoreError::InvalidInput(format!(
            "access {:?}: expected full or read_only",
            key.access
        )));
    }
    let inserted = sqlx::query(
        "INSERT INTO api_keys (id, org_id, member_id, name, secret_hash, access, allowed_ips, \
         allowed_origins, created_at_ms, revoked_at_ms, last_used_at_ms) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
         WHERE EXISTS (SELECT 1 FROM members WHERE org_id = $2 AND id = $3)",
    )
    .bind(key.id.as_str())
    .bind(key.org_id.as_str())
    .bind(key.member_id.as_str())
    .bind(key.name.as_str())
    .bind(key.secret_hash.as_slice())
    .bind(key.access.as_str())
    .bind(json_list(&key.allowed_ips)?)
    .bind(json_list(&key.allowed_origins)?)
    .bind(key.created_at_ms)
    .bind(key.revoked_at_ms)
    .bind(key.last_used_at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::NotFound(format!(
            "member {} of {}",
            key.member_id, key.org_id
        )));
    }
    Ok(())
}

fn json_list(items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::InvalidInput(e.to_string()))
}

fn parse_list(text: &str, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::UnsupportedRecord {
        table: "api_keys",
        detail: format!("{column} is not a JSON list of strings: {e}"),
    })
}

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    let allowed_ips: String = row.try_get("allowed_ips")?;
    let allowed_origins: String = row.try_get("allowed_origins")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        member_id: row.try_get("member_id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        access: row.try_get("access")?,
        allowed_ips: parse_list(&allowed_ips, "allowed_ips")?,
        allowed_origins: parse_list(&allowed_origins, "allowed_origins")?,
        created_at_ms: row.try_get("created_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
    })
}
