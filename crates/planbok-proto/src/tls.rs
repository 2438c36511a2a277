//! Mutual-TLS material shared by every planbok process: the CA every peer must chain to,
//! our certificate (naming our role in a `planbok://<role>` URI SAN) and its key.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

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

    /// Our certificate, PEM.
    pub fn cert_pem(&self) -> &[u8] {
        &self.cert
    }
}
