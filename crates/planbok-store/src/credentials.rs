//! Short-lived PostgreSQL users from OpenBao's (or Vault's) database secrets engine
//! (`database_credentials = "openbao"`).
//!
//! At connect the process asks OpenBao for a user (`GET /v1/<mount>/creds/<role>`), and
//! keeps asking for a fresh one every half lease: the pool's connect options are swapped
//! ([`sqlx::Pool::set_connect_options`]), so new connections log in as the new user while
//! the ones open finish their work. A connection lives at most a third of a lease, so
//! none outlives its user; the previous lease is revoked once its connections are gone.
//! Every connection first does `SET ROLE <set_role>`, so the tables the migrations create
//! belong to one long-lived role, not to a user that will be dropped.
//!
//! When OpenBao does not answer, the pool keeps its current user and retries every few
//! seconds: requests fail only if the lease runs out before OpenBao comes back.

use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use sqlx::any::AnyConnectOptions;
use zeroize::Zeroizing;

use crate::StoreError;

/// `[database_openbao]` of a node or server config.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBaoDatabase {
    /// `https://bao.internal:8200` (`http://` only for a loopback address).
    pub address: String,
    /// A file holding the token that may read `<mount>/creds/<role>`.
    pub token_file: PathBuf,
    /// For `https://`: the PEM bundle of the CA that signs OpenBao's certificate (only it
    /// is trusted).
    pub ca_file: Option<PathBuf>,
    /// The secrets engine's mount.
    #[serde(default = "default_mount")]
    pub mount: String,
    /// The engine's role that issues this process's users.
    pub role: String,
    /// The role every connection assumes (`SET ROLE`): owner of the schema.
    pub set_role: Option<String>,
}

fn default_mount() -> String {
    "database".into()
}

impl std::fmt::Debug for OpenBaoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBaoDatabase")
            .field("address", &self.address)
            .field("mount", &self.mount)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// One issued user.
struct Lease {
    id: String,
    username: String,
    password: Zeroizing<String>,
    ttl: Duration,
}

/// Where a process's database user comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseCredentials {
    /// The user in `database_url` (or none, for SQLite).
    #[default]
    Static,
    /// A short-lived user from OpenBao (`[database_openbao]`).
    Openbao,
}

impl DatabaseCredentials {
    /// The default: configs leave it out.
    pub fn is_static(&self) -> bool {
        *self == DatabaseCredentials::Static
    }

    /// The OpenBao settings to use: the table with `openbao`, none with `static`; an error
    /// when the table is missing, or present for nothing (a config that says less than it
    /// seems to). The one rule for the server and the nodes.
    pub fn select(
        self,
        table: Option<&OpenBaoDatabase>,
    ) -> Result<Option<&OpenBaoDatabase>, String> {
        match (self, table) {
            (DatabaseCredentials::Static, None) => Ok(None),
            (DatabaseCredentials::Openbao, Some(t)) => Ok(Some(t)),
            (DatabaseCredentials::Openbao, None) => {
                Err("database_credentials = \"openbao\" needs a [database_openbao] table".into())
            }
            (DatabaseCredentials::Static, Some(_)) => {
                Err("[database_openbao] is set but database_credentials is not \"openbao\"".into())
            }
        }
    }
}

/// A client of the database secrets engine.
#[derive(Clone)]
pub(crate) struct OpenBao {
    config: OpenBaoDatabase,
    token: Arc<Zeroizing<String>>,
    agent: ureq::Agent,
}

