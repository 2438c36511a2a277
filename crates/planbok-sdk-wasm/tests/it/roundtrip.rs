//! The committed module (`sdk-js/wasm/`, what `@planbok/sdk` ships) run by node: it
//! verifies an organization key made and attested here, refuses tampered ones, and seals
//! secrets that Node 1's own code (`planbok_envelope::envelope::open`) opens to the right
//! secret, context, binding and time. The same pattern as the platform's Node.js recipe
//! test (`planbok-cli`'s `api_cli.rs`): skipped without node unless PLANBOK_REQUIRE_NODE
//! is set, as CI sets it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use planbok_envelope::{Binding, Context};

use crate::{Org, attested};

fn wasm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sdk-js/wasm")
        .canonicalize()
        .expect("sdk-js/wasm (scripts/build-sdk-wasm.sh)")
}

/// Loads the module as `@planbok/sdk` does and runs the steps the input names.
const SCRIPT: &str = r#"
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const dir = process.env.WASM_DIR;
const m = await import(pathToFileURL(`${dir}/planbok_sdk_wasm.js`).href);
m.initSync({ module: readFileSync(`${dir}/planbok_sdk_wasm_bg.wasm`) });
const input = JSON.parse(readFileSync(0, "utf8"));
const refused = (f) => {
  try { f(); } catch (e) { if (e instanceof Error) return `${e.name}: ${e.message}`; return `not an Error: ${e}`; }
  return "accepted";
};
const served = JSON.stringify(input.served);
const key = m.verifyOrgKey(input.orgId, served, input.nodeKey, undefined);
const secret = m.OrgSecret.fromHex(input.secret);
const fresh = m.OrgSecret.generate();
const payload = JSON.parse(m.signPayload(JSON.stringify(input.message)));
const bindings = {
  registration: m.bindingRegistration(input.orgId),
  creation: m.bindingCreation("dkg", input.orgId, input.idempotencyKey),
  sign: m.bindingSign(input.orgId, input.groupKey, input.path, payload.payload),
  export: m.bindingExport(input.orgId, input.recipient, input.exportKeys),
};
const out = {
  fingerprint: key.fingerprint,
  verifiedByNode: key.verifiedByNode,
  pinnedNow: key.pinnedNow,
  payload,
  bindings,
  fresh: fresh.toHex(),
  sealed: [
    ["dkg", bindings.registration, secret.seal(key, "dkg", bindings.registration, input.now)],
    ["dkg", bindings.creation, secret.seal(key, "dkg", bindings.creation, input.now)],
    ["sign", bindings.sign, secret.seal(key, "sign", bindings.sign, input.now)],
    ["verify", bindings.export, secret.seal(key, "verify", bindings.export, input.now)],
    ["sign", null, secret.sealUnbound(key, "sign", input.now)],
    ["sign", bindings.sign, fresh.seal(key, "sign", bindings.sign, input.now)],
  ],
  refusals: {
    wrongNode: refused(() => m.verifyOrgKey(input.orgId, served, input.otherNodeKey, undefined)),
    swapped: refused(() => m.verifyOrgKey(input.orgId, JSON.stringify(input.swapped), input.nodeKey, undefined)),
    otherOrg: refused(() => m.verifyOrgKey("someone-else", served, input.nodeKey, undefined)),
    pinMismatch: refused(() => m.verifyOrgKey(input.orgId, served, input.nodeKey, "00".repeat(32))),
    badSecret: refused(() => m.OrgSecret.fromHex("not hex")),
    badContext: refused(() => secret.seal(key, "export", bindings.sign, input.now)),
    badBinding: refused(() => secret.seal(key, "sign", "1234", input.now)),
    badTime: refused(() => secret.seal(key, "sign", bindings.sign, -5)),
    badPayload: refused(() => m.signPayload(JSON.stringify({ blockchain: "NOPE", kind: "message", message: "x" }))),
  },
};
secret.free();
fresh.free();
process.stdout.write(JSON.stringify(out));
"#;

