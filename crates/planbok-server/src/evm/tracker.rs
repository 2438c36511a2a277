//! The transaction tracker: broadcasts committed transactions, sends the same bytes again
//! when the node lost them, follows receipts to the chain's confirmation depth, and marks
//! reverted ones `failed` with their reason. Runs in every replica; the store's claims
//! (a lease per transaction, `FOR UPDATE SKIP LOCKED` on PostgreSQL) give each
//! transaction to one tracker at a time, and a result is recorded only under the lease
//! that produced it.
//!
//! `signed → broadcast → confirmed | failed`; a receipt that disappears (a reorg) sends a
//! `broadcast` transaction back to waiting for one, and it is sent again. A nonce with
//! replacements (cancel, accelerate) is settled by the chain: whichever of its
//! transactions is mined follows the usual path, and once it is deep enough each other
//! one ends `cancelled` (it was replaced by the mined one) or `failed` (it was a
//! replacement, and an earlier transaction was mined). A replaced transaction is never
//! sent again.

use std::time::Duration;

use planbok_chains::Chain;
use planbok_store::server::{ClaimedTx, Commit, TxRecord};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::rpc::{CallRequest, RpcError};
use crate::routes::transfers::NATIVE_DECIMALS;
use crate::routes::tx_list::transaction;
use crate::{App, now_ms};
use planbok_store::server::ServerStore;

/// How long a claim lasts: enough for a handful of RPC calls at their timeout.
const LEASE_MS: i64 = 60_000;
/// When a chain is not configured here (another replica's config), look again later.
const UNCONFIGURED_RETRY_MS: i64 = 60_000;

