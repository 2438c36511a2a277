//! `planbok customer wallet-create|sign-message|sign-typed-data|sign-transaction|transfer|
//! contract-execution|replace|export`
//! (the organization's side: each makes a challenge and prints its Gateway URL), and the
//! completion of such a challenge as the end user (`planbok customer complete`): the PIN
//! is checked through Node 2, the operation shown, the organization key verified against
//! Node 1's identity key, and only then the customer secret encrypted to it, bound to
//! exactly the operations shown. An export's shares are opened here and written as the
//! platform's CSV; no server sees a key.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use planbok_sdk::Client;
use planbok_sdk::api::customer_ops::{
    CreateCustomerWallets, CustomerContractExecution, CustomerSignDelegateAction,
    CustomerSignMessage, CustomerSignTransaction, CustomerSignTypedData, CustomerTransfer,
    GatewayOperated,
};
use planbok_sdk::api::customers::{Challenge, CreateChallenge, GatewayChallenge};
use planbok_sdk::api::model::WalletMetadata;
use planbok_sdk::export::{ExportRecipientSecret, customer_csv};
use planbok_sdk::gateway::{GatewayError, PinError, PreparedPin, ops};
use planbok_sdk::trust::OrgKeyTrust;
use zeroize::Zeroizing;

use crate::client::Conn;

