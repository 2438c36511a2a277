//! planbok's REST server: the platform's v2 API (`shared/API.md`) in front of Node 1.
//!
//! `run(listener, config, shutdown)` serves until `shutdown` resolves. The server holds
//! organizations, members, API keys, wallet metadata, idempotency records and the audit
//! trail, and the grant signing key; it holds no key share and links no MPC or keystore
//! code. Every request passes, in order: the context middleware (request id, client IP),
//! routing, the policy middleware (authentication, role, key access, rate limits), then a
//! handler. Errors become HTTP responses only in `error.rs`.

#![forbid(unsafe_code)]

mod audit;
mod auth;
mod body;
mod clock;
pub mod config;
mod context;
mod denials;
mod docs;
mod error;
mod evm;
mod facts;
mod gateway_page;
mod idem;
pub mod mail;
mod mail_sender;
mod metrics;
mod nodes;
pub mod policy;
mod ratelimit;
mod routes;
mod secret_box;
mod webhooks;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use planbok_proto::grant::GrantSigner;
use planbok_proto::tls::TlsMaterial;
use planbok_store::server::{ApiKeyRecord, ServerStore};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

pub use config::ServerConfig;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file could not be read.
    #[error("{0}")]
    Io(String),
    /// A file's content is wrong.
    #[error("{0}")]
    Config(String),
    /// The database.
    #[error("database: {0}")]
    Store(#[from] planbok_store::StoreError),
    /// Serving failed.
    #[error("serve: {0}")]
    Serve(std::io::Error),
}

/// Pending customer challenges past their 15 minutes become `expired`; a day later they
/// are deleted.
async fn prune_challenges(app: &App) {
    let now = now_ms();
    match app
        .store
        .prune_challenges(now, now - routes::customers::CHALLENGE_KEPT_MS)
        .await
    {
        Ok((expired, deleted)) if expired + deleted > 0 => {
            tracing::info!(expired, deleted, "customer challenges pruned");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not prune customer challenges"),
    }
}

pub(crate) use clock::now_ms;

/// The shared state of every handler.
#[derive(Debug, Clone)]
pub(crate) struct App(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    pub(crate) store: ServerStore,
    pub(crate) nodes: nodes::Nodes,
    pub(crate) limits: ratelimit::Limiter,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) operator_token_hash: [u8; 32],
    /// Facts that never change once set (public keys, custody modes, set protocols).
    pub(crate) facts: facts::Facts,
    /// When each key's `last_used_at` was last written.
    touched: Mutex<HashMap<String, i64>>,
    /// Authorization failures being aggregated per key.
    pub(crate) denials: denials::Denials,
    /// The secret hash of each key that authenticated in this process, so that the
    /// per-IP authentication budget does not lock out a key that proves itself. Only
    /// successful keys get here: its size is bounded by the keys in the database (and
    /// [`MAX_PROVEN_KEYS`]).
    proven: Mutex<HashMap<String, [u8; 32]>>,
    /// Seals the secrets the server holds at rest (webhook secrets, email codes).
    pub(crate) secrets: secret_box::SecretBox,
    /// The webhook worker's wake-up.
    pub(crate) webhooks: webhooks::Webhooks,
    /// The TLS client of webhook deliveries (`None`: no CA bundle, https fails).
    webhook_tls: Option<Arc<rustls::ClientConfig>>,
    /// The configured chains' RPCs, checked at start.
    pub(crate) chains: evm::Chains,
    /// Wakes this process's transaction tracker (a transfer was committed).
    pub(crate) tracker_wake: tokio::sync::Notify,
    /// The SMTP client (`[smtp]`); without it recovery by email is off.
    pub(crate) mailer: Option<mail::Mailer>,
    /// Wakes this process's mail sender (a message was queued).
    pub(crate) mail_wake: tokio::sync::Notify,
}

/// The most proven keys remembered; past it the memory starts over (they prove
/// themselves again with one lookup each).
const MAX_PROVEN_KEYS: usize = 100_000;

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// After `c` committed: wakes this process's mail sender if `c` queued mail (the
    /// sender also polls, but a recovery code or a notice should not wait for it).
    pub(crate) fn wake_mail_for(&self, c: &planbok_store::server::Commit) {
        if !c.mails.is_empty() {
            self.mail_wake.notify_one();
        }
    }

    /// Records a key's use, at most once a minute per key, off the request path.
    pub(crate) fn touch_key(&self, key: &ApiKeyRecord) {
        let now = now_ms();
        let due = match self.touched.lock() {
            Ok(mut t) => {
                let last = t.get(&key.id).copied().or(key.last_used_at_ms).unwrap_or(0);
                let due = now - last > 60_000;
                if due {
                    t.insert(key.id.clone(), now);
                }
                due
            }
            Err(_) => false,
        };
        if due {
            let store = self.store.clone();
            let id = key.id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(&id, now).await {
                    tracing::debug!(error = %e, "could not record a key's last use");
                }
            });
        }
    }
}

