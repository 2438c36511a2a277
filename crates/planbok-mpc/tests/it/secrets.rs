//! No secret reaches `Debug` output: every share type is checked against its own secret
//! bytes, read back from its sealable form.

use planbok_mpc::cggmp::CggmpAuxInfo;
use planbok_mpc::dkls::DklsKeyShare;
use planbok_mpc::frost::FrostKeyShare;
use planbok_mpc::{DerivationPath, export};

/// Fails if any 4-byte window of `secret` (as lowercase hex) appears in `debug`.
#[track_caller]
fn assert_no_secret(debug: &str, secret_hex: &str) {
    assert!(secret_hex.len() >= 16, "secret too short to check");
    assert!(debug.contains("<redacted>"), "no redaction marker: {debug}");
    for w in 0..=(secret_hex.len() - 8) {
        assert!(
            !debug.contains(&secret_hex[w..w + 8]),
            "Debug leaks secret bytes: {debug}"
        );
    }
}

/// The payload after the `PBKS` header.
fn body(sealed: &[u8]) -> &[u8] {
    &sealed[6..]
}

fn frost_secret(share: &FrostKeyShare) -> String {
    let sealed = share.to_sealable_bytes().unwrap();
    let b = body(&sealed);
    let klen = u32::from_be_bytes(b[2..6].try_into().unwrap()) as usize;
    let kp = frost_ed25519::keys::KeyPackage::deserialize(&b[6..6 + klen]).unwrap();
    hex::encode(kp.signing_share().serialize())
}

fn dkls_secret(share: &DklsKeyShare) -> String {
    let sealed = share.to_sealable_bytes().unwrap();
    let (_, party): (u16, dkls23::secp256k1::Party) = postcard::from_bytes(body(&sealed)).unwrap();
    hex::encode(party.poly_point.to_bytes())
}

fn cggmp_json(sealed: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body(sealed)).unwrap()
}

#[test]
fn frost_share_and_export_debug_print_no_secret() {
    let (a, b) = crate::frost::keypair();
    assert_no_secret(&format!("{a:?}"), &frost_secret(&a));
    let k = export::reconstruct_frost_private_key_dangerous(&a, &b).unwrap();
    assert_no_secret(&format!("{k:?}"), &hex::encode(*k.secret_scalar));
}

#[test]
fn dkls_share_and_export_debug_print_no_secret() {
    let (a, b) = crate::dkls::keypair();
    assert_no_secret(&format!("{a:?}"), &dkls_secret(&a));
    let k =
        export::reconstruct_dkls_private_key_dangerous(&a, &b, &DerivationPath::master()).unwrap();
    assert_no_secret(&format!("{k:?}"), &hex::encode(*k.secret));
}

#[test]
fn cggmp_share_aux_and_export_debug_print_no_secret() {
    let (a, b) = crate::cggmp::keypair();
    let x = cggmp_json(&a.to_sealable_bytes().unwrap())["x"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_no_secret(&format!("{a:?}"), &x);

    let aux: &CggmpAuxInfo = &crate::cggmp::aux().0;
    let v = cggmp_json(&aux.to_sealable_bytes().unwrap());
    for prime in ["p", "q"] {
        let hex_value = v[1][prime]["value"].as_str().unwrap();
        assert_no_secret(&format!("{aux:?}"), &hex_value[..64]);
    }
    let primes = crate::cggmp::fixture_primes(2);
    assert_eq!(format!("{primes:?}"), "PaillierPrimes(<redacted>)");

    let k =
        export::reconstruct_cggmp_private_key_dangerous(&a, &b, &DerivationPath::master()).unwrap();
    assert_no_secret(&format!("{k:?}"), &hex::encode(*k.secret));
}
