//! secp256k1 ECDSA with DKLs23 (`dkls23`, 0xCarbon): DKG with chain code, signing under a
//! non-hardened path, complete refresh.
//!
//! **Unaudited.** About 150 times less CPU per signature than CGGMP, but no third-party audit
//! exists; it is offered as an opt-in per wallet set and documented as such. A failed
//! OT-consistency check is reported as [`MpcError::BanCounterparty`]: the caller must
//! disable the key, because continuing leaks it.
//!
//! Rounds: keygen 2 (the library's phases 2 and 3 need no input from each other and travel
//! together), signing 3, refresh 2. Round-1 keygen/refresh messages carry polynomial
//! fragments, i.e. secret shares; the transport must encrypt them (mTLS between nodes).

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use dkls23::DkgSession;
use dkls23::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, KeepInitMulPhase3to4,
    KeepInitZeroSharePhase2to3, KeepInitZeroSharePhase3to4, ProofCommitment,
    TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use dkls23::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3,
    UniqueKeep1to2, UniqueKeep2to3,
};
use dkls23::protocols::{Abort, AbortKind, Parameters, PartyIndex as DklsIndex};
use k256::Secp256k1;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::MpcError;
use crate::frame::{PartyIndex, ProtocolId, SessionId};
use crate::hd::{self, DerivationPath};
use crate::sealed::{self, ShareKind};
use crate::session::{Engine, Incoming, Outgoing, Sealed, Session};
use crate::signature::{EcdsaPublicKey, EcdsaSignature, finish_ecdsa};

type Party = dkls23::protocols::Party<Secp256k1>;
type Scalar = k256::Scalar;

/// One party's DKLs23 key share (the library's `Party`: key share, OT state, chain code).
/// Zeroized on drop by the library; `Debug` prints no secret.
pub struct DklsKeyShare {
    me: PartyIndex,
    party: Party,
}

impl fmt::Debug for DklsKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DklsKeyShare")
            .field("me", &self.me)
            .field("public_key", &self.public_key().ok())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl DklsKeyShare {
    /// This party's index.
    pub fn party(&self) -> PartyIndex {
        self.me
    }

    /// The master public key.
    pub fn public_key(&self) -> Result<EcdsaPublicKey, MpcError> {
        let vk = k256::ecdsa::VerifyingKey::from_affine(self.party.pk)
            .map_err(|_| MpcError::Internal("DKLs public key is the identity".into()))?;
        Ok(EcdsaPublicKey::from_verifying_key(&vk))
    }

    /// The BIP-32 chain code agreed in the DKG.
    pub fn chain_code(&self) -> [u8; 32] {
        *self.party.chain_code()
    }

    /// The public key at `path`.
    pub fn derive_public_key(&self, path: &DerivationPath) -> Result<EcdsaPublicKey, MpcError> {
        Ok(hd::derive_public_key(&self.public_key()?, &self.chain_code(), path)?.0)
    }

    /// The versioned plaintext form for the keystore to seal. Handle as secret.
    pub fn to_sealable_bytes(&self) -> Result<Zeroizing<Vec<u8>>, MpcError> {
        let body = Zeroizing::new(
            postcard::to_stdvec(&(self.me.get(), &self.party))
                .map_err(|e| MpcError::Internal(format!("encode DKLs share: {e}")))?,
        );
        Ok(sealed::wrap(ShareKind::Dkls, &body))
    }

    /// Reads back [`to_sealable_bytes`](Self::to_sealable_bytes).
    pub fn from_sealable_bytes(bytes: &[u8]) -> Result<Self, MpcError> {
        let (me, party) = planbok_export::shares::decode_dkls(bytes)?;
        let me =
            PartyIndex::new(me).map_err(|_| MpcError::SealedFormat("DKLs share: party".into()))?;
        Ok(DklsKeyShare { me, party })
    }

    /// The library's share, for [`crate::export`] only.
    pub(crate) fn lib_share(&self) -> &Party {
        &self.party
    }
}

fn dkls_index(p: PartyIndex) -> Result<DklsIndex, MpcError> {
    Ok(planbok_export::shares::dkls_index(p.get())?)
}

fn params() -> Result<Parameters, MpcError> {
    Parameters::new(2, 2).map_err(|_| MpcError::Internal("dkls parameters".into()))
}

fn abort(protocol: ProtocolId, peer: PartyIndex, a: Abort) -> MpcError {
    match a.kind {
        AbortKind::BanCounterparty(_) => MpcError::BanCounterparty {
            blame: peer,
            reason: a.description(),
        },
        AbortKind::Recoverable => MpcError::PeerMisbehaved {
            blame: peer,
            protocol,
            reason: a.description(),
        },
    }
}

