//! secp256k1 ECDSA with CGGMP21 (`cggmp21 =0.6.3`, Kudelski-audited line, CVE-2025-66016
//! fixed): auxiliary info, non-threshold 2-of-2 keygen with chain code, interactive signing
//! (no presignatures) under a non-hardened path, key refresh.
//!
//! The library's protocols are async functions; `round-based`'s state-machine wrapper turns
//! them into the sans-IO shape this crate exposes. That wrapper shares state through `Rc`,
//! so CGGMP sessions are `!Send`: drive each on one thread (the node gives every run its own
//! worker thread). A frame's round for CGGMP is the index of the library's message variant
//! plus one (the library's `ProtocolMessage::round`), checked against the decoded message.
//! Reliable broadcast is disabled: with two parties a broadcast has a single
//! receiver, so there is nobody to equivocate to, and the echo round would only add latency.

use std::fmt;

use cggmp21::generic_ec::{Scalar, curves::Secp256k1};
use cggmp21::key_share::{AuxInfo, IncompleteKeyShare, KeyShare};
use cggmp21::round_based::state_machine::wrap_protocol;
use cggmp21::security_level::SecurityLevel128;
use cggmp21::{DataToSign, ExecutionId, PregeneratedPrimes};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::error::MpcError;
use crate::frame::{PartyIndex, ProtocolId, SessionId};
use crate::hd::{self, DerivationPath};
use crate::sealed::{self, ShareKind};
use crate::session::{Engine, Incoming, Outgoing, Sealed, Session};
use crate::signature::{EcdsaPublicKey, EcdsaSignature, finish_ecdsa};

mod machine;

use machine::{Driver, error_chain};

type L = SecurityLevel128;
const PARTIES: [u16; 2] = [0, 1];

// ---------------------------------------------------------------------------------------
// Secret material

/// Safe primes for one party's Paillier key: the input of aux-info generation and refresh.
/// Slow to make (tens of seconds per prime), so generated ahead of time, never on the
/// request path.
pub struct PaillierPrimes(PregeneratedPrimes<L>);

impl fmt::Debug for PaillierPrimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaillierPrimes(<redacted>)")
    }
}

/// Progress of [`PaillierPrimes::generate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimeProgress {
    /// Safe primes finished so far.
    pub done: u32,
    /// Safe primes needed.
    pub total: u32,
}

impl PaillierPrimes {
    /// Generates two 1536-bit safe primes, reporting progress after each.
    pub fn generate(mut progress: impl FnMut(PrimeProgress)) -> Result<Self, MpcError> {
        use cggmp21::security_level::KeygenSecurityLevel;
        let bits = 4 * <L as KeygenSecurityLevel>::SECURITY_BITS;
        progress(PrimeProgress { done: 0, total: 2 });
        let p = cggmp21::fast_paillier::utils::generate_safe_prime(&mut OsRng, bits);
        progress(PrimeProgress { done: 1, total: 2 });
        let q = cggmp21::fast_paillier::utils::generate_safe_prime(&mut OsRng, bits);
        progress(PrimeProgress { done: 2, total: 2 });
        PregeneratedPrimes::new(p, q)
            .map(PaillierPrimes)
            .ok_or_else(|| MpcError::Internal("generated primes too small".into()))
    }

    /// The versioned plaintext form. Handle as secret.
    pub fn to_sealable_bytes(&self) -> Result<Zeroizing<Vec<u8>>, MpcError> {
        sealed::to_json(ShareKind::CggmpPrimes, &self.0)
    }

    /// Reads back [`to_sealable_bytes`](Self::to_sealable_bytes); checks the size.
    pub fn from_sealable_bytes(bytes: &[u8]) -> Result<Self, MpcError> {
        let pre: PregeneratedPrimes<L> = sealed::from_json(ShareKind::CggmpPrimes, bytes)?;
        let (p, q) = pre.split();
        PregeneratedPrimes::new(p, q)
            .map(PaillierPrimes)
            .ok_or_else(|| MpcError::SealedFormat("primes below the security level".into()))
    }
}

