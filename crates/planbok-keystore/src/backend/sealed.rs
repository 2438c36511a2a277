//! The sealed backend: a random master key split N-of-K with Shamir (GF(256), `vsss-rs`).
//! Only digests and a key-check value are on disk; the master key exists only in memory
//! between a successful unseal and `seal()` (or process exit).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use super::{Kek, local_unwrap, local_wrap};
use crate::crypto::{self, hkdf32};
use crate::{BackendId, KeystoreError, SealStatus, UnsealKey};

const STATE_FORMAT: &str = "planbok-keystore-sealed";
const STATE_VERSION: u32 = 1;
const MAX_SHARES: u8 = 16;
const KEK_INFO: &[u8] = b"planbok keystore sealed kek v1";
const KEY_CHECK_INFO: &[u8] = b"planbok keystore sealed key check v1";

/// The state file: everything needed to check keys and the master key, nothing that
/// reveals them.
#[derive(Serialize, Deserialize)]
struct StateFile {
    format: String,
    version: u32,
    threshold: u8,
    shares: u8,
    /// Hex SHA-256 of each unseal key (domain, index, bytes), in index order.
    share_digests: Vec<String>,
    /// Hex HKDF of the master key under a key-check label.
    key_check: String,
}

struct State {
    threshold: u8,
    shares: u8,
    digests: Vec<[u8; 32]>,
    key_check: [u8; 32],
}

impl State {
    fn sealed_status(&self, submitted: &[UnsealKey]) -> SealStatus {
        SealStatus::Sealed {
            threshold: self.threshold,
            shares: self.shares,
            // At most 16 keys are ever held (threshold <= 16).
            progress: u8::try_from(submitted.len()).unwrap_or(u8::MAX),
        }
    }
}

/// Everything that changes at run time. Without a state file there is nothing to seal or
/// unseal, so the phase only exists next to a [`State`].
enum Inner {
    Uninitialized,
    Initialized { state: State, phase: Phase },
}

enum Phase {
    Sealed { submitted: Vec<UnsealKey> },
    Unsealed { kek: Zeroizing<[u8; 32]> },
}

impl Phase {
    fn sealed() -> Self {
        Self::Sealed {
            submitted: Vec::new(),
        }
    }
}

pub(crate) struct SealedKek {
    path: PathBuf,
    // A read lock for wrap and unwrap (every seal_blob/open_blob), so concurrent signing
    // runs do not queue behind each other; the write lock for init, unseal and seal.
    inner: RwLock<Inner>,
}

impl SealedKek {
    pub(crate) fn open(state_file: &Path) -> Result<Self, KeystoreError> {
        let inner = match std::fs::read(state_file) {
            Ok(bytes) => Inner::Initialized {
                state: parse_state(state_file, &bytes)?,
                phase: Phase::sealed(),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => Inner::Uninitialized,
            Err(e) => return Err(KeystoreError::io(state_file, e)),
        };
        Ok(Self {
            path: state_file.to_owned(),
            inner: RwLock::new(inner),
        })
    }

    // Every transition below replaces the phase (or the whole state) in one assignment, or
    // only pushes to or clears the submitted keys, so a panic while holding the lock cannot
    // leave a half-updated state behind: poisoning is safe to ignore.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_kek<T>(
        &self,
        f: impl FnOnce(&[u8; 32]) -> Result<T, KeystoreError>,
    ) -> Result<T, KeystoreError> {
        match &*self.read() {
            Inner::Initialized {
                phase: Phase::Unsealed { kek },
                ..
            } => f(kek),
            Inner::Initialized {
                phase: Phase::Sealed { .. },
                ..
            } => Err(KeystoreError::Sealed),
            Inner::Uninitialized => Err(KeystoreError::NotInitialized),
        }
    }
}

fn parse_state(path: &Path, bytes: &[u8]) -> Result<State, KeystoreError> {
    let bad = |reason: String| KeystoreError::StateFile {
        path: path.to_owned(),
        reason,
    };
    let file: StateFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if file.format != STATE_FORMAT || file.version != STATE_VERSION {
        return Err(bad(format!(
            "unknown format {} version {}",
            file.format, file.version
        )));
    }
    check_split(file.shares, file.threshold).map_err(|e| bad(e.to_string()))?;
    if file.share_digests.len() != usize::from(file.shares) {
        return Err(bad("digest count differs from share count".into()));
    }
    let hex32 = |s: &str| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map(|()| out)
            .map_err(|_| bad("bad hex digest".into()))
    };
    Ok(State {
        threshold: file.threshold,
        shares: file.shares,
        digests: file
            .share_digests
            .iter()
            .map(|d| hex32(d))
            .collect::<Result<_, _>>()?,
        key_check: hex32(&file.key_check)?,
    })
}

fn check_split(shares: u8, threshold: u8) -> Result<(), KeystoreError> {
    let ok = (1..=MAX_SHARES).contains(&shares)
        && (1..=shares).contains(&threshold)
        && (threshold >= 2 || shares == 1);
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::InvalidSplit { shares, threshold })
    }
}

fn key_check(master: &[u8]) -> [u8; 32] {
    *hkdf32(master, b"", KEY_CHECK_INFO)
}

