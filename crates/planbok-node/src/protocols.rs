//! Which `planbok-mpc` session each request runs, and what a DKG yields to store.

use std::sync::Arc;

use planbok_mpc::cggmp::{self, CggmpAuxInfo};
use planbok_mpc::{DerivationPath, MpcError, PartyIndex, SessionId, dkls, frost};
use zeroize::Zeroizing;

use crate::error::{NodeError, NodeResult};
pub(crate) use crate::runner::Build;
use crate::runner::{RunOutput, boxed, boxed_send};
use crate::state::{Proto, Share, ecdsa_bytes};

/// Largest ed25519 message a node signs (a Solana transaction is at most 1232 bytes).
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;

/// A DKG session for `proto`.
pub(crate) fn keygen(proto: Proto, sid: SessionId, me: PartyIndex) -> Build {
    match proto {
        Proto::Cggmp => Build::Thread(Box::new(move || {
            Ok(boxed(cggmp::keygen(sid, me), RunOutput::Cggmp))
        })),
        Proto::Dkls23 => Build::Thread(Box::new(move || {
            Ok(boxed(dkls::keygen(sid, me)?, RunOutput::Dkls))
        })),
        Proto::Frost => Build::Inline(Box::new(move || {
            Ok(boxed_send(frost::keygen(sid, me)?, RunOutput::Frost))
        })),
    }
}

/// What a signing request asks for, checked.
pub(crate) struct SignInput {
    pub(crate) path: DerivationPath,
    pub(crate) payload: Vec<u8>,
}

/// Checks the path and payload against the key's protocol.
pub(crate) fn sign_input(proto: Proto, path: &str, payload: &[u8]) -> NodeResult<SignInput> {
    let path: DerivationPath = if path.is_empty() {
        DerivationPath::master()
    } else {
        path.parse()
            .map_err(|e| NodeError::invalid(format!("derivation path: {e}")))?
    };
    match proto {
        Proto::Cggmp | Proto::Dkls23 if payload.len() != 32 => {
            return Err(NodeError::invalid("an ECDSA payload is a 32-byte digest"));
        }
        Proto::Frost if !path.indices().is_empty() => {
            return Err(NodeError::invalid(
                "ed25519 keys are not derived; the path must be \"m\"",
            ));
        }
        Proto::Frost if payload.is_empty() || payload.len() > MAX_MESSAGE => {
            return Err(NodeError::invalid(format!(
                "an ed25519 message is 1 to {MAX_MESSAGE} bytes"
            )));
        }
        _ => {}
    }
    Ok(SignInput {
        path,
        payload: payload.to_vec(),
    })
}

/// The public key signatures will verify under.
pub(crate) fn signing_key(share: &Share, input: &SignInput) -> NodeResult<Vec<u8>> {
    Ok(match share {
        Share::Cggmp(k) => ecdsa_bytes(&k.derive_public_key(&input.path)?),
        Share::Dkls(k) => ecdsa_bytes(&k.derive_public_key(&input.path)?),
        Share::Frost(k) => k.public_key().to_bytes().to_vec(),
    })
}

/// A signing session.
pub(crate) fn sign(
    share: Share,
    aux: Option<Arc<CggmpAuxInfo>>,
    input: SignInput,
    sid: SessionId,
) -> NodeResult<Build> {
    let digest = |p: &[u8]| -> Result<[u8; 32], MpcError> {
        p.try_into()
            .map_err(|_| MpcError::InvalidInput("digest is not 32 bytes".into()))
    };
    Ok(match share {
        Share::Cggmp(k) => {
            let aux = aux.ok_or_else(|| NodeError::internal("CGGMP signing without aux info"))?;
            Build::Thread(Box::new(move || {
                let d = digest(&input.payload)?;
                Ok(boxed(
                    cggmp::sign(sid, &k, &aux, &input.path, d)?,
                    RunOutput::Ecdsa,
                ))
            }))
        }
        Share::Dkls(k) => Build::Thread(Box::new(move || {
            let d = digest(&input.payload)?;
            Ok(boxed(dkls::sign(sid, k, &input.path, d)?, RunOutput::Ecdsa))
        })),
        Share::Frost(k) => Build::Inline(Box::new(move || {
            Ok(boxed_send(
                frost::sign(sid, k, &input.payload)?,
                RunOutput::Ed25519,
            ))
        })),
    })
}

/// A refresh session: new shares for the same key. CGGMP's refresh also makes new aux info
/// from `primes`; it is dropped, because signing combines every key's share with the node
/// pair's one provisioned aux info (`provision-aux --replace` renews that).
pub(crate) fn refresh(
    share: Share,
    aux: Option<Arc<CggmpAuxInfo>>,
    primes: Option<cggmp::PaillierPrimes>,
    sid: SessionId,
) -> NodeResult<Build> {
    Ok(match share {
        Share::Cggmp(k) => {
            let aux = aux.ok_or_else(|| NodeError::internal("CGGMP refresh without aux info"))?;
            let primes =
                primes.ok_or_else(|| NodeError::internal("CGGMP refresh without primes"))?;
            Build::Thread(Box::new(move || {
                Ok(boxed(
                    cggmp::refresh(sid, &k, &aux, primes)?,
                    |(share, _new_aux)| RunOutput::Cggmp(share),
                ))
            }))
        }
        Share::Dkls(k) => {
            let k = Arc::try_unwrap(k)
                .map_err(|_| NodeError::internal("DKLs23 share shared during a refresh"))?;
            Build::Thread(Box::new(move || {
                Ok(boxed(dkls::refresh(sid, k)?, RunOutput::Dkls))
            }))
        }
        Share::Frost(k) => {
            let k = Arc::try_unwrap(k)
                .map_err(|_| NodeError::internal("FROST share shared during a refresh"))?;
            Build::Inline(Box::new(move || {
                Ok(boxed_send(frost::refresh(sid, k)?, RunOutput::Frost))
            }))
        }
    })
}

/// An auxiliary-info session.
pub(crate) fn aux_gen(sid: SessionId, me: PartyIndex, primes: cggmp::PaillierPrimes) -> Build {
    Build::Thread(Box::new(move || {
        Ok(boxed(cggmp::aux_info_gen(sid, me, primes), RunOutput::Aux))
    }))
}

/// A DKG's result: public key, chain code and the share's sealable bytes.
pub(crate) struct DkgResult {
    pub(crate) public_key: Vec<u8>,
    pub(crate) chain_code: Option<Vec<u8>>,
    pub(crate) share: Zeroizing<Vec<u8>>,
}

pub(crate) fn dkg_result(out: RunOutput) -> NodeResult<DkgResult> {
    Ok(match out {
        RunOutput::Cggmp(k) => DkgResult {
            public_key: ecdsa_bytes(&k.public_key()?),
            chain_code: Some(k.chain_code()?.to_vec()),
            share: k.to_sealable_bytes()?,
        },
        RunOutput::Dkls(k) => DkgResult {
            public_key: ecdsa_bytes(&k.public_key()?),
            chain_code: Some(k.chain_code().to_vec()),
            share: k.to_sealable_bytes()?,
        },
        RunOutput::Frost(k) => DkgResult {
            public_key: k.public_key().to_bytes().to_vec(),
            chain_code: None,
            share: k.to_sealable_bytes()?,
        },
        _ => return Err(NodeError::internal("a DKG produced no key share")),
    })
}
