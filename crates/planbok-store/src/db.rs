//! What every store shares: the backend chosen from the URL, the pool, the migrations.
//!
//! All queries go through sqlx's `Any` driver, so a store's methods are written once.
//! Placeholders are `$1`, `$2`, ... (PostgreSQL's syntax, which SQLite also reads as
//! numbered parameters); upserts use `ON CONFLICT`, which both accept. The backends differ
//! only in their DDL, kept in `migrations/<schema>/<backend>/`.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, SqlSafeStr, Transaction};

use crate::StoreError;

/// The database behind a store, chosen once from the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:///path/to/file.db` or `sqlite::memory:`.
    Sqlite,
    /// `postgres://user@host:port/db` (also `postgresql://`).
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::InvalidUrl(format!(
                "unsupported scheme {scheme:?}: expected sqlite: or postgres:"
            ))),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One migration step, in each backend's dialect: `step!(schema, version, description,
/// file)` takes `migrations/<schema>/{sqlite,postgres}/<file>`, so the two dialects of one
/// step can only ever be files of the same name.
macro_rules! step {
    ($schema:literal, $version:literal, $description:literal, $file:literal) => {
        $crate::db::Step {
            version: $version,
            description: $description,
            sqlite: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/",
                $schema,
                "/sqlite/",
                $file
            )),
            postgres: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/",
                $schema,
                "/postgres/",
                $file
            )),
        }
    };
}
pub(crate) use step;

/// One migration step, in each backend's dialect.
pub(crate) struct Step {
    pub version: i64,
    pub description: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// A store's schema: its migration steps and the table that records which ran.
pub(crate) struct Schema {
    /// Each schema keeps its own history table, so two stores could share one database.
    pub history_table: &'static str,
    pub steps: &'static [Step],
}

impl Schema {
    fn migrator(&self, backend: Backend) -> Migrator {
        let migrations = self
            .steps
            .iter()
            .map(|step| {
                let sql = match backend {
                    Backend::Sqlite => step.sqlite,
                    Backend::Postgres => step.postgres,
                };
                Migration::new(
                    step.version,
                    Cow::Borrowed(step.description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        // Set before the first run, never changed afterwards: the "dangerous" part of this
        // setter (losing track of applied migrations) only applies to a rename.
        migrator.dangerous_set_table_name(self.history_table);
        migrator
    }
}

/// A pool plus the backend it talks to. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// How long a SQLite writer waits for the lock (5 s) before giving up with `Unavailable`.
/// sqlx's own default is the same; said here so it does not change under us.
const BUSY_TIMEOUT_PRAGMA: &str = "PRAGMA busy_timeout = 5000";
/// How long a caller waits for a pooled connection before giving up with `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Db {
    /// Connects to `url` and brings `schema` up to date; with `openbao`, as a short-lived
    /// user it issues, renewed for as long as the pool lives (`credentials.rs`).
    pub async fn connect(
        url: &str,
        schema: &Schema,
        openbao: Option<&crate::OpenBaoDatabase>,
    ) -> Result<Db, StoreError> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let dynamic = match openbao {
            None => None,
            Some(_) if backend != Backend::Postgres => {
                return Err(StoreError::InvalidUrl(
                    "database_credentials = \"openbao\" needs a postgres:// database_url".into(),
                ));
            }
            Some(config) => {
                let bao = crate::credentials::OpenBao::new(config)?;
                let first = crate::credentials::first(&bao, url).await?;
                Some((bao, first))
            }
        };

        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let options = match backend {
            // Through `Any`, every new connection re-parses `sqlite::memory:` and gets a
            // fresh, empty database; one connection kept forever is the whole database.
            Backend::Sqlite if in_memory => options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            // One connection. SQLite has one writer at a time, and with several connections
            // the writers queue on its lock in the busy handler's sleeps (measured: p99 60-90
            // ms at 300 signatures/s with 4 connections, 12-16 ms with one), and every write
            // empties the other connections' page caches. Statements are tens of
            // microseconds, transactions never wait on anything else (no node call inside
            // one), and no store method acquires a second connection while it holds a
            // transaction (that would deadlock here). A file connection cannot go stale the
            // way a socket can, so the pool does not ping it on every acquire (a round trip
            // to its worker thread each time).
            Backend::Sqlite => options
                .max_connections(1)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query(BUSY_TIMEOUT_PRAGMA).execute(conn).await?;
                        Ok(())
                    })
                }),
            // No ping per acquire either: it is a round trip to the server before every
            // query (measured: ed25519 signing through REST at 3 clients, 278 -> 298/s). sqlx
            // still pings each connection when it is released and drops a broken one, so
            // after a PostgreSQL restart each pooled connection fails one statement with
            // `Unavailable` (503, retryable) and is replaced.
            Backend::Postgres => {
                let options = options.max_connections(10).test_before_acquire(false);
                match &dynamic {
                    None => options,
                    // No connection outlives its user; each assumes the schema's owner role.
                    Some((bao, first)) => {
                        let set_role = bao.set_role();
                        options
                            .max_lifetime(first.max_lifetime)
                            .after_connect(move |conn, _| {
                                let set_role = set_role.clone();
                                Box::pin(async move {
                                    if let Some(sql) = set_role {
                                        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(conn).await?;
                                    }
                                    Ok(())
                                })
                            })
                    }
                }
            }
        };
        let base_url = url;
        let url = match (&dynamic, backend) {
            (Some((_, first)), _) => Cow::Owned(first.url.to_string()),
            (None, Backend::Sqlite) if !in_memory => sqlite_create_if_missing(url),
            _ => Cow::Borrowed(url),
        };
        let pool = options.connect(&url).await.map_err(|e| match e {
            // The scheme was fine but the rest was not (bad port, unknown option): still the
            // caller's URL, not a database failure. sqlx's message names the part, not the
            // URL, so no password is echoed.
            sqlx::Error::Configuration(e) => StoreError::InvalidUrl(e.to_string()),
            e => StoreError::from(e),
        })?;

        if backend == Backend::Sqlite && !in_memory {
            // Persistent in the file, so once is enough; done before the pool has a second
            // connection, because switching the journal mode needs the database to itself.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        schema.migrator(backend).run(&pool).await?;
        if let Some((bao, first)) = dynamic {
            crate::credentials::rotate(bao, pool.clone(), base_url.to_owned(), first);
        }
        Ok(Db { pool, backend })
    }
}

impl Db {
    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that
    /// reads before it writes can fail with "database is locked" when another writer
    /// committed in between, which the busy timeout does not cure. PostgreSQL's plain
    /// `BEGIN` is READ COMMITTED; writers there serialize on row locks.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }
}

/// Adds `mode=rwc` (create the file if missing) unless the URL already chose a mode.
fn sqlite_create_if_missing(url: &str) -> Cow<'_, str> {
    if url.contains("mode=") {
        Cow::Borrowed(url)
    } else if url.contains('?') {
        Cow::Owned(format!("{url}&mode=rwc"))
    } else {
        Cow::Owned(format!("{url}?mode=rwc"))
    }
}
