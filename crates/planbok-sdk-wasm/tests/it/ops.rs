//! The module's operations, natively: every refusal of the organization key, the bindings
//! and payloads as the Rust SDK and Node 1 compute them, sealing that Node 1 opens.

use planbok_envelope::{Binding, Context};
use planbok_sdk_wasm::ops;

use crate::{Org, attested};

#[test]
fn an_org_key_is_trusted_only_when_node_1_signed_it_and_the_pin_matches() {
    let org = Org::new("org_a");
    let served = org.served.to_string();
    let key = ops::check_org_key("org_a", &served, Some(&org.node_key()), None).unwrap();
    assert!(key.verified_by_node);
    assert!(key.pinned_now);
    let fp = key.key.fingerprint_hex();
    let again = ops::check_org_key("org_a", &served, Some(&org.node_key()), Some(&fp)).unwrap();
    assert!(!again.pinned_now);

    let code = |org_id: &str, served: &str, node: Option<&str>, pin: Option<&str>| {
        ops::check_org_key(org_id, served, node, pin)
            .unwrap_err()
            .code
    };
    // Another organization's key, or this one claimed for another organization.
    assert_eq!(
        code("org_b", &served, Some(&org.node_key()), None),
        "org_key_bad_signature"
    );
    // A key the server swapped in, keeping Node 1's signature.
    let evil = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 3072).unwrap();
    let mut swapped = org.served.clone();
    swapped["publicKey"] =
        attested("org_a", &evil.to_public_key(), &org.node, 1)["publicKey"].clone();
    assert_eq!(
        code("org_a", &swapped.to_string(), Some(&org.node_key()), None),
        "org_key_bad_signature"
    );
    // Signed by another node than the one configured (the server's own, say).
    let other = Org::new("org_a");
    assert_eq!(
        code("org_a", &served, Some(&other.node_key()), None),
        "org_key_wrong_signer"
    );
    let mut resigned = other.served.clone();
    resigned["nodeKeyId"] = org.served["nodeKeyId"].clone();
    assert_eq!(
        code("org_a", &resigned.to_string(), Some(&org.node_key()), None),
        "org_key_bad_signature"
    );
    // The signature's time is part of the statement.
    let mut later = org.served.clone();
    later["createdAt"] = serde_json::json!(1_700_000_000_001_i64);
    assert_eq!(
        code("org_a", &later.to_string(), Some(&org.node_key()), None),
        "org_key_bad_signature"
    );
    let mut unsigned = org.served.clone();
    unsigned["signature"] = "".into();
    assert_eq!(
        code("org_a", &unsigned.to_string(), Some(&org.node_key()), None),
        "org_key_unsigned"
    );
    // Another key than the pinned one, even correctly signed.
    assert_eq!(
        code(
            "org_a",
            &served,
            Some(&org.node_key()),
            Some(&"0".repeat(64))
        ),
        "org_key_pin_mismatch"
    );
    assert_eq!(
        code("org_a", &served, Some("ed25519:zz"), None),
        "node_key_malformed"
    );
    assert_eq!(code("org_a", "{}", None, None), "org_key_malformed");
    // A key under 3072 bits, even signed.
    let small = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let small = attested("org_a", &small.to_public_key(), &org.node, 1).to_string();
    assert_eq!(
        code("org_a", &small, Some(&org.node_key()), None),
        "org_key_too_small"
    );
    // Without a node key it is only pinned, and says so.
    let pinned = ops::check_org_key("org_a", &served, None, None).unwrap();
    assert!(!pinned.verified_by_node && pinned.pinned_now);
}

