//! The call a transfer makes, computed from what it names (the token, the recipient, the
//! amounts, the NFT ids). One home for both parties that compute it: the server, which
//! builds the transaction, and a customer's Gateway, which rebuilds it from what it showed
//! the user before it authorizes the signature (`docs/customer-custody.md`).

use alloy_primitives::{Address, U256};
use planbok_api::customer_ops::GatewayTransaction;
use serde_json::json;

use crate::abi::AbiFunction;
use crate::transfer::{erc20_transfer_data, parse_amount};

/// The most token ids one ERC-1155 batch transfer moves.
pub const MAX_NFT_IDS: usize = 100;

/// The token a transfer moves, as the organization's registry has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferToken {
    /// The chain's coin (18 decimals on every EVM chain of the registry).
    Native,
    /// An ERC-20 at `contract` with `decimals`.
    Erc20 {
        /// The token contract.
        contract: Address,
        /// Its `decimals()`.
        decimals: u8,
    },
    /// An ERC-721 collection.
    Erc721 {
        /// The collection contract.
        contract: Address,
    },
    /// An ERC-1155 contract.
    Erc1155 {
        /// The contract.
        contract: Address,
    },
}

impl TransferToken {
    /// The token of a registry entry: its `standard` (`native`, `erc20`, `erc721`,
    /// `erc1155`), contract `address` (none for the native coin) and `decimals`.
    pub fn from_standard(
        standard: &str,
        address: Option<&str>,
        decimals: u8,
    ) -> Result<TransferToken, String> {
        let contract = || {
            crate::transfer::parse_evm_address(address.unwrap_or_default())
                .map_err(|e| format!("token address: {e}"))
        };
        Ok(match standard {
            "native" => TransferToken::Native,
            "erc20" => TransferToken::Erc20 {
                contract: contract()?,
                decimals,
            },
            "erc721" => TransferToken::Erc721 {
                contract: contract()?,
            },
            "erc1155" => TransferToken::Erc1155 {
                contract: contract()?,
            },
            other => return Err(format!("token standard {other:?} cannot be transferred")),
        })
    }
}

/// An EVM call: the account called, the wei sent, the call data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmCall {
    /// The account called: the recipient, or a contract.
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Call data (empty for a plain transfer).
    pub data: Vec<u8>,
}

/// What a transfer calls, and its amounts as the record keeps them: a native transfer, an
/// ERC-20 `transfer(to, amount)`, an ERC-721 `safeTransferFrom(from, to, id)`, or an
/// ERC-1155 `safeTransferFrom(from, to, id, amount, "")` /
/// `safeBatchTransferFrom(from, to, ids, amounts, "")`. An error says which field is
/// wrong, in words the API returns as they are.
pub fn transfer_call(
    token: &TransferToken,
    from: Address,
    destination: Address,
    amounts: &[String],
    nft_token_ids: Option<&[String]>,
) -> Result<(EvmCall, Vec<String>), String> {
    let (contract, erc721) = match *token {
        TransferToken::Erc721 { contract } => (contract, true),
        TransferToken::Erc1155 { contract } => (contract, false),
        TransferToken::Native | TransferToken::Erc20 { .. } => {
            if nft_token_ids.is_some_and(|ids| !ids.is_empty()) {
                return Err("nftTokenIds is for erc721 and erc1155 tokens".into());
            }
            let [amount] = amounts else {
                return Err("amounts must hold exactly one amount".into());
            };
            let decimals = match *token {
                TransferToken::Erc20 { decimals, .. } => decimals,
                _ => 18,
            };
            let units = parse_amount(amount, decimals).map_err(|e| format!("amounts: {e}"))?;
            if units.is_zero() {
                return Err("amounts: the amount must be positive".into());
            }
            let call = match *token {
                TransferToken::Erc20 { contract, .. } => EvmCall {
                    to: contract,
                    value: U256::ZERO,
                    data: erc20_transfer_data(destination, units),
                },
                _ => EvmCall {
                    to: destination,
                    value: units,
                    data: Vec::new(),
                },
            };
            return Ok((call, amounts.to_vec()));
        }
    };
    let standard = if erc721 { "erc721" } else { "erc1155" };
    let ids = nft_token_ids.unwrap_or_default();
    if ids.is_empty() {
        return Err(format!(
            "a transfer of an {standard} token names its token ids in nftTokenIds"
        ));
    }
    for id in ids {
        whole("nftTokenIds", id)?;
    }
    let addr = |a: Address| json!(format!("{a:#x}"));
    let (signature, params, recorded) = if erc721 {
        let [id] = ids else {
            return Err(
                "an erc721 transfer moves exactly one token id (one transaction per NFT)".into(),
            );
        };
        if !(amounts.is_empty() || amounts == ["1"]) {
            return Err("amounts of an erc721 transfer is empty or [\"1\"]".into());
        }
        (
            "safeTransferFrom(address,address,uint256)",
            vec![addr(from), addr(destination), json!(id)],
            vec!["1".to_owned()],
        )
    } else {
        if ids.len() > MAX_NFT_IDS {
            return Err(format!(
                "an erc1155 transfer moves at most {MAX_NFT_IDS} token ids"
            ));
        }
        if amounts.len() != ids.len() {
            return Err(
                "an erc1155 transfer gives one amount per token id (amounts[i] of nftTokenIds[i])"
                    .into(),
            );
        }
        for a in amounts {
            if whole("amounts", a)?.is_zero() {
                return Err("amounts: each amount must be positive".into());
            }
        }
        if let ([id], [amount]) = (ids, amounts) {
            (
                "safeTransferFrom(address,address,uint256,uint256,bytes)",
                vec![
                    addr(from),
                    addr(destination),
                    json!(id),
                    json!(amount),
                    json!("0x"),
                ],
                amounts.to_vec(),
            )
        } else {
            (
                "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)",
                vec![
                    addr(from),
                    addr(destination),
                    json!(ids),
                    json!(amounts),
                    json!("0x"),
                ],
                amounts.to_vec(),
            )
        }
    };
    let data = AbiFunction::parse(signature).and_then(|f| f.encode(&params))?;
    Ok((
        EvmCall {
            to: contract,
            value: U256::ZERO,
            data,
        },
        recorded,
    ))
}

