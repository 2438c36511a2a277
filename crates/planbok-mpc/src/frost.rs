//! ed25519 with FROST(Ed25519, SHA-512), `frost-ed25519` (NCC-audited): DKG, signing, refresh.
//!
//! Two rounds each. Ed25519 has no standard non-hardened derivation, so every wallet gets
//! its own DKG (see DESIGN.md).

use std::collections::BTreeMap;
use std::fmt;

use frost::keys::{KeyPackage, PublicKeyPackage, dkg, refresh};
use frost::{Identifier, round1, round2};
use frost_ed25519 as frost;
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::error::MpcError;
use crate::frame::{PartyIndex, ProtocolId, SessionId};
use crate::sealed::{self, ShareKind};
use crate::session::{Engine, Incoming, Outgoing, Sealed, Session};
use crate::signature::{Ed25519PublicKey, Ed25519Signature};

/// One party's FROST key share. Zeroized on drop (the library's `KeyPackage` is
/// `ZeroizeOnDrop`); `Debug` prints no secret.
pub struct FrostKeyShare {
    me: PartyIndex,
    key: KeyPackage,
    public: PublicKeyPackage,
}

impl fmt::Debug for FrostKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrostKeyShare")
            .field("me", &self.me)
            .field("public_key", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn ident(p: PartyIndex) -> Result<Identifier, MpcError> {
    Ok(planbok_export::shares::frost_identifier(p.get())?)
}

fn lib_err(protocol: ProtocolId, blame: PartyIndex, e: frost::Error) -> MpcError {
    // Every FROST error raised while processing the counterparty's message is attributable to
    // it: a bad proof of knowledge, an inconsistent share, an invalid signature share.
    MpcError::PeerMisbehaved {
        blame,
        protocol,
        reason: e.to_string(),
    }
}

fn decode<T>(
    protocol: ProtocolId,
    msg: &Incoming<'_>,
    f: impl FnOnce(&[u8]) -> Result<T, frost::Error>,
) -> Result<T, MpcError> {
    f(msg.payload).map_err(|e| MpcError::MalformedMessage {
        blame: msg.sender,
        protocol,
        round: msg.round,
        reason: e.to_string(),
    })
}

fn encode(r: Result<Vec<u8>, frost::Error>) -> Result<Vec<u8>, MpcError> {
    r.map_err(|e| MpcError::Internal(format!("frost serialize: {e}")))
}

impl FrostKeyShare {
    /// This party's index.
    pub fn party(&self) -> PartyIndex {
        self.me
    }

    /// The group public key, readable without touching the secret.
    pub fn public_key(&self) -> Ed25519PublicKey {
        let mut out = [0u8; 32];
        if let Ok(b) = self.public.verifying_key().serialize() {
            out.copy_from_slice(&b);
        }
        Ed25519PublicKey(out)
    }

    /// The versioned plaintext form for the keystore to seal. Handle as secret.
    pub fn to_sealable_bytes(&self) -> Result<Zeroizing<Vec<u8>>, MpcError> {
        let key = Zeroizing::new(encode(self.key.serialize())?);
        let public = encode(self.public.serialize())?;
        let mut body = Zeroizing::new(Vec::with_capacity(key.len() + public.len() + 10));
        body.extend_from_slice(&self.me.get().to_be_bytes());
        body.extend_from_slice(&(key.len() as u32).to_be_bytes());
        body.extend_from_slice(&key);
        body.extend_from_slice(&public);
        Ok(sealed::wrap(ShareKind::Frost, &body))
    }

    /// Reads back [`to_sealable_bytes`](Self::to_sealable_bytes).
    pub fn from_sealable_bytes(bytes: &[u8]) -> Result<Self, MpcError> {
        let (me, key, public) = planbok_export::shares::decode_frost(bytes)?;
        let me =
            PartyIndex::new(me).map_err(|_| MpcError::SealedFormat("frost share: party".into()))?;
        Ok(FrostKeyShare { me, key, public })
    }

    /// The secret signing share, for the export reconstruction only.
    pub(crate) fn key_package(&self) -> &KeyPackage {
        &self.key
    }
}

// ---------------------------------------------------------------------------------------
// DKG (and refresh, which is the same two rounds with a zero constant term)

enum DkgState {
    Round1(dkg::round1::SecretPackage),
    Round2 {
        secret: dkg::round2::SecretPackage,
        r1: BTreeMap<Identifier, dkg::round1::Package>,
    },
    Done,
}

/// FROST DKG engine (also used for refresh when `old` is set).
pub struct FrostDkg {
    me: PartyIndex,
    old: Option<FrostKeyShare>,
    state: DkgState,
    first: Option<dkg::round1::Package>,
    output: Option<FrostKeyShare>,
}

impl FrostDkg {
    fn protocol(&self) -> ProtocolId {
        if self.old.is_some() {
            ProtocolId::FrostRefresh
        } else {
            ProtocolId::FrostKeygen
        }
    }

    fn new(me: PartyIndex, old: Option<FrostKeyShare>) -> Result<Self, MpcError> {
        let id = ident(me)?;
        let (secret, package) = match old {
            None => dkg::part1(id, 2, 2, OsRng),
            Some(_) => refresh::refresh_dkg_part1(id, 2, 2, OsRng),
        }
        .map_err(|e| MpcError::Internal(format!("frost part1: {e}")))?;
        Ok(FrostDkg {
            me,
            old,
            state: DkgState::Round1(secret),
            first: Some(package),
            output: None,
        })
    }

    fn on_round(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
        let protocol = self.protocol();
        let peer = ident(msg.sender)?;
        match std::mem::replace(&mut self.state, DkgState::Done) {
            DkgState::Round1(secret) => {
                let pkg = decode(protocol, &msg, dkg::round1::Package::deserialize)?;
                let r1 = BTreeMap::from([(peer, pkg)]);
                let (secret, mut r2) = match self.old {
                    None => dkg::part2(secret, &r1),
                    Some(_) => refresh::refresh_dkg_part2(secret, &r1),
                }
                .map_err(|e| lib_err(protocol, msg.sender, e))?;
                let out = r2
                    .remove(&peer)
                    .ok_or_else(|| MpcError::Internal("no round-2 package for peer".into()))?;
                self.state = DkgState::Round2 { secret, r1 };
                Ok(vec![Outgoing::p2p(2, encode(out.serialize())?)])
            }
            DkgState::Round2 { secret, r1 } => {
                let pkg = decode(protocol, &msg, dkg::round2::Package::deserialize)?;
                let r2 = BTreeMap::from([(peer, pkg)]);
                let (key, public) = match self.old.take() {
                    None => dkg::part3(&secret, &r1, &r2),
                    Some(old) => refresh::refresh_dkg_shares(
                        &secret,
                        &r1,
                        &r2,
                        old.public.clone(),
                        old.key.clone(),
                    ),
                }
                .map_err(|e| lib_err(protocol, msg.sender, e))?;
                self.output = Some(FrostKeyShare {
                    me: self.me,
                    key,
                    public,
                });
                Ok(Vec::new())
            }
            DkgState::Done => Err(MpcError::Closed("dkg already finished")),
        }
    }
}

impl fmt::Debug for FrostDkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrostDkg")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// FROST key generation.
#[derive(Debug)]
pub struct FrostKeygen(FrostDkg);
/// FROST refresh: same public key, new shares.
#[derive(Debug)]
pub struct FrostRefresh(FrostDkg);

macro_rules! dkg_engine {
    ($t:ty, $proto:expr) => {
        impl Engine for $t {
            type Output = FrostKeyShare;
            const PROTOCOL: ProtocolId = $proto;
            const ROUNDS: u16 = 2;

            fn start(&mut self) -> Result<Vec<Outgoing>, MpcError> {
                let first = self
                    .0
                    .first
                    .take()
                    .ok_or(MpcError::Closed("already started"))?;
                Ok(vec![Outgoing::p2p(1, encode(first.serialize())?)])
            }

            fn awaiting(&self) -> Option<u16> {
                Some(match self.0.state {
                    DkgState::Round1(..) => 1,
                    _ => 2,
                })
            }

            fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
                self.0.on_round(msg)
            }

            fn take_output(&mut self) -> Option<FrostKeyShare> {
                self.0.output.take()
            }
        }
    };
}
dkg_engine!(FrostKeygen, ProtocolId::FrostKeygen);
dkg_engine!(FrostRefresh, ProtocolId::FrostRefresh);