/// Runs a library step on peer-supplied data. The library documents panics for some
/// malformed inputs; a panic caused by the counterparty's message becomes an error that
/// blames it instead of taking the process down.
fn guarded<T>(
    protocol: ProtocolId,
    peer: PartyIndex,
    f: impl FnOnce() -> Result<T, Abort>,
) -> Result<T, MpcError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|a| abort(protocol, peer, a)),
        Err(_) => Err(MpcError::PeerMisbehaved {
            blame: peer,
            protocol,
            reason: "message rejected by the library (inconsistent structure)".into(),
        }),
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, MpcError> {
    postcard::to_stdvec(v).map_err(|e| MpcError::Internal(format!("postcard encode: {e}")))
}

fn dec<'a, T: Deserialize<'a>>(protocol: ProtocolId, msg: &Incoming<'a>) -> Result<T, MpcError> {
    postcard::from_bytes(msg.payload).map_err(|e| MpcError::MalformedMessage {
        blame: msg.sender,
        protocol,
        round: msg.round,
        reason: e.to_string(),
    })
}

/// Every DKLs message names its sender and receiver; check them before the library sees
/// them (it may panic on a mismatch).
fn check_parties(
    protocol: ProtocolId,
    msg: &Incoming<'_>,
    me: PartyIndex,
    parties: impl IntoIterator<Item = (DklsIndex, DklsIndex)>,
    expected: usize,
) -> Result<(), MpcError> {
    let (want_s, want_r) = (dkls_index(msg.sender)?, dkls_index(me)?);
    let mut n = 0;
    for (s, r) in parties {
        n += 1;
        if s != want_s || r != want_r {
            return Err(MpcError::PeerMisbehaved {
                blame: msg.sender,
                protocol,
                reason: "message routing fields do not name this pair".into(),
            });
        }
    }
    if n != expected {
        return Err(MpcError::PeerMisbehaved {
            blame: msg.sender,
            protocol,
            reason: format!("expected {expected} sub-messages, got {n}"),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Keygen and refresh (same message shapes)

#[derive(Serialize, Deserialize)]
struct SetupRound2 {
    proof: ProofCommitment<Secp256k1>,
    zero2: Vec<TransmitInitZeroSharePhase2to4>,
    zero3: Vec<TransmitInitZeroSharePhase3to4>,
    mul3: Vec<TransmitInitMulPhase3to4<Secp256k1>>,
    /// Chain-code contributions; keygen only.
    bip: Option<(BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4)>,
}

fn check_setup(
    protocol: ProtocolId,
    msg: &Incoming<'_>,
    me: PartyIndex,
    m: &SetupRound2,
) -> Result<(), MpcError> {
    let routes = m
        .zero2
        .iter()
        .map(|x| (x.parties.sender, x.parties.receiver))
        .chain(
            m.zero3
                .iter()
                .map(|x| (x.parties.sender, x.parties.receiver)),
        )
        .chain(
            m.mul3
                .iter()
                .map(|x| (x.parties.sender, x.parties.receiver)),
        );
    check_parties(protocol, msg, me, routes, 3)?;
    if m.zero2.len() != 1 || m.zero3.len() != 1 || m.mul3.len() != 1 {
        return Err(MpcError::PeerMisbehaved {
            blame: msg.sender,
            protocol,
            reason: "expected one message of each kind".into(),
        });
    }
    Ok(())
}

/// Orders a pair of per-party values by DKLs index.
fn ordered<T>(me: PartyIndex, mine: T, theirs: T) -> [T; 2] {
    if me == PartyIndex::NODE1 {
        [mine, theirs]
    } else {
        [theirs, mine]
    }
}

// One value per protocol run, replaced in place each round: boxing buys nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one state per session, replaced in place; boxing would only add an allocation"
)]
enum KeygenState {
    Fragments {
        session: DkgSession<Secp256k1>,
        own: Scalar,
    },
    Setup {
        session: DkgSession<Secp256k1>,
        proof: ProofCommitment<Secp256k1>,
        bip: (BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4),
    },
    Done,
}

/// DKLs23 key generation engine.
pub struct DklsKeygen {
    me: PartyIndex,
    first: Option<Vec<u8>>,
    state: KeygenState,
    output: Option<DklsKeyShare>,
}

impl fmt::Debug for DklsKeygen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DklsKeygen")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// Starts a DKLs23 key generation (with BIP-32 chain code) for party `me`.
pub fn keygen(session: SessionId, me: PartyIndex) -> Result<Session<DklsKeygen>, MpcError> {
    let sid = session.domain_separated(ProtocolId::DklsKeygen).to_vec();
    let dkg = DkgSession::<Secp256k1>::new(params()?, dkls_index(me)?, sid);
    let frags = Zeroizing::new(dkg.phase1());
    let (own, theirs) = (frags[me.get() as usize], frags[me.peer().get() as usize]);
    Ok(Session::new(
        session,
        me,
        DklsKeygen {
            me,
            first: Some(enc(&theirs)?),
            state: KeygenState::Fragments { session: dkg, own },
            output: None,
        },
    ))
}

impl Engine for DklsKeygen {
    type Output = DklsKeyShare;
    const PROTOCOL: ProtocolId = ProtocolId::DklsKeygen;
    const ROUNDS: u16 = 2;

    fn start(&mut self) -> Result<Vec<Outgoing>, MpcError> {
        let first = self
            .first
            .take()
            .ok_or(MpcError::Closed("already started"))?;
        Ok(vec![Outgoing::p2p(1, first)])
    }

    fn awaiting(&self) -> Option<u16> {
        Some(match self.state {
            KeygenState::Fragments { .. } => 1,
            _ => 2,
        })
    }

    fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
        let p = Self::PROTOCOL;
        let me = self.me;
        match std::mem::replace(&mut self.state, KeygenState::Done) {
            KeygenState::Fragments { mut session, own } => {
                let theirs: Scalar = dec(p, &msg)?;
                let frags = Zeroizing::new(ordered(me, own, theirs));
                let (proof, zero2, bip2) = guarded(p, msg.sender, || session.phase2(&frags[..]))?;
                let (zero3, mul3, bip3) = guarded(p, msg.sender, || session.phase3())?;
                let out = SetupRound2 {
                    proof: proof.clone(),
                    zero2,
                    zero3,
                    mul3,
                    bip: Some((bip2.clone(), bip3.clone())),
                };
                let bytes = enc(&out)?;
                self.state = KeygenState::Setup {
                    session,
                    proof,
                    bip: (bip2, bip3),
                };
                Ok(vec![Outgoing::p2p(2, bytes)])
            }
            KeygenState::Setup {
                session,
                proof,
                bip,
            } => {
                let m: SetupRound2 = dec(p, &msg)?;
                check_setup(p, &msg, me, &m)?;
                let Some(their_bip) = m.bip else {
                    return Err(MpcError::PeerMisbehaved {
                        blame: msg.sender,
                        protocol: p,
                        reason: "missing chain-code contribution".into(),
                    });
                };
                let proofs = ordered(me, proof, m.proof);
                let (mine_i, theirs_i) = (dkls_index(me)?, dkls_index(msg.sender)?);
                let bip2 = BTreeMap::from([(mine_i, bip.0), (theirs_i, their_bip.0)]);
                let bip3 = BTreeMap::from([(mine_i, bip.1), (theirs_i, their_bip.1)]);
                let (party, _pkg) = guarded(p, msg.sender, || {
                    session.phase4(&proofs, &m.zero2, &m.zero3, &m.mul3, &bip2, &bip3, |_| {
                        String::new()
                    })
                })?;
                self.output = Some(DklsKeyShare { me, party });
                Ok(Vec::new())
            }
            KeygenState::Done => Err(MpcError::Closed("keygen already finished")),
        }
    }

    fn take_output(&mut self) -> Option<DklsKeyShare> {
        self.output.take()
    }
}

// One value per protocol run, replaced in place each round: boxing buys nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one state per session, replaced in place; boxing would only add an allocation"
)]
enum RefreshState {
    Fragments {
        own: Scalar,
    },
    Setup {
        correction: Zeroizing<Scalar>,
        proof: ProofCommitment<Secp256k1>,
        zero_keep: BTreeMap<DklsIndex, KeepInitZeroSharePhase3to4>,
        mul_keep: BTreeMap<DklsIndex, KeepInitMulPhase3to4<Secp256k1>>,
    },
    Done,
}

