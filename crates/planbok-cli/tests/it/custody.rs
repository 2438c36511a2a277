//! Custody drills: each test plays one compromise of DESIGN.md's trust table and asserts
//! what the attacker gets (nothing), with the real node processes, server and clients.

use planbok_testkit::cluster::NodeRole::Node1;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use planbok_envelope::org_key::{self, OrgKeyError};
use planbok_proto::grant;
use planbok_proto::pb::{
    CheckSecretRequest, CustodyMode, Operation, Protocol, RequireBindingRequest, SecretContext,
    StatusRequest,
};
use planbok_sdk::Error as SdkError;
use planbok_sdk::trust::{FilePins, MemoryPins, OrgKeyTrust};
use planbok_testkit::cluster::{Cluster, Options};
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};

use crate::common::*;
use crate::export::{export_request, export_with};
use crate::rest::{Custody, Stack, assert_err, assert_ok, cli, idem};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---- a server that serves a foreign organization key --------------------------------

/// What the man in the middle answers for the organization key.
#[derive(Clone, Copy)]
enum Forgery {
    /// Its own RSA key with the real key's signature and node key id copied over.
    CopiedSignature,
    /// Its own RSA key signed by its own Ed25519 key.
    OwnSigner,
}

/// An HTTP proxy in front of the real server that swaps the organization key for its own
/// and records every request body it forwards.
struct Mitm {
    url: String,
    rsa: rsa::RsaPrivateKey,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn mitm(upstream: String, forgery: Forgery) -> Mitm {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};

    let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 3072).unwrap();
    let pem = rsa
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let der = rsa
        .to_public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let signer = ed25519_dalek::SigningKey::from_bytes(&planbok_testkit::random_bytes::<32>());
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen2 = seen.clone();
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (upstream, pem, der, signer, seen) = (
            upstream.clone(),
            pem.clone(),
            der.clone(),
            signer.clone(),
            seen2.clone(),
        );
        async move {
            seen.lock().unwrap().push(body.to_vec());
            let key = headers
                .get(planbok_sdk::api::API_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let path = uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let (status, mut json, org) = tokio::task::spawn_blocking(move || {
                let body: Option<Value> = serde_json::from_slice(&body).ok();
                let client = planbok_sdk::Client::new(&upstream, &key);
                let (status, json) = client.raw(method.as_str(), &path, body.as_ref()).unwrap();
                // The forger knows whose key it is asked for.
                let org = client.organization().map(|o| o.id).unwrap_or_default();
                (status, json, org)
            })
            .await
            .unwrap();
            if uri.path() == "/v2/config/organization/public-key" && status == 200 {
                let data = &mut json["data"];
                data["publicKey"] = json!(pem);
                if let Forgery::OwnSigner = forgery {
                    let created = data["createdAt"].as_i64().unwrap();
                    let sig = org_key::attest(&signer, &org, &der, created);
                    data["signature"] = json!(B64.encode(sig));
                    data["nodeKeyId"] = json!(planbok_envelope::NodeIdentity::of(&signer).key_id());
                }
            }
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                json.to_string(),
            )
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Mitm {
        url,
        rsa,
        seen,
        _task: task,
    }
}

