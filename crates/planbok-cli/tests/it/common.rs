//! Shared helpers: clusters, organizations, requests and independent verification.

use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::path::Path;

pub use planbok_envelope::Binding;
use planbok_proto::codes;
use planbok_proto::grant;
use planbok_proto::pb::{
    CustodyMode, KeygenRequest, KeygenResponse, Operation, OrgPublicKeyRequest, Protocol,
    RegisterSecretRequest, SignRequest, SignResponse,
};
use planbok_testkit::cluster::{Cluster, Db, Options, encrypt_secret, now_ms};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, PublicKey, SECP256K1};
use sha2::{Digest as _, Sha256};
use tonic::Status;

/// A port nothing listens on right now (the kernel's pick; released before it is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port whose next one is free too (`planbok dev`'s Node 2 takes Node 1's port + 1).
pub fn free_port_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_planbok"))
}

pub async fn cluster(opts: Options) -> Cluster {
    Cluster::start(bin(), opts).await.expect("cluster starts")
}

pub async fn sqlite() -> Cluster {
    cluster(Options::default()).await
}

/// Whether the PostgreSQL variant must run (CI) or may skip when no server answers.
pub fn postgres_or_skip() -> Option<Options> {
    let up = std::process::Command::new("psql")
        .arg("postgres://postgres@127.0.0.1:5432/postgres")
        .args(["-qc", "select 1"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !up {
        assert!(
            std::env::var("PLANBOK_REQUIRE_PG").is_err(),
            "PostgreSQL is required (PLANBOK_REQUIRE_PG) but not reachable"
        );
        eprintln!("SKIPPED: PostgreSQL not reachable");
        return None;
    }
    Some(Options {
        db: Db::Postgres,
        ..Options::default()
    })
}

pub fn code(s: &Status) -> &'static str {
    codes::code_of(s).map(|c| c.as_str()).unwrap_or("<none>")
}

#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(r: Result<T, Status>, expected: &str) {
    match r {
        Ok(v) => panic!("expected {expected}, got success {v:?}"),
        Err(s) => assert_eq!(code(&s), expected, "status: {s:?}"),
    }
}

/// An organization as the server sees it.
pub struct Org {
    pub id: String,
    pub secret: [u8; 32],
    pub pem: String,
    /// The registered custody mode (`Unspecified` before registration).
    pub mode: CustodyMode,
}

impl Org {
    /// A fresh ciphertext of the org's secret for `context`.
    pub fn ct(&self, context: &str) -> String {
        encrypt_secret(&self.pem, &self.secret, context, now_ms(), None).unwrap()
    }

    /// A fresh ciphertext for `context` carrying `binding`.
    pub fn bound(&self, context: &str, binding: Binding) -> String {
        encrypt_secret(&self.pem, &self.secret, context, now_ms(), Some(binding)).unwrap()
    }

    /// A fresh `verify` ciphertext bound to exporting `keys` to `recipient`.
    pub fn export_ct(&self, recipient: &[u8], keys: &[&KeygenResponse]) -> String {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.public_key.as_slice()).collect();
        self.bound("verify", Binding::export(&self.id, recipient, &keys))
    }
}

pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        hex::encode(&planbok_testkit::random_bytes::<32>()[..8])
    )
}

