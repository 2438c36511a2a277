//! A small PKI: one CA and a certificate per role, and the renewal of those certificates.
//!
//! Every leaf names its role twice: a URI SAN `planbok://<role>` (what callees authorize
//! on) and a DNS SAN `<role>.planbok` (what a caller asks for as the TLS server name, so
//! that only the intended node's certificate can answer). Deployments with a CA of their
//! own issue certificates with the same two names (cert-manager etc.).
//!
//! `planbok pki init` keeps the CA key as `ca.key.enc`, an encrypted PKCS#8 file (PBES2:
//! scrypt, AES-256-CBC; `openssl pkey -in ca.key.enc` reads it), so that `planbok pki
//! renew` can issue fresh leaves later. Leaves are valid for [`DEFAULT_LEAF_DAYS`] unless
//! told otherwise, the CA for [`CA_DAYS`].

use std::path::{Path, PathBuf};

use planbok_proto::roles::Role;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// How long a leaf is valid unless told otherwise.
pub const DEFAULT_LEAF_DAYS: u32 = 365;
/// How long a CA made by [`Ca::generate`] is valid.
pub const CA_DAYS: u32 = 3650;
/// The CA key's file name in a PKI directory: encrypted PKCS#8, PEM.
pub const CA_KEY_FILE: &str = "ca.key.enc";
/// The shortest passphrase accepted for the CA key.
pub const MIN_PASSPHRASE_LEN: usize = 12;

/// Why issuing failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// Encrypting the CA key.
    #[error("encrypting the CA key: {0}")]
    Encrypt(String),
    /// Files.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The directory already holds a CA.
    #[error("{0} already holds a CA; refusing to overwrite it")]
    Exists(PathBuf),
    /// The directory holds no kept CA key.
    #[error(
        "{0} holds no CA key ({CA_KEY_FILE}): this PKI was made without one and cannot issue \
         certificates; make a new one with `planbok pki init`, or issue from your own CA"
    )]
    NoCaKey(PathBuf),
    /// The CA key did not decrypt, or is not the key of `ca.pem`.
    #[error("the CA key in {0} does not open with this passphrase, or is not the key of ca.pem")]
    WrongPassphrase(PathBuf),
    /// A passphrase too short to protect the CA key.
    #[error("the CA key passphrase must be at least {MIN_PASSPHRASE_LEN} characters")]
    WeakPassphrase,
    /// A certificate or key file that does not parse.
    #[error("{path}: {what}")]
    Malformed {
        /// File.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// A CA that can issue role certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    /// The CA key, PKCS#8 DER: kept only to be written encrypted.
    key_der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca { key: <redacted>, .. }")
    }
}

