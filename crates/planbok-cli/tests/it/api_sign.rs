//! End to end through the REST API: a wallet set, wallets on every chain, and every kind
//! of signature, each checked by an independent implementation (Python eth-account,
//! coincurve + bech32, PyNaCl, solders).

use base64::Engine as _;
use planbok_testkit::cluster::NodeRole::Node1;
use planbok_testkit::cluster::Options;
use planbok_testkit::cluster::SERVER;
use serde_json::{Value, json};

use crate::rest::{Custody, Stack, assert_err, assert_ok, idem, python_rejects, python_verify};

/// Every chain of API.md (`planbok-chains`' registry test pins the registry to that list).
fn all_chains() -> Vec<&'static str> {
    planbok_chains::Chain::all()
        .iter()
        .map(|c| c.id())
        .collect()
}

pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A Solana legacy transfer message from `payer` (1 signer, system program transfer).
fn solana_transfer(payer: &[u8]) -> Vec<u8> {
    let mut m = vec![1u8, 0, 1, 3];
    m.extend_from_slice(payer);
    m.extend_from_slice(&[7u8; 32]);
    m.extend_from_slice(&[0u8; 32]); // the system program
    m.extend_from_slice(&[9u8; 32]); // recent blockhash
    m.extend_from_slice(&[1, 2, 2, 0, 1, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&1_000_000u64.to_le_bytes());
    m
}

/// A NEAR transfer transaction (borsh) signed by the implicit account of `pk`.
pub(crate) fn near_transfer(pk: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    let signer = hex::encode(pk);
    t.extend_from_slice(&(signer.len() as u32).to_le_bytes());
    t.extend_from_slice(signer.as_bytes());
    t.push(0);
    t.extend_from_slice(pk);
    t.extend_from_slice(&42u64.to_le_bytes());
    let receiver = "bob.testnet";
    t.extend_from_slice(&(receiver.len() as u32).to_le_bytes());
    t.extend_from_slice(receiver.as_bytes());
    t.extend_from_slice(&[5u8; 32]);
    t.extend_from_slice(&1u32.to_le_bytes());
    t.push(3); // Transfer
    t.extend_from_slice(&1_000_000_000_000_000_000_000u128.to_le_bytes());
    t
}

/// A NEP-366 `DelegateAction` (borsh) of the implicit account of `pk`: one transfer to
/// bob.testnet, for a relayer to submit.
pub(crate) fn near_delegate_action(pk: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for account in [hex::encode(pk).as_str(), "bob.testnet"] {
        d.extend_from_slice(&(account.len() as u32).to_le_bytes());
        d.extend_from_slice(account.as_bytes());
    }
    d.extend_from_slice(&1u32.to_le_bytes());
    d.push(3); // Transfer
    d.extend_from_slice(&1_000_000_000_000_000_000_000u128.to_le_bytes());
    d.extend_from_slice(&43u64.to_le_bytes()); // nonce
    d.extend_from_slice(&1_000u64.to_le_bytes()); // max_block_height
    d.push(0);
    d.extend_from_slice(pk);
    d
}

/// Minimal RLP (bytes and lists) for a hand-built legacy transaction.
fn rlp_bytes(b: &[u8]) -> Vec<u8> {
    match b {
        [x] if *x < 0x80 => vec![*x],
        _ if b.len() < 56 => [vec![0x80 + b.len() as u8], b.to_vec()].concat(),
        _ => panic!("long strings are not needed here"),
    }
}

fn rlp_uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(8);
    rlp_bytes(&bytes[first..])
}

fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let body = items.concat();
    assert!(body.len() < 56);
    [vec![0xc0 + body.len() as u8], body].concat()
}

fn pk_bytes(w: &Value) -> Vec<u8> {
    hex::decode(w["publicKey"].as_str().unwrap().trim_start_matches("0x")).unwrap()
}

fn sign(s: &Stack, route: &str, wallet: &Value, fields: Value, trustless: bool) -> Value {
    let mut body = json!({ "idempotencyKey": idem(), "walletId": wallet["id"] });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    if trustless {
        body["encryptedOrganizationSecret"] = json!(s.ct(planbok_sdk::secret::Context::Sign));
    }
    let r = s.post(route, body);
    if r.0 != 200 {
        panic!(
            "{route}: {:?}\n{}\n{}",
            r,
            s.cluster.log_tail(SERVER),
            s.cluster.log_tail(Node1)
        );
    }
    assert_ok(r)
}

