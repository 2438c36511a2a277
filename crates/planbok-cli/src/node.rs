//! `planbok node`: runs a node daemon until Ctrl-C / SIGTERM.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use planbok_node::NodeConfig;
use planbok_types::NodeRole;

#[derive(clap::Args)]
pub struct NodeArgs {
    /// 1 (coordinator) or 2 (signer); must match the config file.
    #[arg(long)]
    role: NodeRole,
    /// TOML configuration (see docs/node.md).
    #[arg(long)]
    config: PathBuf,
    /// Log format on stderr: `text` (coloured only at a terminal) or `json`.
    #[arg(long, env = "PLANBOK_LOG_FORMAT", value_enum, default_value_t)]
    log_format: crate::daemon::LogFormat,
}

pub fn run(args: NodeArgs) -> Result<()> {
    crate::daemon::init_tracing(args.log_format);
    let config = NodeConfig::load(&args.config)?;
    if config.role != args.role {
        bail!(
            "--role {} but {} configures node {}",
            args.role,
            args.config.display(),
            config.role
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        planbok_node::run(listener, config, crate::daemon::shutdown_signal()).await?;
        Ok(())
    })
}