/// What a customer's transaction calls, named as its Gateway shows it: both the server
/// (which builds the transaction) and the Gateway (which rebuilds it before it authorizes
/// the signature) compute the call from this, never from call data the other supplies.
#[derive(Debug, Clone, Copy)]
pub enum CallSpec<'a> {
    /// A transfer ([`transfer_call`]).
    Transfer {
        /// The token.
        token: TransferToken,
        /// The recipient.
        destination: &'a str,
        /// The amounts.
        amounts: &'a [String],
        /// ERC-721 / ERC-1155 ids.
        nft_token_ids: Option<&'a [String]>,
    },
    /// A contract call.
    Contract {
        /// The contract.
        contract: &'a str,
        /// The function's signature.
        signature: &'a str,
        /// Its parameters.
        params: &'a [serde_json::Value],
        /// Native coin sent (decimal, 18 places).
        amount: Option<&'a str>,
    },
    /// A cancel: 0 to the sender itself.
    Cancel {
        /// The sender.
        from: Address,
    },
    /// An accelerate: the replaced transaction's own call.
    Repeat {
        /// `0x`-hex address.
        to: &'a str,
        /// Wei, decimal.
        value: &'a str,
        /// `0x`-hex call data.
        data: &'a str,
    },
}

impl CallSpec<'_> {
    /// The call, sent from `from`.
    pub fn call(&self, from: Address) -> Result<EvmCall, String> {
        match *self {
            CallSpec::Transfer {
                token,
                destination,
                amounts,
                nft_token_ids,
            } => {
                let destination = crate::transfer::parse_evm_address(destination)
                    .map_err(|e| format!("destinationAddress: {e}"))?;
                transfer_call(&token, from, destination, amounts, nft_token_ids).map(|(c, _)| c)
            }
            CallSpec::Contract {
                contract,
                signature,
                params,
                amount,
            } => Ok(EvmCall {
                to: crate::transfer::parse_evm_address(contract)
                    .map_err(|e| format!("contractAddress: {e}"))?,
                value: match amount {
                    Some(a) => parse_amount(a, 18).map_err(|e| format!("amount: {e}"))?,
                    None => U256::ZERO,
                },
                data: AbiFunction::parse(signature)?.encode(params)?,
            }),
            CallSpec::Cancel { from: sender } => Ok(EvmCall {
                to: sender,
                value: U256::ZERO,
                data: Vec::new(),
            }),
            CallSpec::Repeat { to, value, data } => Ok(EvmCall {
                to: crate::transfer::parse_evm_address(to).map_err(|e| format!("to: {e}"))?,
                value: parse_amount(value, 0).map_err(|e| format!("value: {e}"))?,
                data: hex::decode(data.trim_start_matches("0x"))
                    .map_err(|e| format!("data: {e}"))?,
            }),
        }
    }
}

