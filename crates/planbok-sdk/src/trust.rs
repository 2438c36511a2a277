//! Which organization key a client may encrypt its secret to.
//!
//! The REST server relays the organization's RSA key with Node 1's Ed25519 signature over
//! it. A [`TrustedOrgKey`] exists only once that signature verified against Node 1's
//! identity key (given out of band: `PLANBOK_NODE_KEY`, printed by `planbok dev` and
//! `planbok operator status`) and the key matched the one pinned on first use. Without a
//! configured node key the key is still pinned on first use, and [`TrustedOrgKey::pinned_now`]
//! tells the caller to say so. Every check runs before anything is encrypted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use planbok_envelope::NodeIdentity;
use planbok_envelope::org_key::{OrgKeyError, OrgPublicKey};

use crate::error::Error;
#[cfg(feature = "client")]
use {
    crate::client::Client,
    crate::secret::OrgSecret,
    planbok_envelope::{Binding, Context},
    std::collections::HashMap,
};

/// Where pinned organization-key fingerprints live.
pub trait PinStore: Send + Sync {
    /// The fingerprint (hex SHA-256 of the SPKI DER) pinned for `org_id`.
    fn pinned(&self, org_id: &str) -> Result<Option<String>, Error>;
    /// Pins `fingerprint` for `org_id`.
    fn pin(&self, org_id: &str, fingerprint: &str) -> Result<(), Error>;
}

/// Pins in a JSON file `{"<org id>": "<fingerprint>"}` (the CLI keeps it beside the secret
/// file). Written atomically (temporary file, then rename), mode 0600.
#[derive(Debug)]
pub struct FilePins(PathBuf);

impl FilePins {
    /// Pins kept at `path`.
    pub fn new(path: impl Into<PathBuf>) -> FilePins {
        FilePins(path.into())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.0
    }

