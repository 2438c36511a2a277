//! `[gateway]`: the Gateway page's own listener (`docs/gateway.md`).

use serde::{Deserialize, Serialize};

/// `[gateway]`: where the Gateway page (and its `/gateway/api/…` routes) is served, and
/// what the page pins (`docs/gateway.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Its own listener: another port (or host) than `listen`, so another origin.
    pub listen: String,
    /// Node 1's identity key (`ed25519:…`, from `planbok operator status`): the page
    /// encrypts a customer secret only to an organization key this key signed.
    pub node_key: String,
    /// The name shown at the top of the page.
    #[serde(default = "default_gateway_name")]
    pub name: String,
}

fn default_gateway_name() -> String {
    "planbok".into()
}
