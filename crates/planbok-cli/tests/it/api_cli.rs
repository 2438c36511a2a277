//! The client verbs of the `planbok` binary against a running stack, and the secret
//! envelope's compatibility with the platform's published Node.js recipe
//! (`crypto.publicEncrypt` with RSA-OAEP-SHA256, base64).

use std::process::Command;

use serde_json::{Value, json};

use crate::rest::{Custody, Stack, assert_ok, cli, idem};

#[tokio::test(flavor = "multi_thread")]
async fn the_client_verbs_run_a_trustless_organization_end_to_end() {
    let s = Stack::sqlite(Custody::Unset).await;
    let dir = s.cluster.dir.path();
    let secret = dir.join("org.secret");
    let (ok, out) = cli(
        &s,
        &["secret", "generate", "--out", secret.to_str().unwrap()],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = cli(
        &s,
        &["secret", "register", "--mode", "trustless"],
        Some(&secret),
    );
    assert!(ok && out.contains("trustless"), "{out}");
    let (ok, out) = cli(
        &s,
        &[
            "wallet-set",
            "create",
            "--name",
            "cli",
            "--protocol",
            "dkls23",
            "--json",
        ],
        Some(&secret),
    );
    assert!(ok, "{out}");
    let set: Value = serde_json::from_str(&out).unwrap();
    let (ok, out) = cli(
        &s,
        &[
            "wallet",
            "create",
            "--wallet-set",
            set["id"].as_str().unwrap(),
            "--chain",
            "ETH",
            "--chain",
            "SOL",
            "--json",
        ],
        Some(&secret),
    );
    assert!(ok, "{out}");
    let wallets: Vec<Value> = serde_json::from_str(&out).unwrap();
    let eth = wallets.iter().find(|w| w["blockchain"] == "ETH").unwrap();
    let eth_id = eth["id"].as_str().unwrap();
    let sign_hi = |extra: &[&str], secret: Option<&std::path::Path>| {
        let args = [
            &["sign", "message", "--wallet", eth_id, "--message", "hi"],
            extra,
        ]
        .concat();
        cli(&s, &args, secret)
    };
    let (ok, out) = sign_hi(&["--json"], Some(&secret));
    assert!(ok, "{out}");
    let sig: Value = serde_json::from_str(&out).unwrap();
    crate::rest::python_verify(&[
        json!({"kind": "evm_message", "message_hex": hex::encode("hi"), "signature": sig["signature"], "address": eth["address"]}),
    ]);
    // Human output, and a clear failure without the secret.
    let (ok, out) = sign_hi(&[], Some(&secret));
    assert!(ok && out.contains("signature 0x"), "{out}");
    let (ok, out) = sign_hi(&[], None);
    assert!(!ok && out.contains("secret_required"), "{out}");
    // `secret encrypt` prints a ciphertext the server accepts.
    let (ok, ct) = cli(
        &s,
        &["secret", "encrypt", "--context", "sign"],
        Some(&secret),
    );
    assert!(ok, "{ct}");
    let r = s.post("/v2/organization/sign/message", json!({"idempotencyKey": idem(), "walletId": eth["id"], "message": "x", "encryptedOrganizationSecret": ct.trim()}));
    assert_ok(r);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_encrypted_by_the_nodejs_recipe_is_accepted() {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("PLANBOK_REQUIRE_NODE").is_err(),
            "node is required"
        );
        eprintln!("SKIPPED: node not installed");
        return;
    }
    let s = Stack::sqlite(Custody::Unset).await;
    // The recipe from the platform's documentation, verbatim in substance.
    let script = r#"
const crypto = require('crypto');
const { PEM: pem, SECRET: secret, CONTEXT: context } = process.env;
const payload = JSON.stringify({ secret, timestamp: Date.now(), context });
const ct = crypto.publicEncrypt({ key: pem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(payload));
process.stdout.write(ct.toString('base64'));
"#;
    let encrypt = |context: &str| {
        let out = Command::new("node")
            .args(["-e", script])
            .env("PEM", &s.pem)
            .env("SECRET", &*s.secret.to_hex())
            .env("CONTEXT", context)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let org = assert_ok(s.post(
        "/v2/organization/secret",
        json!({"idempotencyKey": idem(), "custodyMode": "trustless", "encryptedOrganizationSecret": encrypt("dkg")}),
    ));
    assert_eq!(org["custodyMode"], "trustless");
    let set = assert_ok(s.post(
        "/v2/organization/wallet-sets",
        json!({"idempotencyKey": idem(), "name": "node", "ecdsaProtocol": "dkls23", "encryptedOrganizationSecret": encrypt("dkg")}),
    ));
    assert!(set["walletSet"]["id"].is_string());
}