/// Starts an ed25519 key generation for party `me`.
pub fn keygen(session: SessionId, me: PartyIndex) -> Result<Session<FrostKeygen>, MpcError> {
    Ok(Session::new(
        session,
        me,
        FrostKeygen(FrostDkg::new(me, None)?),
    ))
}

/// Starts a refresh of `share`: the output signs for the same public key, and cannot be
/// combined with the counterparty's old share.
pub fn refresh(
    session: SessionId,
    share: FrostKeyShare,
) -> Result<Session<FrostRefresh>, MpcError> {
    let me = share.me;
    Ok(Session::new(
        session,
        me,
        FrostRefresh(FrostDkg::new(me, Some(share))?),
    ))
}

// ---------------------------------------------------------------------------------------
// Signing

// One value per protocol run, replaced in place each round: boxing buys nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one state per session, replaced in place; boxing would only add an allocation"
)]
enum SignState {
    Commit(round1::SigningNonces),
    Share {
        package: frost::SigningPackage,
        mine: round2::SignatureShare,
    },
    Done,
}

/// FROST signing engine.
pub struct FrostSign {
    share: std::sync::Arc<FrostKeyShare>,
    message: Vec<u8>,
    first: Option<round1::SigningCommitments>,
    mine_commitments: round1::SigningCommitments,
    state: SignState,
    output: Option<Ed25519Signature>,
}

