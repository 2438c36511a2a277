//! The test playing one node against the other real one: a compromised Node 1 (Node 1's
//! certificate, its side of each protocol driven with `planbok-mpc`'s engines over
//! `Peer.Run`), or a compromised Node 2 (a `Peer` server on Node 2's port with Node 2's
//! certificate). Either may cheat in a DKLs23 signature the way the library's own tests do.

use planbok_testkit::cluster::NodeRole::Node2;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planbok_mpc::dkls::{self, DklsKeyShare};
use planbok_mpc::export::ExportRecipientSecret;
use planbok_mpc::frame::Frame;
use planbok_mpc::{EcdsaSignature, Engine, PartyIndex, Session, SessionId};
use planbok_proto::grant::{self, GrantVerifier};
use planbok_proto::pb::peer_message::Msg;
use planbok_proto::pb::peer_server::{Peer, PeerServer};
use planbok_proto::pb::{
    CustodyMode, Empty, KeygenResponse, NodeStatus, Open, Operation, PeerExportRequest,
    PeerExportResponse, PeerMessage, Protocol, ReadyRequest, RunKind, SealState,
    ShareVersionRequest, ShareVersionResponse, SignResponse, SignedGrant,
};
use planbok_store::NodeStore;
use planbok_testkit::cluster::{Cluster, now_ms};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use crate::common::*;

// ---- The test as Node 1 -----------------------------------------------------------------

/// One `Peer.Run` stream to the real Node 2, opened with Node 1's certificate.
pub struct FakeNode1Run {
    tx: mpsc::Sender<PeerMessage>,
    inbox: tonic::Streaming<PeerMessage>,
}