#[test]
fn the_committed_module_seals_what_node_1_opens_and_refuses_a_tampered_key() {
    if Command::new("node").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("PLANBOK_REQUIRE_NODE").is_none(),
            "PLANBOK_REQUIRE_NODE is set but node is not installed"
        );
        eprintln!("SKIPPED: node is not installed");
        return;
    }
    let org = Org::new("6f2b8d0e-8a55-4b7e-9f0a-2c1d3e4f5a6b");
    let other = Org::new(&org.id);
    let evil = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 3072).unwrap();
    let mut swapped = org.served.clone();
    swapped["publicKey"] =
        attested(&org.id, &evil.to_public_key(), &org.node, 1)["publicKey"].clone();
    let secret =
        hex::encode(rand_core::RngCore::next_u64(&mut rand_core::OsRng).to_be_bytes()).repeat(4);
    let group_key = [3u8; 33];
    let export_keys = [hex::encode([2u8; 33]), hex::encode([7u8; 32])];
    let recipient = [5u8; 32];
    let now: i64 = 1_754_000_000_123;
    let input = serde_json::json!({
        "orgId": org.id,
        "served": org.served,
        "swapped": swapped,
        "nodeKey": org.node_key(),
        "otherNodeKey": other.node_key(),
        "secret": secret,
        "now": now,
        "idempotencyKey": "0b5c4d3e-2f1a-4b9c-8d7e-6f5a4b3c2d1e",
        "message": {"blockchain": "ETH-SEPOLIA", "kind": "message", "message": "hello planbok"},
        "groupKey": hex::encode(group_key),
        "path": "m/44/60/0/0/7",
        "recipient": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, recipient),
        "exportKeys": export_keys,
    });

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("roundtrip.mjs");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut child = Command::new("node")
        .arg(&script)
        .env("WASM_DIR", wasm_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // The key it trusted is the one Node 1 attested.
    let key = planbok_envelope::OrgPublicKey::from_pem(org.served["publicKey"].as_str().unwrap())
        .unwrap();
    assert_eq!(out["fingerprint"], key.fingerprint_hex());
    assert_eq!(
        (out["verifiedByNode"].as_bool(), out["pinnedNow"].as_bool()),
        (Some(true), Some(true))
    );

    // Its bindings and payload are Node 1's.
    let payload = planbok_chains::message_input(
        planbok_chains::Chain::parse("ETH-SEPOLIA").unwrap(),
        "hello planbok",
        false,
    )
    .unwrap()
    .payload;
    assert_eq!(out["payload"]["payload"], hex::encode(&payload));
    let keys: Vec<Vec<u8>> = export_keys
        .iter()
        .map(|k| hex::decode(k).unwrap())
        .collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let want = [
        ("registration", Binding::registration(&org.id)),
        (
            "creation",
            Binding::creation(
                Context::Dkg,
                &org.id,
                "0b5c4d3e-2f1a-4b9c-8d7e-6f5a4b3c2d1e",
            ),
        ),
        (
            "sign",
            Binding::sign(&org.id, &group_key, "m/44/60/0/0/7", &payload),
        ),
        ("export", Binding::export(&org.id, &recipient, &refs)),
    ];
    for (name, b) in want {
        assert_eq!(out["bindings"][name], b.to_hex(), "{name}");
    }

    // Every ciphertext opens at Node 1 to the secret, context, binding and time sealed.
    let fresh = out["fresh"].as_str().unwrap();
    assert_eq!(fresh.len(), 64);
    assert_ne!(fresh, secret);
    let sealed = out["sealed"].as_array().unwrap();
    assert_eq!(sealed.len(), 6);
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in sealed.iter().enumerate() {
        let ct = s[2].as_str().unwrap();
        assert!(
            seen.insert(ct.to_owned()),
            "a ciphertext repeated (OAEP is randomized)"
        );
        let opened = planbok_envelope::envelope::open(&org.rsa, ct).unwrap();
        let want_secret = if i == 5 { fresh } else { secret.as_str() };
        assert_eq!(hex::encode(*opened.secret), want_secret, "{s}");
        assert_eq!(opened.context, s[0].as_str().unwrap());
        assert_eq!(opened.timestamp_ms, now);
        assert_eq!(
            opened.binding.map(|b| b.to_hex()),
            s[1].as_str().map(str::to_owned)
        );
        // Not to any other key.
        assert!(planbok_envelope::envelope::open(&evil, ct).is_err());
    }

    // Refusals are JavaScript Errors named by their code, before anything is sealed.
    let r = &out["refusals"];
    let starts = |k: &str, code: &str| {
        let got = r[k].as_str().unwrap();
        assert!(got.starts_with(&format!("{code}: ")), "{k}: {got}");
    };
    starts("wrongNode", "org_key_wrong_signer");
    starts("swapped", "org_key_bad_signature");
    starts("otherOrg", "org_key_bad_signature");
    starts("pinMismatch", "org_key_pin_mismatch");
    starts("badSecret", "secret_malformed");
    starts("badContext", "invalid_input");
    starts("badBinding", "invalid_input");
    starts("badTime", "invalid_input");
    starts("badPayload", "invalid_operation");
    // No refusal repeats the secret.
    assert!(!r.to_string().contains(&secret));
}