/// Every chain's address and every signing kind, for one wallet set.
async fn every_chain_and_kind(s: &Stack, protocol: &str, trustless: bool) {
    let set = s.wallet_set(protocol, trustless);
    let wallets: Vec<Value> = s
        .wallets(&set.id, &all_chains(), 1, trustless)
        .into_iter()
        .map(|w| serde_json::to_value(w).unwrap())
        .collect();
    assert_eq!(wallets.len(), 18);
    let by = |chain: &str| {
        wallets
            .iter()
            .find(|w| w["blockchain"] == chain)
            .unwrap()
            .clone()
    };
    let mut cases = Vec::new();
    // Every EVM chain shares one key and address at this index.
    let eth = by("ETH");
    for w in &wallets {
        let chain = w["blockchain"].as_str().unwrap();
        let (pk, addr) = (w["publicKey"].clone(), w["address"].clone());
        match chain {
            "BTC" | "BTC-TESTNET" => {
                let hrp = if chain == "BTC" { "bc" } else { "tb" };
                cases.push(
                    json!({"kind": "btc_address", "public_key": pk, "address": addr, "hrp": hrp}),
                );
                assert_eq!(
                    w["derivationPath"],
                    if chain == "BTC" {
                        "m/44/0/0/0"
                    } else {
                        "m/44/1/0/0"
                    }
                );
            }
            "SOL" | "SOL-DEVNET" => {
                cases.push(json!({"kind": "sol_address", "public_key": pk, "address": addr}))
            }
            "NEAR" | "NEAR-TESTNET" => {
                assert_eq!(
                    addr.as_str().unwrap(),
                    pk.as_str().unwrap().trim_start_matches("0x")
                );
            }
            _ => {
                cases.push(json!({"kind": "evm_address", "public_key": pk, "address": addr}));
                assert_eq!(addr, eth["address"], "EVM chains share the address");
                assert_eq!(w["derivationPath"], "m/44/60/0/0");
            }
        }
    }
    // Messages.
    let msg = "planbok says hi";
    let m = sign(
        s,
        "/v2/organization/sign/message",
        &eth,
        json!({"message": msg}),
        trustless,
    );
    assert_eq!(m["standard"], "eip191");
    cases.push(json!({"kind": "evm_message", "message_hex": hex::encode(msg), "signature": m["signature"], "address": eth["address"]}));
    let m = sign(
        s,
        "/v2/organization/sign/message",
        &eth,
        json!({"message": "0xdeadbeef", "encodedByHex": true}),
        trustless,
    );
    cases.push(json!({"kind": "evm_message", "message_hex": "deadbeef", "signature": m["signature"], "address": eth["address"]}));
    let btc = by("BTC-TESTNET");
    let m = sign(
        s,
        "/v2/organization/sign/message",
        &btc,
        json!({"message": msg}),
        trustless,
    );
    cases.push(json!({"kind": "btc_message", "message_hex": hex::encode(msg), "signature": m["signature"], "address": btc["address"], "hrp": "tb"}));
    for chain in ["SOL", "NEAR"] {
        let w = by(chain);
        let m = sign(
            s,
            "/v2/organization/sign/message",
            &w,
            json!({"message": msg}),
            trustless,
        );
        let sig = if chain == "SOL" {
            bs58_decode(m["signature"].as_str().unwrap())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(m["signature"].as_str().unwrap())
                .unwrap()
        };
        cases.push(json!({"kind": "ed25519", "public_key": w["publicKey"], "message_hex": hex::encode(msg), "signature_hex": hex::encode(sig)}));
    }
    // EIP-712.
    let typed = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Mail": [{"name": "to", "type": "address"}, {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "planbok", "chainId": 11155111},
        "message": {"to": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "contents": "hello"}
    })
    .to_string();
    let sep = by("ETH-SEPOLIA");
    let m = sign(
        s,
        "/v2/organization/sign/typed-data",
        &sep,
        json!({"typedData": typed}),
        trustless,
    );
    assert_eq!(m["standard"], "eip712");
    cases.push(json!({"kind": "evm_typed", "typed_data": typed, "signature": m["signature"], "address": sep["address"]}));
    // EVM transactions: the three types from JSON, and a raw legacy RLP.
    let base = by("BASE-SEPOLIA");
    let to = "0x3535353535353535353535353535353535353535";
    for tx in [
        json!({"type": 0, "nonce": 1, "to": to, "value": "1000", "gasLimit": 21000, "gasPrice": "20000000000"}),
        json!({"type": 1, "nonce": 2, "to": to, "value": "0x10", "gas": 30000, "gasPrice": 1_000_000_000u64, "accessList": []}),
        json!({"type": 2, "nonce": 3, "to": to, "value": "5", "gas": 21000, "maxFeePerGas": "30000000000", "maxPriorityFeePerGas": "1000000000", "data": "0x"}),
    ] {
        let r = sign(
            s,
            "/v2/organization/sign/transaction",
            &base,
            json!({"transaction": tx.to_string()}),
            trustless,
        );
        cases.push(json!({"kind": "evm_tx", "signed": r["signedTransaction"], "address": base["address"], "chain_id": 84532, "tx_hash": r["txHash"]}));
    }
    let raw = rlp_list(&[
        rlp_uint(9),
        rlp_uint(20_000_000_000),
        rlp_uint(21000),
        rlp_bytes(&hex::decode(&to[2..]).unwrap()),
        rlp_uint(1),
        rlp_bytes(&[]),
        rlp_uint(84532),
        rlp_uint(0),
        rlp_uint(0),
    ]);
    let r = sign(
        s,
        "/v2/organization/sign/transaction",
        &base,
        json!({"rawTransaction": format!("0x{}", hex::encode(raw))}),
        trustless,
    );
    cases.push(json!({"kind": "evm_tx", "signed": r["signedTransaction"], "address": base["address"], "chain_id": 84532, "tx_hash": r["txHash"]}));
    // Solana and NEAR transactions.
    let sol = by("SOL-DEVNET");
    let msg = solana_transfer(&pk_bytes(&sol));
    let r = sign(
        s,
        "/v2/organization/sign/transaction",
        &sol,
        json!({"rawTransaction": b64(&msg)}),
        trustless,
    );
    cases.push(json!({"kind": "sol_tx", "signed_b64": r["signedTransaction"], "public_key": sol["publicKey"]}));
    let near = by("NEAR-TESTNET");
    let tx = near_transfer(&pk_bytes(&near));
    let r = sign(
        s,
        "/v2/organization/sign/transaction",
        &near,
        json!({"rawTransaction": b64(&tx)}),
        trustless,
    );
    cases.push(json!({"kind": "near_tx", "signed_b64": r["signedTransaction"], "public_key": near["publicKey"]}));
    // A NEP-366 delegate action.
    let action = b64(&near_delegate_action(&pk_bytes(&near)));
    let r = sign(
        s,
        "/v2/organization/sign/delegate-action",
        &near,
        json!({"unsignedDelegateAction": action}),
        trustless,
    );
    cases.push(json!({"kind": "near_delegate", "signed_b64": r["signedDelegateAction"], "unsigned_b64": action, "public_key": near["publicKey"]}));
    python_verify(&cases);
    // The checker is not vacuous: one flipped byte in any case makes it fail.
    for case in cases
        .iter()
        .filter(|c| c["kind"] != "sol_address" && c["kind"] != "btc_address")
    {
        let mut bad = case.clone();
        let field = [
            "signature",
            "signed",
            "signed_b64",
            "signature_hex",
            "public_key",
        ]
        .into_iter()
        .find(|f| bad.get(*f).is_some())
        .unwrap();
        let v = bad[field].as_str().unwrap().to_owned();
        let i = v.len() / 2;
        let flipped = if &v[i..=i] == "1" { "2" } else { "1" };
        bad[field] = json!(format!("{}{}{}", &v[..i], flipped, &v[i + 1..]));
        python_rejects(&bad);
    }
}

