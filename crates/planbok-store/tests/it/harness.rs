//! Test databases: a temp SQLite file, or a throwaway PostgreSQL database.
//!
//! PostgreSQL is found at `PLANBOK_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates `planbok_t_<random>` there
//! and drops it when done, even if the test panicked. If the server is unreachable the
//! PostgreSQL tests print a notice and pass, unless `PLANBOK_REQUIRE_PG=1` (CI), where they
//! fail.

use planbok_store::{NodeStore, ServerStore};
use rand_core::{OsRng, RngCore};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One database for one test. Connect to it as often as the test likes.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgDrop>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("node.db").display());
        TestDb {
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// `None` (after a notice) if PostgreSQL is unreachable and not required.
    pub async fn postgres() -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let admin_url =
            std::env::var("PLANBOK_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into());
        let mut admin = match AnyConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => {
                if std::env::var("PLANBOK_REQUIRE_PG").as_deref() == Ok("1") {
                    panic!("PostgreSQL at {admin_url} unreachable and PLANBOK_REQUIRE_PG=1: {e}");
                }
                eprintln!(
                    "SKIPPED: PostgreSQL at {admin_url} unreachable ({e}); set PLANBOK_REQUIRE_PG=1 to fail instead"
                );
                return None;
            }
        };
        let name = format!("planbok_t_{:016x}", OsRng.next_u64());
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        Some(TestDb {
            url: format!("{base}/{name}"),
            _dir: None,
            pg: Some(PgDrop { admin_url, name }),
        })
    }

    pub async fn connect(&self) -> NodeStore {
        NodeStore::connect(&self.url).await.unwrap()
    }

    pub async fn server(&self) -> ServerStore {
        ServerStore::connect(&self.url).await.unwrap()
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// A direct connection, for looking (and tampering) under the store.
    pub async fn raw(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url).await.unwrap()
    }

    /// Runs `call(store, i)` for `i` in `0..calls`, all at once: spread over four stores
    /// (four pools, as if four server processes shared the database) and held at a
    /// barrier until every call is ready, so they really overlap.
    pub async fn race<T, F, Fut>(&self, calls: usize, call: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(ServerStore, usize) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = T> + Send,
    {
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(self.server().await);
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(calls));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..calls {
            let store = stores[i % stores.len()].clone();
            let barrier = barrier.clone();
            let call = call.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                call(store, i).await
            });
        }
        let mut out = Vec::with_capacity(calls);
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(pg) = self.pg.take() {
            pg.drop_database();
        }
    }
}

struct PgDrop {
    admin_url: String,
    name: String,
}

impl PgDrop {
    /// Runs on its own thread and runtime: `Drop` cannot await, and the test's runtime may
    /// be shutting down (or the test may be unwinding).
    fn drop_database(self) {
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = AnyConnection::connect(&self.admin_url).await?;
                // FORCE: the test's pool may still hold connections.
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(joined, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database: {joined:?}");
        }
    }
}

/// Generates one test per case and backend: `sqlite::<case>` and `postgres::<case>`.
/// A case is `async fn(&TestDb)` in the calling module.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = crate::harness::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}
pub(crate) use on_every_backend;