impl Mitm {
    /// Every string in every recorded body that opens under the proxy's own RSA key.
    fn openable(&self) -> Vec<String> {
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                Value::Object(o) => o.values().for_each(|x| strings(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        for body in self.seen.lock().unwrap().iter() {
            if let Ok(v) = serde_json::from_slice::<Value>(body) {
                strings(&v, &mut all);
            }
        }
        all.into_iter()
            .filter(|s| planbok_envelope::envelope::open(&self.rsa, s).is_ok())
            .collect()
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_serving_a_foreign_org_key_is_refused_by_the_sdk_and_the_cli_before_anything_is_encrypted()
 {
    let s = Stack::sqlite(Custody::Trustless).await;
    let set = s.wallet_set("dkls23", true);
    let w = s.wallets(&set.id, &["ETH"], 1, true).remove(0);
    let node = OrgKeyTrust::parse_node_key(&s.node_key).unwrap();
    let secret_file = s.cluster.dir.path().join("org.secret");
    std::fs::write(&secret_file, &*s.secret.to_hex()).unwrap();

    for forgery in [Forgery::CopiedSignature, Forgery::OwnSigner] {
        let m = mitm(s.cluster.server_url(), forgery).await;
        let via = planbok_sdk::Client::new(&m.url, &s.owner_key);
        // The SDK refuses with Node 1's key configured.
        let trust = OrgKeyTrust::new(Some(node), MemoryPins::default());
        let e = via.trusted_org_key(&trust).unwrap_err();
        match (forgery, &e) {
            (Forgery::CopiedSignature, SdkError::OrgKey(OrgKeyError::BadSignature))
            | (Forgery::OwnSigner, SdkError::OrgKey(OrgKeyError::WrongSigner { .. })) => {}
            _ => panic!("unexpected: {e}"),
        }
        // The CLI too, naming why, and nothing reaches the proxy that its key opens.
        let mut c = std::process::Command::new(crate::common::bin());
        let out = c
            .args(["sign", "message", "--wallet", &w.id, "--message", "hello"])
            .arg("--secret-file")
            .arg(&secret_file)
            .env("PLANBOK_URL", &m.url)
            .env("PLANBOK_API_KEY", &s.owner_key)
            .env("PLANBOK_NODE_KEY", &s.node_key)
            .env_remove("PLANBOK_ORG_SECRET")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains("refusing the organization key"), "{err}");
        assert!(m.requests() >= 2, "the drill went through the proxy");
        assert_eq!(m.openable(), Vec::<String>::new());
        // Control: a ciphertext sealed to the proxy's key, sent through it, is found, so the
        // check above would have caught one.
        let leaked = planbok_envelope::envelope::seal(
            &[7u8; 32],
            &m.rsa.to_public_key(),
            planbok_envelope::Context::Sign,
            planbok_testkit::cluster::now_ms(),
            None,
        )
        .unwrap();
        let _ = via.raw(
            "POST",
            "/v2/organization/sign/message",
            Some(&json!({"encryptedOrganizationSecret": leaked})),
        );
        assert_eq!(m.openable(), vec![leaked]);
        // The honest path still works with the same configuration.
        let (ok, text) = cli(
            &s,
            &["sign", "message", "--wallet", &w.id, "--message", "hello"],
            Some(&secret_file),
        );
        assert!(ok, "{text}");
    }

    // Without a node key: pinned on first use (said once), and a swap afterwards refused.
    let pins = s.cluster.dir.path().join("pins.json");
    let first = s
        .owner
        .trusted_org_key(&OrgKeyTrust::new(None, FilePins::new(&pins)))
        .unwrap();
    assert!(first.pinned_now && !first.verified_by_node);
    let again = s
        .owner
        .trusted_org_key(&OrgKeyTrust::new(None, FilePins::new(&pins)))
        .unwrap();
    assert!(!again.pinned_now);
    let m = mitm(s.cluster.server_url(), Forgery::OwnSigner).await;
    let via = planbok_sdk::Client::new(&m.url, &s.owner_key);
    let e = via
        .trusted_org_key(&OrgKeyTrust::new(None, FilePins::new(&pins)))
        .unwrap_err();
    assert!(
        matches!(e, SdkError::OrgKey(OrgKeyError::PinMismatch { .. })),
        "{e}"
    );
    // The CLI: a fresh secret file pins on first use with a warning; the proxy is refused.
    let f2 = s.cluster.dir.path().join("second.secret");
    std::fs::write(&f2, &*s.secret.to_hex()).unwrap();
    let run = |url: &str| {
        std::process::Command::new(crate::common::bin())
            .args(["sign", "message", "--wallet", &w.id, "--message", "pin"])
            .arg("--secret-file")
            .arg(&f2)
            .env("PLANBOK_URL", url)
            .env("PLANBOK_API_KEY", &s.owner_key)
            .env_remove("PLANBOK_NODE_KEY")
            .env_remove("PLANBOK_ORG_SECRET")
            .output()
            .unwrap()
    };
    let out = run(&s.cluster.server_url());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("pinned the organization key"), "{err}");
    let pin_file = s.cluster.dir.path().join("second.secret.pins.json");
    assert!(pin_file.exists());
    let out = run(&s.cluster.server_url());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("pinned"),
        "said once"
    );
    let out = run(&m.url);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not the one pinned"),
        "{err}"
    );
    assert_eq!(m.openable(), Vec::<String>::new());
}

