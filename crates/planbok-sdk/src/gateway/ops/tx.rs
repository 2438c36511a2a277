//! A customer transaction in the Gateway: the call rebuilt from the parts shown, the
//! prepared nonce and fees checked against what was shown, and the words shown.

use planbok_api::customer_ops::GatewayTransaction;
use planbok_chains::{Eip1559Fields, EvmCall, U256};

use super::hex_bytes;
use crate::gateway::GatewayError;

/// The call a transaction plan makes, computed here from the parts the Gateway shows (the
/// token, recipient and amounts; the contract, function and parameters; a cancel's
/// self-transfer; an accelerate's original call), never from call data the server sends
/// (`planbok_chains::customer_call`, the server's own mapping).
pub fn transaction_call(t: &GatewayTransaction) -> Result<EvmCall, GatewayError> {
    planbok_chains::customer_call(t).map_err(GatewayError::Request)
}

/// The exact input a prepared transaction signs: the call rebuilt here
/// ([`transaction_call`]) with the prepared nonce and fees. Refused when the fee can
/// exceed the most the user was shown, the gas limit is not the one shown, or a
/// replacement does not take its original's nonce.
pub fn transaction_input(
    t: &GatewayTransaction,
) -> Result<planbok_chains::SignInput, GatewayError> {
    let p = t
        .prepared
        .as_ref()
        .ok_or(GatewayError::Malformed("the transaction is not prepared"))?;
    let chain = planbok_chains::Chain::parse(&t.blockchain)
        .map_err(|e| GatewayError::Request(e.to_string()))?;
    let call = transaction_call(t)?;
    if p.gas_limit != t.gas_limit {
        return Err(GatewayError::Request(format!(
            "the prepared gas limit {} is not the {} shown",
            p.gas_limit, t.gas_limit
        )));
    }
    let number =
        |what: &'static str, v: &str| v.parse::<u128>().map_err(|_| GatewayError::Malformed(what));
    let gas_limit = p
        .gas_limit
        .parse::<u64>()
        .map_err(|_| GatewayError::Malformed("gas limit"))?;
    let max_fee = number("maxFeePerGas", &p.max_fee_per_gas)?;
    let tip = number("maxPriorityFeePerGas", &p.max_priority_fee_per_gas)?;
    let cap = planbok_chains::parse_amount(&t.max_network_fee, 18)
        .map_err(|_| GatewayError::Malformed("maxNetworkFee"))?;
    if U256::from(gas_limit) * U256::from(max_fee) > cap {
        return Err(GatewayError::Request(format!(
            "the prepared network fee ({}) exceeds the most shown ({})",
            p.network_fee, t.max_network_fee
        )));
    }
    if let Some(r) = &t.replaces
        && r.nonce != p.nonce
    {
        return Err(GatewayError::Request(format!(
            "a replacement of nonce {} was prepared with nonce {}",
            r.nonce, p.nonce
        )));
    }
    let fields = Eip1559Fields {
        nonce: p.nonce,
        to: call.to,
        value: call.value,
        data: call.data,
        gas_limit,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
    };
    planbok_chains::eip1559_input(
        chain,
        &fields,
        &hex_bytes("wallet public key", &t.public_key)?,
    )
    .map_err(|e| GatewayError::Request(e.to_string()))
}

