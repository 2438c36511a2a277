//! Node 1 and Node 2 as real processes over real mutual TLS, driven the way the REST server
//! drives them (server certificate + grant key).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

/// Runs each named `async fn(Options)` twice: nodes on SQLite, and nodes on PostgreSQL.
macro_rules! on_sqlite_and_postgres {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name(planbok_testkit::cluster::Options::default()).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                if let Some(o) = crate::common::postgres_or_skip() {
                    super::$name(o).await
                }
            }
        }
    )* };
}

mod alloy_wallet;
mod anvil;
mod api_access;
mod api_cli;
mod api_dev;
mod api_edge;
mod api_export;
mod api_idem_audit;
mod api_sign;
mod api_wallets;
mod ban;
mod bench;
mod bootstrap;
mod common;
mod custody;
mod customer_wallet_drills;
mod customer_wallets;
mod customers;
mod customers_drills;
mod customers_email;
mod customers_notices;
mod customers_recovery;
mod customers_recovery_drills;
mod customers_tx;
mod deploy;
mod dev_replicas;
mod drills;
mod export;
mod fake_peers;
mod faults;
mod gateway_page;
mod grants;
mod mail;
mod node_metrics;
mod node_policy;
mod openapi_wire;
mod openbao_db;
mod pairs;
mod protocols;
mod refresh;
mod replicas;
mod rest;
mod runbook;
mod sdk_js;
mod sealed;
mod secrets;
mod smtp;
mod transactions;
mod transport;
mod tx_chaos;
mod tx_contracts;
mod tx_drills;
mod tx_fill;
mod tx_replace;
mod webhooks;
