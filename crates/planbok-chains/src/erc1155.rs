//! ERC-1155 balances, which are kept per token id and which a contract cannot list: the ids
//! an account holds are those it received, named by the contract's `TransferSingle` and
//! `TransferBatch` logs whose `to` is the account (mints included: they come from the zero
//! address); `balanceOfBatch` then gives each id's balance. The server asks the node
//! (`eth_getLogs`, `eth_call`); this module only encodes and decodes, with alloy's ABI.

use alloy_dyn_abi::{DynSolType, DynSolValue};
use alloy_primitives::{Address, B256, U256, keccak256};

/// `TransferSingle(operator, from, to, id, value)`: `to` is the third indexed topic.
const TRANSFER_SINGLE: &str = "TransferSingle(address,address,address,uint256,uint256)";
/// `TransferBatch(operator, from, to, ids, values)`.
const TRANSFER_BATCH: &str = "TransferBatch(address,address,address,uint256[],uint256[])";
/// `balanceOfBatch(address[] accounts, uint256[] ids) returns (uint256[])`.
const BALANCE_OF_BATCH: &str = "balanceOfBatch(address[],uint256[])";

/// The first topics of the two transfer events, `[TransferSingle, TransferBatch]`.
pub fn erc1155_transfer_topics() -> [B256; 2] {
    [keccak256(TRANSFER_SINGLE), keccak256(TRANSFER_BATCH)]
}

/// An indexed address as a log topic: left-padded to 32 bytes.
pub fn address_topic(a: Address) -> B256 {
    a.into_word()
}

/// The token ids one transfer log moves, from its first topic (which event) and its data
/// (`(id, value)` or `(ids[], values[])`). A log of neither event, or data that does not
/// decode, is an error naming it.
pub fn erc1155_log_ids(topic0: &B256, data: &[u8]) -> Result<Vec<U256>, String> {
    let [single, batch] = erc1155_transfer_topics();
    let bad = |e: String| format!("an ERC-1155 transfer log does not decode: {e}");
    if *topic0 == single {
        let t = DynSolType::Tuple(vec![DynSolType::Uint(256), DynSolType::Uint(256)]);
        let v = t.abi_decode_params(data).map_err(|e| bad(e.to_string()))?;
        let id = v
            .as_tuple()
            .and_then(|f| f.first())
            .and_then(DynSolValue::as_uint)
            .ok_or_else(|| bad("no id".into()))?;
        return Ok(vec![id.0]);
    }
    if *topic0 == batch {
        let list = DynSolType::Array(Box::new(DynSolType::Uint(256)));
        let t = DynSolType::Tuple(vec![list.clone(), list]);
        let v = t.abi_decode_params(data).map_err(|e| bad(e.to_string()))?;
        let ids = v
            .as_tuple()
            .and_then(|f| f.first())
            .and_then(DynSolValue::as_array)
            .ok_or_else(|| bad("no ids".into()))?;
        return ids
            .iter()
            .map(|i| i.as_uint().map(|u| u.0).ok_or_else(|| bad("an id".into())))
            .collect();
    }
    Err(bad(format!("topic {topic0} is not a transfer event")))
}

/// `balanceOfBatch(accounts, ids)` call data (`accounts[i]`'s balance of `ids[i]`).
pub fn erc1155_balance_of_batch_data(accounts: &[Address], ids: &[U256]) -> Vec<u8> {
    let args = DynSolValue::Tuple(vec![
        DynSolValue::Array(accounts.iter().map(|a| DynSolValue::Address(*a)).collect()),
        DynSolValue::Array(ids.iter().map(|i| DynSolValue::Uint(*i, 256)).collect()),
    ]);
    let mut out = keccak256(BALANCE_OF_BATCH)[..4].to_vec();
    out.extend_from_slice(&args.abi_encode_params());
    out
}

/// `balanceOfBatch`'s answer: exactly `n` balances, or an error.
pub fn erc1155_decode_balances(data: &[u8], n: usize) -> Result<Vec<U256>, String> {
    let t = DynSolType::Array(Box::new(DynSolType::Uint(256)));
    let bad = |e: &str| format!("balanceOfBatch did not answer {n} uint256 values: {e}");
    let v = t.abi_decode(data).map_err(|e| bad(&e.to_string()))?;
    let items = v.as_array().ok_or_else(|| bad("not an array"))?;
    if items.len() != n {
        return Err(bad(&format!("{} values", items.len())));
    }
    items
        .iter()
        .map(|i| i.as_uint().map(|u| u.0).ok_or_else(|| bad("not a uint256")))
        .collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn word(n: u64) -> [u8; 32] {
        U256::from(n).to_be_bytes::<32>()
    }

    #[test]
    fn topics_are_the_standard_event_hashes() {
        // The values every ERC-1155 indexer uses (EIP-1155's event signatures).
        let [single, batch] = erc1155_transfer_topics();
        assert_eq!(
            format!("{single}"),
            "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
        );
        assert_eq!(
            format!("{batch}"),
            "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
        );
        let a: Address = "0x000000000000000000000000000000000000bEEF"
            .parse()
            .unwrap();
        assert_eq!(
            format!("{}", address_topic(a)),
            "0x000000000000000000000000000000000000000000000000000000000000beef"
        );
    }

    #[test]
    fn log_ids_decode_single_and_batch() {
        let [single, batch] = erc1155_transfer_topics();
        let data = [word(7), word(10)].concat();
        assert_eq!(
            erc1155_log_ids(&single, &data).unwrap(),
            vec![U256::from(7)]
        );
        // (ids, values): two offsets, then each array's length and elements.
        let data = [
            word(0x40),
            word(0xa0),
            word(2),
            word(9),
            word(10),
            word(2),
            word(4),
            word(6),
        ]
        .concat();
        assert_eq!(
            erc1155_log_ids(&batch, &data).unwrap(),
            vec![U256::from(9), U256::from(10)]
        );
        assert!(erc1155_log_ids(&single, &[0u8; 12]).is_err());
        assert!(erc1155_log_ids(&B256::ZERO, &data).is_err());
    }

    #[test]
    fn balance_of_batch_encodes_and_its_answer_decodes() {
        let a: Address = "0x000000000000000000000000000000000000bEEF"
            .parse()
            .unwrap();
        let d = erc1155_balance_of_batch_data(&[a, a], &[U256::from(7), U256::from(8)]);
        assert_eq!(hex::encode(&d[..4]), "4e1273f4");
        assert_eq!(d.len(), 4 + 32 * 8);
        let answer = [word(0x20), word(2), word(5), word(0)].concat();
        assert_eq!(
            erc1155_decode_balances(&answer, 2).unwrap(),
            vec![U256::from(5), U256::ZERO]
        );
        assert!(erc1155_decode_balances(&answer, 3).is_err());
        assert!(erc1155_decode_balances(&[1, 2, 3], 2).is_err());
    }
}