fn bs58_decode(s: &str) -> Vec<u8> {
    // The Python side re-checks; here only to move bytes around.
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut n: Vec<u8> = Vec::new();
    for c in s.bytes() {
        let mut carry = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        for b in n.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            n.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|c| *c == b'1').count();
    [vec![0u8; zeros], n].concat()
}

async fn standard_dkls23(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    every_chain_and_kind(&s, "dkls23", false).await;
}

on_sqlite_and_postgres!(standard_dkls23);

#[tokio::test(flavor = "multi_thread")]
async fn trustless_cggmp_every_chain_and_kind() {
    let s = Stack::sqlite(Custody::Trustless).await;
    s.provision().await;
    every_chain_and_kind(&s, "cggmp", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_refusals_each_have_their_code_and_change_nothing() {
    let s = Stack::sqlite(Custody::Trustless).await;
    let set = s.wallet_set("dkls23", true);
    let w = serde_json::to_value(&s.wallets(&set.id, &["ETH", "SOL"], 1, true)[0]).unwrap();
    let route = "/v2/organization/sign/message";
    let with = |extra: Value| {
        let mut b = json!({"idempotencyKey": idem(), "walletId": w["id"], "message": "x"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        s.post(route, b)
    };
    use planbok_sdk::secret::{Binding, Context, OrgSecret};
    assert_err(with(json!({})), "secret_required");
    let old = s
        .secret
        .encrypt_at(
            &s.pem,
            Context::Sign,
            planbok_testkit::cluster::now_ms() - 6 * 60_000,
            None,
        )
        .unwrap();
    assert_err(
        with(json!({"encryptedOrganizationSecret": old})),
        "secret_expired",
    );
    assert_err(
        with(json!({"encryptedOrganizationSecret": s.ct(Context::Dkg)})),
        "secret_wrong_context",
    );
    let other = OrgSecret::generate()
        .encrypt(&s.pem, Context::Sign, None)
        .unwrap();
    assert_err(
        with(json!({"encryptedOrganizationSecret": other})),
        "secret_invalid",
    );
    assert_err(
        with(json!({"encryptedOrganizationSecret": "not base64!"})),
        "secret_malformed",
    );
    let ct = s.ct(Context::Sign);
    assert_ok(with(json!({"encryptedOrganizationSecret": ct})));
    assert_err(
        with(json!({"encryptedOrganizationSecret": ct})),
        "secret_reused",
    );
    let sol = serde_json::to_value(&s.wallets(&set.id, &["SOL"], 1, true)[0]).unwrap();
    // The bindings our clients send are the ones Node 1 checks: an ed25519 signature binds
    // the wallet's key, path and exact message; a creation binds its idempotency key.
    let bound = |binding: Binding| {
        s.secret
            .encrypt(&s.pem, Context::Sign, Some(binding))
            .unwrap()
    };
    let sol_id = sol["id"].as_str().unwrap();
    let sign_bound = |binding| {
        s.post(route, json!({"idempotencyKey": idem(), "walletId": sol_id, "message": "x", "encryptedOrganizationSecret": bound(binding)}))
    };
    let sol_key = hex::decode(sol["publicKey"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_ok(sign_bound(Binding::sign(&s.org_id, &sol_key, "m", b"x")));
    assert_err(
        sign_bound(Binding::sign(&s.org_id, &sol_key, "m", b"y")),
        "secret_binding_mismatch",
    );
    // The SDK computes the same binding from the wallet alone.
    let sealed = s.sealer().sign(sol_id, b"x").unwrap();
    assert_ok(s.post(route, json!({"idempotencyKey": idem(), "walletId": sol_id, "message": "x", "encryptedOrganizationSecret": sealed})));
    let key = idem();
    let create = |binding| {
        s.post("/v2/organization/wallets", json!({"idempotencyKey": key, "walletSetId": set.id, "blockchains": ["SOL"], "encryptedOrganizationSecret": bound(binding)}))
    };
    assert_err(
        create(Binding::creation(Context::Sign, &s.org_id, &idem())),
        "secret_binding_mismatch",
    );
    assert_ok(create(Binding::creation(Context::Sign, &s.org_id, &key)));
    let secret = s.ct(Context::Sign);
    assert_err(
        s.post("/v2/organization/sign/typed-data", json!({"idempotencyKey": idem(), "walletId": sol["id"], "typedData": "{}", "encryptedOrganizationSecret": secret})),
        "unsupported_operation",
    );
    let eth = &w;
    assert_err(
        s.post("/v2/organization/sign/typed-data", json!({"idempotencyKey": idem(), "walletId": eth["id"], "typedData": "{not json", "encryptedOrganizationSecret": s.ct(Context::Sign)})),
        "invalid_typed_data",
    );
    assert_err(
        s.post("/v2/organization/sign/transaction", json!({"idempotencyKey": idem(), "walletId": eth["id"], "transaction": json!({"type": 2, "chainId": 5, "nonce": 0, "to": "0x3535353535353535353535353535353535353535", "gas": 21000, "maxFeePerGas": "1", "maxPriorityFeePerGas": "1"}).to_string(), "encryptedOrganizationSecret": s.ct(Context::Sign)})),
        "chain_id_mismatch",
    );
    assert_err(
        s.post("/v2/organization/sign/transaction", json!({"idempotencyKey": idem(), "walletId": eth["id"], "rawTransaction": "0x01", "transaction": "{}"})),
        "invalid_request",
    );
    assert_err(
        s.post(route, json!({"idempotencyKey": idem(), "walletId": eth["id"], "message": "x", "memo": "m".repeat(257)})),
        "invalid_request",
    );
    assert_err(
        s.post(route, json!({"idempotencyKey": idem(), "walletId": "00000000-0000-4000-8000-000000000000", "message": "x"})),
        "not_found",
    );
}