fn loopback(address: &str) -> bool {
    let rest = address.trim_start_matches("http://");
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

impl OpenBao {
    pub(crate) fn new(config: &OpenBaoDatabase) -> Result<Self, StoreError> {
        let plain = config.address.starts_with("http://");
        if !(config.address.starts_with("https://") || plain && loopback(&config.address)) {
            return Err(StoreError::InvalidUrl(
                "[database_openbao] address: https://, or http:// only on a loopback address"
                    .into(),
            ));
        }
        let token = std::fs::read_to_string(&config.token_file).map_err(|e| {
            StoreError::InvalidUrl(format!(
                "[database_openbao] token_file {}: {e}",
                config.token_file.display()
            ))
        })?;
        let mut agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false);
        match (&config.ca_file, plain) {
            (Some(_), true) => {
                return Err(StoreError::InvalidUrl(
                    "[database_openbao] ca_file is for https://".into(),
                ));
            }
            (None, false) => {
                return Err(StoreError::InvalidUrl(
                    "[database_openbao] https:// needs ca_file, the CA that signs OpenBao's certificate"
                        .into(),
                ));
            }
            (Some(ca), false) => agent = agent.tls_config(tls(ca)?),
            (None, true) => {}
        }
        Ok(OpenBao {
            config: config.clone(),
            token: Arc::new(Zeroizing::new(token.trim().to_owned())),
            agent: agent.build().new_agent(),
        })
    }

    async fn call(
        &self,
        method: &'static str,
        path: String,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let (url, token, agent) = (
            format!("{}/v1/{path}", self.config.address.trim_end_matches('/')),
            self.token.clone(),
            self.agent.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut r = match (method, body) {
                ("GET", _) => agent
                    .get(&url)
                    .header("X-Vault-Token", token.as_str())
                    .call(),
                (_, body) => agent
                    .put(&url)
                    .header("X-Vault-Token", token.as_str())
                    .send_json(body.unwrap_or_default()),
            }
            .map_err(|e| format!("OpenBao: {e}"))?;
            let status = r.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(format!("OpenBao answered {status} for {}", url_path(&url)));
            }
            if status == 204 {
                return Ok(serde_json::Value::Null);
            }
            r.body_mut()
                .read_json::<serde_json::Value>()
                .map_err(|e| format!("OpenBao: {e}"))
        })
        .await
        .map_err(|e| format!("OpenBao task: {e}"))?
    }

    async fn issue(&self) -> Result<Lease, String> {
        let path = format!("{}/creds/{}", self.config.mount, self.config.role);
        let v = self.call("GET", path, None).await?;
        let field = |k: &str| v["data"][k].as_str().map(str::to_owned);
        match (v["lease_id"].as_str(), field("username"), field("password")) {
            (Some(id), Some(username), Some(password)) => Ok(Lease {
                id: id.to_owned(),
                username,
                password: Zeroizing::new(password),
                ttl: Duration::from_secs(v["lease_duration"].as_u64().unwrap_or(0).max(6)),
            }),
            _ => Err("OpenBao's answer holds no database user".into()),
        }
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), String> {
        let body = serde_json::json!({ "lease_id": lease_id });
        self.call("PUT", "sys/leases/revoke".into(), Some(body))
            .await
            .map(|_| ())
    }

    /// The `SET ROLE` statement every connection runs first, if any.
    pub(crate) fn set_role(&self) -> Option<String> {
        self.config
            .set_role
            .as_ref()
            .map(|r| format!("SET ROLE \"{}\"", r.replace('"', "\"\"")))
    }
}

/// Only the configured CA's certificates are trusted (rustls with ring, as everywhere).
fn tls(ca: &std::path::Path) -> Result<ureq::tls::TlsConfig, StoreError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};
    let bad = |why: String| {
        StoreError::InvalidUrl(format!(
            "[database_openbao] ca_file {}: {why}",
            ca.display()
        ))
    };
    let pem = std::fs::read(ca).map_err(|e| bad(e.to_string()))?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            roots.push(c);
        }
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

fn url_path(url: &str) -> &str {
    url.find("/v1/").map_or(url, |i| &url[i..])
}

/// Percent-encodes a URL userinfo part (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` (`postgres://[user@]host…`) logging in as `lease`'s user.
fn with_user(url: &str, lease: &Lease) -> Zeroizing<String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    // Userinfo is whatever precedes an `@` that comes before the path.
    let host = match rest.find('@') {
        Some(at) if rest.find('/').is_none_or(|slash| at < slash) => &rest[at + 1..],
        _ => rest,
    };
    Zeroizing::new(format!(
        "{scheme}://{}:{}@{host}",
        encode(&lease.username),
        encode(&lease.password)
    ))
}

