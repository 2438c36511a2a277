//! The SSRF guard: which URLs an endpoint may have and which addresses a delivery may
//! connect to.
//!
//! A URL is `https://` (plain `http://` only with `allow_loopback`, for local receivers),
//! with a host, no user info and no fragment. Its host is resolved and **every** address
//! checked: loopback (unless `allow_loopback`), private, link-local, CGNAT, unique-local,
//! the cloud metadata addresses and the other special-purpose ranges are refused unless
//! `allowed_networks` names them. The check runs when the endpoint is created or changed
//! and again before every attempt, and the attempt connects to an address that was just
//! checked, so a name that resolves elsewhere later (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::Uri;

use crate::config::WebhookConfig;

/// A URL the guard accepted in form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` or `http`.
    pub https: bool,
    /// The host as written, without IPv6 brackets.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Path and query, `/` at least.
    pub path_and_query: String,
}

/// Why a URL or address was refused; the message is sent to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a URL of the accepted form.
    #[error("url: {0}")]
    Malformed(String),
    /// The host resolves to an address in a refused range.
    #[error("url: {host} resolves to {addr}, a {range} address, which webhooks may not target")]
    Address {
        /// The host.
        host: String,
        /// The address.
        addr: IpAddr,
        /// The range's name.
        range: &'static str,
    },
    /// The host does not resolve.
    #[error("url: {0} does not resolve")]
    Unresolved(String),
}

/// The longest URL accepted.
pub const MAX_URL: usize = 2048;

/// Checks a URL's form (no DNS).
pub fn parse(url: &str, config: &WebhookConfig) -> Result<Target, Refused> {
    if url.len() > MAX_URL {
        return Err(Refused::Malformed(format!("at most {MAX_URL} characters")));
    }
    if url.contains('#') {
        return Err(Refused::Malformed("a fragment is not allowed".into()));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| Refused::Malformed("not an absolute URL".into()))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if config.allow_loopback => false,
        Some("http") => {
            return Err(Refused::Malformed(
                "must be https:// (http:// is allowed only for loopback in development)".into(),
            ));
        }
        _ => return Err(Refused::Malformed("must be https://".into())),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| Refused::Malformed("no host".into()))?;
    if authority.as_str().contains('@') {
        return Err(Refused::Malformed("user info is not allowed".into()));
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err(Refused::Malformed("no host".into()));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    Ok(Target {
        https,
        host,
        port,
        path_and_query,
    })
}

/// The range `ip` falls in that webhooks may not target by default, if any.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
    };
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some("cloud metadata")
    } else if o[0] == 127 {
        Some("loopback")
    } else if in_net([10, 0, 0, 0], 8)
        || in_net([172, 16, 0, 0], 12)
        || in_net([192, 168, 0, 0], 16)
    {
        Some("private")
    } else if in_net([169, 254, 0, 0], 16) {
        Some("link-local")
    } else if in_net([100, 64, 0, 0], 10) {
        Some("CGNAT")
    } else if in_net([0, 0, 0, 0], 8) {
        Some("unspecified")
    } else if in_net([224, 0, 0, 0], 4) || in_net([240, 0, 0, 0], 4) {
        Some("multicast or reserved")
    } else if in_net([192, 0, 0, 0], 24)
        || in_net([192, 0, 2, 0], 24)
        || in_net([198, 18, 0, 0], 15)
        || in_net([198, 51, 100, 0], 24)
        || in_net([203, 0, 113, 0], 24)
        || in_net([192, 88, 99, 0], 24)
    {
        Some("special-purpose")
    } else {
        None
    }
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4);
    }
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return v4_range(v4).or(Some("NAT64"));
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("cloud metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if s[0] & 0xff00 == 0xff00 {
        Some("multicast")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("documentation")
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        Some("discard")
    } else if s[0..6] == [0, 0, 0, 0, 0, 0] {
        Some("IPv4-compatible")
    } else {
        None
    }
}

/// Whether the configuration lets a delivery connect to `ip`; the refusal otherwise.
pub fn check_addr(host: &str, ip: IpAddr, config: &WebhookConfig) -> Result<(), Refused> {
    let Some(range) = refused_range(ip) else {
        return Ok(());
    };
    let allowed = config.allowed_networks.iter().any(|n| n.contains(&ip))
        || (range == "loopback" && config.allow_loopback);
    if allowed {
        Ok(())
    } else {
        Err(Refused::Address {
            host: host.to_owned(),
            addr: ip,
            range,
        })
    }
}

/// Resolves `t` and checks every address (a name with one refused address is refused
/// whole). Plain `http://` must resolve to loopback only. Returns the addresses to try.
pub async fn resolve(t: &Target, config: &WebhookConfig) -> Result<Vec<SocketAddr>, Refused> {
    let addrs: Vec<SocketAddr> = match t.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, t.port)],
        Err(_) => tokio::net::lookup_host((t.host.as_str(), t.port))
            .await
            .map_err(|_| Refused::Unresolved(t.host.clone()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolved(t.host.clone()));
    }
    for a in &addrs {
        check_addr(&t.host, a.ip(), config)?;
        if !t.https && refused_range(a.ip()) != Some("loopback") {
            return Err(Refused::Malformed(format!(
                "http:// is allowed only for loopback; {} resolves to {}",
                t.host,
                a.ip()
            )));
        }
    }
    Ok(addrs)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn cfg(allow_loopback: bool) -> WebhookConfig {
        WebhookConfig {
            allow_loopback,
            ..WebhookConfig::default()
        }
    }

    #[test]
    fn forms() {
        let c = cfg(false);
        let t = parse("https://Example.com/hook?x=1", &c).unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path_and_query.as_str()),
            (true, "example.com", 443, "/hook?x=1")
        );
        assert_eq!(parse("https://[::1]:8443", &c).unwrap().host, "::1");
        for bad in [
            "http://example.com/",
            "ftp://example.com/",
            "example.com/hook",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "/relative",
        ] {
            assert!(parse(bad, &c).is_err(), "{bad}");
        }
        assert!(parse("http://127.0.0.1:9/", &cfg(true)).is_ok());
    }

    #[test]
    fn ranges() {
        let refused = [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.31.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("100.100.0.1", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fd12::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ];
        for (ip, range) in refused {
            assert_eq!(refused_range(ip.parse().unwrap()), Some(range), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "172.32.0.1",
        ] {
            assert_eq!(refused_range(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn configuration_allows_what_it_names() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(check_addr("h", ip, &cfg(true)).is_err());
        let c = WebhookConfig {
            allowed_networks: vec!["10.1.2.0/24".parse().unwrap()],
            ..WebhookConfig::default()
        };
        assert!(check_addr("h", ip, &c).is_ok());
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_addr("h", lo, &cfg(false)).is_err());
        assert!(check_addr("h", lo, &cfg(true)).is_ok());
        // allow_loopback never opens the metadata address.
        let md: IpAddr = "169.254.169.254".parse().unwrap();
        assert!(check_addr("h", md, &cfg(true)).is_err());
    }
}
