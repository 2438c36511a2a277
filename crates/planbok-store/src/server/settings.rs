//! Organization settings the server mirrors from Node 1 (which enforces them).

use sqlx::Row as _;

use super::ServerStore;
use super::commit::Commit;
use crate::StoreError;

impl ServerStore {
    /// Whether the organization requires a binding on every encrypted secret.
    pub async fn require_binding(&self, org_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT require_binding FROM org_settings WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("require_binding")? == 1,
            None => false,
        })
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
