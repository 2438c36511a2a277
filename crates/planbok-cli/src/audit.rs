//! `planbok audit verify`: checks audit hash chains, in the server's database or in an
//! NDJSON export (`GET /v2/audit-logs/export`), and names the first entry that was edited,
//! deleted or reordered. Exit status 1 if any chain is broken.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use planbok_sdk::api::model::AuditEntry as ApiEntry;
use planbok_store::ServerStore;
use planbok_store::server::{AuditEntry, ChainReport, ChainVerifier};

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Verify hash chains.
    Verify {
        /// The server's configuration file (its database is checked).
        #[arg(long, conflicts_with_all = ["database", "file"])]
        config: Option<PathBuf>,
        /// A database URL instead of a configuration file.
        #[arg(long, conflicts_with = "file")]
        database: Option<String>,
        /// An NDJSON export to check offline.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only this chain (an organization id, or `system`).
        #[arg(long)]
        chain: Option<String>,
    },
}

fn print(chain: &str, r: &ChainReport) {
    match &r.fault {
        None => println!("{chain}: ok, {} entries", r.entries),
        Some(f) => println!(
            "{chain}: BROKEN at seq {}: {} ({})",
            f.seq, f.kind, f.detail
        ),
    }
}

fn from_api(e: ApiEntry) -> AuditEntry {
    AuditEntry {
        chain: e.chain,
        seq: e.seq,
        version: e.version,
        prev_hash: e.prev_hash,
        hash: e.hash,
        at_ms: e.at_ms,
        actor: e.actor,
        api_key_id: e.api_key_id,
        ip: e.ip,
        user_agent: e.user_agent,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        request_id: e.request_id,
        detail: e.detail,
    }
}

/// Checks an export: the entries link up from the first one's `prevHash` and end at the
/// head line.
fn verify_file(path: &PathBuf) -> Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut entries = Vec::new();
    let mut head = None;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", n + 1))?;
        if let Some(h) = v.get("head") {
            head = match (
                h.get("seq").and_then(|s| s.as_i64()),
                h.get("hash").and_then(|s| s.as_str()),
            ) {
                (Some(seq), Some(hash)) => Some((seq, hash.to_owned())),
                _ => None,
            };
            continue;
        }
        let e: ApiEntry = serde_json::from_value(v)
            .with_context(|| format!("line {}: not an audit entry", n + 1))?;
        entries.push(from_api(e));
    }
    let Some(first) = entries.first() else {
        bail!("{}: no entries", path.display());
    };
    let chain = first.chain.clone();
    let mut v = ChainVerifier::resume_after(first.seq - 1, first.prev_hash.clone());
    for e in &entries {
        v.push(e);
    }
    let report = v.finish(head);
    print(&chain, &report);
    Ok(report.is_ok())
}

pub fn run(cmd: AuditCommand) -> Result<()> {
    let AuditCommand::Verify {
        config,
        database,
        file,
        chain,
    } = cmd;
    let ok = match (config, database, file) {
        (_, _, Some(file)) => verify_file(&file)?,
        (Some(config), _, _) => {
            let c = planbok_server::ServerConfig::load(&config).map_err(anyhow::Error::msg)?;
            verify_db(&c.database_url, chain.as_deref())?
        }
        (None, Some(url), None) => verify_db(&url, chain.as_deref())?,
        (None, None, None) => bail!("give --config, --database or --file"),
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

fn verify_db(url: &str, chain: Option<&str>) -> Result<bool> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = ServerStore::connect(url).await?;
        let reports = store.verify_audit(chain).await?;
        let mut ok = true;
        for (chain, r) in &reports {
            print(chain, r);
            ok &= r.is_ok();
        }
        Ok(ok)
    })
}