/// The pool's first user: the URL to connect with, and how long a connection may live.
pub(crate) struct First {
    pub url: Zeroizing<String>,
    pub max_lifetime: Duration,
    lease: Lease,
}

pub(crate) async fn first(bao: &OpenBao, url: &str) -> Result<First, StoreError> {
    let lease = bao
        .issue()
        .await
        .map_err(|e| StoreError::InvalidUrl(format!("database credentials from OpenBao: {e}")))?;
    tracing::info!(user = %lease.username, ttl_s = lease.ttl.as_secs(), "database user issued by OpenBao");
    Ok(First {
        url: with_user(url, &lease),
        max_lifetime: lease.ttl / 3,
        lease,
    })
}

/// Swaps the pool to a fresh user every half lease, until the pool is closed.
pub(crate) fn rotate(bao: OpenBao, pool: AnyPool, url: String, first: First) {
    tokio::spawn(async move {
        let mut current = first.lease;
        let mut wait = current.ttl / 2;
        loop {
            tokio::time::sleep(wait).await;
            if pool.is_closed() {
                let _ = bao.revoke(&current.id).await;
                return;
            }
            let fresh = match bao.issue().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the database user; retrying");
                    wait = Duration::from_secs(3);
                    continue;
                }
            };
            match AnyConnectOptions::from_str(&with_user(&url, &fresh)) {
                Ok(options) => pool.set_connect_options(options),
                Err(e) => {
                    tracing::error!(error = %e, "OpenBao's database user does not make a URL");
                    wait = Duration::from_secs(3);
                    continue;
                }
            }
            tracing::info!(user = %fresh.username, ttl_s = fresh.ttl.as_secs(), "rotated to a new database user");
            // The old user's connections retire within a third of its lease; then it goes.
            let (old, retire, bao2) = (current.id.clone(), current.ttl / 3, bao.clone());
            tokio::spawn(async move {
                tokio::time::sleep(retire + Duration::from_secs(1)).await;
                if let Err(e) = bao2.revoke(&old).await {
                    tracing::warn!(error = %e, "could not revoke a database user's lease");
                }
            });
            wait = fresh.ttl / 2;
            current = fresh;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(user: &str, password: &str) -> Lease {
        Lease {
            id: "x".into(),
            username: user.into(),
            password: Zeroizing::new(password.into()),
            ttl: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_user_replaces_any_in_the_url_and_is_encoded() {
        let l = lease("v-token-role-a1", "p@ss/w:rd");
        assert_eq!(
            *with_user("postgres://127.0.0.1:5432/db", &l),
            "postgres://v-token-role-a1:p%40ss%2Fw%3Ard@127.0.0.1:5432/db"
        );
        assert_eq!(
            *with_user("postgres://postgres@127.0.0.1:5432/db?sslmode=disable", &l),
            "postgres://v-token-role-a1:p%40ss%2Fw%3Ard@127.0.0.1:5432/db?sslmode=disable"
        );
    }

    #[test]
    fn openbao_needs_its_table_and_the_table_needs_openbao() {
        let table = OpenBaoDatabase {
            address: "http://127.0.0.1:8200".into(),
            token_file: "t".into(),
            ca_file: None,
            mount: default_mount(),
            role: "r".into(),
            set_role: None,
        };
        assert!(matches!(DatabaseCredentials::Static.select(None), Ok(None)));
        assert!(matches!(
            DatabaseCredentials::Openbao.select(Some(&table)),
            Ok(Some(_))
        ));
        assert!(DatabaseCredentials::Openbao.select(None).is_err());
        assert!(DatabaseCredentials::Static.select(Some(&table)).is_err());
        // The token never appears in Debug.
        assert!(!format!("{table:?}").contains("token_file"));
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(loopback("http://127.0.0.1:8200"));
        assert!(loopback("http://localhost:8200/"));
        assert!(!loopback("http://bao.internal:8200"));
        assert!(!loopback("http://127.0.0.1.evil.example:8200"));
    }
}
