//! Customer recovery on the server (schema 9): staging a security-questions enrollment on
//! its challenge, and failing a challenge whose factor Node 2 locked.

use super::ServerStore;
use super::commit::Commit;
use super::customers::{ChallengeRecord, RecoveryEnrollment};
use crate::StoreError;

impl ServerStore {
    /// Writes a security-questions enrollment's public parts on a pending challenge,
    /// before Node 2 commits it (so a retry after a crash finds them). `false` if the
    /// challenge is not pending.
    pub async fn stage_recovery(
        &self,
        challenge_id: &str,
        rec: &RecoveryEnrollment,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE customer_challenges SET pending_rec_salt = $1, pending_rec_params = $2, \
             pending_rec_wrap = $3, pending_rec_questions = $4 \
             WHERE id = $5 AND status = 'pending' AND expires_at_ms >= $6",
        )
        .bind(rec.salt.as_slice())
        .bind(rec.params.as_str())
        .bind(rec.wrap.as_slice())
        .bind(rec.questions.as_str())
        .bind(challenge_id)
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// A pending challenge fails with `error_code`; `commit` (its audit entry, events) is
    /// written with it. `false` (nothing written) if it was no longer pending.
    pub async fn fail_challenge(
        &self,
        ch: &ChallengeRecord,
        error_code: &str,
        now_ms: i64,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE customer_challenges SET status = 'failed', error_code = $1, \
             completed_at_ms = $2 WHERE id = $3 AND status = 'pending'",
        )
        .bind(error_code)
        .bind(now_ms)
        .bind(ch.id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        self.finish(tx, commit).await?;
        Ok(true)
    }
}
