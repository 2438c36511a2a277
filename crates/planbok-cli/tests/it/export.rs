//! Key export through both node processes: each node seals its own share to the client's
//! ephemeral key; the client (this test) reconstructs, checks the key and signs with it
//! using crates the nodes do not use. Then every refusal by its code, at Node 1 and at
//! Node 2 called directly.

use planbok_mpc::DerivationPath;
use planbok_mpc::export::{
    ExportProtocol, ExportRecipientSecret, ExportedKey, open_export_dangerous,
};
use planbok_proto::grant;
use planbok_proto::pb::{
    CustodyMode, ExportRequest, ExportResponse, GrantBody, KeygenResponse, Operation,
    PeerExportRequest, Protocol, SignedGrant,
};
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::{Cluster, Options, now_ms};
use prost::Message as _;
use tonic::Status;

use crate::common::*;

pub fn export_request(
    c: &Cluster,
    org: &Org,
    key: &KeygenResponse,
    recipient: &[u8; 32],
    secret: String,
) -> ExportRequest {
    let proto = Protocol::try_from(key.protocol).unwrap();
    ExportRequest {
        grant: Some(c.grant(
            &org.id,
            &key.key_id,
            Operation::Export,
            grant::export_params(proto, recipient),
        )),
        key_id: key.key_id.clone(),
        recipient_public_key: recipient.to_vec(),
        encrypted_secret: secret,
        more: Vec::new(),
        customer_challenge: String::new(),
    }
}

pub async fn export_with(c: &Cluster, req: ExportRequest) -> Result<ExportResponse, Status> {
    c.server()
        .unwrap()
        .export(req)
        .await
        .map(|r| r.into_inner())
}

fn protocol_of(key: &KeygenResponse) -> ExportProtocol {
    match Protocol::try_from(key.protocol).unwrap() {
        Protocol::Cggmp => ExportProtocol::Cggmp,
        Protocol::Dkls23 => ExportProtocol::Dkls23,
        Protocol::Frost => ExportProtocol::Frost,
        Protocol::Unspecified => panic!("no protocol"),
    }
}

/// Exports `key`, reconstructs it at `path` as the client would, and checks it: its public
/// key is the wallet's (BIP-32 child by the `bip32` crate, or the ed25519 group key), and a
/// signature made with it verifies under libsecp256k1 / ed25519-dalek.
pub async fn export_and_check(c: &Cluster, org: &Org, key: &KeygenResponse, path: &str) {
    let (recipient, pk) = ExportRecipientSecret::generate();
    let r = export_with(
        c,
        export_request(c, org, key, &pk, org.export_ct(&pk, &[key])),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "export: {e:?}\n{}\n{}",
            c.log_tail(Node1),
            c.log_tail(Node2)
        )
    });
    assert_eq!(r.protocol, key.protocol);
    assert_eq!(r.public_key, key.public_key);
    assert_eq!(r.chain_code, key.chain_code);
    assert_ne!(r.node1_ciphertext, r.node2_ciphertext);
    let dpath: DerivationPath = path.parse().unwrap();
    let exported = open_export_dangerous(
        &recipient,
        &key.key_id,
        &r.node1_ciphertext,
        &r.node2_ciphertext,
        protocol_of(key),
        &dpath,
    )
    .expect("the client opens both ciphertexts");
    match exported {
        ExportedKey::Ecdsa(k) => {
            use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
            let child = bip32_child(&key.public_key, &key.chain_code, path);
            let sk = SecretKey::from_byte_array(*k.secret).unwrap();
            let pk = PublicKey::from_secret_key(SECP256K1, &sk);
            assert_eq!(pk.serialize().to_vec(), child, "the wallet's key at {path}");
            let msg =
                Message::from_digest(digest("signed by the exported key").try_into().unwrap());
            let sig = SECP256K1.sign_ecdsa(msg, &sk);
            SECP256K1.verify_ecdsa(msg, &sig, &pk).unwrap();
        }
        ExportedKey::Ed25519(k) => {
            use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
            let scalar = curve25519_dalek::Scalar::from_canonical_bytes(*k.secret_scalar).unwrap();
            let esk = ExpandedSecretKey {
                scalar,
                hash_prefix: planbok_testkit::random_bytes::<32>(),
            };
            let vk = ed25519_dalek::VerifyingKey::from(&esk);
            assert_eq!(vk.to_bytes().to_vec(), key.public_key, "the wallet's key");
            let msg = b"signed by the exported key";
            let sig = raw_sign::<sha2::Sha512>(&esk, msg, &vk);
            ed25519_dalek::VerifyingKey::from_bytes(&key.public_key[..].try_into().unwrap())
                .unwrap()
                .verify_strict(msg, &sig)
                .expect("ed25519-dalek verifies");
        }
    }
}