    fn read(&self) -> Result<BTreeMap<String, String>, Error> {
        match std::fs::read_to_string(&self.0) {
            Ok(s) => serde_json::from_str(&s)
                .map_err(|e| Error::Pins(format!("{}: {e}", self.0.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(Error::Pins(format!("{}: {e}", self.0.display()))),
        }
    }
}

impl PinStore for FilePins {
    fn pinned(&self, org_id: &str) -> Result<Option<String>, Error> {
        Ok(self.read()?.get(org_id).cloned())
    }

    fn pin(&self, org_id: &str, fingerprint: &str) -> Result<(), Error> {
        let mut pins = self.read()?;
        pins.insert(org_id.to_owned(), fingerprint.to_owned());
        let text = serde_json::to_string_pretty(&pins).map_err(|e| Error::Pins(e.to_string()))?;
        let tmp = self.0.with_extension("tmp");
        let io = |e: std::io::Error| Error::Pins(format!("{}: {e}", self.0.display()));
        {
            use std::io::Write as _;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.0).map_err(io)
    }
}

/// Pins in memory, for one process.
#[derive(Debug, Default)]
pub struct MemoryPins(Mutex<BTreeMap<String, String>>);

impl PinStore for MemoryPins {
    fn pinned(&self, org_id: &str) -> Result<Option<String>, Error> {
        Ok(self.0.lock().ok().and_then(|m| m.get(org_id).cloned()))
    }

    fn pin(&self, org_id: &str, fingerprint: &str) -> Result<(), Error> {
        if let Ok(mut m) = self.0.lock() {
            m.insert(org_id.to_owned(), fingerprint.to_owned());
        }
        Ok(())
    }
}

/// What a client trusts: Node 1's identity key (if configured) and its pins.
pub struct OrgKeyTrust {
    node: Option<NodeIdentity>,
    pins: Box<dyn PinStore>,
}

impl std::fmt::Debug for OrgKeyTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKeyTrust")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl OrgKeyTrust {
    /// Trust keys signed by `node` (Node 1's identity key), pinned in `pins`.
    pub fn new(node: Option<NodeIdentity>, pins: impl PinStore + 'static) -> OrgKeyTrust {
        OrgKeyTrust {
            node,
            pins: Box::new(pins),
        }
    }

    /// Node 1's identity key from its text form (`ed25519:<hex>`).
    pub fn parse_node_key(s: &str) -> Result<NodeIdentity, Error> {
        NodeIdentity::parse(s).map_err(Error::OrgKey)
    }
}

/// An organization key that passed every check: the only thing [`OrgSecret::seal`]
/// encrypts to.
#[derive(Debug, Clone)]
pub struct TrustedOrgKey {
    /// The organization.
    pub org_id: String,
    /// The key.
    pub key: OrgPublicKey,
    /// Node 1's signature was verified (false: only pinned on first use).
    pub verified_by_node: bool,
    /// This call pinned it (first use).
    pub pinned_now: bool,
}

impl OrgKeyTrust {
    /// Checks the key the server relayed for `org_id` (`GET
    /// /v2/config/organization/public-key`): Node 1's signature over it when a node key is
    /// configured, then the pin (pinned now if none). No IO but the pin store.
    pub fn check(
        &self,
        org_id: &str,
        served: &planbok_api::model::PublicKey,
    ) -> Result<TrustedOrgKey, Error> {
        let key = match &self.node {
            Some(node) => {
                let signature = base64::engine::general_purpose::STANDARD
                    .decode(&served.signature)
                    .map_err(|_| Error::OrgKey(OrgKeyError::BadSignature))?;
                node.verify_org_key(
                    org_id,
                    &served.public_key,
                    served.created_at,
                    &signature,
                    &served.node_key_id,
                )
                .map_err(Error::OrgKey)?
            }
            None => OrgPublicKey::from_pem(&served.public_key).map_err(Error::OrgKey)?,
        };
        let fingerprint = key.fingerprint_hex();
        let pinned_now = match self.pins.pinned(org_id)? {
            Some(p) if p == fingerprint => false,
            Some(p) => {
                return Err(Error::OrgKey(OrgKeyError::PinMismatch {
                    org: org_id.to_owned(),
                    pinned: p,
                    got: fingerprint,
                }));
            }
            None => {
                self.pins.pin(org_id, &fingerprint)?;
                true
            }
        };
        Ok(TrustedOrgKey {
            org_id: org_id.to_owned(),
            key,
            verified_by_node: self.node.is_some(),
            pinned_now,
        })
    }
}

#[cfg(feature = "client")]
impl Client {
    /// The organization's key, verified against Node 1's identity key and the pins.
    pub fn trusted_org_key(&self, trust: &OrgKeyTrust) -> Result<TrustedOrgKey, Error> {
        let org_id = self.organization()?.id;
        let served: planbok_api::model::PublicKey =
            self.get("/v2/config/organization/public-key")?;
        trust.check(&org_id, &served)
    }
}

/// Fresh, bound ciphertexts for one organization: what a client sends as
/// `encryptedOrganizationSecret`. Computes each binding from what Node 1 will check,
/// fetching the wallet (and its set) where the binding names the key.
#[cfg(feature = "client")]
#[derive(Debug)]
pub struct Sealer<'a> {
    client: &'a Client,
    secret: &'a OrgSecret,
    key: TrustedOrgKey,
    /// What a wallet signs with, by wallet id: fixed when the wallet was made, so one
    /// lookup (two requests for a secp256k1 wallet) serves every later signature.
    keys: Mutex<HashMap<String, WalletKey>>,
}

/// A wallet as Node 1 knows it: the key's group public key and the wallet's path, with
/// the wallet itself.
#[cfg(feature = "client")]
#[derive(Debug, Clone)]
pub struct WalletKey {
    /// The wallet.
    pub wallet: planbok_api::model::Wallet,
    /// The set's secp256k1 master, or the wallet's own ed25519 key.
    pub group_key: Vec<u8>,
}

#[cfg(feature = "client")]
impl<'a> Sealer<'a> {
    /// Seals `secret` to `key` for calls made through `client`.
    pub fn new(client: &'a Client, secret: &'a OrgSecret, key: TrustedOrgKey) -> Sealer<'a> {
        Sealer {
            client,
            secret,
            key,
            keys: Mutex::default(),
        }
    }