/// The organization's RSA public key, as Node 1 hands it out (created on first request).
pub async fn org_public_key(c: &Cluster, org_id: &str) -> String {
    c.server()
        .unwrap()
        .org_public_key(OrgPublicKeyRequest {
            org_id: org_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_key_pem
}

/// A new organization with its RSA key and a random secret, not registered yet.
pub async fn unregistered_org(c: &Cluster) -> Org {
    let id = new_id("org");
    let pem = org_public_key(c, &id).await;
    Org {
        id,
        secret: planbok_testkit::random_bytes::<32>(),
        pem,
        mode: CustodyMode::Unspecified,
    }
}

/// A new organization whose secret is registered in `mode`.
pub async fn org(c: &Cluster, mode: CustodyMode) -> Org {
    let mut org = unregistered_org(c).await;
    c.server()
        .unwrap()
        .register_secret(RegisterSecretRequest {
            org_id: org.id.clone(),
            mode: mode as i32,
            encrypted_secret: org.ct("dkg"),
        })
        .await
        .unwrap();
    org.mode = mode;
    org
}

pub async fn keygen_with(
    c: &Cluster,
    org: &Org,
    proto: Protocol,
    secret: String,
) -> Result<KeygenResponse, Status> {
    let key_id = new_id("key");
    let g = c.grant(
        &org.id,
        &key_id,
        Operation::Dkg,
        grant::dkg_params(proto, org.mode),
    );
    c.server()
        .unwrap()
        .keygen(KeygenRequest {
            grant: Some(g),
            protocol: proto as i32,
            encrypted_secret: secret,
            binding_ref: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

pub async fn keygen(c: &Cluster, org: &Org, proto: Protocol) -> KeygenResponse {
    keygen_with(c, org, proto, String::new())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "keygen {proto:?}: {e:?}\n{}\n{}",
                c.log_tail(Node1),
                c.log_tail(Node2)
            )
        })
}

pub fn sign_request(
    c: &Cluster,
    org: &Org,
    key: &KeygenResponse,
    path: &str,
    payload: &[u8],
    secret: String,
) -> SignRequest {
    let proto = Protocol::try_from(key.protocol).unwrap();
    SignRequest {
        grant: Some(c.grant(
            &org.id,
            &key.key_id,
            Operation::Sign,
            grant::sign_params(proto, path, payload),
        )),
        key_id: key.key_id.clone(),
        derivation_path: path.into(),
        payload: payload.to_vec(),
        encrypted_secret: secret,
        customer_challenge: String::new(),
    }
}

pub async fn sign_with(c: &Cluster, req: SignRequest) -> Result<SignResponse, Status> {
    c.server().unwrap().sign(req).await.map(|r| r.into_inner())
}

/// Signs and verifies independently; returns the response.
pub async fn sign_and_verify(
    c: &Cluster,
    org: &Org,
    key: &KeygenResponse,
    path: &str,
    payload: &[u8],
) -> SignResponse {
    let r = sign_with(c, sign_request(c, org, key, path, payload, String::new()))
        .await
        .unwrap_or_else(|e| panic!("sign: {e:?}\n{}\n{}", c.log_tail(Node1), c.log_tail(Node2)));
    verify(key, path, payload, &r);
    r
}

/// Verifies a signature with libraries the nodes do not use: libsecp256k1 + the `bip32`
/// crate, or ed25519-dalek.
#[track_caller]
pub fn verify(key: &KeygenResponse, path: &str, payload: &[u8], r: &SignResponse) {
    match Protocol::try_from(key.protocol).unwrap() {
        Protocol::Frost => {
            assert_eq!(r.public_key, key.public_key);
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(&key.public_key[..].try_into().unwrap())
                    .unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&r.signature).unwrap();
            vk.verify_strict(payload, &sig)
                .expect("ed25519-dalek verifies");
        }
        _ => {
            let child = bip32_child(&key.public_key, &key.chain_code, path);
            assert_eq!(
                r.public_key, child,
                "the node's derived key is the BIP-32 child"
            );
            let pk = PublicKey::from_slice(&child).unwrap();
            let msg = Message::from_digest(payload.try_into().unwrap());
            let sig = Signature::from_compact(&r.signature).unwrap();
            SECP256K1
                .verify_ecdsa(msg, &sig, &pk)
                .expect("libsecp256k1 verifies (low-S)");
            let rec = RecoverableSignature::from_compact(
                &r.signature,
                RecoveryId::try_from(r.recovery_id as i32).unwrap(),
            )
            .unwrap();
            assert_eq!(SECP256K1.recover_ecdsa(msg, &rec).unwrap(), pk);
        }
    }
}

pub fn bip32_child(master: &[u8], chain_code: &[u8], path: &str) -> Vec<u8> {
    use bip32::{ChildNumber, ExtendedKeyAttrs, PublicKey as _, XPub};
    let mut x = XPub::new(
        bip32::secp256k1::ecdsa::VerifyingKey::from_sec1_bytes(master).unwrap(),
        ExtendedKeyAttrs {
            depth: 0,
            parent_fingerprint: [0; 4],
            child_number: ChildNumber(0),
            chain_code: chain_code.try_into().unwrap(),
        },
    );
    for part in path
        .trim_start_matches('m')
        .split('/')
        .filter(|s| !s.is_empty())
    {
        x = x
            .derive_child(ChildNumber::new(part.parse().unwrap(), false).unwrap())
            .unwrap();
    }
    x.public_key().to_bytes().to_vec()
}

pub fn digest(label: &str) -> Vec<u8> {
    Sha256::digest(label.as_bytes()).to_vec()
}

/// Provisions CGGMP: Node 2's operator allows the run, then Node 1's starts it.
pub async fn provision_aux(c: &Cluster) {
    c.operator(Node2)
        .unwrap()
        .provision_aux(planbok_proto::pb::ProvisionAuxRequest { replace: false })
        .await
        .unwrap_or_else(|e| panic!("allow at node 2: {e:?}\n{}", c.log_tail(Node2)));
    c.operator(Node1)
        .unwrap()
        .provision_aux(planbok_proto::pb::ProvisionAuxRequest { replace: false })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "provision: {e:?}\n{}\n{}",
                c.log_tail(Node1),
                c.log_tail(Node2)
            )
        });
}

/// Runs `cmd` with `stdin` piped in: whether it succeeded, and stdout + stderr.
pub fn run_with_stdin(cmd: &mut std::process::Command, stdin: &str) -> (bool, String) {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