// ---- a compromised server without the organization secret ---------------------------

/// The attacker holds the grant key (it is the server) and reads every database; the
/// organization is Trustless and the attacker never saw its secret.
async fn a_compromised_server_without_the_org_secret_gets_no_signature_and_no_export(
    base: Options,
) {
    let c = cluster(base).await;
    let org = org(&c, CustodyMode::Trustless).await;
    let key = keygen_with(&c, &org, Protocol::Frost, org.ct("dkg"))
        .await
        .unwrap();
    let guessed = planbok_testkit::random_bytes::<32>();
    let guess = |context: &str, binding| {
        planbok_testkit::cluster::encrypt_secret(
            &org.pem,
            &guessed,
            context,
            planbok_testkit::cluster::now_ms(),
            binding,
        )
        .unwrap()
    };
    let msg = b"drain the treasury";
    // Signing: no secret, or a guessed one (bound or not).
    for ct in [
        String::new(),
        guess("sign", None),
        guess(
            "sign",
            Some(Binding::sign(&org.id, &key.public_key, "m", msg)),
        ),
    ] {
        let r = sign_with(&c, sign_request(&c, &org, &key, "m", msg, ct)).await;
        assert!(r.is_err(), "signed without the secret");
    }
    // Export: no secret, unbound, guessed.
    let (_, pk) = planbok_mpc::export::ExportRecipientSecret::generate();
    for (ct, code) in [
        (String::new(), "secret_required"),
        (guess("verify", None), "secret_binding_required"),
        (
            guess(
                "verify",
                Some(Binding::export(&org.id, &pk, &[&key.public_key])),
            ),
            "secret_invalid",
        ),
    ] {
        assert_code(
            export_with(&c, export_request(&c, &org, &key, &pk, ct)).await,
            code,
        );
    }
    // A secret check without a grant, or with another organization's.
    let check = |grant, org_id: &str| CheckSecretRequest {
        org_id: org_id.to_owned(),
        encrypted_secret: guess("sign", None),
        context: SecretContext::Sign as i32,
        binding_ref: "r".into(),
        grant,
    };
    assert_code(
        c.server().unwrap().check_secret(check(None, &org.id)).await,
        "grant_missing",
    );
    let other = c.grant(
        "another-org",
        "",
        Operation::CheckSecret,
        grant::check_secret_params(SecretContext::Sign as i32, "r"),
    );
    assert_code(
        c.server()
            .unwrap()
            .check_secret(check(Some(other), &org.id))
            .await,
        "grant_scope_mismatch",
    );
    // And every database and file it can read holds no trace of the secret.
    crate::sealed::scan_everything(&c, &org.secret);
}

on_sqlite_and_postgres!(
    a_compromised_server_without_the_org_secret_gets_no_signature_and_no_export
);

// ---- a server replaying a captured ciphertext -----------------------------------------

