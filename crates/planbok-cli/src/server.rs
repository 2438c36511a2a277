//! `planbok server`: runs the REST server until Ctrl-C / SIGTERM.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use planbok_server::ServerConfig;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    #[command(subcommand)]
    command: Option<crate::bootstrap::ServerCommand>,
    /// TOML configuration (see docs/server.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log format on stderr: `text` (coloured only at a terminal) or `json`.
    #[arg(long, env = "PLANBOK_LOG_FORMAT", value_enum, default_value_t)]
    log_format: crate::daemon::LogFormat,
}

pub fn run(args: ServerArgs) -> Result<()> {
    if let Some(cmd) = args.command {
        return crate::bootstrap::server(cmd);
    }
    let path = args
        .config
        .context("give --config FILE (or `planbok server init --config FILE` first)")?;
    crate::daemon::init_tracing(args.log_format);
    let config = ServerConfig::load(&path).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let gateway = match &config.gateway {
            Some(g) => Some(
                tokio::net::TcpListener::bind(&g.listen)
                    .await
                    .with_context(|| format!("binding [gateway] listen {}", g.listen))?,
            ),
            None => None,
        };
        planbok_server::run(listener, gateway, config, crate::daemon::shutdown_signal()).await?;
        Ok(())
    })
}
