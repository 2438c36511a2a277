//! The PKCS#11 backend: data keys are wrapped with `CKM_AES_GCM` inside the token under a
//! non-extractable AES-256 key that never leaves it.
//!
//! A KEK found on the token (rather than generated here) is checked before use: whoever
//! created it may have left it extractable, readable or usable without the PIN, and the whole
//! point of this backend is that the key cannot exist outside the token.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
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
        check_kek(&session, key, key_label)?;
        Ok(Self {
            session: Mutex::new(session),
            key,
        })
    }
}

fn find_or_create_kek(session: &Session, key_label: &str) -> Result<ObjectHandle, KeystoreError> {
    // What identifies our KEK: any secret key with its label, whatever its type, so that a
    // key of the wrong type is refused by `check_kek` rather than silently joined by a
    // second one.
    let search = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
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
                "{} secret keys labelled {key_label:?} on the token; expected one",
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
        Attribute::KeyType(KeyType::AES),
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

/// Refuses a KEK that is not a private, sensitive, non-extractable AES-256 key usable for
/// encryption and decryption. An attribute the token will not report counts as wrong.
fn check_kek(session: &Session, key: ObjectHandle, key_label: &str) -> Result<(), KeystoreError> {
    let attrs = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::Private,
                AttributeType::Encrypt,
                AttributeType::Decrypt,
                AttributeType::NeverExtractable,
                AttributeType::AlwaysSensitive,
            ],
        )
        .map_err(ck("reading the key-encryption key's attributes"))?;
    let refuse = |problem: String| {
        Err(KeystoreError::UnsafeKek {
            label: key_label.to_owned(),
            problem,
        })
    };
    match attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    }) {
        Some(KeyType::AES) => {}
        Some(other) => return refuse(format!("it is a {other} key, not AES")),
        None => return refuse("the token does not report its key type".into()),
    }
    match attrs.iter().find_map(|a| match a {
        Attribute::ValueLen(len) => Some(u64::from(*len)),
        _ => None,
    }) {
        Some(32) => {}
        Some(len) => return refuse(format!("it is {len} bytes long, not 32 (AES-256)")),
        None => return refuse("the token does not report its length".into()),
    }
    for (which, wanted, problem) in [
        (
            AttributeType::Extractable,
            false,
            "it is extractable (CKA_EXTRACTABLE is true): its value can be wrapped out of the token",
        ),
        (
            AttributeType::Sensitive,
            true,
            "it is not sensitive (CKA_SENSITIVE is false): its value can be read from the token",
        ),
        (
            AttributeType::Private,
            true,
            "it is a public object (CKA_PRIVATE is false): it can be used without the PIN",
        ),
        (
            AttributeType::Encrypt,
            true,
            "it cannot encrypt (CKA_ENCRYPT is false)",
        ),
        (
            AttributeType::Decrypt,
            true,
            "it cannot decrypt (CKA_DECRYPT is false)",
        ),
    ] {
        if bool_attr(&attrs, which) != Some(wanted) {
            return refuse(problem.to_owned());
        }
    }
    // Allowed, since a key moved between HSMs (backup, cluster replication) has these false,
    // but an operator should know: a copy of it may have existed outside a token.
    let never_extractable = bool_attr(&attrs, AttributeType::NeverExtractable);
    let always_sensitive = bool_attr(&attrs, AttributeType::AlwaysSensitive);
    if never_extractable != Some(true) || always_sensitive != Some(true) {
        tracing::warn!(
            key_label,
            ?never_extractable,
            ?always_sensitive,
            "the key-encryption key was extractable or not sensitive at some point: a copy of it may exist outside the token"
        );
    }
    Ok(())
}

/// The value of a boolean attribute in `attrs`, if the token reported it.
fn bool_attr(attrs: &[Attribute], which: AttributeType) -> Option<bool> {
    attrs.iter().find_map(|a| match (a, which) {
        (Attribute::Extractable(v), AttributeType::Extractable)
        | (Attribute::Sensitive(v), AttributeType::Sensitive)
        | (Attribute::Private(v), AttributeType::Private)
        | (Attribute::Encrypt(v), AttributeType::Encrypt)
        | (Attribute::Decrypt(v), AttributeType::Decrypt)
        | (Attribute::NeverExtractable(v), AttributeType::NeverExtractable)
        | (Attribute::AlwaysSensitive(v), AttributeType::AlwaysSensitive) => Some(*v),
        _ => None,
    })
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