/// DKLs23 complete refresh (new key shares and new OT state, same public key).
pub struct DklsRefresh {
    share: DklsKeyShare,
    sid: Vec<u8>,
    first: Option<Vec<u8>>,
    state: RefreshState,
    output: Option<DklsKeyShare>,
}

impl fmt::Debug for DklsRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DklsRefresh")
            .field("me", &self.share.me)
            .finish_non_exhaustive()
    }
}

/// Starts a complete refresh of `share`.
pub fn refresh(session: SessionId, share: DklsKeyShare) -> Result<Session<DklsRefresh>, MpcError> {
    let me = share.me;
    let frags = Zeroizing::new(share.party.refresh_complete_phase1());
    let (own, theirs) = (frags[me.get() as usize], frags[me.peer().get() as usize]);
    Ok(Session::new(
        session,
        me,
        DklsRefresh {
            share,
            sid: session.domain_separated(ProtocolId::DklsRefresh).to_vec(),
            first: Some(enc(&theirs)?),
            state: RefreshState::Fragments { own },
            output: None,
        },
    ))
}

impl Engine for DklsRefresh {
    type Output = DklsKeyShare;
    const PROTOCOL: ProtocolId = ProtocolId::DklsRefresh;
    const ROUNDS: u16 = 2;

    fn start(&mut self) -> Result<Vec<Outgoing>, MpcError> {
        let first = self
            .first
            .take()
            .ok_or(MpcError::Closed("already started"))?;
        Ok(vec![Outgoing::p2p(1, first)])
    }