/// One party's auxiliary info: its Paillier secret key and both parties' public Paillier
/// and ring-Pedersen parameters. Made once per node pair, reused for every key.
///
/// Limitation: the Paillier primes live in GMP integers, which the library does not zeroize.
pub struct CggmpAuxInfo {
    me: PartyIndex,
    aux: AuxInfo<L>,
}

impl fmt::Debug for CggmpAuxInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CggmpAuxInfo")
            .field("me", &self.me)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl CggmpAuxInfo {
    /// This party's index.
    pub fn party(&self) -> PartyIndex {
        self.me
    }

    /// The versioned plaintext form. Handle as secret.
    pub fn to_sealable_bytes(&self) -> Result<Zeroizing<Vec<u8>>, MpcError> {
        sealed::to_json(ShareKind::CggmpAux, &(self.me.get(), &self.aux))
    }

    /// Reads back [`to_sealable_bytes`](Self::to_sealable_bytes), validating the aux info.
    pub fn from_sealable_bytes(bytes: &[u8]) -> Result<Self, MpcError> {
        let (me, aux): (u16, AuxInfo<L>) = sealed::from_json(ShareKind::CggmpAux, bytes)?;
        let me = PartyIndex::new(me).map_err(|_| MpcError::SealedFormat("aux party".into()))?;
        if aux.parties.len() != 2 {
            return Err(MpcError::SealedFormat(
                "aux info is not for two parties".into(),
            ));
        }
        Ok(CggmpAuxInfo { me, aux })
    }
}

/// One party's CGGMP key share (secret share, public shares, chain code), without the aux
/// info it is combined with at signing time.
pub struct CggmpKeyShare {
    core: IncompleteKeyShare<Secp256k1>,
}

impl fmt::Debug for CggmpKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CggmpKeyShare")
            .field("me", &self.party())
            .field("public_key", &self.public_key().ok())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl CggmpKeyShare {
    /// This party's index.
    pub fn party(&self) -> PartyIndex {
        PartyIndex::new(self.core.i).unwrap_or(PartyIndex::NODE1)
    }

    /// The master public key.
    pub fn public_key(&self) -> Result<EcdsaPublicKey, MpcError> {
        hd::from_point(&self.core.shared_public_key)
    }

    /// The BIP-32 chain code agreed in the DKG.
    pub fn chain_code(&self) -> Result<[u8; 32], MpcError> {
        self.core
            .chain_code
            .ok_or_else(|| MpcError::Internal("key share has no chain code".into()))
    }

    /// The public key at `path`.
    pub fn derive_public_key(&self, path: &DerivationPath) -> Result<EcdsaPublicKey, MpcError> {
        Ok(hd::derive_public_key(&self.public_key()?, &self.chain_code()?, path)?.0)
    }

    /// The versioned plaintext form for the keystore to seal. Handle as secret.
    pub fn to_sealable_bytes(&self) -> Result<Zeroizing<Vec<u8>>, MpcError> {
        sealed::to_json(ShareKind::CggmpKey, &self.core)
    }

    /// Reads back [`to_sealable_bytes`](Self::to_sealable_bytes), validating the share.
    pub fn from_sealable_bytes(bytes: &[u8]) -> Result<Self, MpcError> {
        Ok(CggmpKeyShare {
            core: planbok_export::shares::decode_cggmp(bytes)?,
        })
    }

    /// The library's share, for [`crate::export`] only.
    pub(crate) fn core(&self) -> &IncompleteKeyShare<Secp256k1> {
        &self.core
    }
}

fn eid_bytes(session: SessionId, protocol: ProtocolId) -> [u8; 32] {
    session.domain_separated(protocol)
}

