//! Key export through the REST API and `planbok export`: the owner of a trustless
//! organization gets both nodes' shares sealed to a key made on its own machine, and only
//! `planbok export decrypt` rebuilds the private keys, which must give the wallets'
//! addresses and sign as them.

use planbok_sdk::secret::Context;
use planbok_testkit::cluster::NodeRole::Node1;
use serde_json::json;

use crate::rest::{Custody, Stack, assert_err, assert_ok, cli, idem};

/// `planbok export decrypt`: the CSV, asserting it succeeded.
pub fn decrypt(s: &Stack, recipient: &std::path::Path, answer: &std::path::Path) -> String {
    let (ok, csv) = cli(
        s,
        &[
            "export",
            "decrypt",
            "--recipient-secret",
            recipient.to_str().unwrap(),
            "--response",
            answer.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{csv}");
    csv
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_exports_and_rebuilds_keys_that_match_the_wallets() {
    let s = Stack::sqlite(Custody::Trustless).await;
    let set = s.wallet_set("dkls23", true);
    let wallets = s.wallets(&set.id, &["ETH", "BTC-TESTNET", "SOL"], 2, true);
    let dir = s.cluster.dir.path();
    let secret_file = dir.join("org.secret");
    std::fs::write(&secret_file, &*s.secret.to_hex()).unwrap();
    let recipient = dir.join("recipient.secret");
    let (ok, public) = cli(
        &s,
        &["export", "keypair", "--out", recipient.to_str().unwrap()],
        None,
    );
    assert!(ok, "{public}");
    let answer = dir.join("export.json");
    let (ok, out) = cli(
        &s,
        &[
            "export",
            "request",
            "--recipient-public-key",
            public.trim(),
            "--out",
            answer.to_str().unwrap(),
        ],
        Some(&secret_file),
    );
    assert!(ok, "{out}\n{}", s.cluster.log_tail(Node1));
    // The server relays ciphertexts only.
    let text = std::fs::read_to_string(&answer).unwrap();
    assert!(!text.contains(&*s.secret.to_hex()));
    let csv = decrypt(&s, &recipient, &answer);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), wallets.len(), "{csv}");
    for w in &wallets {
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("{},", w.address)))
            .unwrap_or_else(|| panic!("{} missing:\n{csv}", w.address));
        let key = row.split(',').nth(1).unwrap();
        match w.blockchain.as_str() {
            "ETH" => {
                // An independent library derives the same address from the rebuilt key.
                let sk = secp256k1::SecretKey::from_byte_array(
                    hex::decode(&key[2..]).unwrap().try_into().unwrap(),
                )
                .unwrap();
                let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &sk);
                assert_eq!(
                    pk.serialize().to_vec(),
                    hex::decode(&w.public_key[2..]).unwrap()
                );
            }
            "BTC-TESTNET" => {
                // Testnet WIF of a compressed key: 0xef ‖ key ‖ 0x01, base58check.
                let raw = bs58::decode(key).with_check(Some(0xef)).into_vec().unwrap();
                assert_eq!((raw.len(), raw[33]), (34, 0x01), "{key}");
                let sk =
                    secp256k1::SecretKey::from_byte_array(raw[1..33].try_into().unwrap()).unwrap();
                let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &sk);
                assert_eq!(
                    pk.serialize().to_vec(),
                    hex::decode(&w.public_key[2..]).unwrap()
                );
            }
            "SOL" => {
                assert!(row.ends_with("ed25519-scalar"), "{row}");
                // The scalar times the base point is the wallet's key (curve25519-dalek).
                let scalar: [u8; 32] = hex::decode(key.trim_start_matches("scalar:0x"))
                    .unwrap()
                    .try_into()
                    .unwrap();
                let scalar = curve25519_dalek::Scalar::from_canonical_bytes(scalar).unwrap();
                let point = curve25519_dalek::constants::ED25519_BASEPOINT_POINT * scalar;
                assert_eq!(
                    point.compress().to_bytes().to_vec(),
                    hex::decode(&w.public_key[2..]).unwrap()
                );
            }
            _ => unreachable!(),
        }
    }
    // The export is audited.
    let log = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?action=wallet.export", None)
            .unwrap(),
    );
    assert_eq!(log["total"], 2, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_refusals() {
    let s = Stack::sqlite(Custody::Trustless).await;
    let set = s.wallet_set("dkls23", true);
    let w = s.wallets(&set.id, &["ETH"], 1, true).remove(0);
    let pk = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]);
    let bound = || {
        Some(
            s.sealer()
                .export(&[9u8; 32], std::slice::from_ref(&w.id))
                .unwrap(),
        )
    };
    let body = |ct: Option<String>| json!({"idempotencyKey": idem(), "walletIds": [w.id], "recipientPublicKey": pk, "encryptedOrganizationSecret": ct});
    assert_err(
        s.post("/v2/organization/wallets/export", body(None)),
        "secret_required",
    );
    assert_err(
        s.post(
            "/v2/organization/wallets/export",
            body(Some(s.ct(Context::Sign))),
        ),
        "secret_wrong_context",
    );
    // An export secret must be bound to the recipient and the keys.
    assert_err(
        s.post(
            "/v2/organization/wallets/export",
            body(Some(s.ct(Context::Verify))),
        ),
        "secret_binding_required",
    );
    let other_recipient = s
        .sealer()
        .export(&[8u8; 32], std::slice::from_ref(&w.id))
        .unwrap();
    assert_err(
        s.post(
            "/v2/organization/wallets/export",
            body(Some(other_recipient)),
        ),
        "secret_binding_mismatch",
    );
    let mut bad = body(bound());
    bad["recipientPublicKey"] = json!("AAAA");
    assert_err(
        s.post("/v2/organization/wallets/export", bad),
        "invalid_request",
    );
    // Admins cannot export.
    let m = assert_ok(s.post(
        "/v2/organization/members",
        json!({"name": "a", "email": "a@example.com", "role": "admin"}),
    ));
    let k = assert_ok(s.post(
        "/v2/organization/api-keys",
        json!({"name": "a", "memberId": m["id"], "access": "full"}),
    ));
    let admin = s.owner.with_key(k["secret"].as_str().unwrap());
    assert_err(
        admin
            .raw(
                "POST",
                "/v2/organization/wallets/export",
                Some(&body(bound())),
            )
            .unwrap(),
        "forbidden",
    );
    assert_ok(s.post("/v2/organization/wallets/export", body(bound())));
    // Standard organizations never export.
    let std_org = Stack::sqlite(Custody::Standard).await;
    let set = std_org.wallet_set("dkls23", false);
    let w = std_org.wallets(&set.id, &["ETH"], 1, false).remove(0);
    let r = std_org.post(
        "/v2/organization/wallets/export",
        json!({"idempotencyKey": idem(), "walletIds": [w.id], "recipientPublicKey": pk, "encryptedOrganizationSecret": std_org.ct(Context::Verify)}),
    );
    assert_err(r, "export_not_allowed");
}
