//! What a test cluster's processes take from the machine: free ports (and telling a lost
//! port race from a real failure) and their databases.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use super::Db;

/// Whether a start failed because a process could not bind its port (the log tail in
/// the error says so).
pub(super) fn port_taken(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("Address already in use") || text.contains("AddrInUse")
}

pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The shared test PostgreSQL: `PLANBOK_TEST_PG_URL`, by default the machine's own.
pub fn pg_base() -> String {
    std::env::var("PLANBOK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs one SQL statement on `base`'s `postgres` database (`base`: `postgres://user@host:port`).
pub fn psql(base: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A fresh database for process `name`: a SQLite file in `dir`, or a new PostgreSQL
/// database (recorded in `created`, dropped with the cluster).
pub(super) fn database(
    (db, pg_url): (Db, &str),
    dir: &Path,
    name: &str,
    created: &mut Vec<String>,
) -> Result<String> {
    Ok(match db {
        Db::Sqlite => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        Db::Postgres => {
            let db_name = format!("planbok_{name}_{}", hex::encode(crate::random_bytes::<6>()));
            psql(pg_url, &format!("CREATE DATABASE {db_name}"))?;
            created.push(db_name.clone());
            format!("{pg_url}/{db_name}")
        }
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    /// The OS's own words for a port another process holds are recognized, through the
    /// context a daemon adds; another failure is not a port race.
    #[test]
    fn a_taken_port_is_told_from_other_failures() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e = std::net::TcpListener::bind(held.local_addr().unwrap()).unwrap_err();
        let e = anyhow::Error::from(e).context("binding 127.0.0.1");
        assert!(port_taken(&e), "{e:#}");
        assert!(!port_taken(&anyhow::anyhow!(
            "node 1 exited: keystore sealed"
        )));
    }
}