async fn a_captured_sign_ciphertext_replayed_for_another_key_path_or_payload_is_refused(
    base: Options,
) {
    let c = cluster(base).await;
    let org = org(&c, CustodyMode::Trustless).await;
    let key = keygen_with(&c, &org, Protocol::Dkls23, org.ct("dkg"))
        .await
        .unwrap();
    let other_key = keygen_with(&c, &org, Protocol::Dkls23, org.ct("dkg"))
        .await
        .unwrap();
    let (path, payload) = ("m/44/60/0/1", digest("pay 1 ETH to alice"));
    // What the client meant, captured by the server instead of forwarded.
    let captured = || {
        org.bound(
            "sign",
            Binding::sign(&org.id, &key.public_key, path, &payload),
        )
    };
    let attempts = [
        sign_request(&c, &org, &other_key, path, &payload, captured()),
        sign_request(&c, &org, &key, "m/44/60/0/2", &payload, captured()),
        sign_request(
            &c,
            &org,
            &key,
            path,
            &digest("pay 100 ETH to mallory"),
            captured(),
        ),
    ];
    for req in attempts {
        assert_code(sign_with(&c, req).await, "secret_binding_mismatch");
    }
    // A probe burns the ciphertext: used afterwards for what it names, it is a replay.
    let ct = captured();
    assert_code(
        keygen_with(&c, &org, Protocol::Frost, ct.clone()).await,
        "secret_wrong_context",
    );
    assert_code(
        sign_with(&c, sign_request(&c, &org, &key, path, &payload, ct)).await,
        "secret_reused",
    );
    // The operation it names works.
    let r = sign_with(&c, sign_request(&c, &org, &key, path, &payload, captured()))
        .await
        .unwrap();
    verify(&key, path, &payload, &r);

    // requireBinding: from now on an unbound ciphertext is refused, for signing and DKG.
    c.server()
        .unwrap()
        .require_binding(RequireBindingRequest {
            org_id: org.id.clone(),
        })
        .await
        .unwrap();
    assert_code(
        sign_with(
            &c,
            sign_request(&c, &org, &key, path, &payload, org.ct("sign")),
        )
        .await,
        "secret_binding_required",
    );
    assert_code(
        keygen_with(&c, &org, Protocol::Frost, org.ct("dkg")).await,
        "secret_binding_required",
    );
    // Still so after a restart (it is Node 1's own record), and bound ones still work.
    let mut c = c;
    c.restart(Node1).await.unwrap();
    assert_code(
        sign_with(
            &c,
            sign_request(&c, &org, &key, path, &payload, org.ct("sign")),
        )
        .await,
        "secret_binding_required",
    );
    let r = sign_with(&c, sign_request(&c, &org, &key, path, &payload, captured()))
        .await
        .unwrap();
    verify(&key, path, &payload, &r);
}

on_sqlite_and_postgres!(
    a_captured_sign_ciphertext_replayed_for_another_key_path_or_payload_is_refused
);