    /// The trusted key.
    pub fn key(&self) -> &TrustedOrgKey {
        &self.key
    }

    /// For `POST /v2/organization/secret`.
    pub fn registration(&self) -> Result<String, Error> {
        self.secret.seal(
            &self.key,
            Context::Dkg,
            Binding::registration(&self.key.org_id),
        )
    }

    /// For a creation request (wallet set: `Dkg`; wallets: `Sign`) with `idempotency_key`.
    pub fn creation(&self, context: Context, idempotency_key: &str) -> Result<String, Error> {
        self.secret.seal(
            &self.key,
            context,
            Binding::creation(context, &self.key.org_id, idempotency_key),
        )
    }

    /// For signing `payload` (the exact bytes the nodes sign: see
    /// [`Sealer::message_payload`]) with the wallet `wallet_id`.
    pub fn sign(&self, wallet_id: &str, payload: &[u8]) -> Result<String, Error> {
        let k = self.wallet_key(wallet_id)?;
        self.secret.seal(
            &self.key,
            Context::Sign,
            Binding::sign(
                &self.key.org_id,
                &k.group_key,
                &k.wallet.derivation_path,
                payload,
            ),
        )
    }

    /// For exporting `wallet_ids` to `recipient` (the X25519 public key).
    pub fn export(&self, recipient: &[u8], wallet_ids: &[String]) -> Result<String, Error> {
        let mut keys = Vec::with_capacity(wallet_ids.len());
        for id in wallet_ids {
            keys.push(self.wallet_key(id)?.group_key);
        }
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        self.secret.seal(
            &self.key,
            Context::Verify,
            Binding::export(&self.key.org_id, recipient, &refs),
        )
    }

    /// The key a wallet signs with as Node 1 knows it (the set's secp256k1 master, or the
    /// wallet's own ed25519 key), with the wallet; looked up once per wallet.
    pub fn wallet_key(&self, wallet_id: &str) -> Result<WalletKey, Error> {
        if let Some(k) = self
            .keys
            .lock()
            .ok()
            .and_then(|m| m.get(wallet_id).cloned())
        {
            return Ok(k);
        }
        let w = self.client.wallet(wallet_id)?;
        let chain = planbok_chains::Chain::parse(&w.blockchain)
            .map_err(|e| Error::Input(format!("wallet chain: {e}")))?;
        let key_hex = match chain.curve() {
            planbok_chains::Curve::Secp256k1 => {
                self.client
                    .wallet_set(&w.wallet_set_id)?
                    .secp256k1_public_key
            }
            planbok_chains::Curve::Ed25519 => w.public_key.clone(),
        };
        let group_key = hex::decode(key_hex.trim_start_matches("0x"))
            .map_err(|_| Error::Transport("the server sent a public key that is not hex".into()))?;
        let k = WalletKey {
            wallet: w,
            group_key,
        };
        if let Ok(mut m) = self.keys.lock() {
            m.insert(wallet_id.to_owned(), k.clone());
        }
        Ok(k)
    }

    /// What the nodes sign for a message on `blockchain` (EIP-191, BIP-137, or the bytes).
    pub fn message_payload(
        blockchain: &str,
        message: &str,
        encoded_by_hex: bool,
    ) -> Result<Vec<u8>, Error> {
        let chain =
            planbok_chains::Chain::parse(blockchain).map_err(|e| Error::Input(e.to_string()))?;
        planbok_chains::message_input(chain, message, encoded_by_hex)
            .map(|i| i.payload)
            .map_err(|e| Error::Input(e.to_string()))
    }
}
