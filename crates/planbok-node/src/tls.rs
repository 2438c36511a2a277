//! Mutual TLS: loading this node's identity, and authorizing callers by the role their
//! certificate names.
//!
//! The CA check happens in the TLS handshake (no certificate or another CA: the connection
//! fails). The role check happens here, on every call: each service has an interceptor that
//! reads the caller's leaf certificate and requires exactly one `planbok://<role>` URI SAN
//! naming the role that service serves.

use planbok_proto::codes::ErrorCode;
use planbok_proto::roles::Role;
use tonic::{Request, Status};

use crate::error::NodeError;

pub use planbok_proto::tls::TlsMaterial;

/// The role our own certificate names.
pub fn own_role(tls: &TlsMaterial) -> Result<Role, String> {
    let pem = x509_parser::pem::parse_x509_pem(tls.cert_pem())
        .map_err(|e| format!("certificate PEM: {e}"))?
        .1;
    role_of(&pem.contents)
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
pub fn caller_role<T>(req: &Request<T>) -> Result<Role, NodeError> {
    let wrong_role = |message: String| NodeError::new(ErrorCode::WrongRole, message);
    let certs = req
        .peer_certs()
        .ok_or_else(|| wrong_role("no client certificate".into()))?;
    let leaf = certs
        .first()
        .ok_or_else(|| wrong_role("no client certificate".into()))?;
    role_of(leaf.as_ref()).map_err(wrong_role)
}

/// The subject and serial of the caller's certificate, for the log (who unsealed); `None`
/// when there is none or it does not parse.
pub fn caller_subject<T>(req: &Request<T>) -> Option<String> {
    let certs = req.peer_certs()?;
    let leaf = certs.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(format!(
        "{} (serial {})",
        cert.subject(),
        cert.tbs_certificate.raw_serial_as_string()
    ))
}

/// An interceptor admitting only callers whose certificate names `allowed` (tonic's
/// interceptors answer with a `Status`: the refusal becomes one in `error.rs`, like every
/// other).
pub fn require(allowed: Role) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let role = caller_role(&req)?;
        if role == allowed {
            Ok(req)
        } else {
            tracing::warn!(caller = %role, expected = %allowed, "refused a caller with the wrong role");
            Err(NodeError::new(
                ErrorCode::WrongRole,
                format!("this service serves {allowed} only; the caller is {role}"),
            )
            .into())
        }
    }
}
