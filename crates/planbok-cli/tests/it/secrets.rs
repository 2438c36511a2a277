//! Encrypted organization secrets at Node 1: each refusal by its code; Standard vs Trustless.

use planbok_proto::pb::{CustodyMode, Protocol, RegisterSecretRequest};
use planbok_testkit::cluster::NodeRole::Node1;
use planbok_testkit::cluster::{Options, encrypt_secret, now_ms};

use crate::common::*;

async fn trustless_secret_refusals_each_with_its_code(base: Options) {
    let c = cluster(base).await;
    let org = org(&c, CustodyMode::Trustless).await;
    // Trustless: nothing happens without the secret.
    assert_code(
        keygen_with(&c, &org, Protocol::Frost, String::new()).await,
        "secret_required",
    );
    let key = keygen_with(&c, &org, Protocol::Frost, org.ct("dkg"))
        .await
        .unwrap();
    let msg = b"trustless";
    let sign = |ct: String| sign_request(&c, &org, &key, "m", msg, ct);

    assert_code(sign_with(&c, sign(String::new())).await, "secret_required");
    let enc = |context: &str, ts: i64, secret: &[u8; 32], binding| {
        encrypt_secret(&org.pem, secret, context, ts, binding).unwrap()
    };
    let now = now_ms();
    let cases = [
        (
            "secret_expired",
            enc("sign", now - 6 * 60_000, &org.secret, None),
        ),
        (
            "secret_expired",
            enc("sign", now + 5 * 60_000, &org.secret, None),
        ),
        ("secret_wrong_context", enc("dkg", now, &org.secret, None)),
        (
            "secret_wrong_context",
            enc("verify", now, &org.secret, None),
        ),
        (
            "secret_invalid",
            enc("sign", now, &planbok_testkit::random_bytes::<32>(), None),
        ),
        (
            "secret_binding_mismatch",
            enc(
                "sign",
                now,
                &org.secret,
                Some(Binding::sign(
                    &org.id,
                    &key.public_key,
                    "m",
                    b"other message",
                )),
            ),
        ),
        ("secret_malformed", "not base64!".to_string()),
        ("secret_malformed", "AAAA".to_string()),
    ];
    for (expected, ct) in cases {
        assert_code(sign_with(&c, sign(ct)).await, expected);
    }
    // Another org's key encrypts nothing this org can use.
    let other = crate::common::org(&c, CustodyMode::Trustless).await;
    let foreign = encrypt_secret(&other.pem, &org.secret, "sign", now, None).unwrap();
    assert_code(sign_with(&c, sign(foreign)).await, "secret_malformed");

    // A good ciphertext signs once; the same ciphertext again is a replay, even with a fresh grant.
    let ct = org.ct("sign");
    let r = sign_with(&c, sign(ct.clone())).await.unwrap();
    verify(&key, "m", msg, &r);
    assert_code(sign_with(&c, sign(ct)).await, "secret_reused");
    // The replay set survives a restart of Node 1.
    let ct = org.ct("sign");
    sign_with(&c, sign(ct.clone())).await.unwrap();
    let mut c2 = c;
    c2.restart(Node1).await.unwrap();
    let c = c2;
    let sign = |ct: String| sign_request(&c, &org, &key, "m", msg, ct);
    assert_code(sign_with(&c, sign(ct)).await, "secret_reused");
    // A matching binding is accepted.
    let req = sign(org.bound("sign", Binding::sign(&org.id, &key.public_key, "m", msg)));
    verify(&key, "m", msg, &sign_with(&c, req).await.unwrap());
}

async fn standard_org_signs_without_secret_and_registration_is_once(base: Options) {
    let c = cluster(base).await;
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Dkls23).await;
    sign_and_verify(&c, &org, &key, "m/44/60/0/0", &digest("standard")).await;
    // A ciphertext, when sent, is still checked.
    let bad = encrypt_secret(
        &org.pem,
        &planbok_testkit::random_bytes::<32>(),
        "sign",
        now_ms(),
        None,
    )
    .unwrap();
    assert_code(
        sign_with(&c, sign_request(&c, &org, &key, "m/1", &digest("x"), bad)).await,
        "secret_invalid",
    );
    // The custody mode is permanent.
    let mut s = c.server().unwrap();
    assert_code(
        s.register_secret(RegisterSecretRequest {
            org_id: org.id.clone(),
            mode: CustodyMode::Trustless as i32,
            encrypted_secret: org.ct("dkg"),
        })
        .await,
        "secret_already_registered",
    );
    // An org without a registered secret cannot create keys.
    let unregistered = unregistered_org(&c).await;
    // Its key is stable across calls.
    assert_eq!(org_public_key(&c, &unregistered.id).await, unregistered.pem);
    assert_code(
        keygen_with(&c, &unregistered, Protocol::Frost, String::new()).await,
        "secret_not_registered",
    );
    // Registration needs the dkg context.
    assert_code(
        s.register_secret(RegisterSecretRequest {
            org_id: unregistered.id.clone(),
            mode: CustodyMode::Standard as i32,
            encrypted_secret: unregistered.ct("sign"),
        })
        .await,
        "secret_wrong_context",
    );
}

on_sqlite_and_postgres!(
    trustless_secret_refusals_each_with_its_code,
    standard_org_signs_without_secret_and_registration_is_once
);
