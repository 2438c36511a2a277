//! The two secp256k1 threshold protocols a wallet set can use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Unknown;

/// A wallet set's ECDSA protocol. Wire form (API `ecdsaProtocol`, the server's and the
/// nodes' stored names): `cggmp` or `dkls23`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum EcdsaProtocol {
    /// CGGMP21 (`cggmp21`, audited), the default.
    Cggmp,
    /// DKLs23 (`dkls23`, unaudited, about 150× less CPU per signature).
    Dkls23,
}

impl EcdsaProtocol {
    /// Both.
    pub const ALL: [EcdsaProtocol; 2] = [EcdsaProtocol::Cggmp, EcdsaProtocol::Dkls23];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EcdsaProtocol::Cggmp => "cggmp",
            EcdsaProtocol::Dkls23 => "dkls23",
        }
    }

    /// Parses the wire name (exact, case-sensitive); anything else is refused.
    pub fn parse(s: &str) -> Result<Self, Unknown> {
        match s {
            "cggmp" => Ok(EcdsaProtocol::Cggmp),
            "dkls23" => Ok(EcdsaProtocol::Dkls23),
            other => Err(Unknown::new(
                "ECDSA protocol",
                other,
                "\"cggmp\" or \"dkls23\"",
            )),
        }
    }
}

impl FromStr for EcdsaProtocol {
    type Err = Unknown;

    fn from_str(s: &str) -> Result<Self, Unknown> {
        EcdsaProtocol::parse(s)
    }
}

impl TryFrom<String> for EcdsaProtocol {
    type Error = Unknown;

    fn try_from(s: String) -> Result<Self, Unknown> {
        EcdsaProtocol::parse(&s)
    }
}

impl From<EcdsaProtocol> for &'static str {
    fn from(p: EcdsaProtocol) -> &'static str {
        p.as_str()
    }
}

impl fmt::Display for EcdsaProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
