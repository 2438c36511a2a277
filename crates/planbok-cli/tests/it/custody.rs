//! The custody boundary as Node 2 holds it on its own, each claim a drill: the test plays a
//! compromised server (it holds the grant key) and a compromised Node 1 (it calls Node 2's
//! `Peer` service with Node 1's certificate, and drives Node 1's side of a protocol itself
//! with `planbok-mpc`'s engines), against the real Node 2 process.
//!
//! - a Standard key never leaves Node 2, whatever grant and caller ask for it;
//! - the custody mode a key is recorded with is the one the server signed for, on each node;
//! - a DKLs23 run in which Node 1 cheats disables the key on Node 2 for good;
//! - keys made before modes were recorded fail closed on Node 2 until its operator confirms;
//! - Node 1 alone cannot make Node 2 run aux-info generation.

use std::sync::Arc;
use std::time::Duration;

use planbok_mpc::dkls::{self, DklsKeyShare};
use planbok_mpc::export::ExportRecipientSecret;
use planbok_mpc::frame::Frame;
use planbok_mpc::{EcdsaSignature, Engine, PartyIndex, Session, SessionId};
use planbok_proto::grant;
use planbok_proto::pb::peer_message::Msg;
use planbok_proto::pb::{
    CustodyMode, Empty, KeyCustodyRequest, KeygenResponse, Open, Operation, OrgKeyCustody,
    PeerExportRequest, PeerMessage, Protocol, ProvisionAuxRequest, RunKind, SignResponse,
    StatusRequest,
};
use planbok_store::{Custody, NodeStore};
use planbok_testkit::cluster::{Cluster, Options, now_ms};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::common::*;
use crate::export::{export_and_check, export_request, export_with};
use crate::rest::{Custody as RestCustody, Stack, assert_err, assert_ok, idem};

// ---- The test's own Node 1 ------------------------------------------------------------

/// One `Peer.Run` stream to the real Node 2, opened with Node 1's certificate.
struct FakeNode1Run {
    tx: mpsc::Sender<PeerMessage>,
    inbox: tonic::Streaming<PeerMessage>,
}

