//! BIP-32 derivation and addresses against published vectors.

use std::str::FromStr;

use bip32::{PublicKey as _, XPub};
use planbok_chains::{ChainError, address, derive_public_key, validate_address};

use crate::{EcKey, EdKey, chain};

fn key_and_code(xpub: &str) -> (Vec<u8>, [u8; 32]) {
    let x = XPub::from_str(xpub).unwrap();
    (x.public_key().to_bytes().to_vec(), x.attrs().chain_code)
}

/// BIP-32 test vector 2: m → m/0, and test vector 1: m/0H → m/0H/1 (public derivation of the
/// non-hardened steps from the published parent xpubs).
#[test]
fn bip32_published_vectors() {
    let cases = [
        (
            "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
            "m/0",
            "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
        ),
        (
            "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
            "m/1",
            "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
        ),
    ];
    for (parent, path, child) in cases {
        let (pk, cc) = key_and_code(parent);
        let (want, _) = key_and_code(child);
        assert_eq!(derive_public_key(&pk, &cc, path).unwrap(), want, "{path}");
    }
}

#[test]
fn derivation_composes_and_m_is_the_master() {
    let master = EcKey::new(7).public();
    let cc = [9u8; 32];
    assert_eq!(derive_public_key(&master, &cc, "m").unwrap(), master);
    let child = derive_public_key(&master, &cc, "m/44/60/0/5").unwrap();
    assert_eq!(child.len(), 33);
    assert_ne!(
        child,
        derive_public_key(&master, &cc, "m/44/60/0/6").unwrap()
    );
    // Same path, same key: every EVM chain shares the address of an index.
    let a = address(chain("ETH"), &child).unwrap();
    assert_eq!(a, address(chain("BASE-SEPOLIA"), &child).unwrap());
}

#[test]
fn derivation_rejects_hardened_and_malformed_paths_and_bad_keys() {
    let master = EcKey::new(7).public();
    let cc = [9u8; 32];
    for bad in [
        "",
        "m/",
        "M/0",
        "m/44'/60",
        "m/44h/0",
        "m/2147483648",
        "m/-1",
        "m/+1",
        "m/01",
        "m//1",
        "m/1/",
        "44/60",
        "m/1 ",
        "m/4294967296",
    ] {
        assert_eq!(
            derive_public_key(&master, &cc, bad),
            Err(ChainError::InvalidPath),
            "{bad:?}"
        );
    }
    assert_eq!(
        derive_public_key(&master, &cc, "m/2147483647").map(|k| k.len()),
        Ok(33)
    );
    assert_eq!(
        derive_public_key(&master[..32], &cc, "m/0"),
        Err(ChainError::InvalidPublicKey)
    );
    assert_eq!(
        derive_public_key(&master, &cc[..31], "m/0"),
        Err(ChainError::InvalidPublicKey)
    );
    let mut off_curve = master.clone();
    off_curve[0] = 0x05;
    assert_eq!(
        derive_public_key(&off_curve, &cc, "m/0"),
        Err(ChainError::InvalidPublicKey)
    );
}

/// BIP-173's example key (the generator point).
const G: &str = "0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798";

#[test]
fn bip173_p2wpkh_vectors() {
    let pk = hex::decode(G).unwrap();
    assert_eq!(
        address(chain("BTC"), &pk).unwrap(),
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    );
    assert_eq!(
        address(chain("BTC-TESTNET"), &pk).unwrap(),
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
    );
    // The same key is 0x7E5F…5Bdf on Ethereum (private key 1).
    assert_eq!(
        address(chain("ETH"), &pk).unwrap(),
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    );
}

#[test]
fn eip55_vectors_from_the_eip() {
    let eth = chain("ETH");
    for good in [
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ] {
        assert!(validate_address(eth, good), "{good}");
    }
    for bad in [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", // one letter's case flipped
        "0xfb6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
        "0xg2908400098527886e0f7030069857d2e4169ee7",
        "",
    ] {
        assert!(!validate_address(eth, bad), "{bad}");
    }
}

#[test]
fn bitcoin_address_validation() {
    let btc = chain("BTC");
    let test = chain("BTC-TESTNET");
    // BIP-173 / BIP-350 examples.
    let p2wpkh = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    let p2wsh = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3";
    let taproot = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
    for a in [p2wpkh, p2wsh, taproot, &p2wpkh.to_uppercase()] {
        assert!(validate_address(btc, a), "{a}");
        assert!(!validate_address(test, a), "{a} on testnet");
    }
    assert!(validate_address(
        test,
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
    ));
    for bad in [
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", // checksum
        "bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", // mixed case
        // v1 with the v0 checksum (bech32 instead of bech32m), from BIP-350.
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", // legacy P2PKH is not accepted
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", // v2
        "",
    ] {
        assert!(!validate_address(btc, bad), "{bad}");
    }
}

#[test]
fn solana_and_near_addresses() {
    let k = EdKey::new(3);
    let pk = k.public();
    let sol = address(chain("SOL"), &pk).unwrap();
    assert_eq!(bs58::decode(&sol).into_vec().unwrap(), pk);
    assert!(validate_address(chain("SOL-DEVNET"), &sol));
    // The system program id (off-curve addresses are fine) and wrong lengths.
    assert!(validate_address(
        chain("SOL"),
        "11111111111111111111111111111111"
    ));
    assert!(!validate_address(
        chain("SOL"),
        "1111111111111111111111111111111"
    ));
    assert!(!validate_address(chain("SOL"), "0OIl"));
    assert!(!validate_address(chain("SOL"), ""));

    let near = address(chain("NEAR"), &pk).unwrap();
    assert_eq!(near, hex::encode(&pk));
    for good in [
        near.as_str(),
        "alice.near",
        "a-b_c.testnet",
        "aa",
        "app.alice.near",
    ] {
        assert!(validate_address(chain("NEAR-TESTNET"), good), "{good}");
    }
    for bad in [
        "A.near",
        "a",
        "a..b",
        "-a.near",
        "a_.near",
        "alice.near.",
        "al ice",
        "",
    ] {
        assert!(!validate_address(chain("NEAR"), bad), "{bad}");
    }
    assert!(!validate_address(chain("NEAR"), &"a".repeat(65)));

    assert_eq!(
        address(chain("SOL"), &pk[..31]),
        Err(ChainError::InvalidPublicKey)
    );
    assert_eq!(
        address(chain("NEAR"), &EcKey::new(1).public()),
        Err(ChainError::InvalidPublicKey)
    );
    assert_eq!(
        address(chain("ETH"), &pk),
        Err(ChainError::InvalidPublicKey)
    );
    let mut compact = EcKey::new(1).public();
    compact[0] = 0x05; // SEC1 "compact" tag: refused, one key has one spelling
    assert_eq!(
        address(chain("BTC"), &compact),
        Err(ChainError::InvalidPublicKey)
    );
    // About half of all x are not on the curve: find one.
    let off_curve = (0..=255u8)
        .map(|b| {
            let mut k = EcKey::new(1).public();
            k[32] = b;
            k
        })
        .find(|k| address(chain("ETH"), k).is_err())
        .unwrap();
    assert_eq!(
        address(chain("BTC"), &off_curve),
        Err(ChainError::InvalidPublicKey)
    );
}
