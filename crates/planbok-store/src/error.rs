//! The one error type of the store.

/// What went wrong talking to the database.
///
/// Callers branch on the first three variants: `Unavailable` is worth a retry (or a 503),
/// `Conflict` and `NotFound` are answers about the data, everything else is a bug or a
/// misconfiguration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached, or was too busy to answer in time
    /// (connection refused or lost, pool timeout, SQLite busy, PostgreSQL serialization
    /// failure). Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),

    /// The write collides with what is stored: the row already exists, or a version moved
    /// under an optimistic update.
    #[error("conflict: {0}")]
    Conflict(String),

    /// The row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// The caller passed a value the schema does not allow (unknown mode, wrong shape).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The database URL names no supported backend or cannot be parsed.
    #[error("invalid database url: {0}")]
    InvalidUrl(String),

    /// A stored record has a `format_version` this build does not know (written by a newer
    /// planbok), or a value that its own schema forbids.
    #[error("unsupported record in {table}: {detail}")]
    UnsupportedRecord {
        /// The table the record came from.
        table: &'static str,
        /// What was wrong with it.
        detail: String,
    },

    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict(db.message().to_owned());
                }
                let code = db.code().unwrap_or_default();
                let transient = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // SQLITE_BUSY (5) and SQLITE_LOCKED (6); extended codes keep the
                    // primary code in the low byte.
                    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
                } else {
                    // PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient
                    // resources, 57 operator intervention (shutdown), 40 transaction
                    // rollback (serialization failure, deadlock).
                    ["08", "53", "57", "40"].iter().any(|c| code.starts_with(c))
                };
                if transient {
                    StoreError::Unavailable(e)
                } else {
                    StoreError::Database(e)
                }
            }
            _ => StoreError::Database(e),
        }
    }
}