async fn every_protocol_exports_and_the_client_reconstructs_a_working_key(base: Options) {
    let c = cluster(base).await;
    provision_aux(&c).await;
    let org = org(&c, CustodyMode::Trustless).await;
    for (proto, path) in [
        (Protocol::Frost, "m"),
        (Protocol::Dkls23, "m/44/60/0/3"),
        (Protocol::Cggmp, "m/44/0/0/7"),
    ] {
        let key = keygen_with(&c, &org, proto, org.ct("dkg")).await.unwrap();
        export_and_check(&c, &org, &key, path).await;
        // The key still signs afterwards: export changes nothing on the nodes.
        let msg = if proto == Protocol::Frost {
            b"after export".to_vec()
        } else {
            digest("after export")
        };
        let r = sign_with(&c, sign_request(&c, &org, &key, path, &msg, org.ct("sign")))
            .await
            .unwrap();
        verify(&key, path, &msg, &r);
    }
    crate::sealed::scan_everything(&c, &org.secret);
}

on_sqlite_and_postgres!(every_protocol_exports_and_the_client_reconstructs_a_working_key);

fn body(g: &SignedGrant) -> GrantBody {
    GrantBody::decode(g.body.as_slice()).unwrap()
}

fn peer_request(req: &ExportRequest) -> PeerExportRequest {
    PeerExportRequest {
        grant: req.grant.clone(),
        key_id: req.key_id.clone(),
        recipient_public_key: req.recipient_public_key.clone(),
        share_version: 0,
        customer_challenge: String::new(),
    }
}

async fn at_node2(c: &Cluster, req: PeerExportRequest) -> Result<Vec<u8>, Status> {
    c.as_node1()
        .unwrap()
        .export(req)
        .await
        .map(|r| r.into_inner().ciphertext)
}

