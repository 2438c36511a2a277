use std::sync::OnceLock;

use planbok_mpc::cggmp::{self, CggmpAuxInfo, CggmpKeyShare, PaillierPrimes};
use planbok_mpc::{DerivationPath, MpcError, SessionId, export};

use crate::harness::{Outcome, P0, P1, run, sid};
use crate::verify;

/// Pregenerated safe primes (test-only fixture; `examples/gen-test-primes.rs` makes it).
pub fn fixture_primes(i: usize) -> PaillierPrimes {
    let all: Vec<String> =
        serde_json::from_str(include_str!("../fixtures/paillier-primes.json")).expect("fixture");
    PaillierPrimes::from_sealable_bytes(&hex::decode(&all[i]).expect("hex")).expect("primes")
}

/// Aux info for the node pair, generated once per test run with fixture primes.
pub fn aux() -> &'static (CggmpAuxInfo, CggmpAuxInfo) {
    static AUX: OnceLock<(CggmpAuxInfo, CggmpAuxInfo)> = OnceLock::new();
    AUX.get_or_init(|| {
        let s = sid();
        run(
            cggmp::aux_info_gen(s, P0, fixture_primes(0)),
            cggmp::aux_info_gen(s, P1, fixture_primes(1)),
        )
        .unwrap()
    })
}

pub fn keypair() -> (CggmpKeyShare, CggmpKeyShare) {
    let s = sid();
    run(cggmp::keygen(s, P0), cggmp::keygen(s, P1)).unwrap()
}

pub fn sign_with(
    s: SessionId,
    (a, aa): (&CggmpKeyShare, &CggmpAuxInfo),
    (b, ab): (&CggmpKeyShare, &CggmpAuxInfo),
    path: &DerivationPath,
    digest: [u8; 32],
) -> Outcome<planbok_mpc::EcdsaSignature, planbok_mpc::EcdsaSignature> {
    run(
        cggmp::sign(s, a, aa, path, digest).unwrap(),
        cggmp::sign(s, b, ab, path, digest).unwrap(),
    )
}

#[test]
fn cggmp_aux_keygen_derive_sign_verifies_with_libsecp256k1() {
    let (x0, x1) = aux();
    let (a, b) = keypair();
    assert_eq!(a.public_key().unwrap(), b.public_key().unwrap());
    let path: DerivationPath = "m/44/60/0/5".parse().unwrap();
    let pk = a.derive_public_key(&path).unwrap();
    assert_eq!(
        pk,
        verify::bip32_child(&a.public_key().unwrap(), a.chain_code().unwrap(), &path)
    );
    let digest = verify::digest("cggmp");
    let (sa, sb) = sign_with(sid(), (&a, x0), (&b, x1), &path, digest).unwrap();
    assert_eq!(sa, sb);
    verify::ecdsa(&pk, &digest, &sa);
}

#[test]
fn cggmp_refresh_keeps_key_and_separates_generations() {
    let (x0, x1) = aux();
    let (a, b) = keypair();
    let pk = a.public_key().unwrap();
    let s = sid();
    let ((a2, x0b), (b2, x1b)) = run(
        cggmp::refresh(s, &a, x0, fixture_primes(2)).unwrap(),
        cggmp::refresh(s, &b, x1, fixture_primes(3)).unwrap(),
    )
    .unwrap();
    assert_eq!(a2.public_key().unwrap(), pk);
    let path = DerivationPath::master();
    let digest = verify::digest("after refresh");
    let (sig, _) = sign_with(sid(), (&a2, &x0b), (&b2, &x1b), &path, digest).unwrap();
    verify::ecdsa(&pk, &digest, &sig);

    // Old share + old aux of party 0 with the new generation of party 1: refused.
    match sign_with(sid(), (&a, x0), (&b2, &x1b), &path, digest) {
        Outcome::Failed(_, e) => assert!(
            matches!(
                e,
                MpcError::PeerMisbehaved { .. } | MpcError::SignatureInvalid { .. }
            ),
            "{e:?}"
        ),
        other => panic!("mixing generations must fail, got {other:?}"),
    }
}

#[test]
fn cggmp_export_reconstructs_the_derived_key() {
    let (a, b) = keypair();
    let path: DerivationPath = "m/44/0/0/9".parse().unwrap();
    let k = export::reconstruct_cggmp_private_key_dangerous(&a, &b, &path).unwrap();
    let sk = secp256k1::SecretKey::from_byte_array(*k.secret).unwrap();
    let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &sk);
    assert_eq!(
        pk.serialize(),
        a.derive_public_key(&path).unwrap().to_compressed()
    );
}

#[test]
fn cggmp_share_and_aux_mismatch_is_refused() {
    let (x0, _x1) = aux();
    let (_a, b) = keypair();
    // Party 1's share with party 0's aux info.
    assert!(matches!(
        cggmp::sign(sid(), &b, x0, &DerivationPath::master(), [1; 32]),
        Err(MpcError::InvalidInput(_))
    ));
}
