//! `planbok contract exec|call|estimate`: contract execution, read-only view calls and
//! their fee estimates over `planbok-sdk` (`docs/transactions.md`).

use anyhow::{Context as _, Result, bail};
use planbok_sdk::api::model::{ContractViewCall, CreateContractExecution, EstimateContractFee};
use serde_json::Value;

use crate::client::Conn;
use crate::tx::{print_tx, sign_secret};

/// The function and its parameters.
#[derive(clap::Args)]
pub struct Function {
    /// The contract's address.
    #[arg(long)]
    contract: String,
    /// A Solidity function, e.g. `transfer(address,uint256)`; for `call`, add
    /// `returns (…)` to have the answer decoded.
    #[arg(long)]
    function: String,
    /// A parameter, in order (repeat the flag); alloy's value syntax: `1000`, `0x…`,
    /// `true`, `[1,2]`, `(1,0xab)`.
    #[arg(long = "param")]
    params: Vec<String>,
    /// All parameters as one JSON array instead (e.g. `'["0x…", "1000"]'`).
    #[arg(long, conflicts_with = "params")]
    params_json: Option<String>,
}

impl Function {
    fn params(&self) -> Result<Vec<Value>> {
        match &self.params_json {
            Some(j) => {
                let v: Value = serde_json::from_str(j).context("--params-json is not JSON")?;
                match v {
                    Value::Array(items) => Ok(items),
                    _ => bail!("--params-json must be a JSON array"),
                }
            }
            None => Ok(self.params.iter().cloned().map(Value::String).collect()),
        }
    }
}

/// `planbok contract …`.
#[derive(clap::Subcommand)]
pub enum ContractCommand {
    /// Sign and send a contract call from a wallet (broadcast by the server's tracker).
    Exec {
        /// The sending wallet's id.
        #[arg(long)]
        wallet: String,
        #[command(flatten)]
        function: Function,
        /// Native coin sent with the call (payable functions), decimal.
        #[arg(long)]
        amount: Option<String>,
        /// `low`, `medium` or `high`.
        #[arg(long, default_value = "medium")]
        fee_level: String,
        /// Your reference.
        #[arg(long)]
        ref_id: Option<String>,
        /// The idempotency key (a UUID v4; a new one by default). Retry with the same key.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// A read-only call: nothing signed, nothing stored.
    Call {
        /// The calling wallet (names the chain too).
        #[arg(long, conflicts_with_all = ["from", "blockchain"])]
        wallet: Option<String>,
        /// Or the chain…
        #[arg(long, required_unless_present = "wallet")]
        blockchain: Option<String>,
        /// …and any caller address.
        #[arg(long)]
        from: Option<String>,
        #[command(flatten)]
        function: Function,
    },
    /// The fee levels of a contract call.
    Estimate {
        /// The sending wallet's id.
        #[arg(long)]
        wallet: String,
        #[command(flatten)]
        function: Function,
        /// Native coin sent with the call, decimal.
        #[arg(long)]
        amount: Option<String>,
    },
}

/// Runs `planbok contract …`.
pub fn contract(conn: &Conn, cmd: ContractCommand) -> Result<()> {
    let client = conn.client()?;
    match cmd {
        ContractCommand::Exec {
            wallet,
            function,
            amount,
            fee_level,
            ref_id,
            idempotency_key,
        } => {
            let abi_parameters = function.params()?;
            let secret = sign_secret(conn, &client)?;
            let t = client.execute_contract(&CreateContractExecution {
                idempotency_key: Some(idempotency_key.unwrap_or_else(planbok_sdk::idempotency_key)),
                wallet_id: wallet,
                contract_address: function.contract,
                abi_function_signature: function.function,
                abi_parameters,
                amount,
                fee_level: Some(fee_level),
                ref_id,
                encrypted_organization_secret: secret,
            })?;
            conn.print(&t, print_tx)
        }
        ContractCommand::Call {
            wallet,
            blockchain,
            from,
            function,
        } => {
            let abi_parameters = function.params()?;
            let r = client.call_contract(&ContractViewCall {
                wallet_id: wallet,
                from_address: from,
                blockchain,
                contract_address: function.contract,
                abi_function_signature: function.function,
                abi_parameters,
            })?;
            conn.print(&r, |r| match &r.result {
                Some(values) => {
                    for v in values {
                        match v {
                            Value::String(s) => println!("{s}"),
                            v => println!("{v}"),
                        }
                    }
                }
                None => println!("{}", r.data),
            })
        }
        ContractCommand::Estimate {
            wallet,
            function,
            amount,
        } => {
            let abi_parameters = function.params()?;
            let e = client.estimate_contract_fee(&EstimateContractFee {
                wallet_id: wallet,
                contract_address: function.contract,
                abi_function_signature: function.function,
                abi_parameters,
                amount,
            })?;
            conn.print(&e, |e| {
                for (name, l) in [("low", &e.low), ("medium", &e.medium), ("high", &e.high)] {
                    println!(
                        "{name:<6} gas {} maxFeePerGas {} tip {} (at most {})",
                        l.gas_limit, l.max_fee_per_gas, l.max_priority_fee_per_gas, l.network_fee
                    );
                }
            })
        }
    }
}