impl App {
    /// Whether `secret` is the one key `id` authenticated with before in this process.
    pub(crate) fn proven_key(&self, id: &str, secret: &str) -> bool {
        let Ok(p) = self.proven.lock() else {
            return false;
        };
        p.get(id).is_some_and(|h| auth::secret_matches(secret, h))
    }

    /// Remembers a key that just authenticated.
    pub(crate) fn remember_proven_key(&self, key: &ApiKeyRecord) {
        let Ok(hash) = <[u8; 32]>::try_from(key.secret_hash.as_slice()) else {
            return;
        };
        if let Ok(mut p) = self.proven.lock() {
            if p.len() >= MAX_PROVEN_KEYS && !p.contains_key(&key.id) {
                p.clear();
            }
            p.insert(key.id.clone(), hash);
        }
    }

    /// Forgets a key that failed (revoked, its allowlists, its member gone).
    pub(crate) fn forget_proven_key(&self, id: &str) {
        if let Ok(mut p) = self.proven.lock() {
            p.remove(id);
        }
    }

    /// Appends the summaries of closed denial windows (all of them with `all`).
    async fn flush_denials(&self, all: bool) {
        let due = self.denials.take_closed(now_ms(), all);
        audit::append_all(self, due).await;
    }
}

fn read_trimmed(path: &std::path::Path) -> Result<zeroize::Zeroizing<String>, StartError> {
    std::fs::read_to_string(path)
        .map(|s| zeroize::Zeroizing::new(s.trim().to_owned()))
        .map_err(|e| StartError::Io(format!("{}: {e}", path.display())))
}

/// Builds the application state from the configuration (opens the database, reads the
/// keys; the node pairs are connected lazily).
async fn app(config: ServerConfig) -> Result<App, StartError> {
    let token = read_trimmed(&config.operator_token_file)?;
    if token.len() < 16 {
        return Err(StartError::Config(
            "the operator token must be at least 16 characters".into(),
        ));
    }
    let seed_hex = read_trimmed(&config.grant_key_file)?;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(seed_hex.as_bytes(), &mut seed[..]).map_err(|_| {
        StartError::Config(format!(
            "{}: expected 64 hex characters",
            config.grant_key_file.display()
        ))
    })?;
    let grants = GrantSigner::from_seed(&seed);
    let secrets = secret_box::SecretBox::from_grant_seed(&seed);
    let webhook_tls = webhooks::worker::tls_config(&config.webhooks).map_err(StartError::Config)?;
    let tls = TlsMaterial::from_files(&config.tls.ca, &config.tls.cert, &config.tls.key)
        .map_err(|e| StartError::Io(e.to_string()))?;
    // The RPCs are checked before anything else is opened: a server pointed at the wrong
    // chain must not start.
    let chains = evm::Chains::connect(&config.chains, webhook_tls.clone())
        .await
        .map_err(StartError::Config)?;
    let mailer = config
        .smtp
        .as_ref()
        .map(mail::Mailer::new)
        .transpose()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let openbao = config.openbao().map_err(StartError::Config)?;
    config.pairs().map_err(StartError::Config)?;
    let store = ServerStore::connect_with(&config.database_url, openbao).await?;
    let metrics = Arc::new(metrics::Metrics::default());
    let nodes = nodes::Nodes::new(&config, &tls, grants, store.clone(), metrics.clone())
        .map_err(StartError::Config)?;
    let limits = match &config.rate_limits.redis_url {
        None => {
            ratelimit::Limiter::Local(Box::new(ratelimit::RateLimits::new(&config.rate_limits)))
        }
        Some(url) => ratelimit::Limiter::Shared(
            ratelimit::SharedLimits::connect(url, &config.rate_limits)
                .await
                // The error names the host, never the URL (it may carry a password).
                .map_err(|e| StartError::Config(format!("[rate_limits] redis_url: {e}")))?,
        ),
    };
    Ok(App(Arc::new(Inner {
        limits,
        metrics,
        operator_token_hash: Sha256::digest(token.as_bytes()).into(),
        facts: facts::Facts::default(),
        touched: Mutex::new(HashMap::new()),
        denials: denials::Denials::default(),
        proven: Mutex::new(HashMap::new()),
        secrets,
        webhooks: webhooks::Webhooks::default(),
        webhook_tls,
        chains,
        tracker_wake: tokio::sync::Notify::new(),
        mailer,
        mail_wake: tokio::sync::Notify::new(),
        store,
        nodes,
        config,
    })))
}

/// The router, with both middlewares.
pub(crate) fn router(app: App) -> Router {
    with_middlewares(routes::routes(), Router::new(), app)
}

