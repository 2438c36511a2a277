//! A development/test PKI: one CA and a certificate per role.
//!
//! Every leaf names its role twice: a URI SAN `planbok://<role>` (what callees authorize
//! on) and a DNS SAN `<role>.planbok` (what a caller asks for as the TLS server name, so
//! that only the intended node's certificate can answer). Production deployments bring
//! their own certificates with the same two names (cert-manager etc.).

use std::path::{Path, PathBuf};

use planbok_proto::roles::Role;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Why issuing failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
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
}

/// A CA that can issue role certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
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
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// Issues a certificate for `role`, with optional extra DNS names / IP addresses.
    pub fn issue(&self, role: Role, extra_names: &[String]) -> Result<Leaf, PkiError> {
        self.issue_with_uris(role.name(), &[role.uri()], extra_names)
    }

    /// Issues a certificate with arbitrary URI SANs (tests use it for malformed roles).
    pub fn issue_with_uris(
        &self,
        common_name: &str,
        uris: &[&str],
        extra_names: &[String],
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

/// Writes `ca.pem` and `<role>.pem` / `<role>.key` for every role into `dir`. The CA key
/// is not written: a dev PKI is issued once, and a test that needs more certificates keeps
/// the [`Ca`] value.
pub fn init(dir: &Path, extra_names: &[String]) -> Result<Ca, PkiError> {
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
        let leaf = ca.issue(role, extra_names)?;
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
