//! `planbok_sdk::alloy::PlanbokSigner` in an alloy application: alloy's own provider (HTTP
//! to anvil) fills nonce, gas and fees and sends; planbok signs. Checked by anvil's receipt,
//! by eth-account's recovery of the raw transaction anvil holds, and by the balances.

use std::sync::Arc;

use alloy_provider::Provider as _;
use alloy_provider::network::{Ethereum, EthereumWallet, Network, TransactionBuilder as _};
use alloy_signer::Signer as _;
use planbok_sdk::alloy::PlanbokSigner;
use planbok_sdk::secret::{Context, OrgSecret};
use serde_json::json;

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready};
use crate::rest::{Custody, python_verify};
use crate::transactions::{check_signer, stack_with_wallet};

type TransactionRequest = <Ethereum as Network>::TransactionRequest;

#[tokio::test(flavor = "multi_thread")]
async fn an_alloy_provider_sends_a_transaction_a_trustless_planbok_wallet_signs() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, wallet, address) = stack_with_wallet(&anvil, Custody::Trustless, "", 10 * ETH).await;
    let client = s.owner.clone();
    let id = wallet.clone();
    let signer = tokio::task::spawn_blocking(move || PlanbokSigner::new(client, &id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        alloy_signer::Signer::address(&signer).to_checksum(None),
        address
    );
    assert_eq!(signer.chain_id(), Some(SEPOLIA));

    // Without the organization's secret a Trustless wallet signs nothing.
    let provider = alloy_provider::ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_http(anvil.url.parse().unwrap());
    let receiver: alloy_primitives::Address = "0x00000000000000000000000000000000000a110e"
        .parse()
        .unwrap();
    let tx = TransactionRequest::default()
        .with_to(receiver)
        .with_value(alloy_primitives::U256::from(ETH / 10));
    let refused = provider.send_transaction(tx.clone()).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("secret_required")),
        "{refused:?}"
    );

    // With a fresh `sign` ciphertext for every signature.
    let (secret, pem) = (s.secret.to_hex(), s.pem.clone());
    let signer = signer.with_secret(Arc::new(move || {
        OrgSecret::from_hex(&secret)
            .and_then(|k| k.encrypt(&pem, Context::Sign, None))
            .map_err(planbok_sdk::Error::Secret)
    }));
    let provider = alloy_provider::ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_http(anvil.url.parse().unwrap());
    for _ in 0..2 {
        let receipt = provider
            .send_transaction(tx.clone())
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "{receipt:?}");
        assert_eq!(receipt.from.to_checksum(None), address);
        check_signer(
            &anvil,
            &json!({"transactionHash": receipt.transaction_hash.to_string()}),
            &address,
        );
    }
    assert_eq!(anvil.balance(&receiver.to_string()), 2 * ETH / 10);
    assert_eq!(anvil.nonce(&address), 2);

    // EIP-191 through `sign/message`, recovered by eth-account; bare hashes refused.
    let message = b"signed by planbok for alloy";
    let sig = signer.sign_message(message).await.unwrap();
    python_verify(&[json!({
        "kind": "evm_message", "message_hex": hex::encode(message),
        "signature": format!("0x{}", hex::encode(sig.as_bytes())), "address": address,
    })]);
    let hash = alloy_primitives::keccak256(message);
    let bare = signer.sign_hash(&hash).await;
    assert!(
        bare.as_ref().is_err_and(|e| e.unsupported().is_some()),
        "{bare:?}"
    );
}