impl FakeNode1Run {
    pub async fn open(c: &Cluster, open: Open) -> Result<FakeNode1Run, Status> {
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

    pub async fn send(&self, m: Msg) {
        // Node 2 may have ended the run already; its status then comes from `next`.
        let _ = self.tx.send(PeerMessage { msg: Some(m) }).await;
    }

    pub async fn next(&mut self) -> Result<Msg, Status> {
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
    pub async fn drive<E: Engine>(
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
pub fn session_of(c: &Cluster, g: &SignedGrant) -> SessionId {
    SessionId::from_bytes(
        grant::verify(Some(g), &c.grant.public_key(), now_ms())
            .unwrap()
            .session_id,
    )
}

/// A DKLs23 DKG with the real Node 2 under a DKG grant for `custody`, committed on Node 2;
/// Node 1's share stays in the test's memory.
pub async fn fake_dkg(c: &Cluster, org: &str, key_id: &str, custody: CustodyMode) -> DklsKeyShare {
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
pub fn tamper_ot_data(frame: &mut Vec<u8>) {
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
pub async fn fake_sign(
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
pub async fn peer_export(
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
            customer_challenge: String::new(),
        })
        .await
        .map(|r| r.into_inner().ciphertext)
}

/// Node 2's answer to opening a refresh of `key_id` under a valid grant.
pub async fn peer_refresh(c: &Cluster, org: &str, key_id: &str) -> Result<(), Status> {
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

pub fn digest32(label: &str) -> [u8; 32] {
    digest(label).try_into().unwrap()
}

/// Checks a DKLs23 signature of the test's own key with libsecp256k1 (and `bip32`).
pub fn check_signature(share: &DklsKeyShare, path: &str, digest: [u8; 32], sig: &EcdsaSignature) {
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

pub async fn node2_key(c: &Cluster, key_id: &str) -> planbok_store::KeyRecord {
    NodeStore::connect(&c.node(Node2).database_url)
        .await
        .unwrap()
        .active_key(key_id)
        .await
        .unwrap()
        .expect("node 2 holds the key")
}

// ---- The test as Node 2 -----------------------------------------------------------------

/// A Node 2 that runs DKLs23 honestly (DKG and signing, its shares in memory) until told to
/// cheat; then it tampers its first signing message the way [`tamper_ot_data`] does.
#[derive(Clone)]
pub struct FakeNode2 {
    grants: GrantVerifier,
    shares: Arc<Mutex<HashMap<String, Arc<DklsKeyShare>>>>,
    /// Tamper with the next signatures.
    pub cheat: Arc<AtomicBool>,
    /// How many runs Node 1 opened.
    pub runs: Arc<AtomicUsize>,
}

impl FakeNode2 {
    /// Replaces the cluster's Node 2 (which must be stopped) on its port, with its
    /// certificate.
    pub async fn serve(c: &Cluster) -> FakeNode2 {
        let fake = FakeNode2 {
            grants: c.grant.public_key(),
            shares: Arc::default(),
            cheat: Arc::default(),
            runs: Arc::default(),
        };
        let pki = c.dir.path().join("pki");
        let tls = planbok_node::tls::TlsMaterial::from_files(
            &pki.join("ca.pem"),
            &pki.join("node2.pem"),
            &pki.join("node2.key"),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", c.node(Node2).port))
            .await
            .unwrap();
        let server = tonic::transport::Server::builder()
            .tls_config(tls.server())
            .unwrap()
            .add_service(PeerServer::new(fake.clone()));
        tokio::spawn(server.serve_with_incoming(TcpListenerStream::new(listener)));
        fake
    }
}

type Outbox = mpsc::Sender<Result<PeerMessage, Status>>;

async fn send2(tx: &Outbox, m: Msg) {
    let _ = tx.send(Ok(PeerMessage { msg: Some(m) })).await;
}

/// Drives Node 2's side of `s`; `None` if Node 1 went away or failed.
async fn drive_as_node2<E: Engine>(
    mut s: Session<E>,
    tx: &Outbox,
    inbox: &mut Streaming<PeerMessage>,
    mut tamper: impl FnMut(&mut Vec<u8>),
) -> Option<E::Output> {
    let mut out = s.start().ok()?;
    loop {
        for mut f in out.drain(..) {
            tamper(&mut f);
            send2(tx, Msg::Frame(f)).await;
        }
        if s.is_finished() {
            return s.take_output();
        }
        match inbox.message().await {
            Ok(Some(PeerMessage {
                msg: Some(Msg::Frame(f)),
            })) => out = s.handle(&f).ok()?,
            _ => return None,
        }
    }
}

#[tonic::async_trait]
impl Peer for FakeNode2 {
    type RunStream = Pin<Box<dyn Stream<Item = Result<PeerMessage, Status>> + Send>>;

    async fn run(
        &self,
        req: Request<Streaming<PeerMessage>>,
    ) -> Result<Response<Self::RunStream>, Status> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let mut inbox = req.into_inner();
        let open = match inbox.message().await? {
            Some(PeerMessage {
                msg: Some(Msg::Open(o)),
            }) => o,
            _ => return Err(Status::invalid_argument("a run starts with Open")),
        };
        let g = grant::verify(open.grant.as_ref(), &self.grants, now_ms())
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        let sid = SessionId::from_bytes(g.session_id);
        let (tx, rx) = mpsc::channel(16);
        let me = self.clone();
        tokio::spawn(async move {
            match RunKind::try_from(open.kind) {
                Ok(RunKind::Keygen) => {
                    let s = dkls::keygen(sid, PartyIndex::NODE2).unwrap();
                    let Some(share) = drive_as_node2(s, &tx, &mut inbox, |_| {}).await else {
                        return;
                    };
                    let pk = share.public_key().unwrap().to_compressed().to_vec();
                    send2(&tx, Msg::Stored(pk)).await;
                    if let Ok(Some(PeerMessage {
                        msg: Some(Msg::Commit(_)),
                    })) = inbox.message().await
                    {
                        me.shares
                            .lock()
                            .unwrap()
                            .insert(open.key_id, Arc::new(share));
                        send2(&tx, Msg::Committed(Empty {})).await;
                    }
                }
                Ok(RunKind::Sign) => {
                    let share = me.shares.lock().unwrap()[&open.key_id].clone();
                    let digest: [u8; 32] = open.payload.as_slice().try_into().unwrap();
                    let path = if open.derivation_path.is_empty() {
                        "m".to_string()
                    } else {
                        open.derivation_path.clone()
                    };
                    let s = dkls::sign(sid, share, &path.parse().unwrap(), digest).unwrap();
                    let cheat = me.cheat.load(Ordering::SeqCst);
                    drive_as_node2(s, &tx, &mut inbox, |f| {
                        if cheat {
                            tamper_ot_data(f)
                        }
                    })
                    .await;
                }
                _ => {
                    let _ = tx
                        .send(Err(Status::unimplemented("not in this fake")))
                        .await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ready(&self, _r: Request<ReadyRequest>) -> Result<Response<NodeStatus>, Status> {
        Ok(Response::new(NodeStatus {
            role: 2,
            seal_state: SealState::Unsealed as i32,
            ..Default::default()
        }))
    }

    async fn export(
        &self,
        _r: Request<PeerExportRequest>,
    ) -> Result<Response<PeerExportResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn share_version(
        &self,
        _r: Request<ShareVersionRequest>,
    ) -> Result<Response<ShareVersionResponse>, Status> {
        Ok(Response::new(ShareVersionResponse { share_version: 1 }))
    }

    async fn customer_pin(
        &self,
        _r: Request<planbok_proto::pb::CustomerPinRequest>,
    ) -> Result<Response<planbok_proto::pb::CustomerPinResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
}