/// The call a customer's transaction plan makes, sent from the plan's own wallet address:
/// the one mapping of a plan's parts onto a [`CallSpec`] that the server (building the
/// transaction) and the Gateway (rebuilding it before it authorizes) both run.
pub fn customer_call(t: &GatewayTransaction) -> Result<EvmCall, String> {
    let from = crate::transfer::parse_evm_address(&t.address)
        .map_err(|e| format!("wallet address: {e}"))?;
    let spec = match t.what.as_str() {
        "transfer" => {
            let token = t.token.as_ref().ok_or("a transfer without its token")?;
            CallSpec::Transfer {
                token: TransferToken::from_standard(
                    &token.standard,
                    token.address.as_deref(),
                    token.decimals,
                )?,
                destination: t.destination_address.as_deref().unwrap_or_default(),
                amounts: &t.amounts,
                nft_token_ids: t.nft_token_ids.as_deref(),
            }
        }
        "contract_execution" => CallSpec::Contract {
            contract: t.contract_address.as_deref().unwrap_or_default(),
            signature: t.abi_function_signature.as_deref().unwrap_or_default(),
            params: t.abi_parameters.as_deref().unwrap_or_default(),
            amount: t.amount.as_deref(),
        },
        "cancel" => CallSpec::Cancel { from },
        "accelerate" => {
            let r = t
                .replaces
                .as_ref()
                .ok_or("an accelerate without its original")?;
            CallSpec::Repeat {
                to: &r.to,
                value: &r.value,
                data: &r.data,
            }
        }
        other => return Err(format!("transaction kind {other:?}")),
    };
    spec.call(from)
}

/// A whole, non-negative decimal (a token id or an NFT amount).
fn whole(field: &str, s: &str) -> Result<U256, String> {
    parse_amount(s, 0).map_err(|e| format!("{field}: {s:?} is not a whole number: {e}"))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    #[test]
    fn native_and_erc20_calls() {
        let (c, amounts) =
            transfer_call(&TransferToken::Native, a(1), a(2), &["1.5".into()], None).unwrap();
        assert_eq!(c.to, a(2));
        assert_eq!(c.value, U256::from(1_500_000_000_000_000_000u128));
        assert!(c.data.is_empty());
        assert_eq!(amounts, ["1.5"]);
        let t = TransferToken::Erc20 {
            contract: a(9),
            decimals: 6,
        };
        let (c, _) = transfer_call(&t, a(1), a(2), &["2".into()], None).unwrap();
        assert_eq!(c.to, a(9));
        assert_eq!(c.value, U256::ZERO);
        assert_eq!(c.data, erc20_transfer_data(a(2), U256::from(2_000_000u64)));
        // Too many decimals, zero, two amounts, NFT ids: each refused in words.
        for (amounts, ids) in [
            (vec!["0.0000001".to_owned()], None),
            (vec!["0".to_owned()], None),
            (vec!["1".to_owned(), "2".to_owned()], None),
            (vec!["1".to_owned()], Some(vec!["7".to_owned()])),
        ] {
            assert!(transfer_call(&t, a(1), a(2), &amounts, ids.as_deref()).is_err());
        }
    }

    #[test]
    fn nft_calls() {
        let t721 = TransferToken::Erc721 { contract: a(7) };
        let (c, amounts) = transfer_call(&t721, a(1), a(2), &[], Some(&["42".into()])).unwrap();
        assert_eq!(c.to, a(7));
        assert_eq!(&c.data[..4], &[0x42, 0x84, 0x2e, 0x0e]);
        assert_eq!(amounts, ["1"]);
        assert!(transfer_call(&t721, a(1), a(2), &[], Some(&["1".into(), "2".into()])).is_err());
        assert!(transfer_call(&t721, a(1), a(2), &[], None).is_err());
        let t1155 = TransferToken::Erc1155 { contract: a(8) };
        let (one, _) =
            transfer_call(&t1155, a(1), a(2), &["3".into()], Some(&["5".into()])).unwrap();
        let (batch, _) = transfer_call(
            &t1155,
            a(1),
            a(2),
            &["3".into(), "4".into()],
            Some(&["5".into(), "6".into()]),
        )
        .unwrap();
        assert_ne!(one.data[..4], batch.data[..4]);
        assert!(transfer_call(&t1155, a(1), a(2), &["3".into()], Some(&[])).is_err());
        assert!(
            transfer_call(
                &t1155,
                a(1),
                a(2),
                &["3".into()],
                Some(&["5".into(), "6".into()])
            )
            .is_err()
        );
    }

    #[test]
    fn tokens_from_the_registry() {
        assert_eq!(
            TransferToken::from_standard("native", None, 18).unwrap(),
            TransferToken::Native
        );
        let addr = "0x0101010101010101010101010101010101010101";
        assert_eq!(
            TransferToken::from_standard("erc20", Some(addr), 6).unwrap(),
            TransferToken::Erc20 {
                contract: a(1),
                decimals: 6
            }
        );
        assert!(TransferToken::from_standard("erc20", None, 6).is_err());
        assert!(TransferToken::from_standard("bep2", Some(addr), 6).is_err());
    }
}
