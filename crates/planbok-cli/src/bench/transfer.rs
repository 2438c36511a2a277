//! The transfer operations of `planbok bench`: native ETH-SEPOLIA transfers through
//! `POST /v2/organization/transactions/transfer`, timed to the server's answer
//! (`transfer`: planned, signed and recorded, the broadcast under way) or to the state
//! `confirmed` (`transfer-confirmed`: polled every 25 ms). The wallets are funded first
//! from an EVM node's unlocked account (`--fund-rpc`, e.g. anvil's dev accounts); the
//! server must point `[chains.ETH-SEPOLIA] rpc_url` at the same node.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use planbok_sdk::Client;
use planbok_sdk::api::model::CreateTransfer;
use serde_json::{Value, json};

/// What each wallet gets before the load: 10 ETH.
const FUNDING_WEI: u128 = 10_000_000_000_000_000_000;
/// What each transfer sends (1 gwei), to an address nobody holds.
const AMOUNT: &str = "0.000000001";
const RECIPIENT: &str = "0x000000000000000000000000000000000000bEEF";
/// How long `transfer-confirmed` waits before it counts the transfer as unsettled.
const SETTLE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(25);

/// The native token id of ETH-SEPOLIA, which must be configured at the server.
pub(super) fn native_token(client: &Client) -> Result<String> {
    let (status, meta) = client.raw("GET", "/v2/tokens/metadata", None)?;
    if status != 200 {
        bail!("GET /v2/tokens/metadata: {status} {meta}");
    }
    let chain = meta["data"]["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["blockchain"] == "ETH-SEPOLIA")
        .context("the server lists no ETH-SEPOLIA")?;
    if chain["configured"] != true {
        bail!("the server has no RPC for ETH-SEPOLIA ([chains.ETH-SEPOLIA] rpc_url)");
    }
    chain["nativeTokenId"]
        .as_str()
        .map(str::to_owned)
        .context("ETH-SEPOLIA has no native token id")
}

/// One JSON-RPC call to `url`; an error answer is an error. Errors name the method, not
/// the URL (a provider's URL often carries its API key).
fn rpc(agent: &ureq::Agent, url: &str, method: &str, params: Value) -> Result<Value> {
    let mut resp = agent
        .post(url)
        .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .with_context(|| format!("{method} at the funding RPC"))?;
    let body: Value = resp.body_mut().read_json()?;
    if !body["error"].is_null() {
        bail!("{method} at the funding RPC: {}", body["error"]);
    }
    Ok(body["result"].clone())
}

/// Sends `FUNDING_WEI` to each of `addresses` from the node's first unlocked account and
/// waits until every funding transaction is mined successfully.
pub(super) fn fund(url: &str, addresses: &[String]) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let from = rpc(&agent, url, "eth_accounts", json!([]))?[0]
        .as_str()
        .map(str::to_owned)
        .context("the funding node has no unlocked account (eth_accounts is empty)")?;
    let mut hashes = Vec::with_capacity(addresses.len());
    for to in addresses {
        let tx = json!({"from": from, "to": to, "value": format!("0x{FUNDING_WEI:x}")});
        hashes.push(rpc(&agent, url, "eth_sendTransaction", json!([tx]))?);
    }
    let deadline = Instant::now() + SETTLE;
    for hash in hashes {
        loop {
            let receipt = rpc(&agent, url, "eth_getTransactionReceipt", json!([hash]))?;
            if !receipt.is_null() {
                if receipt["status"] != "0x1" {
                    bail!("funding transaction {hash} reverted");
                }
                break;
            }
            if Instant::now() > deadline {
                bail!("funding transaction {hash} was not mined (is the node mining?)");
            }
            std::thread::sleep(POLL);
        }
    }
    eprintln!(
        "funded {} wallets with {} ETH each from {from}",
        addresses.len(),
        FUNDING_WEI / 1_000_000_000_000_000_000
    );
    Ok(())
}

/// One transfer from `wallet`; with `confirmed`, also waits for its confirmation. The
/// error is the label the report counts: the API's code, or `tx_<status>` for a transfer
/// that ended otherwise, `tx_unsettled` for one still open after [`SETTLE`].
pub(super) fn transfer(
    client: &Client,
    wallet: &str,
    token_id: &str,
    secret: Option<String>,
    confirmed: bool,
) -> Result<(), String> {
    let tx = client
        .transfer(&CreateTransfer {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            wallet_id: wallet.into(),
            destination_address: RECIPIENT.into(),
            token_id: token_id.into(),
            amounts: vec![AMOUNT.into()],
            nft_token_ids: None,
            fee_level: None,
            ref_id: Some("planbok bench".into()),
            encrypted_organization_secret: secret,
        })
        .map_err(|e| super::label(&e))?;
    if !confirmed {
        return Ok(());
    }
    let deadline = Instant::now() + SETTLE;
    let mut status = tx.status;
    while Instant::now() < deadline {
        match status.as_str() {
            "confirmed" => return Ok(()),
            "failed" | "cancelled" => return Err(format!("tx_{status}")),
            _ => {}
        }
        std::thread::sleep(POLL);
        status = client
            .transaction(&tx.id)
            .map_err(|e| super::label(&e))?
            .status;
    }
    Err("tx_unsettled".into())
}
