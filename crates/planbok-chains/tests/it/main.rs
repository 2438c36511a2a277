//! planbok-chains integration tests. A local private key stands in for the MPC nodes; every
//! output is also checked by independent Python implementations (`python.rs`).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

mod derive;
mod errors;
mod evm;
mod messages;
mod near;
mod props;
mod python;
mod registry;
mod solana;

use ed25519_dalek::Signer as _;
use k256::ecdsa::SigningKey;
use planbok_chains::{Chain, SignInput};

pub fn chain(id: &str) -> Chain {
    Chain::parse(id).unwrap()
}

/// A secp256k1 test key standing in for a wallet.
#[derive(Debug)]
pub struct EcKey(pub SigningKey);

impl EcKey {
    pub fn new(seed: u8) -> Self {
        EcKey(SigningKey::from_slice(&[seed; 32]).unwrap())
    }
    /// 33-byte compressed public key.
    pub fn public(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .to_sec1_point(true)
            .as_bytes()
            .to_vec()
    }
    /// What a node returns: r ‖ s (low-S) and the recovery id.
    pub fn sign(&self, input: &SignInput) -> ([u8; 64], u8) {
        let digest: [u8; 32] = input.payload.as_slice().try_into().unwrap();
        let (sig, recid) = self.0.sign_prehash_recoverable(&digest);
        (
            sig.to_bytes().as_slice().try_into().unwrap(),
            recid.to_byte(),
        )
    }
}

/// An ed25519 test key standing in for a wallet.
#[derive(Debug)]
pub struct EdKey(pub ed25519_dalek::SigningKey);

impl EdKey {
    pub fn new(seed: u8) -> Self {
        EdKey(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }
    pub fn public(&self) -> Vec<u8> {
        self.0.verifying_key().to_bytes().to_vec()
    }
    pub fn sign(&self, input: &SignInput) -> [u8; 64] {
        self.0.sign(&input.payload).to_bytes()
    }
}