impl fmt::Debug for FrostSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrostSign")
            .field("me", &self.share.me)
            .finish_non_exhaustive()
    }
}

/// Starts signing `message` (the raw bytes; ed25519 hashes internally) with `share`.
pub fn sign(
    session: SessionId,
    share: std::sync::Arc<FrostKeyShare>,
    message: &[u8],
) -> Result<Session<FrostSign>, MpcError> {
    let (nonces, commitments) = round1::commit(share.key.signing_share(), &mut OsRng);
    let me = share.me;
    Ok(Session::new(
        session,
        me,
        FrostSign {
            share,
            message: message.to_vec(),
            first: Some(commitments),
            mine_commitments: commitments,
            state: SignState::Commit(nonces),
            output: None,
        },
    ))
}

impl Engine for FrostSign {
    type Output = Ed25519Signature;
    const PROTOCOL: ProtocolId = ProtocolId::FrostSign;
    const ROUNDS: u16 = 2;

    fn start(&mut self) -> Result<Vec<Outgoing>, MpcError> {
        let c = self
            .first
            .take()
            .ok_or(MpcError::Closed("already started"))?;
        Ok(vec![Outgoing::p2p(1, encode(c.serialize())?)])
    }

    fn awaiting(&self) -> Option<u16> {
        Some(match self.state {
            SignState::Commit(_) => 1,
            _ => 2,
        })
    }

    fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
        let protocol = Self::PROTOCOL;
        let me = ident(self.share.me)?;
        let peer = ident(msg.sender)?;
        match std::mem::replace(&mut self.state, SignState::Done) {
            SignState::Commit(nonces) => {
                let theirs = decode(protocol, &msg, round1::SigningCommitments::deserialize)?;
                let commitments = BTreeMap::from([(me, self.mine_commitments), (peer, theirs)]);
                let package = frost::SigningPackage::new(commitments, &self.message);
                // The nonces are consumed here and dropped (zeroized) at the end of this arm:
                // they can never sign twice.
                let mine = round2::sign(&package, &nonces, &self.share.key)
                    .map_err(|e| lib_err(protocol, msg.sender, e))?;
                let out = mine.serialize();
                self.state = SignState::Share { package, mine };
                Ok(vec![Outgoing::p2p(2, out)])
            }
            SignState::Share { package, mine } => {
                let theirs = decode(protocol, &msg, round2::SignatureShare::deserialize)?;
                let shares = BTreeMap::from([(me, mine), (peer, theirs)]);
                let sig = frost::aggregate(&package, &shares, &self.share.public)
                    .map_err(|e| lib_err(protocol, msg.sender, e))?;
                self.share
                    .public
                    .verifying_key()
                    .verify(&self.message, &sig)
                    .map_err(|_| MpcError::SignatureInvalid {
                        protocol,
                        blame: msg.sender,
                    })?;
                let bytes = sig
                    .serialize()
                    .map_err(|e| MpcError::Internal(format!("signature encode: {e}")))?;
                let arr: [u8; 64] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| MpcError::Internal("signature is not 64 bytes".into()))?;
                self.output = Some(Ed25519Signature(arr));
                Ok(Vec::new())
            }
            SignState::Done => Err(MpcError::Closed("signing already finished")),
        }
    }

    fn take_output(&mut self) -> Option<Ed25519Signature> {
        self.output.take()
    }
}

impl Sealed for FrostKeygen {}
impl Sealed for FrostRefresh {}
impl Sealed for FrostSign {}