/// Writes the state file without ever clobbering an existing one: the content goes to a
/// temporary file first, which is then hard-linked into place (fails if the target exists).
fn write_state(path: &Path, file: &StateFile) -> Result<(), KeystoreError> {
    let json = serde_json::to_vec_pretty(file)
        .map_err(|_| KeystoreError::Internal("state file serialization"))?;
    // A name of our own, created new: a shared name could be truncated by a concurrent
    // init after we linked it, rewriting the state file under the keys we return.
    let mut suffix = [0u8; 8];
    crypto::fill_random(&mut suffix)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", hex::encode(suffix)));
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| KeystoreError::io(&tmp, e))?;
    let result = (|| {
        f.write_all(&json)
            .and_then(|()| f.sync_all())
            .map_err(|e| KeystoreError::io(&tmp, e))?;
        std::fs::hard_link(&tmp, path).map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => KeystoreError::AlreadyInitialized,
            _ => KeystoreError::io(path, e),
        })
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

impl Kek for SealedKek {
    fn id(&self) -> BackendId {
        BackendId::Sealed
    }

    fn wrap(&self, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.with_kek(|kek| local_wrap(kek, dek, aad))
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        self.with_kek(|kek| local_unwrap(kek, wrapped, aad))
    }

    fn ready(&self) -> Result<(), KeystoreError> {
        self.with_kek(|_| Ok(()))
    }

    fn status(&self) -> SealStatus {
        match &*self.read() {
            Inner::Uninitialized => SealStatus::Uninitialized,
            Inner::Initialized { state, phase } => match phase {
                Phase::Sealed { submitted } => state.sealed_status(submitted),
                Phase::Unsealed { .. } => SealStatus::Unsealed,
            },
        }
    }

    fn init(&self, shares: u8, threshold: u8) -> Result<Vec<UnsealKey>, KeystoreError> {
        let mut inner = self.write();
        if let Inner::Initialized { .. } = *inner {
            return Err(KeystoreError::AlreadyInitialized);
        }
        check_split(shares, threshold)?;
        let master = crypto::random_key()?;
        let keys = if shares == 1 {
            // 1 of 1: the single key is the master key itself; there is nothing to split.
            vec![UnsealKey::new(1, master.as_ref())?]
        } else {
            let raw_shares = Zeroizing::new(
                Gf256::split_bytes(
                    usize::from(threshold),
                    usize::from(shares),
                    master.as_ref(),
                    rand::rng(),
                )
                .map_err(|_| KeystoreError::Internal("Shamir split"))?,
            );
            raw_shares
                .iter()
                .map(|s| match s.split_first() {
                    Some((index, bytes)) => UnsealKey::new(*index, bytes),
                    None => Err(KeystoreError::Internal("empty Shamir share")),
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        // The library numbers shares 1..=N; the state file relies on that order.
        if keys
            .iter()
            .enumerate()
            .any(|(i, k)| usize::from(k.index()) != i + 1)
        {
            return Err(KeystoreError::Internal(
                "Shamir share indices are not 1..=N",
            ));
        }
        let digests: Vec<[u8; 32]> = keys.iter().map(UnsealKey::digest).collect();
        let check = key_check(master.as_ref());
        write_state(
            &self.path,
            &StateFile {
                format: STATE_FORMAT.into(),
                version: STATE_VERSION,
                threshold,
                shares,
                share_digests: digests.iter().map(hex::encode).collect(),
                key_check: hex::encode(check),
            },
        )?;
        *inner = Inner::Initialized {
            state: State {
                threshold,
                shares,
                digests,
                key_check: check,
            },
            phase: Phase::sealed(),
        };
        Ok(keys)
    }

    fn unseal(&self, key: &UnsealKey) -> Result<SealStatus, KeystoreError> {
        let mut inner = self.write();
        let Inner::Initialized { state, phase } = &mut *inner else {
            return Err(KeystoreError::NotInitialized);
        };
        let Phase::Sealed { submitted } = phase else {
            return Ok(SealStatus::Unsealed);
        };
        let known = usize::from(key.index())
            .checked_sub(1)
            .and_then(|i| state.digests.get(i))
            .is_some_and(|d| bool::from(d.ct_eq(&key.digest())));
        if !known {
            return Err(KeystoreError::WrongUnsealKey);
        }
        if submitted.iter().any(|k| k.index() == key.index()) {
            return Err(KeystoreError::DuplicateUnsealKey);
        }
        submitted.push(key.clone());
        if submitted.len() < usize::from(state.threshold) {
            return Ok(state.sealed_status(submitted));
        }

        let master: Zeroizing<Vec<u8>> = if state.threshold == 1 {
            Zeroizing::new(key.bytes().to_vec())
        } else {
            let shares: Zeroizing<Vec<Vec<u8>>> =
                Zeroizing::new(submitted.iter().map(|k| k.to_share().to_vec()).collect());
            Zeroizing::new(
                Gf256::combine_bytes(&*shares)
                    .map_err(|_| KeystoreError::Internal("Shamir combine"))?,
            )
        };
        if master.len() != 32 || !bool::from(key_check(&master).ct_eq(&state.key_check)) {
            submitted.clear();
            return Err(KeystoreError::MasterKeyCheckFailed);
        }
        // Dropping the sealed phase zeroizes the submitted keys.
        *phase = Phase::Unsealed {
            kek: hkdf32(&master, b"", KEK_INFO),
        };
        Ok(SealStatus::Unsealed)
    }

    fn seal(&self) -> Result<(), KeystoreError> {
        match &mut *self.write() {
            Inner::Uninitialized => Err(KeystoreError::NotInitialized),
            Inner::Initialized { phase, .. } => {
                // Dropping the old phase zeroizes the KEK or the submitted keys.
                *phase = Phase::sealed();
                Ok(())
            }
        }
    }
}