    fn awaiting(&self) -> Option<u16> {
        Some(match self.state {
            RefreshState::Fragments { .. } => 1,
            _ => 2,
        })
    }

    fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
        let p = Self::PROTOCOL;
        let me = self.share.me;
        let party = &self.share.party;
        match std::mem::replace(&mut self.state, RefreshState::Done) {
            RefreshState::Fragments { own } => {
                let theirs: Scalar = dec(p, &msg)?;
                let frags = Zeroizing::new(ordered(me, own, theirs));
                let (correction, proof, zero_keep2, zero2) = guarded(p, msg.sender, || {
                    Ok(party.refresh_complete_phase2(&self.sid, &frags[..]))
                })?;
                let zero_keep2: BTreeMap<DklsIndex, KeepInitZeroSharePhase2to3> = zero_keep2;
                let (zero_keep, zero3, mul_keep, mul3) = guarded(p, msg.sender, || {
                    Ok(party.refresh_complete_phase3(&self.sid, &zero_keep2))
                })?;
                let bytes = enc(&SetupRound2 {
                    proof: proof.clone(),
                    zero2,
                    zero3,
                    mul3,
                    bip: None,
                })?;
                self.state = RefreshState::Setup {
                    correction: Zeroizing::new(correction),
                    proof,
                    zero_keep,
                    mul_keep,
                };
                Ok(vec![Outgoing::p2p(2, bytes)])
            }
            RefreshState::Setup {
                correction,
                proof,
                zero_keep,
                mul_keep,
            } => {
                let m: SetupRound2 = dec(p, &msg)?;
                check_setup(p, &msg, me, &m)?;
                let proofs = ordered(me, proof, m.proof);
                let party = guarded(p, msg.sender, || {
                    party.refresh_complete_phase4(
                        &self.sid,
                        &correction,
                        &proofs,
                        &zero_keep,
                        &m.zero2,
                        &m.zero3,
                        &mul_keep,
                        &m.mul3,
                    )
                })?;
                if party.pk != self.share.party.pk {
                    return Err(MpcError::PeerMisbehaved {
                        blame: msg.sender,
                        protocol: p,
                        reason: "refresh changed the public key".into(),
                    });
                }
                self.output = Some(DklsKeyShare { me, party });
                Ok(Vec::new())
            }
            RefreshState::Done => Err(MpcError::Closed("refresh already finished")),
        }
    }

    fn take_output(&mut self) -> Option<DklsKeyShare> {
        self.output.take()
    }
}

// ---------------------------------------------------------------------------------------
// Signing

enum SignState {
    Round1(
        UniqueKeep1to2<Secp256k1>,
        BTreeMap<DklsIndex, KeepPhase1to2<Secp256k1>>,
    ),
    Round2(
        UniqueKeep2to3<Secp256k1>,
        BTreeMap<DklsIndex, KeepPhase2to3<Secp256k1>>,
    ),
    Round3 {
        x_coord: String,
        mine: Broadcast3to4<Secp256k1>,
    },
    Done,
}

/// DKLs23 signing engine.
pub struct DklsSign {
    me: PartyIndex,
    /// The share derived to the signing path (owned: derivation copies the share).
    party: Party,
    public_key: EcdsaPublicKey,
    data: SignData,
    first: Option<Vec<u8>>,
    state: SignState,
    output: Option<EcdsaSignature>,
}

