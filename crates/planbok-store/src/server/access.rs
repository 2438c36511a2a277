//! Organizations and their members.

use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::api_keys::insert_api_key;
use super::commit::Commit;
use super::{ServerStore, Tx, missing_parent};
use crate::StoreError;

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    /// `org_…`, chosen by the server.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `"unset"` until the secret is registered, then `"standard"` or `"trustless"`, for good.
    pub custody_mode: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
    /// The node pair its keys live on, fixed at creation (`"default"` for the pair the
    /// server's `[node1]` names).
    pub node_pair: String,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Unique within the organization (as given: the server normalizes case).
    pub email: String,
    /// `"owner"`, `"admin"` or `"member"`.
    pub role: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
}

/// An API key. Only a hash of its secret is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The member the key acts for (it has that member's role).
    pub member_id: String,
    /// Display name.
    pub name: String,
    /// 32 bytes: the hash of the key's secret.
    pub secret_hash: Vec<u8>,
    /// `"full"` or `"read_only"`.
    pub access: String,
    /// IPs / CIDRs the key may be used from; empty: any.
    pub allowed_ips: Vec<String>,
    /// Origins the key may be used from; empty: any.
    pub allowed_origins: Vec<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Set once revoked (explicitly, or because its member was removed).
    pub revoked_at_ms: Option<i64>,
    /// Coarse: see `touch_api_key`.
    pub last_used_at_ms: Option<i64>,
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("member_id", &self.member_id)
            .field("name", &self.name)
            .field(
                "secret_hash",
                &format_args!("<{} bytes>", self.secret_hash.len()),
            )
            .field("access", &self.access)
            .field("allowed_ips", &self.allowed_ips)
            .field("allowed_origins", &self.allowed_origins)
            .field("created_at_ms", &self.created_at_ms)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .field("last_used_at_ms", &self.last_used_at_ms)
            .finish()
    }
}

const ORG_COLUMNS: &str = "id, name, custody_mode, created_at_ms, updated_at_ms, node_pair";
const MEMBER_COLUMNS: &str = "id, org_id, name, email, role, created_at_ms, updated_at_ms";

fn check_role(role: &str) -> Result<(), StoreError> {
    match role {
        "owner" | "admin" | "member" => Ok(()),
        _ => Err(StoreError::InvalidInput(format!(
            "role {role:?}: expected owner, admin or member"
        ))),
    }
}

impl ServerStore {
    // ---- Organizations --------------------------------------------------------------

    /// Creates an organization with its first owner and the owner's first API key, in one
    /// transaction with `c`. `owner` must be an owner of `org`, `key` the owner's.
    pub async fn create_org(
        &self,
        org: &OrgRecord,
        owner: &MemberRecord,
        key: &ApiKeyRecord,
        c: &Commit,
    ) -> Result<(), StoreError> {
        if owner.org_id != org.id || key.org_id != org.id || key.member_id != owner.id {
            return Err(StoreError::InvalidInput(
                "the owner and the key must belong to the new organization".into(),
            ));
        }
        if owner.role != "owner" {
            return Err(StoreError::InvalidInput(
                "the first member must be an owner".into(),
            ));
        }
        if org.custody_mode != "unset" {
            return Err(StoreError::InvalidInput(
                "a new organization's custody mode is unset".into(),
            ));
        }
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO organizations \
             (id, name, custody_mode, created_at_ms, updated_at_ms, node_pair) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org.id.as_str())
        .bind(org.name.as_str())
        .bind(org.custody_mode.as_str())
        .bind(org.created_at_ms)
        .bind(org.updated_at_ms)
        .bind(org.node_pair.as_str())
        .execute(&mut *tx)
        .await?;
        insert_member(&mut tx, owner).await?;
        insert_api_key(&mut tx, key).await?;
        self.finish(tx, c).await
    }

    /// An organization.
    pub async fn org(&self, id: &str) -> Result<Option<OrgRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// How many organizations each node pair holds (pairs with none are absent): what
    /// assigns a new organization to the least loaded pair.
    pub async fn orgs_per_node_pair(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_pair, COUNT(*) AS n FROM organizations GROUP BY node_pair ORDER BY node_pair",
        )
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("node_pair")?, r.try_get("n")?)))
            .collect()
    }

    /// Sets the custody mode (`"standard"` or `"trustless"`), once: from `"unset"` only,
    /// otherwise `Conflict`. `NotFound` if there is no such organization.
    pub async fn set_custody_mode(
        &self,
        org_id: &str,
        mode: &str,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        if !matches!(mode, "standard" | "trustless") {
            return Err(StoreError::InvalidInput(format!(
                "custody mode {mode:?}: expected standard or trustless"
            )));
        }
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE organizations SET custody_mode = $1, updated_at_ms = $2 \
             WHERE id = $3 AND custody_mode = 'unset'",
        )
        .bind(mode)
        .bind(at_ms)
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            let current: Option<String> =
                sqlx::query_scalar("SELECT custody_mode FROM organizations WHERE id = $1")
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match current {
                Some(current) => StoreError::Conflict(format!(
                    "organization {org_id} already has custody mode {current}"
                )),
                None => StoreError::NotFound(format!("organization {org_id}")),
            });
        }
        self.finish(tx, c).await
    }

    // ---- Members --------------------------------------------------------------------

    /// Adds a member. The same email twice in one organization, or an existing id, is a
    /// `Conflict`; an unknown organization is `NotFound`.
    pub async fn create_member(&self, m: &MemberRecord, c: &Commit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_member(&mut tx, m).await?;
        self.finish(tx, c).await
    }

    /// A member of `org_id`.
    pub async fn member(&self, org_id: &str, id: &str) -> Result<Option<MemberRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// One page of an organization's members (by creation time), and how many it has.
    pub async fn list_members(
        &self,
        org_id: &str,
        page: u32,
        limit: u32,
        desc: bool,
    ) -> Result<(Vec<MemberRecord>, i64), StoreError> {
        self.page_of_org(
            "members",
            MEMBER_COLUMNS,
            org_id,
            (page, limit, desc),
            member_from_row,
        )
        .await
    }

    /// Changes a member's name and/or role; `NotFound` if `id` is not a member of `org_id`.
    ///
    /// `Conflict` when the change would leave the organization without an owner, or when
    /// `expected_role` is given and the member's role is another by now (the caller decided
    /// on a role that changed meanwhile). Both hold under concurrency: see [`lock_members`].
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per member field a change may set; a typed change replaces them (issue 18)"
    )]
    pub async fn update_member(
        &self,
        org_id: &str,
        id: &str,
        expected_role: Option<&str>,
        name: Option<String>,
        role: Option<String>,
        updated_at_ms: i64,
        c: &Commit,
    ) -> Result<MemberRecord, StoreError> {
        if let Some(role) = &role {
            check_role(role)?;
        }
        let mut tx = self.begin().await?;
        let current = lock_members(&mut tx, org_id, id, expected_role).await?;
        if current == "owner" && role.as_deref().is_some_and(|r| r != "owner") {
            keep_an_owner(&mut tx, org_id).await?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE members SET name = COALESCE($1, name), role = COALESCE($2, role), \
             updated_at_ms = $3 WHERE org_id = $4 AND id = $5 RETURNING {MEMBER_COLUMNS}"
        )))
        .bind(name)
        .bind(role)
        .bind(updated_at_ms)
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("member {id} of {org_id}")));
        };
        let member = member_from_row(&row)?;
        self.finish(tx, c).await?;
        Ok(member)
    }

    /// Removes a member and revokes (at `at_ms`) every key it still has, in one
    /// transaction. `NotFound` if `id` is not a member of `org_id`; `Conflict` if it is the
    /// organization's last owner, or if `expected_role` is given and is not its role (as
    /// [`ServerStore::update_member`]).
    pub async fn delete_member(
        &self,
        org_id: &str,
        id: &str,
        expected_role: Option<&str>,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let current = lock_members(&mut tx, org_id, id, expected_role).await?;
        if current == "owner" {
            keep_an_owner(&mut tx, org_id).await?;
        }
        let deleted = sqlx::query("DELETE FROM members WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("member {id} of {org_id}")));
        }
        sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE org_id = $2 AND member_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, c).await
    }

    /// How many owners an organization has.
    pub async fn count_owners(&self, org_id: &str) -> Result<i64, StoreError> {
        let n =
            sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE org_id = $1 AND role = 'owner'")
                .bind(org_id)
                .fetch_one(&self.db.pool)
                .await?;
        Ok(n)
    }
}