/// A leaf certificate and its key, PEM.
#[derive(Clone)]
pub struct Leaf {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Private key PEM (PKCS#8).
    pub key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leaf { key_pem: <redacted>, .. }")
    }
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn generate(name: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (params.not_before, params.not_after) = validity(CA_DAYS);
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            pem: cert.pem(),
            key_der: Zeroizing::new(key.serialize_der()),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA of a PKI directory: `ca.pem` and the kept key `ca.key.enc`, opened with
    /// `passphrase`. The key must be the certificate's.
    pub fn load(dir: &Path, passphrase: &[u8]) -> Result<Ca, PkiError> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join(CA_KEY_FILE);
        let pem = read(&cert_path)?;
        let encrypted = match std::fs::read_to_string(&key_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PkiError::NoCaKey(dir.into()));
            }
            other => other.map_err(|source| PkiError::Io {
                path: key_path.clone(),
                source,
            })?,
        };
        let malformed = |what: String| PkiError::Malformed {
            path: key_path.clone(),
            what,
        };
        let (label, doc) = pkcs8::Document::from_pem(&encrypted)
            .map_err(|e| malformed(format!("not a PEM document: {e}")))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(malformed(format!(
                "holds a {label}, not an ENCRYPTED PRIVATE KEY"
            )));
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| malformed(format!("not encrypted PKCS#8: {e}")))?;
        let der = info
            .decrypt(passphrase)
            .map_err(|_| PkiError::WrongPassphrase(dir.into()))?;
        let key_der = Zeroizing::new(der.as_bytes().to_vec());
        let key = KeyPair::try_from(key_der.as_slice())
            .map_err(|_| PkiError::WrongPassphrase(dir.into()))?;
        let cert_der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| PkiError::Malformed {
                path: cert_path.clone(),
                what: e.to_string(),
            })?
            .1
            .contents;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&cert_der).map_err(|e| PkiError::Malformed {
                path: cert_path.clone(),
                what: e.to_string(),
            })?;
        if *cert.public_key().subject_public_key.data != *key.der_bytes() {
            return Err(PkiError::WrongPassphrase(dir.into()));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), key)?;
        Ok(Ca {
            issuer,
            pem,
            key_der,
        })
    }

    /// The CA key as encrypted PKCS#8 PEM (PBES2: scrypt N=2^15 r=8 p=1, AES-256-CBC).
    pub fn encrypted_key_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, PkiError> {
        if passphrase.len() < MIN_PASSPHRASE_LEN {
            return Err(PkiError::WeakPassphrase);
        }
        let info = pkcs8::PrivateKeyInfo::try_from(self.key_der.as_slice())
            .map_err(|e| PkiError::Encrypt(e.to_string()))?;
        let doc = info
            .encrypt(rand_core::OsRng, passphrase)
            .map_err(|e| PkiError::Encrypt(e.to_string()))?;
        doc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .map_err(|e| PkiError::Encrypt(e.to_string()))
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// Issues a certificate for `role`, with optional extra DNS names / IP addresses,
    /// valid for [`DEFAULT_LEAF_DAYS`].
    pub fn issue(&self, role: Role, extra_names: &[String]) -> Result<Leaf, PkiError> {
        self.issue_for(role, extra_names, DEFAULT_LEAF_DAYS)
    }

    /// Issues a certificate for `role` valid for `days`.
    pub fn issue_for(
        &self,
        role: Role,
        extra_names: &[String],
        days: u32,
    ) -> Result<Leaf, PkiError> {
        self.issue_leaf(role.name(), &[role.uri()], extra_names, days)
    }

    /// Issues a certificate with arbitrary URI SANs (tests use it for malformed roles).
    pub fn issue_with_uris(
        &self,
        common_name: &str,
        uris: &[&str],
        extra_names: &[String],
    ) -> Result<Leaf, PkiError> {
        self.issue_leaf(common_name, uris, extra_names, DEFAULT_LEAF_DAYS)
    }

    fn issue_leaf(
        &self,
        common_name: &str,
        uris: &[&str],
        extra_names: &[String],
        days: u32,
    ) -> Result<Leaf, PkiError> {
        let key = KeyPair::generate()?;
        let mut names = vec![format!("{common_name}.planbok")];
        names.extend(extra_names.iter().cloned());
        let mut params = CertificateParams::new(names)?;
        for u in uris {
            params
                .subject_alt_names
                .push(SanType::URI((*u).try_into()?));
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        (params.not_before, params.not_after) = validity(days);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
        })
    }
}

/// The wall clock, read through the crate's clock module (invariant 37).
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(crate::clock::now_ms()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// From an hour ago (clocks differ) to `days` from now.
fn validity(days: u32) -> (OffsetDateTime, OffsetDateTime) {
    let now = now();
    (now - Duration::hours(1), now + Duration::days(days.into()))
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.into(),
        source,
    })
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.into(),
        source,
    };
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(if private { 0o600 } else { 0o644 });
    }
    use std::io::Write;
    o.open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(io)
}

/// Writes `ca.pem` and `<role>.pem` / `<role>.key` for every role into `dir`, leaves valid
/// for [`DEFAULT_LEAF_DAYS`]. The CA key is not written ([`keep_ca_key`] does that): a dev
/// PKI is issued once, and a test that needs more certificates keeps the [`Ca`] value.
pub fn init(dir: &Path, extra_names: &[String]) -> Result<Ca, PkiError> {
    init_for(dir, extra_names, DEFAULT_LEAF_DAYS)
}