macro_rules! cggmp_engine {
    ($name:ident, $proto:expr, $rounds:expr, $lib:ty, $out:ty, |$self_:ident, $v:ident| $finish:expr) => {
        impl Engine for $name {
            type Output = $out;
            const PROTOCOL: ProtocolId = $proto;
            const ROUNDS: u16 = $rounds;

            fn start(&mut self) -> Result<Vec<Outgoing>, MpcError> {
                self.driver.pump()
            }

            fn awaiting(&self) -> Option<u16> {
                // round-based routes messages of any round itself.
                None
            }

            fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
                let out = self.driver.feed(&msg)?;
                if let Some(r) = self.driver.take(msg.sender) {
                    let $v: $lib = r?;
                    let $self_ = &mut *self;
                    $self_.output = Some($finish?);
                }
                Ok(out)
            }

            fn take_output(&mut self) -> Option<$out> {
                self.output.take()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("me", &self.me)
                    .finish_non_exhaustive()
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Aux info

/// CGGMP auxiliary-info generation engine.
pub struct CggmpAuxGen {
    me: PartyIndex,
    driver: Driver<AuxInfo<L>>,
    output: Option<CggmpAuxInfo>,
}

/// Starts aux-info generation for party `me` with its pregenerated primes.
pub fn aux_info_gen(
    session: SessionId,
    me: PartyIndex,
    primes: PaillierPrimes,
) -> Session<CggmpAuxGen> {
    let eid = eid_bytes(session, ProtocolId::CggmpAuxInfo);
    let i = me.get();
    let sm = wrap_protocol(move |party| async move {
        cggmp21::aux_info_gen(ExecutionId::new(&eid), i, 2, primes.0)
            .enforce_reliable_broadcast(false)
            .start(&mut OsRng, party)
            .await
    });
    Session::new(
        session,
        me,
        CggmpAuxGen {
            me,
            driver: Driver::new(ProtocolId::CggmpAuxInfo, sm),
            output: None,
        },
    )
}

cggmp_engine!(
    CggmpAuxGen,
    ProtocolId::CggmpAuxInfo,
    4,
    AuxInfo<L>,
    CggmpAuxInfo,
    |this, aux| { Ok::<_, MpcError>(CggmpAuxInfo { me: this.me, aux }) }
);

// ---------------------------------------------------------------------------------------
// Keygen

/// CGGMP key generation engine (non-threshold 2-of-2, with chain code).
pub struct CggmpKeygen {
    me: PartyIndex,
    driver: Driver<IncompleteKeyShare<Secp256k1>>,
    output: Option<CggmpKeyShare>,
}

/// Starts a key generation for party `me`.
pub fn keygen(session: SessionId, me: PartyIndex) -> Session<CggmpKeygen> {
    let eid = eid_bytes(session, ProtocolId::CggmpKeygen);
    let i = me.get();
    let sm = wrap_protocol(move |party| async move {
        cggmp21::keygen::<Secp256k1>(ExecutionId::new(&eid), i, 2)
            .enforce_reliable_broadcast(false)
            .hd_wallet(true)
            .start(&mut OsRng, party)
            .await
    });
    Session::new(
        session,
        me,
        CggmpKeygen {
            me,
            driver: Driver::new(ProtocolId::CggmpKeygen, sm),
            output: None,
        },
    )
}

cggmp_engine!(
    CggmpKeygen,
    ProtocolId::CggmpKeygen,
    4,
    IncompleteKeyShare<Secp256k1>,
    CggmpKeyShare,
    |_this, core| { Ok::<_, MpcError>(CggmpKeyShare { core }) }
);

fn combine(share: &CggmpKeyShare, aux: &CggmpAuxInfo) -> Result<KeyShare<Secp256k1, L>, MpcError> {
    if share.party() != aux.me {
        return Err(MpcError::InvalidInput(
            "key share and aux info belong to different parties".into(),
        ));
    }
    KeyShare::from_parts((share.core.clone(), aux.aux.clone())).map_err(|e| {
        MpcError::InvalidInput(format!(
            "key share does not match aux info: {}",
            error_chain(&e)
        ))
    })
}

// ---------------------------------------------------------------------------------------
// Signing

/// CGGMP interactive signing engine (no stored presignatures).
pub struct CggmpSign {
    me: PartyIndex,
    driver: Driver<cggmp21::Signature<Secp256k1>>,
    public_key: EcdsaPublicKey,
    digest: [u8; 32],
    output: Option<EcdsaSignature>,
}

/// Starts signing the 32-byte `digest` with `share` (combined with this party's `aux`)
/// derived along `path`.
pub fn sign(
    session: SessionId,
    share: &CggmpKeyShare,
    aux: &CggmpAuxInfo,
    path: &DerivationPath,
    digest: [u8; 32],
) -> Result<Session<CggmpSign>, MpcError> {
    let me = share.party();
    let key = combine(share, aux)?;
    let public_key = share.derive_public_key(path)?;
    let eid = eid_bytes(session, ProtocolId::CggmpSign);
    let indices = path.nonhardened();
    let data = DataToSign::from_scalar(Scalar::<Secp256k1>::from_be_bytes_mod_order(digest));
    let i = me.get();
    let sm = wrap_protocol(move |party| async move {
        cggmp21::signing(ExecutionId::new(&eid), i, &PARTIES, &key)
            .enforce_reliable_broadcast(false)
            .set_derivation_path(indices)
            .map_err(|e| SignSetupError(e.to_string()))?
            .sign(&mut OsRng, party, data)
            .await
            .map_err(|e| SignSetupError(error_chain(&e)))
    });
    Ok(Session::new(
        session,
        me,
        CggmpSign {
            me,
            driver: Driver::new(ProtocolId::CggmpSign, sm),
            public_key,
            digest,
            output: None,
        },
    ))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SignSetupError(String);

cggmp_engine!(
    CggmpSign,
    ProtocolId::CggmpSign,
    6,
    cggmp21::Signature<Secp256k1>,
    EcdsaSignature,
    |this, sig| {
        let mut rs = [0u8; 64];
        sig.write_to_slice(&mut rs);
        let (mut r, mut s) = ([0u8; 32], [0u8; 32]);
        r.copy_from_slice(&rs[..32]);
        s.copy_from_slice(&rs[32..]);
        finish_ecdsa(
            ProtocolId::CggmpSign,
            this.me.peer(),
            r,
            s,
            &this.digest,
            &this.public_key,
            None,
        )
    }
);

// ---------------------------------------------------------------------------------------
// Refresh

/// CGGMP key refresh engine: new secret shares and new aux info, same public key.
pub struct CggmpRefresh {
    me: PartyIndex,
    driver: Driver<KeyShare<Secp256k1, L>>,
    public_key: EcdsaPublicKey,
    output: Option<(CggmpKeyShare, CggmpAuxInfo)>,
}

/// Starts a refresh of `share` + `aux`, with fresh primes for the new aux info.
pub fn refresh(
    session: SessionId,
    share: &CggmpKeyShare,
    aux: &CggmpAuxInfo,
    primes: PaillierPrimes,
) -> Result<Session<CggmpRefresh>, MpcError> {
    let me = share.party();
    let key = combine(share, aux)?;
    let public_key = share.public_key()?;
    let eid = eid_bytes(session, ProtocolId::CggmpRefresh);
    let sm = wrap_protocol(move |party| async move {
        cggmp21::key_refresh(ExecutionId::new(&eid), &key, primes.0)
            .enforce_reliable_broadcast(false)
            .start(&mut OsRng, party)
            .await
    });
    Ok(Session::new(
        session,
        me,
        CggmpRefresh {
            me,
            driver: Driver::new(ProtocolId::CggmpRefresh, sm),
            public_key,
            output: None,
        },
    ))
}

cggmp_engine!(CggmpRefresh, ProtocolId::CggmpRefresh, 4, KeyShare<Secp256k1, L>, (CggmpKeyShare, CggmpAuxInfo), |this, key| {
    let key = key.into_inner();
    let core = IncompleteKeyShare::<Secp256k1>::validate(key.core)
        .map_err(|e| MpcError::Internal(format!("refreshed share invalid: {}", error_chain(&e.into_error()))))?;
    let aux = AuxInfo::<L>::validate(key.aux)
        .map_err(|e| MpcError::Internal(format!("refreshed aux invalid: {}", error_chain(&e.into_error()))))?;
    let share = CggmpKeyShare { core };
    if share.public_key()? != this.public_key {
        return Err(MpcError::PeerMisbehaved {
            blame: this.me.peer(),
            protocol: ProtocolId::CggmpRefresh,
            reason: "refresh changed the public key".into(),
        });
    }
    Ok::<_, MpcError>((share, CggmpAuxInfo { me: this.me, aux }))
});

impl Sealed for CggmpAuxGen {}
impl Sealed for CggmpKeygen {}
impl Sealed for CggmpSign {}
impl Sealed for CggmpRefresh {}