/// Serializes the changes of one organization's members, then reads member `id`'s role
/// (`NotFound` without it; `Conflict` if it is not `expected`).
///
/// "At least one owner" is a fact about several rows, which row locks on the rows changed
/// do not protect: under PostgreSQL's READ COMMITTED two owners demoting each other each
/// count two owners and both commit, leaving none. So every member change first takes the
/// organization row's lock with a no-op UPDATE (portable: on SQLite the write transaction
/// is already exclusive), and the checks that follow read what the previous holder
/// committed. The lock is `FOR NO KEY UPDATE` on PostgreSQL, so inserts that only
/// reference the organization (wallets, keys, members) do not wait for it.
async fn lock_members(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    expected: Option<&str>,
) -> Result<String, StoreError> {
    sqlx::query("UPDATE organizations SET updated_at_ms = updated_at_ms WHERE id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM members WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(role) = role else {
        return Err(StoreError::NotFound(format!("member {id} of {org_id}")));
    };
    if let Some(expected) = expected
        && expected != role
    {
        return Err(StoreError::Conflict(format!(
            "the member's role changed meanwhile (now {role}); nothing was done"
        )));
    }
    Ok(role)
}

/// `Conflict` unless the organization has another owner than the one about to go (call
/// after [`lock_members`]).
async fn keep_an_owner(tx: &mut Tx, org_id: &str) -> Result<(), StoreError> {
    let owners: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?;
    if owners <= 1 {
        return Err(StoreError::Conflict(
            "the organization's last owner cannot be removed or demoted".into(),
        ));
    }
    Ok(())
}

async fn insert_member(tx: &mut Tx, m: &MemberRecord) -> Result<(), StoreError> {
    check_role(&m.role)?;
    sqlx::query(
        "INSERT INTO members (id, org_id, name, email, role, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(m.id.as_str())
    .bind(m.org_id.as_str())
    .bind(m.name.as_str())
    .bind(m.email.as_str())
    .bind(m.role.as_str())
    .bind(m.created_at_ms)
    .bind(m.updated_at_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| missing_parent(e, || format!("organization {}", m.org_id)))?;
    Ok(())
}

fn org_from_row(row: &AnyRow) -> Result<OrgRecord, StoreError> {
    Ok(OrgRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        custody_mode: row.try_get("custody_mode")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        node_pair: row.try_get("node_pair")?,
    })
}

fn member_from_row(row: &AnyRow) -> Result<MemberRecord, StoreError> {
    Ok(MemberRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}