/// [`init`] with leaves valid for `days`.
pub fn init_for(dir: &Path, extra_names: &[String], days: u32) -> Result<Ca, PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.into(),
        source,
    })?;
    let ca_path = dir.join("ca.pem");
    if ca_path.exists() {
        return Err(PkiError::Exists(dir.into()));
    }
    let ca = Ca::generate("planbok dev CA")?;
    for role in [Role::Server, Role::Node1, Role::Node2, Role::Operator] {
        let leaf = ca.issue_for(role, extra_names, days)?;
        write(
            &dir.join(format!("{}.pem", role.name())),
            &leaf.cert_pem,
            false,
        )?;
        write(
            &dir.join(format!("{}.key", role.name())),
            &leaf.key_pem,
            true,
        )?;
    }
    write(&ca_path, ca.cert_pem(), false)?;
    Ok(ca)
}

/// Writes `ca`'s key into `dir` as [`CA_KEY_FILE`], encrypted under `passphrase` (mode 0600,
/// never overwriting).
pub fn keep_ca_key(dir: &Path, ca: &Ca, passphrase: &[u8]) -> Result<(), PkiError> {
    write(
        &dir.join(CA_KEY_FILE),
        &ca.encrypted_key_pem(passphrase)?,
        true,
    )
}

/// One certificate of a PKI directory, as [`show`] and [`renew`] report it.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// The file's stem: `ca`, `server`, `node1`, `node2` or `operator`.
    pub name: String,
    /// Its DNS and IP subject alternative names, in order.
    pub names: Vec<String>,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl CertInfo {
    /// Whole days from now to the end of validity (negative once expired).
    pub fn days_left(&self) -> i64 {
        (self.not_after - now()).whole_days()
    }
}

fn cert_info(path: &Path, name: &str) -> Result<CertInfo, PkiError> {
    let malformed = |what: String| PkiError::Malformed {
        path: path.into(),
        what,
    };
    let pem = read(path)?;
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| malformed(e.to_string()))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&pem.contents).map_err(|e| malformed(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let ip = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .map_err(|e| malformed(e.to_string()))?;
    Ok(CertInfo {
        name: name.into(),
        names,
        not_after,
    })
}

/// The CA and every role certificate present in `dir`, with their names and expiry.
pub fn show(dir: &Path) -> Result<Vec<CertInfo>, PkiError> {
    let mut out = vec![cert_info(&dir.join("ca.pem"), "ca")?];
    for role in [Role::Server, Role::Node1, Role::Node2, Role::Operator] {
        let path = dir.join(format!("{}.pem", role.name()));
        if path.exists() {
            out.push(cert_info(&path, role.name())?);
        }
    }
    Ok(out)
}

/// Opens the kept CA of `dir` with `passphrase` and renews `role` ([`Ca::renew`]).
pub fn renew(
    dir: &Path,
    role: Role,
    extra_names: Option<&[String]>,
    passphrase: &[u8],
    days: u32,
) -> Result<CertInfo, PkiError> {
    Ca::load(dir, passphrase)?.renew(dir, role, extra_names, days)
}

impl Ca {
    /// Issues `role` a fresh certificate and key, replacing `<role>.pem` and `<role>.key`
    /// in `dir` (each written to a temporary file, then renamed over the old one).
    /// `extra_names` default to the current certificate's names. The process using them
    /// picks them up at its next start; its peers trust the CA, not the leaf. Renewing
    /// several roles opens the CA (scrypt) once: load it, then call this per role.
    pub fn renew(
        &self,
        dir: &Path,
        role: Role,
        extra_names: Option<&[String]>,
        days: u32,
    ) -> Result<CertInfo, PkiError> {
        let cert_path = dir.join(format!("{}.pem", role.name()));
        let key_path = dir.join(format!("{}.key", role.name()));
        let names = match extra_names {
            Some(names) => names.to_vec(),
            None if cert_path.exists() => {
                let own = format!("{}.planbok", role.name());
                cert_info(&cert_path, role.name())?
                    .names
                    .into_iter()
                    .filter(|n| *n != own)
                    .collect()
            }
            None => Vec::new(),
        };
        let leaf = self.issue_for(role, &names, days)?;
        let replace = |path: &Path, contents: &str, private: bool| {
            let tmp = path.with_extension("renewing");
            let _ = std::fs::remove_file(&tmp);
            write(&tmp, contents, private)?;
            std::fs::rename(&tmp, path).map_err(|source| PkiError::Io {
                path: path.into(),
                source,
            })
        };
        replace(&key_path, &leaf.key_pem, true)?;
        replace(&cert_path, &leaf.cert_pem, false)?;
        cert_info(&cert_path, role.name())
    }
}
