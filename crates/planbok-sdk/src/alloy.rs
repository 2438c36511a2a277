//! A planbok wallet as an alloy signer (feature `alloy`): an alloy application keeps its
//! own provider, nonce and fee logic, and planbok signs.
//!
//! [`PlanbokSigner`] implements alloy's [`TxSigner`] (so `EthereumWallet::from(signer)`
//! works with any provider) and [`Signer`] for EIP-191 messages. Each signature is made by
//! the server's `sign/transaction` or `sign/message` route, which verifies it before
//! answering; this signer verifies it again here, by recovering the wallet's address from
//! the digest alloy computed itself, before handing it to alloy. Bare hashes are refused
//! (`sign_hash`): planbok signs what it can show and audit, never an opaque digest. Typed
//! data goes through [`crate::Client::sign_typed_data`].
//!
//! The REST client is blocking; each call runs on its own thread, so an async runtime's
//! workers never wait on the network.

use std::sync::Arc;

use alloy_consensus::SignableTransaction;
use alloy_network::TxSigner;
use alloy_primitives::{Address, B256, ChainId, Signature, U256, eip191_hash_message};
use alloy_signer::{Signer, UnsupportedSignerOperation};
use planbok_api::model::{SignMessage, SignTransaction};
use planbok_chains::Chain;

use crate::client::{Client, Error};

/// A fresh `encryptedOrganizationSecret` (context `sign`) for each signature: needed by
/// Trustless organizations; `None` for Standard ones.
pub type SecretSource = Arc<dyn Fn() -> Result<String, Error> + Send + Sync>;

/// An EVM wallet of a planbok organization, signing through the REST API.
#[derive(Clone)]
pub struct PlanbokSigner {
    client: Client,
    wallet_id: String,
    address: Address,
    chain_id: Option<ChainId>,
    secret: Option<SecretSource>,
}

impl std::fmt::Debug for PlanbokSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanbokSigner")
            .field("wallet_id", &self.wallet_id)
            .field("address", &self.address)
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

fn other(e: impl std::fmt::Display) -> alloy_signer::Error {
    alloy_signer::Error::other(e.to_string())
}

/// Runs a blocking call on its own thread and awaits its result.
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> alloy_signer::Result<T> {
    let (tx, rx) = futures_channel::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await
        .map_err(|_| other("the signing thread ended without an answer"))?
        .map_err(other)
}

/// `0x`-hex of 32 bytes as a number.
fn word(hex: &[u8]) -> U256 {
    U256::from_be_slice(hex)
}

/// The signature (r, s) with the y-parity that recovers `expected` from `digest`, or an
/// error: the check that what the server returned signs what alloy asked.
fn recovered(
    r: U256,
    s: U256,
    digest: &B256,
    expected: Address,
) -> alloy_signer::Result<Signature> {
    for parity in [false, true] {
        let sig = Signature::new(r, s, parity);
        if sig.recover_address_from_prehash(digest).ok() == Some(expected) {
            return Ok(sig);
        }
    }
    Err(other(format!(
        "the signature the server returned does not recover {expected}: refused"
    )))
}

/// r ‖ s from the API's `0x`-hex signature (r ‖ s ‖ v, whatever v's encoding).
fn r_s(signature: &str) -> alloy_signer::Result<(U256, U256)> {
    let bytes = hex::decode(signature.trim_start_matches("0x")).map_err(other)?;
    if bytes.len() < 65 {
        return Err(other("the server's signature is shorter than r ‖ s ‖ v"));
    }
    Ok((word(&bytes[..32]), word(&bytes[32..64])))
}

impl PlanbokSigner {
    /// The wallet `wallet_id` (an EVM chain's), signing through `client`; its address and
    /// chain id come from the wallet.
    pub fn new(client: Client, wallet_id: &str) -> Result<PlanbokSigner, Error> {
        let wallet = client.wallet(wallet_id)?;
        let chain = Chain::parse(&wallet.blockchain).map_err(|e| Error::Input(e.to_string()))?;
        let chain_id = chain.evm_chain_id().ok_or_else(|| {
            Error::Input(format!(
                "{} is not an EVM chain: no alloy signer",
                wallet.blockchain
            ))
        })?;
        let address = wallet
            .address
            .parse::<Address>()
            .map_err(|e| Error::Input(format!("wallet address: {e}")))?;
        Ok(PlanbokSigner {
            client,
            wallet_id: wallet.id,
            address,
            chain_id: Some(chain_id),
            secret: None,
        })
    }

    /// Sends a fresh organization secret ciphertext with every signature (Trustless).
    pub fn with_secret(mut self, secret: SecretSource) -> PlanbokSigner {
        self.secret = Some(secret);
        self
    }

    /// The wallet's id.
    pub fn wallet_id(&self) -> &str {
        &self.wallet_id
    }

    fn ciphertext(&self) -> Result<Option<String>, Error> {
        self.secret.as_ref().map(|f| f()).transpose()
    }
}

#[async_trait::async_trait]
impl TxSigner<Signature> for PlanbokSigner {
    fn address(&self) -> Address {
        self.address
    }

    async fn sign_transaction(
        &self,
        tx: &mut dyn SignableTransaction<Signature>,
    ) -> alloy_signer::Result<Signature> {
        if let Some(chain_id) = self.chain_id
            && !tx.set_chain_id_checked(chain_id)
        {
            return Err(alloy_signer::Error::TransactionChainIdMismatch {
                signer: chain_id,
                tx: tx.chain_id().unwrap_or_default(),
            });
        }
        let digest = tx.signature_hash();
        let raw = format!("0x{}", hex::encode(tx.encoded_for_signing()));
        let (client, signer) = (self.client.clone(), self.clone());
        let signed = off_thread(move || {
            client.sign_transaction(&SignTransaction {
                idempotency_key: Some(crate::idempotency_key()),
                wallet_id: signer.wallet_id.clone(),
                encrypted_organization_secret: signer.ciphertext()?,
                memo: None,
                raw_transaction: Some(raw),
                transaction: None,
            })
        })
        .await?;
        let (r, s) = r_s(&signed.signature)?;
        recovered(r, s, &digest, self.address)
    }
}

#[async_trait::async_trait]
impl Signer for PlanbokSigner {
    /// Refused: planbok signs messages, typed data and transactions it can show and audit,
    /// never a bare digest.
    async fn sign_hash(&self, _hash: &B256) -> alloy_signer::Result<Signature> {
        Err(alloy_signer::Error::UnsupportedOperation(
            UnsupportedSignerOperation::SignHash,
        ))
    }

    /// EIP-191 (`personal_sign`) through `sign/message`.
    async fn sign_message(&self, message: &[u8]) -> alloy_signer::Result<Signature> {
        let digest = eip191_hash_message(message);
        let hex_message = format!("0x{}", hex::encode(message));
        let (client, signer) = (self.client.clone(), self.clone());
        let signed = off_thread(move || {
            client.sign_message(&SignMessage {
                idempotency_key: Some(crate::idempotency_key()),
                wallet_id: signer.wallet_id.clone(),
                encrypted_organization_secret: signer.ciphertext()?,
                memo: None,
                message: hex_message,
                encoded_by_hex: true,
            })
        })
        .await?;
        let (r, s) = r_s(&signed.signature)?;
        recovered(r, s, &digest, self.address)
    }

    fn address(&self) -> Address {
        self.address
    }

    fn chain_id(&self) -> Option<ChainId> {
        self.chain_id
    }

    fn set_chain_id(&mut self, chain_id: Option<ChainId>) {
        self.chain_id = chain_id;
    }
}