/// Runs until `stop`.
pub(crate) async fn run(app: App, stop: CancellationToken) {
    let poll = app
        .chains
        .min_poll()
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1));
    let max = i64::from(app.config.transactions.max_in_flight.max(1));
    let mut tasks: JoinSet<()> = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let free = max - tasks.len() as i64;
        if free > 0 {
            let now = now_ms();
            let token = uuid::Uuid::new_v4().simple().to_string();
            match app
                .store
                .claim_transactions(now, free, now + LEASE_MS, &token)
                .await
            {
                Ok(claimed) => {
                    for c in claimed {
                        tasks.spawn(handle(app.clone(), c));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "tracker: could not claim transactions"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = app.tracker_wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

/// Looks at one claimed transaction and records what changed.
async fn handle(app: App, c: ClaimedTx) {
    let mut t = c.tx.clone();
    let now = now_ms();
    let chain = match Chain::parse(&t.blockchain) {
        Ok(chain) => chain,
        Err(e) => {
            tracing::error!(tx = %t.id, error = %e, "tracker: a transaction on an unknown chain");
            return;
        }
    };
    let mut events = Vec::new();
    match app.chains.get(chain) {
        Err(_) => t.next_check_at_ms = now + UNCONFIGURED_RETRY_MS,
        Ok(rpc) => {
            let poll = rpc.poll.as_millis() as i64;
            t.next_check_at_ms = now + poll;
            let r = match t.status.as_str() {
                "signed" if t.replaced_by.is_none() => broadcast(&app, &rpc, &mut t, now).await,
                _ => follow(&app, &rpc, &mut t, now).await,
            };
            match r {
                Ok(Some(event)) => {
                    t.updated_at_ms = now;
                    let data = serde_json::to_value(transaction(&t)).unwrap_or_default();
                    events.push(crate::webhooks::event(&t.org_id, event, data, now));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tx = %t.id, chain = chain.id(), error = %e, "tracker: RPC failed; retrying")
                }
            }
        }
    }
    if t != c.tx && events.is_empty() {
        t.updated_at_ms = now;
    }
    let commit = Commit::none().with_events(events);
    match app.store.record_progress(&t, &c.lease_token, &commit).await {
        Ok(true) => {
            if !commit.events.is_empty() {
                app.webhooks.wake();
                tracing::info!(tx = %t.id, hash = %t.tx_hash, nonce = t.nonce, status = %t.status, "transaction progressed");
            }
        }
        Ok(false) => {
            tracing::warn!(tx = %t.id, "tracker: the claim lapsed; another tracker owns it")
        }
        Err(e) => tracing::error!(tx = %t.id, error = %e, "tracker: could not record progress"),
    }
}

/// Whether a node's refusal of a raw transaction means it already has it.
fn already_known(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("already known") || m.contains("known transaction") || m.contains("already imported")
}

/// Sends `t`'s bytes; `broadcast` (event) on success or when the node already has them.
async fn broadcast(
    app: &App,
    chain: &super::ChainRpc,
    t: &mut TxRecord,
    now: i64,
) -> Result<Option<&'static str>, RpcError> {
    let rpc = &chain.rpc;
    let first = t.status == "signed";
    match rpc.send_raw(&t.raw_tx).await {
        Ok(hash) if !hash.eq_ignore_ascii_case(&t.tx_hash) => {
            // Never happens with an honest node: the hash is Keccak-256 of the bytes.
            tracing::error!(tx = %t.id, ours = %t.tx_hash, theirs = %hash, "the node reports another hash");
        }
        Ok(_) => {}
        Err(RpcError::Node { message, .. }) if already_known(&message) => {}
        Err(RpcError::Node { message, .. })
            if message.to_ascii_lowercase().contains("nonce too low") =>
        {
            // Mined already: an earlier send reached the node but its answer did not
            // reach us (a receipt says so; then it is broadcast, below, and followed).
            // Else mined by another transaction of its nonce (a replacement, or the one
            // it replaces), or by a transaction this server did not make: then this one
            // can never be mined.
            if rpc.receipt(&t.tx_hash).await?.is_none() {
                match settle_family(&app.store, chain, t).await? {
                    Family::Settled(event) => return Ok(Some(event)),
                    Family::Waiting => return Ok(None),
                    Family::Open => {}
                }
                if !rpc.knows(&t.tx_hash).await? {
                    t.status = "failed".into();
                    t.error_reason = Some(format!(
                        "nonce {} was used by another transaction of this address",
                        t.nonce
                    ));
                    return Ok(Some("transaction.failed"));
                }
            }
        }
        Err(RpcError::Node { message, .. }) => {
            // Refused as it stands (e.g. the balance cannot pay it now): kept, and sent
            // again later; the reason is shown meanwhile. Refused for long, its nonce is
            // filled (below).
            t.next_check_at_ms = now + app.config.transactions.rebroadcast_after_ms as i64;
            t.error_reason = Some(if due_for_fill(app, t, now) {
                fill(app, t, &message, now).await
            } else {
                message
            });
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    t.broadcasts += 1;
    t.last_broadcast_at_ms = Some(now);
    t.error_reason = None;
    if first {
        t.status = "broadcast".into();
        return Ok(Some("transaction.broadcast"));
    }
    Ok(None)
}

/// Whether `t`, just refused by the node, is due to have its nonce filled: filling is on,
/// the node refused it the time before too (its `errorReason` is set only by a refusal
/// while it is pending), no node has taken it for `fill_after_ms` (since it was signed,
/// or last taken), nothing replaced it yet, and it is not itself a cancel (whose refusal
/// a fill would only repeat at a higher fee).
fn due_for_fill(app: &App, t: &TxRecord, now: i64) -> bool {
    let after = app.config.transactions.fill_after_ms;
    let since = t.last_broadcast_at_ms.unwrap_or(t.created_at_ms);
    after > 0
        && t.error_reason.is_some()
        && t.replaced_by.is_none()
        && t.operation != "CANCEL"
        && now.saturating_sub(since) >= i64::try_from(after).unwrap_or(i64::MAX)
}

/// Fills `t`'s nonce (`routes::replace::fill`); what its `errorReason` says then.
async fn fill(app: &App, t: &mut TxRecord, refusal: &str, now: i64) -> String {
    let since = t.last_broadcast_at_ms.unwrap_or(t.created_at_ms);
    let secs = now.saturating_sub(since) / 1000;
    match crate::routes::replace::fill(app, t, refusal).await {
        Ok(id) => {
            tracing::warn!(tx = %t.id, filler = %id, nonce = t.nonce, refusal, "a refused transaction's nonce filled");
            t.replaced_by = Some(id.clone());
            format!(
                "the node refused it for {secs} s ({refusal}): its nonce {} is filled by \
                 transaction {id}, a 0-value transfer to the wallet itself",
                t.nonce
            )
        }
        Err(why) => {
            tracing::warn!(tx = %t.id, nonce = t.nonce, refusal, why = %why, "a refused transaction's nonce could not be filled");
            format!("{refusal} (refused for {secs} s; its nonce is not filled: {why})")
        }
    }
}

/// Follows a broadcast transaction's receipt.
async fn follow(
    app: &App,
    rpc: &super::ChainRpc,
    t: &mut TxRecord,
    now: i64,
) -> Result<Option<&'static str>, RpcError> {
    let Some(r) = rpc.rpc.receipt(&t.tx_hash).await? else {
        let reorged = t.block_number.is_some();
        if reorged {
            // Its block is gone (a reorg): wait for it again, and send it again.
            tracing::warn!(tx = %t.id, block = ?t.block_number, "a mined transaction left the chain");
            t.block_number = None;
            t.block_hash = None;
            t.confirmations = None;
        }
        if t.replaces.is_some() || t.replaced_by.is_some() {
            match settle_family(&app.store, rpc, t).await? {
                Family::Settled(event) => return Ok(Some(event)),
                Family::Waiting => return Ok(None),
                Family::Open => {}
            }
        }
        if t.replaced_by.is_some() {
            // Its replacement pays more: sending this one again would be refused, or
            // would push the replacement out.
            return Ok(None);
        }
        let last = t.last_broadcast_at_ms.unwrap_or(0);
        let due = now - last >= app.config.transactions.rebroadcast_after_ms as i64;
        if reorged || due || !rpc.rpc.knows(&t.tx_hash).await? {
            return broadcast(app, rpc, t, now).await;
        }
        return Ok(None);
    };
    let head = rpc.rpc.block_number().await?;
    let confirmations = head.saturating_add(1).saturating_sub(r.block_number);
    let fee = r.gas_used.saturating_mul(r.effective_gas_price);
    t.block_number = i64::try_from(r.block_number).ok();
    t.block_hash = Some(r.block_hash.clone());
    t.confirmations = i64::try_from(confirmations).ok();
    t.network_fee = Some(planbok_chains::format_amount(fee, NATIVE_DECIMALS));
    if confirmations < rpc.depth {
        return Ok(None);
    }
    if r.success {
        t.status = "confirmed".into();
        return Ok(Some("transaction.confirmed"));
    }
    t.status = "failed".into();
    t.error_reason = Some(revert_reason(rpc, t, r.block_number).await);
    Ok(Some("transaction.failed"))
}

/// Where a nonce's other transactions stand, for one of them without a receipt.
enum Family {
    /// Another one is mined deep enough: this one is settled (its event).
    Settled(&'static str),
    /// Another one is mined, not deep enough yet.
    Waiting,
    /// None of the others is mined.
    Open,
}

/// Settles `t` when another transaction of its nonce is mined at the chain's depth:
/// `cancelled` if that one replaced it (directly or through others), else `failed`.
async fn settle_family(
    store: &ServerStore,
    rpc: &super::ChainRpc,
    t: &mut TxRecord,
) -> Result<Family, RpcError> {
    let members = match store
        .nonce_family(&t.blockchain, &t.source_address, t.nonce)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(tx = %t.id, error = %e, "tracker: could not read the nonce's transactions");
            return Ok(Family::Waiting);
        }
    };
    for w in members.iter().filter(|m| m.id != t.id) {
        let Some(r) = rpc.rpc.receipt(&w.tx_hash).await? else {
            continue;
        };
        let head = rpc.rpc.block_number().await?;
        if head.saturating_add(1).saturating_sub(r.block_number) < rpc.depth {
            return Ok(Family::Waiting);
        }
        // Walk t's replacements: does one of them lead to w?
        let mut at = t.replaced_by.clone();
        let mut replaced = false;
        for _ in 0..members.len() {
            let Some(id) = at else { break };
            if id == w.id {
                replaced = true;
                break;
            }
            at = members
                .iter()
                .find(|m| m.id == id)
                .and_then(|m| m.replaced_by.clone());
        }
        let what = format!("transaction {} ({})", w.id, w.tx_hash);
        return Ok(Family::Settled(if replaced {
            t.status = "cancelled".into();
            t.error_reason = Some(format!(
                "replaced by {what}, mined in block {}",
                r.block_number
            ));
            "transaction.cancelled"
        } else {
            t.status = "failed".into();
            t.error_reason = Some(format!(
                "{what} took nonce {} first, in block {}",
                t.nonce, r.block_number
            ));
            "transaction.failed"
        }));
    }
    Ok(Family::Open)
}

/// Why a mined transaction reverted: its call replayed on the state before its block, and
/// if that succeeds (an earlier transaction of the same block changed the state), on the
/// state after it. Best effort; nodes do not keep a revert reason in the receipt.
async fn revert_reason(rpc: &super::ChainRpc, t: &TxRecord, block: u64) -> String {
    let Ok(raw) = hex::decode(t.raw_tx.trim_start_matches("0x")) else {
        return "execution reverted".into();
    };
    let Some(call) = replay_call(&raw, t) else {
        return "execution reverted".into();
    };
    for at in [block.saturating_sub(1), block] {
        match rpc.rpc.eth_call(&call, &format!("0x{at:x}")).await {
            Err(RpcError::Node { data: Some(d), .. }) => {
                let bytes = hex::decode(d.trim_start_matches("0x")).unwrap_or_default();
                return planbok_chains::revert_reason(&bytes);
            }
            Err(RpcError::Node { message, .. }) if message.contains("revert") => {
                return message;
            }
            _ => continue,
        }
    }
    "execution reverted (the node gives no reason)".into()
}

/// The call a signed transaction makes, from its stored bytes.
fn replay_call(raw: &[u8], t: &TxRecord) -> Option<CallRequest> {
    let c = planbok_chains::signed_call(raw)?;
    Some(CallRequest {
        from: planbok_chains::parse_evm_address(&t.source_address).ok(),
        to: c.to,
        value: c.value,
        data: c.data,
        gas: Some(c.gas_limit),
    })
}