/// The organization's side: one challenge per call.
#[derive(clap::Subcommand)]
pub enum OpCommand {
    /// A wallet-creation challenge.
    WalletCreate {
        /// The customer.
        id: String,
        /// A chain (repeat), e.g. ETH-SEPOLIA.
        #[arg(long = "blockchain", required = true)]
        blockchains: Vec<String>,
        /// A name for the wallets of one index (repeat for more indexes).
        #[arg(long)]
        name: Vec<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A message-signing challenge.
    SignMessage {
        /// The customer.
        id: String,
        /// The customer's wallet.
        #[arg(long)]
        wallet: String,
        /// The message.
        #[arg(long)]
        message: String,
        /// The message is `0x`-hex.
        #[arg(long)]
        hex: bool,
        /// Shown to the user.
        #[arg(long)]
        memo: Option<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// An EIP-712 signing challenge.
    SignTypedData {
        /// The customer.
        id: String,
        /// The customer's wallet.
        #[arg(long)]
        wallet: String,
        /// The typed data, JSON.
        #[arg(long)]
        typed_data: String,
        /// Shown to the user.
        #[arg(long)]
        memo: Option<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A transaction-signing challenge.
    SignTransaction {
        /// The customer.
        id: String,
        /// The customer's wallet.
        #[arg(long)]
        wallet: String,
        /// The unsigned transaction, raw (EVM hex).
        #[arg(long, conflicts_with = "transaction")]
        raw_transaction: Option<String>,
        /// The transaction, JSON.
        #[arg(long)]
        transaction: Option<String>,
        /// Shown to the user.
        #[arg(long)]
        memo: Option<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A challenge to sign a NEAR delegate action (NEP-366) for a relayer.
    SignDelegateAction {
        /// The customer.
        id: String,
        /// The customer's NEAR wallet.
        #[arg(long)]
        wallet: String,
        /// The borsh `DelegateAction`, base64.
        #[arg(long)]
        action: String,
        /// Shown to the user.
        #[arg(long)]
        memo: Option<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A challenge to send a transfer from the customer's wallet (EVM).
    Transfer {
        /// The customer.
        id: String,
        /// The customer's wallet.
        #[arg(long)]
        wallet: String,
        /// The recipient.
        #[arg(long)]
        destination: String,
        /// A native coin's id or a registered token's (`planbok` tokens list).
        #[arg(long)]
        token_id: String,
        /// An amount (decimal; repeat for ERC-1155 batches).
        #[arg(long = "amount")]
        amounts: Vec<String>,
        /// An NFT token id (repeat).
        #[arg(long = "nft-token-id")]
        nft_token_ids: Vec<String>,
        /// low, medium or high.
        #[arg(long)]
        fee_level: Option<String>,
        /// Shown to the user.
        #[arg(long)]
        memo: Option<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A challenge to call a contract from the customer's wallet (EVM).
    ContractExecution {
        /// The customer.
        id: String,
        /// The customer's wallet.
        #[arg(long)]
        wallet: String,
        /// The contract.
        #[arg(long)]
        contract: String,
        /// E.g. `transfer(address,uint256)`.
        #[arg(long)]
        function: String,
        /// The parameters, a JSON array.
        #[arg(long, default_value = "[]")]
        params: String,
        /// Native coin sent with a payable call.
        #[arg(long)]
        amount: Option<String>,
        /// low, medium or high.
        #[arg(long)]
        fee_level: Option<String>,
        /// Shown to the user.
        #[arg(long)]
        memo: Option<String>,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A challenge to cancel (`--accelerate`: speed up) a customer's pending transaction.
    Replace {
        /// The customer.
        id: String,
        /// The transaction.
        transaction: String,
        /// Raise its fees instead of cancelling it.
        #[arg(long)]
        accelerate: bool,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A challenge to export every key of the customer.
    Export {
        /// The customer.
        id: String,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
}

fn key() -> Option<String> {
    Some(planbok_sdk::idempotency_key())
}

/// Makes the challenge and prints it (its `redirectUrl` is the Gateway URL).
pub fn run(conn: &Conn, cmd: OpCommand) -> Result<()> {
    let client = conn.client()?;
    let ch = match cmd {
        OpCommand::WalletCreate {
            id,
            blockchains,
            name,
            redirect_url,
        } => client.create_customer_wallets(
            &id,
            &CreateCustomerWallets {
                idempotency_key: key(),
                blockchains,
                account_type: Some("eoa".into()),
                metadata: name
                    .into_iter()
                    .map(|n| WalletMetadata {
                        name: Some(n),
                        ref_id: None,
                    })
                    .collect(),
                redirect_url,
            },
        )?,
        OpCommand::SignMessage {
            id,
            wallet,
            message,
            hex,
            memo,
            redirect_url,
        } => client.customer_sign_message(
            &id,
            &CustomerSignMessage {
                idempotency_key: key(),
                wallet_id: wallet,
                message,
                encoded_by_hex: hex,
                memo,
                redirect_url,
            },
        )?,
        OpCommand::SignTypedData {
            id,
            wallet,
            typed_data,
            memo,
            redirect_url,
        } => client.customer_sign_typed_data(
            &id,
            &CustomerSignTypedData {
                idempotency_key: key(),
                wallet_id: wallet,
                typed_data,
                memo,
                redirect_url,
            },
        )?,
        OpCommand::SignTransaction {
            id,
            wallet,
            raw_transaction,
            transaction,
            memo,
            redirect_url,
        } => client.customer_sign_transaction(
            &id,
            &CustomerSignTransaction {
                idempotency_key: key(),
                wallet_id: wallet,
                raw_transaction,
                transaction,
                memo,
                redirect_url,
            },
        )?,
        OpCommand::SignDelegateAction {
            id,
            wallet,
            action,
            memo,
            redirect_url,
        } => client.customer_sign_delegate_action(
            &id,
            &CustomerSignDelegateAction {
                idempotency_key: key(),
                wallet_id: wallet,
                unsigned_delegate_action: action,
                memo,
                redirect_url,
            },
        )?,
        OpCommand::Transfer {
            id,
            wallet,
            destination,
            token_id,
            amounts,
            nft_token_ids,
            fee_level,
            memo,
            redirect_url,
        } => client.customer_transfer(
            &id,
            &CustomerTransfer {
                idempotency_key: key(),
                wallet_id: wallet,
                destination_address: destination,
                token_id,
                amounts,
                nft_token_ids: (!nft_token_ids.is_empty()).then_some(nft_token_ids),
                fee_level,
                ref_id: None,
                memo,
                redirect_url,
            },
        )?,
        OpCommand::ContractExecution {
            id,
            wallet,
            contract,
            function,
            params,
            amount,
            fee_level,
            memo,
            redirect_url,
        } => client.customer_contract_execution(
            &id,
            &CustomerContractExecution {
                idempotency_key: key(),
                wallet_id: wallet,
                contract_address: contract,
                abi_function_signature: function,
                abi_parameters: serde_json::from_str(&params)
                    .context("--params must be a JSON array")?,
                amount,
                fee_level,
                ref_id: None,
                memo,
                redirect_url,
            },
        )?,
        OpCommand::Replace {
            id,
            transaction,
            accelerate,
            redirect_url,
        } => client.customer_replace_transaction(
            &id,
            &transaction,
            accelerate,
            &CreateChallenge {
                idempotency_key: key(),
                redirect_url,
            },
        )?,
        OpCommand::Export { id, redirect_url } => client.customer_export(
            &id,
            &CreateChallenge {
                idempotency_key: key(),
                redirect_url,
            },
        )?,
    };
    conn.print(&ch, |c: &Challenge| {
        println!("{}", c.redirect_url.as_deref().unwrap_or_default());
    })
}

/// Completes an operation challenge as the end user: one counted PIN attempt at Node 2,
/// then the authorization of exactly what [`ops::describe`] shows (printed to stderr).
/// An export's CSV goes to `out` (created 0600) or stdout.
pub fn complete(
    gw: &Client,
    ch: &GatewayChallenge,
    pin: &str,
    node_key: Option<&str>,
    out: Option<&Path>,
) -> Result<Challenge> {
    let node = node_key.context(
        "an operation challenge needs Node 1's identity key (--node-key or PLANBOK_NODE_KEY): \
         the customer secret is encrypted only to an organization key it signed",
    )?;
    let key = ops::trusted_key(ch, &OrgKeyTrust::parse_node_key(node)?)?;
    let mut ch = ch.clone();
    // A transaction takes its nonce and fees now (held for this challenge), before the
    // PIN attempt: a fee above what is shown costs no attempt.
    if let Some(t) = ch.operation.as_mut().and_then(|o| o.transaction.as_mut()) {
        t.prepared = Some(gw.gateway_prepare_transaction()?);
    }
    let ch = &ch;
    eprintln!("The customer authorizes:");
    for line in ops::describe(ch)? {
        eprintln!("  {line}");
    }
    let export = ch.operation.as_ref().and_then(|o| o.export.as_ref());
    let recipient = match export {
        Some(_) => {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut seed[..]).map_err(|e| anyhow::anyhow!("random: {e}"))?;
            Some(ExportRecipientSecret::from_bytes(&seed)?)
        }
        None => None,
    };
    let recipient_pk = recipient.as_ref().map(ExportRecipientSecret::public_key);
    let enrolled = ch.pin.as_ref().context("the customer has no PIN")?;
    let (prepared, req) = PreparedPin::existing_pin(pin, enrolled)?;
    let eval = gw.gateway_evaluate(&req)?;
    let opened = match prepared.open(ch, &eval) {
        Ok(o) => o,
        Err(GatewayError::Pin(PinError::WrongPin)) => bail!(
            "wrong PIN ({} attempt(s) left before the customer is locked)",
            eval.attempts_left
        ),
        Err(e) => return Err(e.into()),
    };
    let body = opened.authorize(ch, &key, recipient_pk.as_ref(), planbok_sdk::unix_now_ms())?;
    drop(opened);
    let done: GatewayOperated = gw.gateway_operate(&body)?;
    if let (Some(e), Some(sk)) = (export, &recipient) {
        let exported = done
            .exported
            .as_ref()
            .context("the export's answer carries no sealed shares")?;
        let csv = customer_csv(&ch.customer_id, e, exported, sk)?;
        match out {
            Some(path) => {
                crate::daemon::write_private(path, &csv)?;
                eprintln!(
                    "{} wallet key(s) written to {} (keep it secret)",
                    e.wallets.len(),
                    path.display()
                );
            }
            None => print!("{}", &*csv),
        }
    }
    Ok(done.challenge)
}
