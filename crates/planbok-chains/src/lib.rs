//! Chain registry, wallet addresses and per-chain signing standards for planbok.
//!
//! Pure: no network, files or clock. A REST request goes in ([`message_input`],
//! [`typed_data_input`], [`transaction_input`]) and comes out as a [`SignInput`] whose
//! `payload` is exactly what the MPC nodes sign; the nodes' signature goes back through
//! [`finish_message`] / [`finish_transaction`], which check it against the wallet's key and
//! encode it the way the chain (and the API) expects. See `docs/chains.md`.
#![forbid(unsafe_code)]

mod abi;
mod address;
mod btc;
mod chain;
mod erc1155;
mod error;
mod evm;
mod evm_call;
mod evm_json;
mod keys;
mod near;
mod sign;
mod solana;
mod transfer;

pub use abi::AbiFunction;
pub use address::{address, validate_address};
/// The EVM value types the transfer helpers take (alloy's).
pub use alloy_primitives::{Address, B256, U256};
pub use chain::{Chain, Curve, Family};
pub use erc1155::{
    address_topic, erc1155_balance_of_batch_data, erc1155_decode_balances, erc1155_log_ids,
    erc1155_transfer_topics,
};
pub use error::ChainError;
pub use evm_call::{CallSpec, EvmCall, MAX_NFT_IDS, TransferToken, customer_call, transfer_call};
pub use keys::derive_public_key;
pub use near::delegate_action_input;
pub use sign::{
    SignInput, SignedTransaction, finish_message, finish_transaction, message_input,
    transaction_input, typed_data_input,
};
pub use transfer::{
    Eip1559Fields, MAX_DECIMALS, SignedCall, eip1559_input, erc20_balance_of_data,
    erc20_transfer_data, format_amount, native_token_id, parse_amount, parse_evm_address,
    revert_reason, signed_call,
};