#[test]
fn bindings_and_payloads_are_the_rust_sdks() {
    let pk = [2u8; 33];
    let payload = ops::sign_payload(
        &serde_json::json!({"blockchain": "ETH-SEPOLIA", "kind": "message", "message": "hello"})
            .to_string(),
    )
    .unwrap();
    let expected = planbok_chains::message_input(
        planbok_chains::Chain::parse("ETH-SEPOLIA").unwrap(),
        "hello",
        false,
    )
    .unwrap();
    assert_eq!(payload.payload, hex::encode(&expected.payload));
    assert_eq!(payload.digest, expected.digest_hex);
    assert_eq!(payload.standard, "eip191");
    assert_eq!(
        ops::binding_sign("org", &hex::encode(pk), "m/44/60/0/0/3", &payload.payload).unwrap(),
        Binding::sign("org", &pk, "m/44/60/0/0/3", &expected.payload).to_hex()
    );
    assert_eq!(
        ops::binding_creation(Context::Dkg, "org", "idem"),
        Binding::creation(Context::Dkg, "org", "idem").to_hex()
    );
    assert_eq!(
        ops::binding_registration("org"),
        Binding::registration("org").to_hex()
    );
    assert_eq!(
        ops::binding_refresh("org", "0x0202").unwrap(),
        Binding::refresh("org", &[2, 2]).to_hex()
    );
    let recipient = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]);
    assert_eq!(
        ops::binding_export("org", &recipient, &["0101".into(), "02".into()]).unwrap(),
        Binding::export("org", &[9; 32], &[&[1, 1], &[2]]).to_hex()
    );
    assert_eq!(
        ops::binding_export("org", "AAAA", &["01".into()])
            .unwrap_err()
            .code,
        "invalid_input"
    );
    // Solana signs the message bytes; NEAR transactions name their signer.
    let sol = ops::sign_payload(
        &serde_json::json!({"blockchain": "SOL-DEVNET", "kind": "message", "message": "0x0102", "encodedByHex": true})
            .to_string(),
    )
    .unwrap();
    assert_eq!(
        (sol.payload.as_str(), sol.standard.as_str()),
        ("0102", "ed25519")
    );
    assert_eq!(ops::chain_curve("SOL").unwrap(), "ed25519");
    assert_eq!(ops::chain_curve("BTC-TESTNET").unwrap(), "secp256k1");
    for (req, code) in [
        (
            serde_json::json!({"blockchain": "NOPE", "kind": "message", "message": "x"}),
            "invalid_operation",
        ),
        (
            serde_json::json!({"blockchain": "ETH", "kind": "message", "message": ""}),
            "invalid_operation",
        ),
        (
            serde_json::json!({"blockchain": "ETH", "kind": "sign"}),
            "invalid_input",
        ),
        (
            serde_json::json!({"blockchain": "ETH", "kind": "transaction", "rawTransaction": "0x02"}),
            "invalid_input",
        ),
        (
            serde_json::json!({"blockchain": "SOL", "kind": "typedData", "typedData": "{}"}),
            "invalid_operation",
        ),
        (
            serde_json::json!({"blockchain": "ETH", "kind": "message", "extra": 1}),
            "invalid_input",
        ),
    ] {
        assert_eq!(
            ops::sign_payload(&req.to_string()).unwrap_err().code,
            code,
            "{req}"
        );
    }
}

#[test]
fn a_sealed_secret_opens_at_node_1_with_its_binding_and_time() {
    let org = Org::new("org_s");
    let key = ops::check_org_key(
        "org_s",
        &org.served.to_string(),
        Some(&org.node_key()),
        None,
    )
    .unwrap();
    let hex = "ab".repeat(32);
    let secret = ops::secret_from_hex(hex.clone()).unwrap();
    let b = Binding::registration("org_s");
    let ct = ops::seal(&secret, &key, Context::Dkg, Some(b), 1234).unwrap();
    let opened = planbok_envelope::envelope::open(&org.rsa, &ct).unwrap();
    assert_eq!(hex::encode(*opened.secret), hex);
    assert_eq!(
        (opened.timestamp_ms, opened.context.as_str(), opened.binding),
        (1234, "dkg", Some(b))
    );
    let unbound = ops::seal(&secret, &key, Context::Sign, None, 5).unwrap();
    assert_eq!(
        planbok_envelope::envelope::open(&org.rsa, &unbound)
            .unwrap()
            .binding,
        None
    );
    assert_eq!(
        ops::secret_from_hex("12".into()).unwrap_err().code,
        "secret_malformed"
    );
    assert!(!format!("{secret:?}").contains(&hex));
    for bad in [f64::NAN, -1.0, 1.5, 1e300] {
        assert_eq!(ops::timestamp(bad).unwrap_err().code, "invalid_input");
    }
    assert_eq!(
        ops::timestamp(1_700_000_000_000.0).unwrap(),
        1_700_000_000_000
    );
    assert_eq!(ops::context("export").unwrap_err().code, "invalid_input");
    assert!(ops::binding("zz").is_err());
}
