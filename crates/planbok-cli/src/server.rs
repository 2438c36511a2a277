//! `planbok server`: runs the REST server until Ctrl-C / SIGTERM.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use planbok_server::ServerConfig;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// TOML configuration (see docs/server.md).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: ServerArgs) -> Result<()> {
    crate::daemon::init_tracing();
    let config = ServerConfig::load(&args.config).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        planbok_server::run(listener, config, crate::daemon::shutdown_signal()).await?;
        Ok(())
    })
}
