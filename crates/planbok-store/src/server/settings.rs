//! Organization settings: `require_binding`, mirrored from Node 1 (which enforces it), and
//! the server's own `email_recovery` opt-in.

use sqlx::Row as _;

use super::ServerStore;
use super::commit::Commit;
use crate::StoreError;

/// An organization's settings (all off until switched on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgSettings {
    /// Every encrypted secret must carry a binding (only ever switched on).
    pub require_binding: bool,
    /// Customers may recover by an emailed code (opt-in; `docs/customer-custody.md`).
    pub email_recovery: bool,
}

impl ServerStore {
    /// The organization's settings.
    pub async fn org_settings(&self, org_id: &str) -> Result<OrgSettings, StoreError> {
        let row = sqlx::query(
            "SELECT require_binding, email_recovery FROM org_settings WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(match row {
            Some(r) => OrgSettings {
                require_binding: r.try_get::<i64, _>("require_binding")? == 1,
                email_recovery: r.try_get::<i64, _>("email_recovery")? == 1,
            },
            None => OrgSettings::default(),
        })
    }

    /// Whether the organization requires a binding on every encrypted secret.
    pub async fn require_binding(&self, org_id: &str) -> Result<bool, StoreError> {
        Ok(self.org_settings(org_id).await?.require_binding)
    }

    /// Switches recovery by email on or off for the organization's customers, with `c`'s
    /// audit entries and idempotent response. Off stops new email resets; codes already
    /// enrolled stay at Node 2 (and sealed here) until a PIN commit replaces them.
    pub async fn set_email_recovery(
        &self,
        org_id: &str,
        enabled: bool,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO org_settings (org_id, require_binding, email_recovery, updated_at_ms) \
             VALUES ($1, 0, $2, $3) \
             ON CONFLICT (org_id) DO UPDATE SET email_recovery = $2, updated_at_ms = $3",
        )
        .bind(org_id)
        .bind(i64::from(enabled))
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, c).await
    }

    /// Records that the organization requires bindings, for good, with `c`'s audit entries
    /// and idempotent response.
    pub async fn set_require_binding(
        &self,
        org_id: &str,
        at_ms: i64,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO org_settings (org_id, require_binding, updated_at_ms) VALUES ($1, 1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET require_binding = 1, updated_at_ms = $2",
        )
        .bind(org_id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, c).await
    }
}
