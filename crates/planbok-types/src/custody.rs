//! Who holds an organization's secret.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Unknown;

/// An organization's custody mode, recorded by each node with every key at its DKG. Wire
/// and stored form: `standard` or `trustless`. (An organization that has registered no
/// secret yet has no mode: `Option<CustodyMode>`, shown as `unset` by the API.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum CustodyMode {
    /// Node 1 keeps the organization secret; keys are never exported.
    Standard,
    /// Only the organization holds its secret; keys may be exported (with a fresh secret).
    Trustless,
    /// A customer's key (customer custody): Node 1's share is wrapped under the customer's
    /// secret, which only the Gateway brings (after the PIN); Node 2 takes part only under
    /// a permit a fresh PIN unlock created. Never an organization's registered mode.
    Customer,
}

impl CustodyMode {
    /// The wire and stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            CustodyMode::Standard => "standard",
            CustodyMode::Trustless => "trustless",
            CustodyMode::Customer => "customer",
        }
    }

    /// Whether a key made under this mode may ever be exported.
    pub fn exportable(self) -> bool {
        matches!(self, CustodyMode::Trustless | CustodyMode::Customer)
    }

    /// Parses the wire form (exact); anything else, `unset` included, is refused.
    pub fn parse(s: &str) -> Result<Self, Unknown> {
        match s {
            "standard" => Ok(CustodyMode::Standard),
            "trustless" => Ok(CustodyMode::Trustless),
            "customer" => Ok(CustodyMode::Customer),
            other => Err(Unknown::new(
                "custody mode",
                other,
                "\"standard\", \"trustless\" or \"customer\"",
            )),
        }
    }
}

impl FromStr for CustodyMode {
    type Err = Unknown;

    fn from_str(s: &str) -> Result<Self, Unknown> {
        CustodyMode::parse(s)
    }
}

impl TryFrom<String> for CustodyMode {
    type Error = Unknown;

    fn try_from(s: String) -> Result<Self, Unknown> {
        CustodyMode::parse(&s)
    }
}

impl From<CustodyMode> for &'static str {
    fn from(c: CustodyMode) -> &'static str {
        c.as_str()
    }
}

impl fmt::Display for CustodyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
