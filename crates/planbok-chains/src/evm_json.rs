//! The JSON form of an EVM transaction: `{type?, chainId?, from?, nonce, to?, value?, data?,
//! gas | gasLimit, gasPrice | maxFeePerGas + maxPriorityFeePerGas, accessList?}`. Numbers are
//! JSON integers, decimal strings or `0x`-hex strings. Unknown fields are refused, so that a
//! typo (`gasLimt`) cannot silently change what is signed.

use alloy_consensus::{TxEip1559, TxEip2930, TxLegacy};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, U256};
use serde_json::{Map, Value};

use crate::address::parse_evm_address;
use crate::chain::Chain;
use crate::error::{ChainError, tx};
use crate::evm::{Tx, bytes, check_chain_id, kind};

const FIELDS: &[&str] = &[
    "type",
    "chainId",
    "from",
    "nonce",
    "to",
    "value",
    "data",
    "gas",
    "gasLimit",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "accessList",
];

pub(crate) fn parse(chain: Chain, json: &str, signer: Address) -> Result<Tx, ChainError> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| tx(format!("transaction is not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(tx("transaction JSON must be an object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(tx(format!("unknown transaction field {unknown:?}")));
    }
    let f = Fields(&obj);

    let expected = chain.evm_chain_id().unwrap_or_default();
    if let Some(id) = f.u64("chainId")? {
        check_chain_id(chain, id)?;
    }
    if let Some(from) = f.get("from") {
        let from = parse_evm_address(f.str_of("from", from)?).map_err(tx)?;
        if from != signer {
            return Err(ChainError::NotSigner);
        }
    }
    let nonce = f.u64("nonce")?.ok_or_else(|| tx("nonce is required"))?;
    let to = match f.get("to") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_evm_address(f.str_of("to", v)?).map_err(tx)?),
    };
    let value = f.u256("value")?.unwrap_or_default();
    let data = match f.get("data") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let s = f.str_of("data", v)?;
            let digits = s
                .strip_prefix("0x")
                .ok_or_else(|| tx("data must be 0x-hex"))?;
            hex::decode(digits).map_err(|e| tx(format!("data is not hex: {e}")))?
        }
    };
    let gas_limit = match (f.u64("gas")?, f.u64("gasLimit")?) {
        (Some(_), Some(_)) => return Err(tx("give gas or gasLimit, not both")),
        (Some(g), None) | (None, Some(g)) => g,
        (None, None) => return Err(tx("gas (or gasLimit) is required")),
    };
    let gas_price = f.u128("gasPrice")?;
    let max_fee = f.u128("maxFeePerGas")?;
    let max_priority = f.u128("maxPriorityFeePerGas")?;
    let access_list = match f.get("accessList") {
        None | Some(Value::Null) => None,
        Some(v) => Some(access_list(v)?),
    };

    let ty = match f.u64("type")? {
        Some(t) => t,
        None if max_fee.is_some() || max_priority.is_some() => 2,
        None if access_list.is_some() => 1,
        None => 0,
    };
    let input = bytes(data);
    let to = kind(to);
    match ty {
        0 | 1 => {
            if max_fee.is_some() || max_priority.is_some() {
                return Err(tx(format!(
                    "a type {ty} transaction takes gasPrice, not maxFeePerGas/maxPriorityFeePerGas"
                )));
            }
            let gas_price = gas_price.ok_or_else(|| tx("gasPrice is required"))?;
            if ty == 0 {
                if access_list.is_some() {
                    return Err(tx("a legacy (type 0) transaction has no accessList"));
                }
                Ok(Tx::Legacy(TxLegacy {
                    chain_id: Some(expected),
                    nonce,
                    gas_price,
                    gas_limit,
                    to,
                    value,
                    input,
                }))
            } else {
                Ok(Tx::Eip2930(TxEip2930 {
                    chain_id: expected,
                    nonce,
                    gas_price,
                    gas_limit,
                    to,
                    value,
                    access_list: access_list.unwrap_or_default(),
                    input,
                }))
            }
        }
        2 => {
            if gas_price.is_some() {
                return Err(tx(
                    "a type 2 transaction takes maxFeePerGas/maxPriorityFeePerGas, not gasPrice",
                ));
            }
            let (Some(max_fee_per_gas), Some(max_priority_fee_per_gas)) = (max_fee, max_priority)
            else {
                return Err(tx("maxFeePerGas and maxPriorityFeePerGas are required"));
            };
            if max_priority_fee_per_gas > max_fee_per_gas {
                return Err(tx("maxPriorityFeePerGas is above maxFeePerGas"));
            }
            Ok(Tx::Eip1559(TxEip1559 {
                chain_id: expected,
                nonce,
                gas_limit,
                max_fee_per_gas,
                max_priority_fee_per_gas,
                to,
                value,
                access_list: access_list.unwrap_or_default(),
                input,
            }))
        }
        other => Err(tx(format!(
            "transaction type {other} is not supported (0, 1 and 2 are)"
        ))),
    }
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn str_of<'v>(&self, name: &str, v: &'v Value) -> Result<&'v str, ChainError> {
        v.as_str()
            .ok_or_else(|| tx(format!("{name} must be a string")))
    }

    fn u256(&self, name: &str) -> Result<Option<U256>, ChainError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .map_err(|why| tx(format!("{name}: {why}"))),
        }
    }

    fn u128(&self, name: &str) -> Result<Option<u128>, ChainError> {
        self.u256(name)?
            .map(|n| u128::try_from(n).map_err(|_| tx(format!("{name} is too large"))))
            .transpose()
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, ChainError> {
        self.u256(name)?
            .map(|n| u64::try_from(n).map_err(|_| tx(format!("{name} is too large"))))
            .transpose()
    }
}