/// What a transaction plan sends, in words.
pub(super) fn describe_transaction(t: &GatewayTransaction) -> Result<Vec<String>, GatewayError> {
    let mut out = vec![format!("From {} ({})", t.address, t.blockchain)];
    match t.what.as_str() {
        "transfer" => {
            let token = t
                .token
                .as_ref()
                .ok_or(GatewayError::Malformed("transfer without its token"))?;
            let to = t.destination_address.as_deref().unwrap_or_default();
            match &t.nft_token_ids {
                Some(ids) if !ids.is_empty() => out.push(format!(
                    "Send {} token(s) #{} (amounts {}) to {to}",
                    token.symbol,
                    ids.join(", #"),
                    t.amounts.join(", ")
                )),
                _ => out.push(format!(
                    "Send {} {} to {to}",
                    t.amounts.join(", "),
                    token.symbol
                )),
            }
            if let Some(a) = &token.address {
                out.push(format!("Token contract: {a}"));
            }
        }
        "contract_execution" => {
            out.push(format!(
                "Call {} on {}",
                t.abi_function_signature.as_deref().unwrap_or_default(),
                t.contract_address.as_deref().unwrap_or_default()
            ));
            out.push(format!(
                "Parameters: {}",
                serde_json::Value::Array(t.abi_parameters.clone().unwrap_or_default())
            ));
            if let Some(a) = &t.amount {
                out.push(format!("Value: {a}"));
            }
        }
        "cancel" | "accelerate" => {
            let r = t
                .replaces
                .as_ref()
                .ok_or(GatewayError::Malformed("replacement without its original"))?;
            let verb = if t.what == "cancel" {
                "Cancel"
            } else {
                "Speed up"
            };
            out.push(format!(
                "{verb} transaction {} (nonce {}, {} to {}, value {} wei)",
                r.transaction_hash, r.nonce, r.operation, r.to, r.value
            ));
        }
        _ => return Err(GatewayError::Malformed("transaction kind")),
    }
    out.push(format!(
        "Network fee: at most {} ({} fee level)",
        t.max_network_fee, t.fee_level
    ));
    if let Some(p) = &t.prepared {
        out.push(format!(
            "Prepared: nonce {}, network fee at most {}",
            p.nonce, p.network_fee
        ));
    }
    if let Some(m) = &t.memo {
        out.push(format!("Memo: {m}"));
    }
    Ok(out)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use planbok_api::customer_ops::{GatewayPrepared, GatewayReplaced, GatewayToken};

    use super::*;

    /// secp256k1's generator, compressed: a valid public key.
    const G: &str = "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    const TO: &str = "0x000000000000000000000000000000000000bEEF";

    fn plan() -> GatewayTransaction {
        GatewayTransaction {
            what: "transfer".into(),
            wallet_id: "w".into(),
            blockchain: "ETH-SEPOLIA".into(),
            address: "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf".into(),
            public_key: G.into(),
            key_id: "kc_1".into(),
            derivation_path: "m/44/60/0/0".into(),
            destination_address: Some(TO.into()),
            token: Some(GatewayToken {
                id: "eth".into(),
                standard: "native".into(),
                symbol: "ETH".into(),
                decimals: 18,
                address: None,
            }),
            amounts: vec!["1.5".into()],
            nft_token_ids: None,
            contract_address: None,
            abi_function_signature: None,
            abi_parameters: None,
            amount: None,
            replaces: None,
            fee_level: "medium".into(),
            gas_limit: "21000".into(),
            // 21000 gas at up to 3 gwei.
            max_network_fee: "0.000063".into(),
            ref_id: None,
            memo: None,
            prepared: Some(GatewayPrepared {
                nonce: 7,
                gas_limit: "21000".into(),
                max_fee_per_gas: "2000000000".into(),
                max_priority_fee_per_gas: "1000000000".into(),
                network_fee: "0.000042".into(),
                expires_at: "2026-12-01T00:00:00Z".into(),
            }),
        }
    }

    fn expected(to: &str, value: U256, data: Vec<u8>, nonce: u64) -> Vec<u8> {
        let f = Eip1559Fields {
            nonce,
            to: planbok_chains::parse_evm_address(to).unwrap(),
            value,
            data,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
        };
        planbok_chains::eip1559_input(
            planbok_chains::Chain::parse("ETH-SEPOLIA").unwrap(),
            &f,
            &hex::decode(&G[2..]).unwrap(),
        )
        .unwrap()
        .payload
    }

    /// The signing digest is the transfer shown, built here: the recipient and the amount
    /// shown, the prepared nonce and fees.
    #[test]
    fn a_transfer_is_rebuilt_from_what_is_shown() {
        let t = plan();
        let wei = U256::from(1_500_000_000_000_000_000u128);
        assert_eq!(
            transaction_input(&t).unwrap().payload,
            expected(TO, wei, Vec::new(), 7)
        );
        // Another amount shown is another digest: nothing the server sends beside the
        // parts changes what is signed.
        let mut other = plan();
        other.amounts = vec!["2".into()];
        assert_ne!(
            transaction_input(&other).unwrap().payload,
            transaction_input(&t).unwrap().payload
        );
        // An ERC-20: the token contract is called with transfer(recipient, units).
        let mut erc20 = plan();
        erc20.token = Some(GatewayToken {
            id: "tt".into(),
            standard: "erc20".into(),
            symbol: "TT".into(),
            decimals: 6,
            address: Some("0x0101010101010101010101010101010101010101".into()),
        });
        let data = planbok_chains::erc20_transfer_data(
            planbok_chains::parse_evm_address(TO).unwrap(),
            U256::from(1_500_000u64),
        );
        assert_eq!(
            transaction_input(&erc20).unwrap().payload,
            expected(
                "0x0101010101010101010101010101010101010101",
                U256::ZERO,
                data,
                7
            )
        );
    }

    #[test]
    fn a_prepared_transaction_beyond_what_is_shown_is_refused() {
        // A fee above the most shown.
        let mut t = plan();
        t.prepared.as_mut().unwrap().max_fee_per_gas = "3000000001".into();
        assert!(matches!(
            transaction_input(&t),
            Err(GatewayError::Request(_))
        ));
        // Another gas limit.
        let mut t = plan();
        t.prepared.as_mut().unwrap().gas_limit = "21001".into();
        assert!(transaction_input(&t).is_err());
        // Not prepared.
        let mut t = plan();
        t.prepared = None;
        assert!(transaction_input(&t).is_err());
        // A replacement on another nonce than its original's.
        let mut t = plan();
        t.what = "cancel".into();
        t.replaces = Some(GatewayReplaced {
            transaction_id: "t".into(),
            transaction_hash: "0x00".into(),
            nonce: 6,
            to: TO.into(),
            value: "0".into(),
            data: "0x".into(),
            operation: "TRANSFER".into(),
        });
        assert!(transaction_input(&t).is_err());
        // On its own nonce, a cancel is 0 to the sender itself.
        t.replaces.as_mut().unwrap().nonce = 7;
        assert_eq!(
            transaction_input(&t).unwrap().payload,
            expected(&t.address, U256::ZERO, Vec::new(), 7)
        );
        // An unknown kind or token standard is not guessed at.
        let mut t = plan();
        t.what = "mint".into();
        assert!(transaction_input(&t).is_err());
        let mut t = plan();
        t.token.as_mut().unwrap().standard = "bep2".into();
        assert!(transaction_input(&t).is_err());
    }
}
