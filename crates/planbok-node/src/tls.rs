//! Mutual TLS: loading this node's identity, and authorizing callers by the role their
//! certificate names.
//!
//! The CA check happens in the TLS handshake (no certificate or another CA: the connection
//! fails). The role check happens here, on every call: each service has an interceptor that
//! reads the caller's leaf certificate and requires exactly one `planbok://<role>` URI SAN
//! naming the role that service serves.

use std::path::Path;

use planbok_proto::codes::{self, ErrorCode};
use planbok_proto::roles::Role;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::{Request, Status};

use crate::config::TlsConfig;

/// PEM material read from disk.
#[derive(Clone)]
pub struct TlsMaterial {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial { key: <redacted>, .. }")
    }
}

impl TlsMaterial {
    /// Reads the CA, certificate and key files.
    pub fn load(c: &TlsConfig) -> std::io::Result<Self> {
        Self::from_files(&c.ca, &c.cert, &c.key)
    }

    /// Reads three PEM files.
    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> std::io::Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
        };
        Ok(TlsMaterial {
            ca: read(ca)?,
            cert: read(cert)?,
            key: zeroize::Zeroizing::new(read(key)?),
        })
    }

    /// Server side: present our certificate, require a client certificate from the CA.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &*self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
    }

    /// Client side: present our certificate; accept only a server certificate from the CA
    /// that carries `tls_name` (the callee's role name, e.g. `node2.planbok`).
    pub fn client(&self, tls_name: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &*self.key))
            .domain_name(tls_name)
    }

    /// The role our own certificate names.
    pub fn own_role(&self) -> Result<Role, String> {
        let pem = x509_parser::pem::parse_x509_pem(&self.cert)
            .map_err(|e| format!("certificate PEM: {e}"))?
            .1;
        role_of(&pem.contents)
    }
}

/// The single planbok role a DER certificate names.
pub fn role_of(der: &[u8]) -> Result<Role, String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("subjectAltName: {e}"))?
        .ok_or("certificate has no subjectAltName")?;
    let mut roles = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(u) if u.starts_with("planbok://") => {
            Some(Role::from_uri(u))
        }
        _ => None,
    });
    match (roles.next(), roles.next()) {
        (Some(Some(r)), None) => Ok(r),
        (Some(None), _) => Err("certificate names an unknown planbok role".into()),
        (Some(_), Some(_)) => Err("certificate names more than one planbok role".into()),
        (None, _) => Err("certificate names no planbok role".into()),
    }
}

/// The role of the caller of `req`, from its verified TLS client certificate.
pub fn caller_role<T>(req: &Request<T>) -> Result<Role, Status> {
    let certs = req
        .peer_certs()
        .ok_or_else(|| codes::status(ErrorCode::WrongRole, "no client certificate"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| codes::status(ErrorCode::WrongRole, "no client certificate"))?;
    role_of(leaf.as_ref()).map_err(|e| codes::status(ErrorCode::WrongRole, e))
}

/// An interceptor admitting only callers whose certificate names `allowed`.
pub fn require(allowed: Role) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let role = caller_role(&req)?;
        if role == allowed {
            Ok(req)
        } else {
            tracing::warn!(caller = %role, expected = %allowed, "refused a caller with the wrong role");
            Err(codes::status(
                ErrorCode::WrongRole,
                format!("this service serves {allowed} only; the caller is {role}"),
            ))
        }
    }
}
