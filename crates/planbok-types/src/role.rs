//! Which of the two nodes a process is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Unknown;

/// Node 1 (the coordinator: opens every run, holds shares wrapped under the organization
/// secret) or Node 2 (the signer). Its wire form is the number, `1` or `2`, as in the
/// node's `role = 1` config line, `--role 2`, and the keystore's AAD; party index
/// [`NodeRole::index`] is 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum NodeRole {
    /// The coordinator.
    Node1,
    /// The signer.
    Node2,
}

impl NodeRole {
    /// Both, in order.
    pub const ALL: [NodeRole; 2] = [NodeRole::Node1, NodeRole::Node2];

    /// Parses the wire number; anything but 1 or 2 is refused.
    pub fn from_number(n: u8) -> Result<Self, Unknown> {
        match n {
            1 => Ok(NodeRole::Node1),
            2 => Ok(NodeRole::Node2),
            other => Err(Unknown::new("node role", other, "1 or 2")),
        }
    }

    /// The wire number, 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            NodeRole::Node1 => 1,
            NodeRole::Node2 => 2,
        }
    }

    /// The protocol party index, 0 for Node 1 and 1 for Node 2.
    pub fn index(self) -> usize {
        usize::from(self.number() - 1)
    }

    /// The other node.
    pub fn peer(self) -> Self {
        match self {
            NodeRole::Node1 => NodeRole::Node2,
            NodeRole::Node2 => NodeRole::Node1,
        }
    }

    /// `node1` or `node2`: certificate, file and DNS names (`node1.planbok`).
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Node1 => "node1",
            NodeRole::Node2 => "node2",
        }
    }
}

impl TryFrom<u8> for NodeRole {
    type Error = Unknown;

    fn try_from(n: u8) -> Result<Self, Unknown> {
        NodeRole::from_number(n)
    }
}

impl From<NodeRole> for u8 {
    fn from(r: NodeRole) -> u8 {
        r.number()
    }
}

impl FromStr for NodeRole {
    type Err = Unknown;

    /// `1` or `2` (the command line's `--role`).
    fn from_str(s: &str) -> Result<Self, Unknown> {
        match s {
            "1" => Ok(NodeRole::Node1),
            "2" => Ok(NodeRole::Node2),
            other => Err(Unknown::new("node role", other, "1 or 2")),
        }
    }
}

impl fmt::Display for NodeRole {
    /// `1` or `2`, the wire form (logs read `role=1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}
