//! The PKCS#11 backend: data keys are wrapped with `CKM_AES_GCM` inside the token under a
//! non-extractable AES-256 key that never leaves it.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{Kek, secret_from_env, to_key};
use crate::crypto;
use crate::{BackendId, KeystoreError};

fn ck(context: &'static str) -> impl FnOnce(CkError) -> KeystoreError {
    move |source| KeystoreError::Pkcs11 { context, source }
}

pub(crate) struct Pkcs11Kek {
    // A cryptoki Session is Send but not Sync; the mutex makes the keystore Sync. It also
    // serializes operations on the session, which PKCS#11 requires.
    session: Mutex<Session>,
    key: ObjectHandle,
}

impl Pkcs11Kek {
    pub(crate) fn open(
        module: &Path,
        token_label: &str,
        pin_env: &str,
        key_label: &str,
    ) -> Result<Self, KeystoreError> {
        let pin = secret_from_env(pin_env)?;
        let pkcs11 = Pkcs11::new(module).map_err(ck("loading module"))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another keystore in this process already initialized the module: C_Initialize
            // is per process, so this is expected (for example role 1 and role 2 in a test).
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(ck("C_Initialize")(e)),
        }
        let slot = pkcs11
            .get_slots_with_token()
            .map_err(ck("listing slots"))?
            .into_iter()
            .find(|slot| {
                pkcs11
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == token_label)
            })
            .ok_or_else(|| {
                KeystoreError::Config(format!("no PKCS#11 token labelled {token_label:?}"))
            })?;
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(ck("opening session"))?;
        match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
            // Login state is per application in PKCS#11, shared by all its sessions.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("login")(e)),
        }
        let key = find_or_create_kek(&session, key_label)?;
        Ok(Self {
            session: Mutex::new(session),
            key,
        })
    }
}

fn find_or_create_kek(session: &Session, key_label: &str) -> Result<ObjectHandle, KeystoreError> {
    // What identifies our KEK; the template that creates it starts with the same four.
    let search = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(key_label.as_bytes().to_vec()),
        Attribute::Token(true),
    ];
    let found = session
        .find_objects(&search)
        .map_err(ck("finding the key-encryption key"))?;
    match found.as_slice() {
        [key] => return Ok(*key),
        [] => {}
        _ => {
            return Err(KeystoreError::Config(format!(
                "{} AES keys labelled {key_label:?} on the token; expected one",
                found.len()
            )));
        }
    }
    tracing::info!(
        key_label,
        "creating the keystore's key-encryption key in the PKCS#11 token"
    );
    let mut template = search;
    template.extend([
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]);
    session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .map_err(ck("generating the key-encryption key"))
}

impl Kek for Pkcs11Kek {
    fn id(&self) -> BackendId {
        BackendId::Pkcs11
    }

    fn wrap(&self, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        let mut iv = crypto::random_nonce()?;
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(ck("GCM parameters"))?;
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let ciphertext = session
            .encrypt(&Mechanism::AesGcm(params), self.key, dek)
            .map_err(ck("wrapping a data key"))?;
        drop(session);
        let mut out = iv.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        let (iv, ciphertext) =
            crypto::split_nonce(wrapped).ok_or(KeystoreError::DataKeyRejected)?;
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(ck("GCM parameters"))?;
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        // A failed GCM tag check comes back as CKR_GENERAL_ERROR from SoftHSM (not
        // ENCRYPTED_DATA_INVALID), so every decrypt failure on well-formed input is treated
        // as a rejected key; a dead token will fail the next wrap loudly anyway.
        let dek = Zeroizing::new(
            session
                .decrypt(&Mechanism::AesGcm(params), self.key, ciphertext)
                .map_err(|e| {
                    tracing::debug!(error = %e, "PKCS#11 data key unwrap failed");
                    KeystoreError::DataKeyRejected
                })?,
        );
        to_key(&dek)
    }
}
