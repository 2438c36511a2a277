//! API keys and the operator token.
//!
//! A key reads `pbk_<20 hex: key id>_<64 hex: secret>`. The server stores the key id
//! (`key_<20 hex>`) and SHA-256 of the secret: the secret is 256 random bits, so a fast hash
//! is enough (nothing to brute-force), and the comparison is constant-time.

use std::net::IpAddr;

use ipnet::IpNet;
use planbok_api::ErrorCode;
use planbok_api::model::{KeyAccess, Role};
use planbok_store::server::ApiKeyRecord;
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};

/// A freshly minted key: its id, the full key to show once, and the hash to store.
#[derive(Clone)]
pub struct MintedKey {
    /// `key_<20 hex>`.
    pub id: String,
    /// The whole key, shown once.
    pub full: Zeroizing<String>,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("id", &self.id)
            .field("full", &"<redacted>")
            .finish()
    }
}

/// Mints a new API key.
pub fn mint() -> MintedKey {
    let mut id = [0u8; 10];
    let mut secret = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret[..]);
    let id_hex = hex::encode(id);
    let secret_hex = Zeroizing::new(hex::encode(&secret[..]));
    MintedKey {
        id: format!("key_{id_hex}"),
        full: Zeroizing::new(format!("pbk_{id_hex}_{}", &*secret_hex)),
        secret_hash: Sha256::digest(secret_hex.as_bytes()).to_vec(),
    }
}

/// Splits a presented key into (key id, secret), or `None` if it is not of our shape.
pub fn parse(presented: &str) -> Option<(String, &str)> {
    let rest = presented.strip_prefix("pbk_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, 20) && hexy(secret, 64)).then(|| (format!("key_{id}"), secret))
}

/// Whether `secret` matches the stored hash, in constant time.
pub fn secret_matches(secret: &str, stored_hash: &[u8]) -> bool {
    let h = Sha256::digest(secret.as_bytes());
    h[..].ct_eq(stored_hash).into()
}

/// SHA-256 of the operator token, compared in constant time.
pub fn token_matches(presented: &str, expected_hash: &[u8; 32]) -> bool {
    let h = Sha256::digest(presented.as_bytes());
    h[..].ct_eq(expected_hash).into()
}

/// An allowlist entry: an IP or a CIDR.
pub fn parse_ip_rule(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// An Origin as browsers send it: `scheme://host[:port]`, nothing else.
pub fn valid_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '@'])
}

/// Checks a key's IP and Origin allowlists against the request. An Origin allowlist means
/// the key is for browsers: a request without an `Origin` header is refused too.
pub fn check_allowlists(key: &ApiKeyRecord, ip: IpAddr, origin: Option<&str>) -> ApiResult<()> {
    if !key.allowed_ips.is_empty()
        && !key
            .allowed_ips
            .iter()
            .filter_map(|r| parse_ip_rule(r))
            .any(|n| n.contains(&ip))
    {
        return Err(ApiError::new(
            ErrorCode::IpNotAllowed,
            format!("this API key may not be used from {ip}"),
        ));
    }
    if !key.allowed_origins.is_empty() {
        let ok = origin.is_some_and(|o| key.allowed_origins.iter().any(|a| a == o));
        if !ok {
            return Err(ApiError::new(
                ErrorCode::OriginNotAllowed,
                "this API key may not be used from this Origin",
            ));
        }
    }
    Ok(())
}

/// The authenticated caller of an organization route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organization.
    pub org_id: String,
    /// The member the key acts as.
    pub member_id: String,
    /// The member's role.
    pub role: Role,
    /// The key used.
    pub key_id: String,
    /// The key's access.
    pub access: KeyAccess,
}

impl Caller {
    /// The audit trail's actor string.
    pub fn actor(&self) -> String {
        format!("member:{}", self.member_id)
    }
}

#[cfg(test)]
#[expect(clippy::expect_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_and_match_only_their_own_hash() {
        let k = mint();
        let (id, secret) = parse(&k.full).expect("parses");
        assert_eq!(id, k.id);
        assert!(secret_matches(secret, &k.secret_hash));
        let other = mint();
        assert!(!secret_matches(secret, &other.secret_hash));
        assert!(!format!("{k:?}").contains(secret));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "pbk_",
            "pbk_abc_def",
            "key_0123456789abcdef0123_00",
            &format!("pbk_{}_{}", "g".repeat(20), "0".repeat(64)),
            &format!("pbk_{}_{}", "0".repeat(20), "0".repeat(63)),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn origins_and_ip_rules() {
        assert!(valid_origin("https://app.example.com"));
        assert!(valid_origin("http://localhost:3000"));
        assert!(!valid_origin("https://app.example.com/path"));
        assert!(!valid_origin("app.example.com"));
        assert!(parse_ip_rule("10.0.0.0/8").is_some());
        assert!(parse_ip_rule("127.0.0.1").is_some());
        assert!(parse_ip_rule("::1").is_some());
        assert!(parse_ip_rule("10.0.0.0/33").is_none());
    }
}
