//! Checked-in serialized shares of every protocol must keep loading and signing: a crate
//! upgrade that changes a share format fails here, not in production.
//!
//! The fixture holds throwaway test keys only. Regenerate (only on a deliberate format
//! change, with a migration) by running the ignored test `regenerate_share_fixtures`.

use std::sync::Arc;

use planbok_mpc::cggmp::{CggmpAuxInfo, CggmpKeyShare};
use planbok_mpc::dkls::DklsKeyShare;
use planbok_mpc::frost::FrostKeyShare;
use planbok_mpc::{DerivationPath, EcdsaPublicKey, cggmp, dkls, frost};
use serde_json::{Value, json};

use crate::harness::{run, sid};
use crate::verify;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/shares-v1.json");

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap_or_else(|| panic!("fixture field {k}"))).expect("hex")
}

#[test]
fn share_fixtures_v1_load_and_sign() {
    let fx: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("fixture file")).expect("json");

    let f = &fx["frost"];
    let a = Arc::new(FrostKeyShare::from_sealable_bytes(&h(f, "party0")).unwrap());
    let b = Arc::new(FrostKeyShare::from_sealable_bytes(&h(f, "party1")).unwrap());
    assert_eq!(a.public_key().to_bytes().to_vec(), h(f, "public_key"));
    let s = sid();
    let (sig, _) = run(
        frost::sign(s, a.clone(), b"fixture").unwrap(),
        frost::sign(s, b, b"fixture").unwrap(),
    )
    .unwrap();
    verify::ed25519(&a.public_key(), b"fixture", &sig);

    let path: DerivationPath = "m/44/60/0/0".parse().unwrap();
    let d = &fx["dkls"];
    let a = Arc::new(DklsKeyShare::from_sealable_bytes(&h(d, "party0")).unwrap());
    let b = Arc::new(DklsKeyShare::from_sealable_bytes(&h(d, "party1")).unwrap());
    assert_eq!(
        a.public_key().unwrap(),
        EcdsaPublicKey::from_sec1(&h(d, "public_key")).unwrap()
    );
    let s = sid();
    let (sig, _) = run(
        dkls::sign(s, a.clone(), &path, [5; 32]).unwrap(),
        dkls::sign(s, b, &path, [5; 32]).unwrap(),
    )
    .unwrap();
    verify::ecdsa(&a.derive_public_key(&path).unwrap(), &[5; 32], &sig);

    let c = &fx["cggmp"];
    let a = CggmpKeyShare::from_sealable_bytes(&h(c, "party0")).unwrap();
    let b = CggmpKeyShare::from_sealable_bytes(&h(c, "party1")).unwrap();
    let xa = CggmpAuxInfo::from_sealable_bytes(&h(c, "aux0")).unwrap();
    let xb = CggmpAuxInfo::from_sealable_bytes(&h(c, "aux1")).unwrap();
    assert_eq!(
        a.public_key().unwrap(),
        EcdsaPublicKey::from_sec1(&h(c, "public_key")).unwrap()
    );
    let s = sid();
    let (sig, _) = run(
        cggmp::sign(s, &a, &xa, &path, [6; 32]).unwrap(),
        cggmp::sign(s, &b, &xb, &path, [6; 32]).unwrap(),
    )
    .unwrap();
    verify::ecdsa(&a.derive_public_key(&path).unwrap(), &[6; 32], &sig);
}

#[test]
#[ignore = "writes tests/fixtures/shares-v1.json; run only on a deliberate format change"]
fn regenerate_share_fixtures() {
    let (fa, fb) = crate::frost::keypair();
    let (da, db) = crate::dkls::keypair();
    let (ca, cb) = crate::cggmp::keypair();
    let (xa, xb) = crate::cggmp::aux();
    let e = |b: &[u8]| hex::encode(b);
    let fx = json!({
        "comment": "throwaway test keys; format v1 of every share kind",
        "frost": {"public_key": e(&fa.public_key().to_bytes()), "party0": e(&fa.to_sealable_bytes().unwrap()), "party1": e(&fb.to_sealable_bytes().unwrap())},
        "dkls": {"public_key": e(&da.public_key().unwrap().to_compressed()), "party0": e(&da.to_sealable_bytes().unwrap()), "party1": e(&db.to_sealable_bytes().unwrap())},
        "cggmp": {"public_key": e(&ca.public_key().unwrap().to_compressed()), "party0": e(&ca.to_sealable_bytes().unwrap()), "party1": e(&cb.to_sealable_bytes().unwrap()),
                  "aux0": e(&xa.to_sealable_bytes().unwrap()), "aux1": e(&xb.to_sealable_bytes().unwrap())},
    });
    std::fs::write(PATH, serde_json::to_string_pretty(&fx).unwrap()).unwrap();
}