#[tokio::test(flavor = "multi_thread")]
async fn export_refusals_each_with_its_code_at_both_nodes() {
    let c = sqlite().await;
    let (_, pk) = ExportRecipientSecret::generate();
    let (_, other_pk) = ExportRecipientSecret::generate();

    // A Standard organization never exports, whatever it sends.
    let standard = org(&c, CustodyMode::Standard).await;
    let skey = keygen(&c, &standard, Protocol::Frost).await;
    assert_code(
        export_with(
            &c,
            export_request(&c, &standard, &skey, &pk, standard.ct("verify")),
        )
        .await,
        "export_not_allowed",
    );

    let org = org(&c, CustodyMode::Trustless).await;
    let key = keygen_with(&c, &org, Protocol::Dkls23, org.ct("dkg"))
        .await
        .unwrap();
    let req = |ct: String| export_request(&c, &org, &key, &pk, ct);

    // Secrets: required, the `verify` context only, bound to this recipient if bound.
    assert_code(export_with(&c, req(String::new())).await, "secret_required");
    assert_code(
        export_with(&c, req(org.ct("sign"))).await,
        "secret_wrong_context",
    );
    assert_code(
        export_with(&c, req(org.ct("dkg"))).await,
        "secret_wrong_context",
    );
    // An export secret must be bound, to this recipient and this key list.
    assert_code(
        export_with(&c, req(org.ct("verify"))).await,
        "secret_binding_required",
    );
    assert_code(
        export_with(&c, req(org.export_ct(&other_pk, &[&key]))).await,
        "secret_binding_mismatch",
    );
    let other_key = keygen_with(&c, &org, Protocol::Frost, org.ct("dkg"))
        .await
        .unwrap();
    assert_code(
        export_with(&c, req(org.export_ct(&pk, &[&key, &other_key]))).await,
        "secret_binding_mismatch",
    );
    export_with(&c, req(org.export_ct(&pk, &[&key])))
        .await
        .expect("a bound secret for this recipient");

    // Grants at Node 1.
    let mut r = req(org.ct("verify"));
    r.grant = None;
    assert_code(export_with(&c, r).await, "grant_missing");
    let mut r = req(org.ct("verify"));
    let mut expired = body(r.grant.as_ref().unwrap());
    expired.issued_at_ms = now_ms() - 120_000;
    expired.expires_at_ms = now_ms() - 90_000;
    r.grant = Some(c.grant.sign_body(&expired));
    assert_code(export_with(&c, r).await, "grant_expired");
    // The grant names one recipient key; the request another.
    let mut r = req(org.ct("verify"));
    r.recipient_public_key = other_pk.to_vec();
    assert_code(export_with(&c, r).await, "grant_digest_mismatch");
    // A signing grant is not an export grant.
    let mut r = req(org.ct("verify"));
    r.grant = Some(c.grant(
        &org.id,
        &key.key_id,
        Operation::Sign,
        grant::export_params(Protocol::Dkls23, &pk),
    ));
    assert_code(export_with(&c, r).await, "grant_scope_mismatch");
    let mut r = req(org.ct("verify"));
    r.recipient_public_key = vec![1; 31];
    assert_code(export_with(&c, r).await, "invalid_argument");
    // Used once, then a replay (a fresh secret does not help).
    let good = req(org.export_ct(&pk, &[&key]));
    export_with(&c, good.clone()).await.unwrap();
    let mut again = good.clone();
    again.encrypted_secret = org.ct("verify");
    assert_code(export_with(&c, again).await, "grant_replayed");

    // Node 2 on its own, called with a Node 1 certificate.
    let mut p = peer_request(&good);
    assert_code(at_node2(&c, p.clone()).await, "grant_replayed");
    p.grant = None;
    assert_code(at_node2(&c, p).await, "grant_missing");
    let fresh = req(String::new());
    let mut p = peer_request(&fresh);
    p.grant = Some(c.grant.sign_body(&expired));
    assert_code(at_node2(&c, p).await, "grant_expired");
    let mut p = peer_request(&fresh);
    p.recipient_public_key = other_pk.to_vec();
    assert_code(at_node2(&c, p).await, "grant_digest_mismatch");
    let mut p = peer_request(&fresh);
    p.grant = Some(c.grant(
        &org.id,
        &key.key_id,
        Operation::Sign,
        grant::export_params(Protocol::Dkls23, &pk),
    ));
    assert_code(at_node2(&c, p).await, "grant_scope_mismatch");
    let mut p = peer_request(&fresh);
    p.grant = Some(c.grant(
        "another-org",
        &key.key_id,
        Operation::Export,
        grant::export_params(Protocol::Dkls23, &pk),
    ));
    assert_code(at_node2(&c, p).await, "key_not_found");
    // Node 2 records the grants it honours: one spent there is refused when Node 1 later
    // forwards it, after Node 1's own checks pass.
    let ct = at_node2(&c, peer_request(&fresh)).await.unwrap();
    assert_eq!(ct[0], planbok_mpc::export::EXPORT_VERSION);
    let mut r = fresh;
    r.encrypted_secret = org.export_ct(&pk, &[&key]);
    assert_code(export_with(&c, r).await, "grant_replayed");
}
