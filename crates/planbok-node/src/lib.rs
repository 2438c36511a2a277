//! planbok's MPC node daemons.
//!
//! Two processes hold the two shares of every key. **Node 1** (the coordinator) serves the
//! REST server: it checks each request's authorization grant and organization secret, opens
//! one bidirectional gRPC stream to **Node 2** per protocol run, and drives its side.
//! **Node 2** (the signer) serves only Node 1, and checks every grant again on its own,
//! recording each grant id durably so none is used twice. Both refuse all work while their
//! keystore is sealed. Everything travels over mutual TLS, and every call is authorized by
//! the role the caller's certificate names.
//!
//! [`run`] is the whole daemon: the caller binds the listener and decides when to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use planbok_keystore::Keystore;
use planbok_proto::pb::coordinator_server::CoordinatorServer;
use planbok_proto::pb::operator_server::OperatorServer;
use planbok_proto::pb::peer_client::PeerClient;
use planbok_proto::pb::peer_server::PeerServer;
use planbok_proto::roles::Role;
use planbok_store::NodeStore;
use planbok_types::NodeRole;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::task::TaskTracker;
use tonic::transport::{Endpoint, Server};

mod canary;
mod clock;
pub mod config;
mod coordinator;
mod customer;
mod customer_ops;
mod customer_recovery;
mod error;
mod export;
mod identity;
mod metrics;
mod operator;
mod peer;
pub mod pki;
mod protocols;
mod refresh;
mod runner;
pub mod secrets;
mod signing;
mod state;
pub mod tls;

pub use config::NodeConfig;
pub use error::NodeError;

use crate::clock::now_ms;
use crate::coordinator::CoordinatorService;
use crate::operator::OperatorService;
use crate::peer::PeerService;
use crate::state::NodeState;
use crate::tls::{TlsMaterial, require};