// ---- Node 1's identity, CheckSecret's meter -------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn node1_identity_survives_restarts_and_signs_every_org_key() {
    let mut c = sqlite().await;
    let status = |c: &Cluster| {
        let mut op = c.operator(Node1).unwrap();
        async move {
            op.status(StatusRequest {})
                .await
                .unwrap()
                .into_inner()
                .identity_public_key
        }
    };
    let id = status(&c).await;
    let node = planbok_envelope::NodeIdentity::parse(&id).unwrap();
    let org = org(&c, CustodyMode::Trustless).await;
    let attested = |c: &Cluster| {
        let mut s = c.server().unwrap();
        let org_id = org.id.clone();
        async move {
            s.org_public_key(planbok_proto::pb::OrgPublicKeyRequest { org_id })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let k = attested(&c).await;
    node.verify_org_key(
        &org.id,
        &k.public_key_pem,
        k.created_at_ms,
        &k.signature,
        &k.node_key_id,
    )
    .unwrap();
    c.restart(Node1).await.unwrap();
    assert_eq!(
        status(&c).await,
        id,
        "the identity key is the same after a restart"
    );
    let k2 = attested(&c).await;
    assert_eq!(k2.public_key_pem, k.public_key_pem);
    node.verify_org_key(
        &org.id,
        &k2.public_key_pem,
        k2.created_at_ms,
        &k2.signature,
        &k2.node_key_id,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_checks_need_a_grant_each_and_are_metered_per_organization() {
    let c = sqlite().await;
    let org = org(&c, CustodyMode::Trustless).await;
    let check = |org_id: &str| {
        let g = c.grant(
            org_id,
            "",
            Operation::CheckSecret,
            grant::check_secret_params(SecretContext::Sign as i32, "r"),
        );
        CheckSecretRequest {
            org_id: org_id.to_owned(),
            encrypted_secret: org.bound(
                "sign",
                Binding::creation(planbok_envelope::Context::Sign, org_id, "r"),
            ),
            context: SecretContext::Sign as i32,
            binding_ref: "r".into(),
            grant: Some(g),
        }
    };
    // A grant is single-use.
    let req = check(&org.id);
    c.server().unwrap().check_secret(req.clone()).await.unwrap();
    assert_code(
        c.server().unwrap().check_secret(req).await,
        "grant_replayed",
    );
    // A flood gets rate_limited well before it has made many decryptions.
    let mut limited = 0;
    for _ in 0..40 {
        if let Err(s) = c.server().unwrap().check_secret(check(&org.id)).await {
            assert_eq!(code(&s), "rate_limited", "{s:?}");
            limited += 1;
        }
    }
    assert!(limited >= 10, "{limited} of 40 limited");
}

// ---- the REST side --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_requires_bindings_for_good_and_plain_clients_are_then_refused() {
    let s = Stack::sqlite(Custody::Trustless).await;
    let set = s.wallet_set("dkls23", true);
    let w = s.wallets(&set.id, &["ETH"], 1, true).remove(0);
    let sign = |ct: String| {
        s.post(
            "/v2/organization/sign/message",
            json!({"idempotencyKey": idem(), "walletId": w.id, "message": "hi", "encryptedOrganizationSecret": ct}),
        )
    };
    // Plain platform clients work until the owner switches it on.
    assert_ok(sign(s.ct(planbok_sdk::secret::Context::Sign)));
    let org = assert_ok(s.owner.raw("GET", "/v2/organization", None).unwrap());
    assert_eq!(org["requireBinding"], false);
    // Admins cannot.
    let admin = crate::api_access::member_key(&s, "admin", "full", json!({}));
    assert_err(
        admin
            .raw(
                "POST",
                "/v2/organization/require-binding",
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "forbidden",
    );
    let org = s.owner.require_binding().unwrap();
    assert!(org.require_binding);
    let org = assert_ok(s.owner.raw("GET", "/v2/organization", None).unwrap());
    assert_eq!(org["requireBinding"], true);
    assert_err(
        sign(s.ct(planbok_sdk::secret::Context::Sign)),
        "secret_binding_required",
    );
    // Our clients bind: the SDK and the CLI keep working.
    let payload = planbok_sdk::trust::Sealer::message_payload("ETH", "hi", false).unwrap();
    assert_ok(sign(s.sealer().sign(&w.id, &payload).unwrap()));
    let secret_file = s.cluster.dir.path().join("org.secret");
    std::fs::write(&secret_file, &*s.secret.to_hex()).unwrap();
    for args in [
        &[
            "sign",
            "message",
            "--wallet",
            w.id.as_str(),
            "--message",
            "hi",
        ][..],
        &[
            "wallet",
            "create",
            "--wallet-set",
            set.id.as_str(),
            "--chain",
            "SOL",
        ][..],
        &["wallet-set", "create", "--name", "bound"][..],
    ] {
        let (ok, text) = cli(&s, args, Some(&secret_file));
        assert!(ok, "{args:?}: {text}");
    }
    // The audit trail has it.
    let log = assert_ok(
        s.owner
            .raw(
                "GET",
                "/v2/audit-logs?action=organization.require_binding",
                None,
            )
            .unwrap(),
    );
    assert!(log["total"].as_u64().unwrap() >= 2, "{log}");
}