impl FakeNode1Run {
    async fn open(c: &Cluster, open: Open) -> Result<FakeNode1Run, Status> {
        let (tx, rx) = mpsc::channel(16);
        tx.send(PeerMessage {
            msg: Some(Msg::Open(open)),
        })
        .await
        .unwrap();
        let inbox = c
            .as_node1()
            .unwrap()
            .run(ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(FakeNode1Run { tx, inbox })
    }

    async fn send(&self, m: Msg) {
        // Node 2 may have ended the run already; its status then comes from `next`.
        let _ = self.tx.send(PeerMessage { msg: Some(m) }).await;
    }

    async fn next(&mut self) -> Result<Msg, Status> {
        let m = tokio::time::timeout(Duration::from_secs(60), self.inbox.message())
            .await
            .expect("node 2 answers within a minute")?;
        match m {
            Some(PeerMessage { msg: Some(m) }) => Ok(m),
            other => panic!("node 2 closed the run without a status: {other:?}"),
        }
    }

    /// Runs Node 1's side of `s` against Node 2; `tamper` sees every outgoing frame before
    /// it is sent. Returns the output and Node 2's `stored` report if it came early.
    async fn drive<E: Engine>(
        &mut self,
        mut s: Session<E>,
        mut tamper: impl FnMut(&mut Vec<u8>),
    ) -> Result<(E::Output, Option<Vec<u8>>), Status> {
        let mut stored = None;
        let mut out = s.start().expect("our engine starts");
        loop {
            for mut f in out.drain(..) {
                tamper(&mut f);
                self.send(Msg::Frame(f)).await;
            }
            if s.is_finished() {
                return Ok((s.take_output().expect("an output"), stored));
            }
            match self.next().await? {
                Msg::Frame(f) => out = s.handle(&f).expect("node 2's frames are honest"),
                Msg::Stored(pk) => stored = Some(pk),
                other => panic!("unexpected message from node 2: {other:?}"),
            }
        }
    }
}

/// The session id both nodes derive from a grant.
fn session_of(c: &Cluster, g: &planbok_proto::pb::SignedGrant) -> SessionId {
    SessionId::from_bytes(
        grant::verify(Some(g), &c.grant.public_key(), now_ms())
            .unwrap()
            .session_id,
    )
}

/// A DKLs23 DKG with the real Node 2 under a DKG grant for `custody`, committed on Node 2;
/// Node 1's share stays in the test's memory.
async fn fake_dkg(c: &Cluster, org: &str, key_id: &str, custody: CustodyMode) -> DklsKeyShare {
    let g = c.grant(
        org,
        key_id,
        Operation::Dkg,
        grant::dkg_params(Protocol::Dkls23, custody),
    );
    let sid = session_of(c, &g);
    let mut run = FakeNode1Run::open(
        c,
        Open {
            kind: RunKind::Keygen as i32,
            grant: Some(g),
            protocol: Protocol::Dkls23 as i32,
            key_id: key_id.into(),
            custody_mode: custody as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (share, early) = run
        .drive(dkls::keygen(sid, PartyIndex::NODE1).unwrap(), |_| {})
        .await
        .unwrap();
    let stored = match early {
        Some(pk) => pk,
        None => match run.next().await.unwrap() {
            Msg::Stored(pk) => pk,
            m => panic!("expected node 2's stored report, got {m:?}"),
        },
    };
    assert_eq!(stored, share.public_key().unwrap().to_compressed().to_vec());
    run.send(Msg::Commit(Empty {})).await;
    assert!(matches!(run.next().await.unwrap(), Msg::Committed(_)));
    share
}

/// Rewrites Node 1's first DKLs23 signing message so that its OT-extension data no longer
/// fits (one bit of `u`), everything else (session binding, routing, framing) intact: the
/// library's own example of a cheat that demands banning the counterparty.
fn tamper_ot_data(frame: &mut Vec<u8>) {
    let f = Frame::decode(frame).unwrap();
    if f.header.round != 1 {
        return;
    }
    let mut msgs: Vec<dkls23::protocols::signing::TransmitPhase1to2> =
        postcard::from_bytes(f.payload).unwrap();
    msgs[0].mul_transmit.u[0][0] ^= 1;
    let payload = postcard::to_stdvec(&msgs).unwrap();
    *frame = f.header.encode(&payload).unwrap();
}

/// A DKLs23 signature of `digest` at `path` with the real Node 2, under a fresh grant;
/// `cheat`: Node 1's first message is tampered.
async fn fake_sign(
    c: &Cluster,
    org: &str,
    key_id: &str,
    share: &Arc<DklsKeyShare>,
    path: &str,
    digest: [u8; 32],
    cheat: bool,
) -> Result<EcdsaSignature, Status> {
    let g = c.grant(
        org,
        key_id,
        Operation::Sign,
        grant::sign_params(Protocol::Dkls23, path, &digest),
    );
    let sid = session_of(c, &g);
    let mut run = FakeNode1Run::open(
        c,
        Open {
            kind: RunKind::Sign as i32,
            grant: Some(g),
            protocol: Protocol::Dkls23 as i32,
            key_id: key_id.into(),
            derivation_path: path.into(),
            payload: digest.to_vec(),
            share_version: 1,
            ..Default::default()
        },
    )
    .await?;
    let session = dkls::sign(sid, share.clone(), &path.parse().unwrap(), digest).unwrap();
    let (sig, _) = run
        .drive(session, |f| {
            if cheat {
                tamper_ot_data(f)
            }
        })
        .await?;
    Ok(sig)
}

/// Node 2's answer to a valid export grant for `key_id`, sent as Node 1 would.
async fn peer_export(
    c: &Cluster,
    org: &str,
    key_id: &str,
    proto: Protocol,
) -> Result<Vec<u8>, Status> {
    let (_, pk) = ExportRecipientSecret::generate();
    c.as_node1()
        .unwrap()
        .export(PeerExportRequest {
            grant: Some(c.grant(
                org,
                key_id,
                Operation::Export,
                grant::export_params(proto, &pk),
            )),
            key_id: key_id.into(),
            recipient_public_key: pk.to_vec(),
            share_version: 1,
        })
        .await
        .map(|r| r.into_inner().ciphertext)
}

/// Node 2's answer to opening a refresh of `key_id` under a valid grant.
async fn peer_refresh(c: &Cluster, org: &str, key_id: &str) -> Result<(), Status> {
    let g = c.grant(
        org,
        key_id,
        Operation::Refresh,
        grant::refresh_params(Protocol::Dkls23),
    );
    FakeNode1Run::open(
        c,
        Open {
            kind: RunKind::Refresh as i32,
            grant: Some(g),
            protocol: Protocol::Dkls23 as i32,
            key_id: key_id.into(),
            share_version: 1,
            ..Default::default()
        },
    )
    .await
    .map(|_| ())
}

fn digest32(label: &str) -> [u8; 32] {
    digest(label).try_into().unwrap()
}

/// Checks a DKLs23 signature of the test's own key with libsecp256k1 (and `bip32`).
fn check_signature(share: &DklsKeyShare, path: &str, digest: [u8; 32], sig: &EcdsaSignature) {
    let key = KeygenResponse {
        key_id: String::new(),
        protocol: Protocol::Dkls23 as i32,
        public_key: share.public_key().unwrap().to_compressed().to_vec(),
        chain_code: share.chain_code().to_vec(),
    };
    let child = bip32_child(&key.public_key, &key.chain_code, path);
    verify(
        &key,
        path,
        &digest,
        &SignResponse {
            signature: sig.to_compact().to_vec(),
            recovery_id: u32::from(sig.recovery_id),
            public_key: child,
        },
    );
}

async fn node2_key(c: &Cluster, key_id: &str) -> planbok_store::KeyRecord {
    NodeStore::connect(&c.node(2).database_url)
        .await
        .unwrap()
        .active_key(key_id)
        .await
        .unwrap()
        .expect("node 2 holds the key")
}

// ---- Node 2 keeps its own custody policy ------------------------------------------------

async fn server_and_node1_asking_node2_to_export_a_standard_key_is_refused_by_node2(base: Options) {
    let c = cluster(base).await;
    // Standard keys made through the real stack (the server's grants, Node 1, Node 2).
    let standard = org(&c, CustodyMode::Standard).await;
    let dk = keygen(&c, &standard, Protocol::Dkls23).await;
    let ed = keygen(&c, &standard, Protocol::Frost).await;
    assert_eq!(
        node2_key(&c, &dk.key_id).await.custody,
        Some(Custody::Standard)
    );

    // The compromised server signs perfectly valid export grants; the compromised Node 1
    // forwards them with the right share version. Node 2 refuses on its own record.
    for (key, proto) in [(&dk, Protocol::Dkls23), (&ed, Protocol::Frost)] {
        let r = peer_export(&c, &standard.id, &key.key_id, proto).await;
        assert_code(r, "export_not_allowed");
    }
    assert!(
        c.log_tail(2)
            .contains("refused to export a Standard key although the grant allowed it"),
        "node 2 raises an alert:\n{}",
        c.log_tail(2)
    );
    // Node 1 (honest here) refuses as before, on its own check.
    let (_, pk) = ExportRecipientSecret::generate();
    assert_code(
        export_with(
            &c,
            export_request(&c, &standard, &dk, &pk, standard.ct("verify")),
        )
        .await,
        "export_not_allowed",
    );

    // The same call for a Trustless organization's key works: the refusal is the key's
    // recorded custody, nothing else.
    let trustless = org(&c, CustodyMode::Trustless).await;
    let tk = keygen_with(&c, &trustless, Protocol::Dkls23, trustless.ct("dkg"))
        .await
        .unwrap();
    assert_eq!(
        node2_key(&c, &tk.key_id).await.custody,
        Some(Custody::Trustless)
    );
    let ct = peer_export(&c, &trustless.id, &tk.key_id, Protocol::Dkls23)
        .await
        .unwrap();
    assert_eq!(ct[0], planbok_mpc::export::EXPORT_VERSION);
    export_and_check(&c, &trustless, &tk, "m/44/60/0/1").await;
}

async fn a_dkg_grant_and_open_that_disagree_on_custody_are_refused(base: Options) {
    let c = cluster(base).await;
    // At Node 2: Node 1 claims one mode, the server's grant covers the other.
    for (granted, claimed) in [
        (CustodyMode::Trustless, CustodyMode::Standard),
        (CustodyMode::Standard, CustodyMode::Trustless),
    ] {
        let key_id = new_id("key");
        let g = c.grant(
            "org-x",
            &key_id,
            Operation::Dkg,
            grant::dkg_params(Protocol::Dkls23, granted),
        );
        let r = FakeNode1Run::open(
            &c,
            Open {
                kind: RunKind::Keygen as i32,
                grant: Some(g),
                protocol: Protocol::Dkls23 as i32,
                key_id: key_id.clone(),
                custody_mode: claimed as i32,
                ..Default::default()
            },
        )
        .await
        .map(|_| ());
        assert_code(r, "grant_digest_mismatch");
    }
    // No mode at all.
    let g = c.grant(
        "org-x",
        "k-none",
        Operation::Dkg,
        grant::dkg_params(Protocol::Dkls23, CustodyMode::Unspecified),
    );
    let r = FakeNode1Run::open(
        &c,
        Open {
            kind: RunKind::Keygen as i32,
            grant: Some(g),
            protocol: Protocol::Dkls23 as i32,
            key_id: "k-none".into(),
            ..Default::default()
        },
    )
    .await
    .map(|_| ());
    assert_code(r, "invalid_argument");

    // At Node 1: a server granting the other mode than the organization registered.
    for (registered, granted) in [
        (CustodyMode::Standard, CustodyMode::Trustless),
        (CustodyMode::Trustless, CustodyMode::Standard),
    ] {
        let mut o = org(&c, registered).await;
        let secret = o.ct("dkg");
        o.mode = granted;
        assert_code(
            keygen_with(&c, &o, Protocol::Frost, secret).await,
            "grant_digest_mismatch",
        );
        // With the registered mode it works, and both nodes record that mode.
        o.mode = registered;
        let key = keygen_with(&c, &o, Protocol::Frost, o.ct("dkg"))
            .await
            .unwrap();
        let expected = if registered == CustodyMode::Trustless {
            Custody::Trustless
        } else {
            Custody::Standard
        };
        assert_eq!(node2_key(&c, &key.key_id).await.custody, Some(expected));
        let n1 = NodeStore::connect(&c.node(1).database_url).await.unwrap();
        assert_eq!(
            n1.active_key(&key.key_id).await.unwrap().unwrap().custody,
            Some(expected)
        );
    }
}

// ---- Ban means ban ----------------------------------------------------------------------

async fn a_tampered_dkls23_message_disables_the_key_on_the_honest_node_even_after_restart(
    base: Options,
) {
    let mut c = cluster(base).await;
    let org = new_id("org");
    let key_id = new_id("key");
    let share = Arc::new(fake_dkg(&c, &org, &key_id, CustodyMode::Trustless).await);
    let path = "m/44/60/0/5";

    // Honest first: the test's Node 1 and the real Node 2 sign, and Node 2 exports.
    let d = digest32("honest");
    let sig = fake_sign(&c, &org, &key_id, &share, path, d, false)
        .await
        .unwrap();
    check_signature(&share, path, d, &sig);
    peer_export(&c, &org, &key_id, Protocol::Dkls23)
        .await
        .unwrap();

    // The cheat: Node 2's DKLs23 detects it and demands banning Node 1.
    let r = fake_sign(&c, &org, &key_id, &share, path, digest32("cheat"), true).await;
    assert_code(r, "key_disabled");
    let rec = node2_key(&c, &key_id).await;
    let disabled = rec.disabled.expect("disabled durably on node 2");
    assert!(disabled.reason.contains("ban"), "{}", disabled.reason);
    assert!(
        c.log_tail(2)
            .contains("DKLs23 detected a cheating counterparty: key disabled for good"),
        "node 2 raises an alert:\n{}",
        c.log_tail(2)
    );

    // Everything later with this key is refused, however honest it looks, also after a
    // restart of Node 2.
    for round in ["before restart", "after restart"] {
        let r = fake_sign(&c, &org, &key_id, &share, path, digest32(round), false).await;
        assert_code(r, "key_disabled");
        assert_code(
            peer_export(&c, &org, &key_id, Protocol::Dkls23).await,
            "key_disabled",
        );
        assert_code(peer_refresh(&c, &org, &key_id).await, "key_disabled");
        c.restart(2).await.unwrap();
    }
    // Its operator sees it.
    let summary = c
        .operator(2)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: org.clone(),
            set: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .orgs;
    assert_eq!(
        summary,
        vec![OrgKeyCustody {
            org_id: org.clone(),
            mode: CustodyMode::Trustless as i32,
            keys: 1,
            disabled: 1,
        }]
    );
    // Another key of the same organization is not affected.
    let other_id = new_id("key");
    let other = Arc::new(fake_dkg(&c, &org, &other_id, CustodyMode::Trustless).await);
    let d = digest32("other key");
    let sig = fake_sign(&c, &org, &other_id, &other, path, d, false)
        .await
        .unwrap();
    check_signature(&other, path, d, &sig);
}

/// Node 1's share of a key, opened the way a compromised Node 1 could: its database row,
/// its (dev) keystore, and the organization secret.
async fn node1_share(s: &Stack, key_id: &str) -> DklsKeyShare {
    let rec = NodeStore::connect(&s.cluster.node(1).database_url)
        .await
        .unwrap()
        .active_key(key_id)
        .await
        .unwrap()
        .unwrap();
    let ks = planbok_keystore::Keystore::open(
        &planbok_keystore::KeystoreConfig::Dev {
            key_file: s.cluster.dir.path().join("node1.devkey"),
            allow_dev: true,
        },
        1,
    )
    .unwrap();
    let wrapped = ks.open_blob(key_id, &rec.sealed_share).unwrap();
    let secret: [u8; 32] = hex::decode(s.secret.to_hex().as_str())
        .unwrap()
        .try_into()
        .unwrap();
    let share = planbok_keystore::wrap::unwrap_share(&secret, &s.org_id, key_id, &wrapped).unwrap();
    DklsKeyShare::from_sealable_bytes(&share).unwrap()
}

async fn a_disabled_key_answers_409_key_disabled_and_is_audited(opts: Options) {
    let s = Stack::start(opts, RestCustody::Standard, "").await;
    let set = s.wallet_set("dkls23", false);
    let w = s.wallets(&set.id, &["ETH"], 1, false).remove(0);
    let sign = |message: &str| {
        s.post(
            "/v2/organization/sign/message",
            json!({"idempotencyKey": idem(), "walletId": w.id, "message": message}),
        )
    };
    assert_ok(sign("before"));
    let wallet = planbok_store::server::ServerStore::connect(&s.cluster.node(0).database_url)
        .await
        .unwrap()
        .wallet(&s.org_id, &w.id)
        .await
        .unwrap()
        .unwrap();

    // Server + Node 1 compromised: with Node 1's share they cheat in a signature with the
    // real Node 2, which bans them.
    let share = Arc::new(node1_share(&s, &wallet.key_id).await);
    let r = fake_sign(
        &s.cluster,
        &s.org_id,
        &wallet.key_id,
        &share,
        &wallet.derivation_path,
        digest32("cheat"),
        true,
    )
    .await;
    assert_code(r, "key_disabled");

    // The honest stack now gets Node 2's refusal: 409 key_disabled, every time.
    for message in ["after", "and again"] {
        assert_err(sign(message), "key_disabled");
    }
    // Node 1 did not detect anything and did not disable its own row; Node 2 decides.
    let n1 = NodeStore::connect(&s.cluster.node(1).database_url)
        .await
        .unwrap();
    assert_eq!(
        n1.active_key(&wallet.key_id)
            .await
            .unwrap()
            .unwrap()
            .disabled,
        None
    );
    // The organization's audit trail says which key, once per refused request.
    let data = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?action=key.disabled", None)
            .unwrap(),
    );
    assert_eq!(data["total"], 2, "{data}");
    let entries = data["items"].as_array().unwrap().clone();
    for e in &entries {
        assert_eq!(e["action"], "key.disabled", "{e}");
        assert_eq!(e["target"], wallet.key_id.as_str(), "{e}");
        assert_eq!(e["outcome"], "failure", "{e}");
    }
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
    // The organization's other key (ed25519) is untouched.
    let sol = s.wallets(&set.id, &["SOL-DEVNET"], 1, false).remove(0);
    assert_ok(s.post(
        "/v2/organization/sign/message",
        json!({"idempotencyKey": idem(), "walletId": sol.id, "message": "still fine"}),
    ));
}

// ---- Keys made before modes were recorded ------------------------------------------------

/// Turns a node's database back into what a build before schema 3 left: the three policy
/// columns gone and migration 3 not applied, the rows kept.
async fn downgrade_to_schema_2(url: &str) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    for sql in [
        "ALTER TABLE node_keys DROP COLUMN disabled_reason",
        "ALTER TABLE node_keys DROP COLUMN disabled_at_ms",
        "ALTER TABLE node_keys DROP COLUMN custody_mode",
        "DELETE FROM _planbok_node_migrations WHERE version = 3",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

async fn custody_list(c: &Cluster, role: u8, org: &str) -> Vec<OrgKeyCustody> {
    c.operator(role)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: org.into(),
            set: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .orgs
}

async fn keys_made_before_modes_were_recorded_are_not_exported_by_node2_until_its_operator_confirms(
    base: Options,
) {
    let mut c = cluster(base).await;
    let trustless = org(&c, CustodyMode::Trustless).await;
    let standard = org(&c, CustodyMode::Standard).await;
    let tk = keygen_with(&c, &trustless, Protocol::Dkls23, trustless.ct("dkg"))
        .await
        .unwrap();
    let sk = keygen(&c, &standard, Protocol::Frost).await;
    c.kill(1).unwrap();
    c.kill(2).unwrap();
    for role in [1, 2] {
        downgrade_to_schema_2(&c.node(role).database_url).await;
    }
    c.restart(2).await.unwrap();
    c.restart(1).await.unwrap();

    // Node 1 took each key's mode from its organization's registration; Node 2 could not
    // know, and says so.
    let row = |mode: CustodyMode, org: &Org| OrgKeyCustody {
        org_id: org.id.clone(),
        mode: mode as i32,
        keys: 1,
        disabled: 0,
    };
    assert_eq!(
        custody_list(&c, 1, &trustless.id).await,
        vec![row(CustodyMode::Trustless, &trustless)]
    );
    assert_eq!(
        custody_list(&c, 2, &trustless.id).await,
        vec![row(CustodyMode::Unspecified, &trustless)]
    );
    // Fail closed: the owner's export with a fresh secret passes Node 1 and stops at Node 2.
    let (_, pk) = ExportRecipientSecret::generate();
    let r = export_with(
        &c,
        export_request(&c, &trustless, &tk, &pk, trustless.ct("verify")),
    )
    .await;
    assert_code(r, "export_not_allowed");
    assert_code(
        peer_export(&c, &trustless.id, &tk.key_id, Protocol::Dkls23).await,
        "export_not_allowed",
    );
    // Signing is not affected.
    sign_and_verify(&c, &standard, &sk, "m", b"legacy key signs").await;
    let r = sign_with(
        &c,
        sign_request(
            &c,
            &trustless,
            &tk,
            "m/44/60/0/0",
            &digest("legacy"),
            trustless.ct("sign"),
        ),
    )
    .await
    .unwrap();
    verify(&tk, "m/44/60/0/0", &digest("legacy"), &r);

    // Node 2's operator confirms the organization's mode (from the server's or Node 1's
    // record). A claim that contradicts a recorded key is refused: a new key recorded as
    // Standard blocks calling the Standard organization's older keys Trustless.
    let _new = keygen(&c, &standard, Protocol::Frost).await;
    let wrong = c
        .operator(2)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: standard.id.clone(),
            set: CustodyMode::Trustless as i32,
        })
        .await;
    assert_code(wrong, "invalid_argument");
    let set = c
        .operator(2)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: trustless.id.clone(),
            set: CustodyMode::Trustless as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .orgs;
    assert_eq!(set, vec![row(CustodyMode::Trustless, &trustless)]);
    export_and_check(&c, &trustless, &tk, "m/44/60/0/2").await;
    // The Standard organization's legacy key stays unexportable, recorded or not.
    assert_code(
        peer_export(&c, &standard.id, &sk.key_id, Protocol::Frost).await,
        "export_not_allowed",
    );
    // Only an operator may do this: Node 1's certificate is refused on Node 2's operator
    // service.
    let as_node1 = planbok_proto::pb::operator_client::OperatorClient::new(
        c.channel_as(2, planbok_proto::roles::Role::Node1).unwrap(),
    )
    .key_custody(KeyCustodyRequest {
        org_id: standard.id.clone(),
        set: CustodyMode::Trustless as i32,
    })
    .await;
    assert_code(as_node1, "wrong_role");
}

// ---- Aux info needs Node 2's operator ------------------------------------------------------

async fn aux_ready(c: &Cluster, role: u8) -> bool {
    c.operator(role)
        .unwrap()
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .cggmp_ready
}

async fn provision_at_node1(c: &Cluster, replace: bool) -> Result<(), Status> {
    let mut req = tonic::Request::new(ProvisionAuxRequest { replace });
    req.set_timeout(Duration::from_secs(300));
    c.operator(1).unwrap().provision_aux(req).await.map(|_| ())
}

async fn allow_at_node2(c: &Cluster, replace: bool) -> Result<(), Status> {
    c.operator(2)
        .unwrap()
        .provision_aux(ProvisionAuxRequest { replace })
        .await
        .map(|_| ())
}

fn aux_open() -> Open {
    Open {
        kind: RunKind::AuxInfo as i32,
        payload: planbok_testkit::random_bytes::<32>().to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node1_alone_cannot_make_node2_run_aux_info() {
    let c = sqlite().await;
    // A Node 1 (the test, with Node 1's certificate) asks on its own: refused before any
    // prime is generated.
    assert_code(
        FakeNode1Run::open(&c, aux_open()).await.map(|_| ()),
        "aux_not_allowed",
    );
    // Node 1's own operator is not Node 2's operator either.
    assert_code(provision_at_node1(&c, false).await, "aux_not_allowed");
    assert!(!aux_ready(&c, 1).await && !aux_ready(&c, 2).await);

    // Node 2's operator allows one run; Node 1 runs it.
    allow_at_node2(&c, false).await.unwrap();
    provision_at_node1(&c, false).await.unwrap();
    assert!(aux_ready(&c, 1).await && aux_ready(&c, 2).await);
    // One run per permission: replacing needs a new one, and one that says so.
    assert_code(provision_at_node1(&c, true).await, "aux_not_allowed");
    assert_code(
        FakeNode1Run::open(&c, aux_open()).await.map(|_| ()),
        "aux_not_allowed",
    );
    assert_code(allow_at_node2(&c, false).await, "key_exists");
    allow_at_node2(&c, true).await.unwrap();
    provision_at_node1(&c, true).await.unwrap();
    assert_code(provision_at_node1(&c, true).await, "aux_not_allowed");
    // CGGMP signs with what the two operators provisioned.
    let o = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &o, Protocol::Cggmp).await;
    sign_and_verify(&c, &o, &key, "m/44/0/0/1", &digest("after replace")).await;
    // The permission lives in Node 2's memory only: a restart forgets it (fail closed).
    let mut c = c;
    allow_at_node2(&c, true).await.unwrap();
    c.restart(2).await.unwrap();
    assert_code(provision_at_node1(&c, true).await, "aux_not_allowed");
}

on_sqlite_and_postgres!(
    server_and_node1_asking_node2_to_export_a_standard_key_is_refused_by_node2,
    a_dkg_grant_and_open_that_disagree_on_custody_are_refused,
    a_tampered_dkls23_message_disables_the_key_on_the_honest_node_even_after_restart,
    a_disabled_key_answers_409_key_disabled_and_is_audited,
    keys_made_before_modes_were_recorded_are_not_exported_by_node2_until_its_operator_confirms,
);
