//! Certificate roles. Every planbok certificate carries exactly one URI SAN
//! `planbok://<role>`; callees authorize on it, not only on the CA.

use std::fmt;
use std::str::FromStr;

/// Who a certificate speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The REST server (grant issuer).
    Server,
    /// Node 1, the coordinator.
    Node1,
    /// Node 2, the signer.
    Node2,
    /// A human operator (seal, unseal, provisioning).
    Operator,
}

impl From<planbok_types::NodeRole> for Role {
    fn from(r: planbok_types::NodeRole) -> Role {
        match r {
            planbok_types::NodeRole::Node1 => Role::Node1,
            planbok_types::NodeRole::Node2 => Role::Node2,
        }
    }
}

impl Role {
    /// The URI SAN value, e.g. `planbok://node1`.
    pub fn uri(self) -> &'static str {
        match self {
            Role::Server => "planbok://server",
            Role::Node1 => "planbok://node1",
            Role::Node2 => "planbok://node2",
            Role::Operator => "planbok://operator",
        }
    }

    /// The short name, e.g. `node1`.
    pub fn name(self) -> &'static str {
        &self.uri()["planbok://".len()..]
    }

    /// Parses a URI SAN; `None` for anything that is not exactly a planbok role.
    pub fn from_uri(uri: &str) -> Option<Role> {
        [Role::Server, Role::Node1, Role::Node2, Role::Operator]
            .into_iter()
            .find(|r| r.uri() == uri)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::from_uri(&format!("planbok://{s}"))
            .ok_or_else(|| format!("unknown role {s:?} (server, node1, node2, operator)"))
    }
}