impl fmt::Debug for DklsSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DklsSign")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// Starts signing the 32-byte `digest` with `share` derived along `path`.
pub fn sign(
    session: SessionId,
    share: Arc<DklsKeyShare>,
    path: &DerivationPath,
    digest: [u8; 32],
) -> Result<Session<DklsSign>, MpcError> {
    let me = share.me;
    let p = ProtocolId::DklsSign;
    let party = share
        .party
        .derive_from_path(&path.to_string(), |_| String::new())
        .map_err(|e| MpcError::InvalidInput(format!("derivation: {}", e.description)))?;
    // The wallet's key is the BIP-32 child of the master public key (what addresses are made
    // from, by anyone holding the public key and chain code). The library derives its share
    // with its own implementation; sign only if the two agree.
    let public_key = share.derive_public_key(path)?;
    let derived = k256::ecdsa::VerifyingKey::from_affine(party.pk)
        .map_err(|_| MpcError::Internal("derived key is the identity".into()))?;
    if EcdsaPublicKey::from_verifying_key(&derived) != public_key {
        return Err(MpcError::Internal(
            "DKLs23 derivation disagrees with BIP-32".into(),
        ));
    }
    let data = SignData {
        sign_id: session.domain_separated(p).to_vec(),
        counterparties: vec![dkls_index(me.peer())?],
        message_hash: digest,
    };
    let (unique, kept, transmit) = party
        .sign_phase1(&data)
        .map_err(|a| abort(p, me.peer(), a))?;
    let first = enc(&transmit)?;
    Ok(Session::new(
        session,
        me,
        DklsSign {
            me,
            party,
            public_key,
            data,
            first: Some(first),
            state: SignState::Round1(unique, kept),
            output: None,
        },
    ))
}

impl Engine for DklsSign {
    type Output = EcdsaSignature;
    const PROTOCOL: ProtocolId = ProtocolId::DklsSign;
    const ROUNDS: u16 = 3;

    fn start(&mut self) -> Result<Vec<Outgoing>, MpcError> {
        let first = self
            .first
            .take()
            .ok_or(MpcError::Closed("already started"))?;
        Ok(vec![Outgoing::p2p(1, first)])
    }

    fn awaiting(&self) -> Option<u16> {
        Some(match self.state {
            SignState::Round1(..) => 1,
            SignState::Round2(..) => 2,
            _ => 3,
        })
    }

    fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
        let p = Self::PROTOCOL;
        let me = self.me;
        let party = &self.party;
        let data = &self.data;
        match std::mem::replace(&mut self.state, SignState::Done) {
            SignState::Round1(unique, kept) => {
                let recv: Vec<TransmitPhase1to2> = dec(p, &msg)?;
                check_parties(
                    p,
                    &msg,
                    me,
                    recv.iter().map(|m| (m.parties.sender, m.parties.receiver)),
                    1,
                )?;
                let (unique, kept, transmit) = guarded(p, msg.sender, || {
                    party.sign_phase2(data, unique, kept, &recv)
                })?;
                let bytes = enc(&transmit)?;
                self.state = SignState::Round2(unique, kept);
                Ok(vec![Outgoing::p2p(2, bytes)])
            }
            SignState::Round2(unique, kept) => {
                let recv: Vec<TransmitPhase2to3<Secp256k1>> = dec(p, &msg)?;
                check_parties(
                    p,
                    &msg,
                    me,
                    recv.iter().map(|m| (m.parties.sender, m.parties.receiver)),
                    1,
                )?;
                let (x_coord, mine) = guarded(p, msg.sender, || {
                    party.sign_phase3(data, unique, kept, &recv)
                })?;
                let bytes = enc(&mine)?;
                self.state = SignState::Round3 { x_coord, mine };
                Ok(vec![Outgoing::p2p(3, bytes)])
            }
            SignState::Round3 { x_coord, mine } => {
                let theirs: Broadcast3to4<Secp256k1> = dec(p, &msg)?;
                let all = ordered(me, mine, theirs);
                let (s_hex, recid) = guarded(p, msg.sender, || {
                    party.sign_phase4(data, &x_coord, &all, true)
                })?;
                let mut r = [0u8; 32];
                let mut s = [0u8; 32];
                hex::decode_to_slice(&x_coord, &mut r)
                    .and_then(|_| hex::decode_to_slice(&s_hex, &mut s))
                    .map_err(|_| MpcError::SignatureInvalid {
                        protocol: p,
                        blame: msg.sender,
                    })?;
                self.output = Some(finish_ecdsa(
                    p,
                    msg.sender,
                    r,
                    s,
                    &data.message_hash,
                    &self.public_key,
                    Some(recid),
                )?);
                Ok(Vec::new())
            }
            SignState::Done => Err(MpcError::Closed("signing already finished")),
        }
    }

    fn take_output(&mut self) -> Option<EcdsaSignature> {
        self.output.take()
    }
}

impl Sealed for DklsKeygen {}
impl Sealed for DklsRefresh {}
impl Sealed for DklsSign {}