/// The Gateway's listener: its routes and its page, and the page's security headers on
/// every response.
fn gateway_router(app: App, page: String) -> Router {
    with_middlewares(routes::gateway_routes(), gateway_page::routes(page), app)
        .layer(axum::middleware::from_fn(gateway_page::headers))
}

/// `guarded` behind the policy middleware, `open` (static files) beside them, the JSON
/// fallbacks, and the request context around everything.
fn with_middlewares(guarded: Router<App>, open: Router<App>, app: App) -> Router {
    guarded
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            policy::middleware,
        ))
        .merge(open)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            context::middleware,
        ))
        .with_state(app)
}

/// Serves the REST API on `listener`, and the Gateway on `gateway` (the `[gateway]`
/// section's listener, bound by the caller), until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn run(
    listener: TcpListener,
    gateway: Option<TcpListener>,
    mut config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let gateway = match (gateway, &config.gateway) {
        (Some(l), Some(cfg)) => {
            let page = gateway_page::render(cfg).map_err(StartError::Config)?;
            // Gateway URLs name the page's own origin unless a public URL is configured.
            if config.public_url.is_none() {
                let addr = l.local_addr().map_err(StartError::Serve)?;
                config.public_url = Some(format!("http://{addr}"));
            }
            Some((l, page))
        }
        (None, None) => None,
        _ => {
            return Err(StartError::Config(
                "the [gateway] section and the Gateway's listener go together".into(),
            ));
        }
    };
    let app = app(config).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let housekeeping = tokio::spawn(housekeeping(app.clone(), stop.clone()));
    let deliveries = app.config.webhooks.worker.then(|| {
        tokio::spawn(webhooks::worker::run(
            app.clone(),
            app.webhook_tls.clone(),
            stop.clone(),
        ))
    });
    let tracker = app
        .config
        .transactions
        .tracker
        .then(|| tokio::spawn(evm::tracker::run(app.clone(), stop.clone())));
    let mail = app
        .mailer
        .clone()
        .zip(app.config.smtp.as_ref())
        .map(|(m, c)| tokio::spawn(mail_sender::run(app.clone(), m, c.timeout_ms, stop.clone())));
    tracing::info!(addr = ?listener.local_addr().ok(), "planbok server listening");
    // The Gateway's listener stops with the API's (`stop` is cancelled once it returns).
    let gateway = gateway.map(|(l, page)| {
        tracing::info!(addr = ?l.local_addr().ok(), "planbok Gateway listening");
        tokio::spawn(
            axum::serve(
                l,
                gateway_router(app.clone(), page)
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
        )
    });
    let served = axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    stop.cancel();
    let served = match gateway {
        Some(g) => match g.await {
            Ok(r) => served.and(r),
            Err(e) => served.and(Err(std::io::Error::other(e))),
        },
        None => served,
    };
    if let Err(e) = housekeeping.await {
        tracing::error!(error = %e, "the housekeeping task failed");
    }
    if let Some(Err(e)) = match deliveries {
        Some(d) => Some(d.await),
        None => None,
    } {
        tracing::error!(error = %e, "the webhook worker failed");
    }
    if let Some(Err(e)) = match tracker {
        Some(t) => Some(t.await),
        None => None,
    } {
        tracing::error!(error = %e, "the transaction tracker failed");
    }
    if let Some(Err(e)) = match mail {
        Some(m) => Some(m.await),
        None => None,
    } {
        tracing::error!(error = %e, "the mail sender failed");
    }
    // Counted authorization failures of windows still open: written now rather than lost.
    app.flush_denials(true).await;
    tracing::info!("planbok server stopped");
    served.map_err(StartError::Serve)
}

/// The server's periodic work, until `stop`: closed denial windows flushed to the audit
/// trail, rate-limiter states that are full again dropped, idempotency records past their
/// 24 hours pruned, finished webhook deliveries past their retention pruned.
async fn housekeeping(app: App, stop: tokio_util::sync::CancellationToken) {
    use std::time::Duration;
    let mut flush = tokio::time::interval(denials::FLUSH_EVERY);
    let mut limits = tokio::time::interval(Duration::from_secs(60));
    let mut idempotency = tokio::time::interval(Duration::from_secs(3600));
    for t in [&mut flush, &mut limits, &mut idempotency] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = flush.tick() => app.flush_denials(false).await,
            _ = limits.tick() => {
                app.limits.prune();
                prune_challenges(&app).await;
            }
            _ = idempotency.tick() => {
                // Idempotent responses are kept for 24 hours.
                if let Err(e) = app.store.prune_idempotency(now_ms() - 86_400_000).await {
                    tracing::warn!(error = %e, "could not prune idempotency records");
                }
                let before = now_ms() - app.config.webhooks.retention_ms as i64;
                if let Err(e) = app.store.prune_webhooks(before).await {
                    tracing::warn!(error = %e, "could not prune webhook deliveries");
                }
            }
        }
    }
}