/// A non-negative integer: a JSON integer, a decimal string or a `0x`-hex string.
fn number(v: &Value) -> Result<U256, String> {
    match v {
        Value::Number(n) => n.as_u64().map(U256::from).ok_or_else(|| {
            format!("{n} is not a non-negative integer (use a string for big numbers)")
        }),
        Value::String(s) => {
            let parsed = if let Some(hex) = s.strip_prefix("0x") {
                if hex.is_empty() {
                    return Err("empty hex number".into());
                }
                U256::from_str_radix(hex, 16)
            } else {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{s:?} is not a decimal or 0x-hex integer"));
                }
                U256::from_str_radix(s, 10)
            };
            parsed.map_err(|e| format!("{s:?}: {e}"))
        }
        _ => Err("must be a number or a string".into()),
    }
}

fn access_list(v: &Value) -> Result<AccessList, ChainError> {
    let items = v
        .as_array()
        .ok_or_else(|| tx("accessList must be an array"))?;
    items
        .iter()
        .map(|item| {
            let obj = item
                .as_object()
                .ok_or_else(|| tx("accessList items are {address, storageKeys}"))?;
            if let Some(k) = obj.keys().find(|k| *k != "address" && *k != "storageKeys") {
                return Err(tx(format!("unknown accessList field {k:?}")));
            }
            let address = obj
                .get("address")
                .and_then(Value::as_str)
                .ok_or_else(|| tx("accessList item needs an address"))?;
            let address = parse_evm_address(address).map_err(tx)?;
            let keys = match obj.get("storageKeys") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(keys)) => keys
                    .iter()
                    .map(|k| {
                        let s = k
                            .as_str()
                            .ok_or_else(|| tx("storage keys are 0x-hex strings"))?;
                        let digits = s
                            .strip_prefix("0x")
                            .ok_or_else(|| tx("storage keys are 0x-hex strings"))?;
                        let raw = hex::decode(digits)
                            .map_err(|e| tx(format!("storage key is not hex: {e}")))?;
                        let arr: [u8; 32] = raw
                            .try_into()
                            .map_err(|_| tx("a storage key is 32 bytes"))?;
                        Ok(B256::from(arr))
                    })
                    .collect::<Result<_, ChainError>>()?,
                Some(_) => return Err(tx("storageKeys must be an array")),
            };
            Ok(AccessListItem {
                address,
                storage_keys: keys,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(AccessList)
}