/// Largest gRPC message (a frame is at most 4 MiB plus its envelope).
const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// Why a node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// Certificate files.
    #[error("TLS: {0}")]
    Tls(String),
    /// The keystore backend.
    #[error("keystore: {0}")]
    Keystore(#[from] planbok_keystore::KeystoreError),
    /// The database.
    #[error("database: {0}")]
    Store(#[from] planbok_store::StoreError),
    /// The gRPC server.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The keystore does not open the data in this node's database.
    #[error("keystore mismatch: {0}")]
    KeystoreMismatch(String),
}

/// Runs a node on `listener` until `shutdown` completes, then drains its tasks.
pub async fn run(
    listener: TcpListener,
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    config.check().map_err(StartError::Config)?;
    let tls = TlsMaterial::from_files(&config.tls.ca, &config.tls.cert, &config.tls.key)
        .map_err(|e| StartError::Tls(e.to_string()))?;
    let own = tls::own_role(&tls).map_err(StartError::Tls)?;
    let expected = Role::from(config.role);
    if own != expected {
        return Err(StartError::Tls(format!(
            "this is node {} but its certificate names {own}",
            config.role
        )));
    }

    let ks_config = config.keystore.clone();
    let role = config.role.number();
    let keystore = tokio::task::spawn_blocking(move || Keystore::open(&ks_config, role))
        .await
        .map_err(|e| StartError::Config(format!("keystore task: {e}")))??;
    let openbao = config
        .database_credentials
        .select(config.database_openbao.as_ref())
        .map_err(StartError::Config)?;
    let store = NodeStore::connect_with(&config.database_url, openbao).await?;
    let cleaned = store.cleanup_pending_keys().await?;
    if cleaned > 0 {
        tracing::warn!(
            count = cleaned,
            "removed uncommitted DKG results left by a crash"
        );
    }
    // Node 2's activation is a refresh's commit point, so a share it left pending was never
    // activated by Node 1 either. Node 1 keeps its pending shares: they are in doubt until
    // Node 2's version settles them (`refresh.rs`).
    if config.role == NodeRole::Node2 {
        let cleaned = store.cleanup_pending_shares().await?;
        if cleaned > 0 {
            tracing::warn!(
                count = cleaned,
                "removed uncommitted refreshed shares left by a crash"
            );
        }
    }
    let primes = match &config.cggmp.insecure_pregenerated_primes {
        None => None,
        Some(path) => {
            tracing::warn!(path = %path.display(), "INSECURE: using pregenerated Paillier primes; for tests only");
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
            Some(
                serde_json::from_str::<Vec<String>>(&text)
                    .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?,
            )
        }
    };
    let state = Arc::new(
        NodeState::new(&config, keystore, store, primes)
            .map_err(|e| StartError::Config(e.message))?,
    );
    // Fail closed: a keystore that does not open this database's data never serves.
    canary::verify_keystore(&state)
        .await
        .map_err(|e| StartError::KeystoreMismatch(e.message))?;
    tracing::info!(
        role = config.role.number(),
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        keystore = state.keystore.backend_name(),
        database = state.store.backend(),
        status = ?state.keystore.status(),
        "node starting"
    );

    let tasks = TaskTracker::new();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    {
        // Forget replay records once their grants/ciphertexts could no longer be accepted.
        let state = state.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let now = now_ms();
                        if let Err(e) = state.store.prune_grants(now).await {
                            tracing::warn!(error = %e, "pruning used grants failed");
                        }
                        if let Err(e) = state.store.prune_ciphertexts(now).await {
                            tracing::warn!(error = %e, "pruning seen ciphertexts failed");
                        }
                    }
                    _ = stop_rx.changed() => break,
                }
            }
        });
    }

    if let Some(addr) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Config(format!("metrics_listen {addr}: {e}")))?;
        tracing::info!(%addr, "serving metrics (plain HTTP)");
        let (state, mut stop) = (state.clone(), stop_tx.subscribe());
        tasks.spawn(metrics::serve(listener, state, async move {
            let _ = stop.changed().await;
        }));
    }

    let mut server = Server::builder().tls_config(tls.server())?;
    let router = if config.role == NodeRole::Node1 {
        let peer_cfg = config
            .peer
            .as_ref()
            .ok_or_else(|| StartError::Config("Node 1 needs [peer]".into()))?;
        let channel = Endpoint::from_shared(peer_cfg.address.clone())?
            .tls_config(tls.client(&peer_cfg.tls_name))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        let peer = PeerClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let coordinator = CoordinatorService {
            state: state.clone(),
            peer,
        };
        let operator = OperatorService {
            state: state.clone(),
            coordinator: Some(coordinator.clone()),
        };
        server
            .add_service(tonic::service::interceptor::InterceptedService::new(
                CoordinatorServer::new(coordinator)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
                require(Role::Server),
            ))
            .add_service(tonic::service::interceptor::InterceptedService::new(
                OperatorServer::new(operator),
                require(Role::Operator),
            ))
    } else {
        let peer = PeerService {
            state: state.clone(),
            tasks: tasks.clone(),
        };
        let operator = OperatorService {
            state: state.clone(),
            coordinator: None,
        };
        server
            .add_service(tonic::service::interceptor::InterceptedService::new(
                PeerServer::new(peer)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
                require(Role::Node1),
            ))
            .add_service(tonic::service::interceptor::InterceptedService::new(
                OperatorServer::new(operator),
                require(Role::Operator),
            ))
    };
    // Protocol rounds are small request/response exchanges: with Nagle's algorithm on, each
    // round can wait for a delayed ACK (40 ms on Linux). Measured: FROST DKG 48 ms → see
    // docs/benchmarks.md.
    let incoming = TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s
            && let Err(e) = s.set_nodelay(true)
        {
            tracing::warn!(error = %e, "could not disable Nagle on a connection");
        }
        s
    });
    let served = router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    let _ = stop_tx.send(true);
    tasks.close();
    tasks.wait().await;
    tracing::info!(role = config.role.number(), "node stopped");
    served.map_err(StartError::from)
}
