//! Per-request context: the request id, the client's IP (from the socket, or from
//! `X-Forwarded-For` only when the socket peer is a configured trusted proxy), the user
//! agent and Origin. Set once by the outermost middleware.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::App;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id (`-` outside a request).
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".into())
}

/// Who is calling, as far as the network tells.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The request id (also the `x-request-id` response header).
    pub request_id: String,
    /// The client IP.
    pub ip: IpAddr,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// `Origin`.
    pub origin: Option<String>,
}

/// How many entries of `X-Forwarded-For`, counted from the right, may be trusted proxies;
/// with more, the header is given up on. A chain of proxies is short; a longer trusted run is a
/// misconfiguration, and walking it would let one request cost unbounded work.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// The client IP: the socket peer, unless it is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
///
/// `forwarded` is every `X-Forwarded-For` header line, in order: proxies may append a line
/// instead of extending the last one, so the lines form one comma list. Only the entries
/// right of (and including) the client's are read: those were written by our trusted
/// proxies, whatever the client put to their left, so the left part is never parsed and
/// its length does not matter. The header is unusable, and the socket peer counts, when a
/// line is not visible ASCII, when an entry that must be read is not an IP address, or when
/// more than [`MAX_FORWARDED_HOPS`] entries from the right are trusted proxies (or empty).
pub fn client_ip<'a>(
    trusts: impl Fn(IpAddr) -> bool,
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a HeaderValue>,
) -> IpAddr {
    if !trusts(peer) {
        return peer;
    }
    let mut lines = Vec::new();
    for line in forwarded {
        match line.to_str() {
            Ok(l) => lines.push(l),
            Err(_) => return peer,
        }
    }
    let entries = lines.iter().rev().flat_map(|l| l.rsplit(','));
    for (walked, entry) in entries.enumerate() {
        if walked > MAX_FORWARDED_HOPS {
            return peer;
        }
        let entry = entry.trim();
        if entry.is_empty() {
            // `a,,b` and an empty line carry nothing; proxies do not write them, but a
            // trailing comma is harmless.
            continue;
        }
        let Some(ip) = parse_hop(entry) else {
            return peer;
        };
        if !trusts(ip) {
            return ip;
        }
    }
    // Every entry is a trusted proxy (or there is no header): the socket peer.
    peer
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, IPv6 possibly in brackets, an
/// IPv4 possibly with a port (`1.2.3.4:5678`, which some proxies write).
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<std::net::Ipv6Addr>().ok())
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

/// A header for the logs and the audit trail, truncated (it is not parsed).
fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

/// The outermost middleware: builds the [`Ctx`], scopes the request id, logs, counts.
pub async fn middleware(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let ip = client_ip(
        |ip| app.config.http.trusts(ip),
        peer.ip().to_canonical(),
        req.headers().get_all("x-forwarded-for"),
    );
    let ctx = Ctx {
        request_id: request_id.clone(),
        ip,
        user_agent: header(&req, "user-agent"),
        origin: header(&req, "origin"),
    };
    req.extensions_mut().insert(ctx);
    let method = req.method().clone();
    let has_body = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING);
    // The log line's path is the client's: bounded like the other headers it echoes.
    let path: String = req.uri().path().chars().take(256).collect();
    let started = std::time::Instant::now();
    let mut response = REQUEST_ID.scope(request_id.clone(), next.run(req)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<crate::metrics::RouteLabel>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| crate::metrics::UNMATCHED.into());
    app.metrics.observe(&method, &route, status, elapsed);
    tracing::info!(request_id = %request_id, %method, %path, status, ms = elapsed.as_secs_f64() * 1e3, "request");
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    // A refusal may be answered before the request body was read (authentication, policy,
    // an unknown route). The HTTP/1 connection then cannot be reused: the server closes it
    // once the answer is out, and a client that pooled it would lose its next request. Say
    // so, so clients open a new connection instead; errors are rare for a working client.
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    response
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    const PROXY: [u8; 4] = [127, 0, 0, 1];

    /// `127.0.0.1` and `10.9.0.0/16` are trusted proxies.
    fn ip(lines: &[&str]) -> IpAddr {
        let trusted: Vec<ipnet::IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.9.0.0/16".parse().unwrap(),
        ];
        let values: Vec<HeaderValue> = lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect();
        client_ip(
            |ip| trusted.iter().any(|n| n.contains(&ip)),
            PROXY.into(),
            &values,
        )
    }

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_entry_of_every_line_counts() {
        assert_eq!(ip(&[]), a("127.0.0.1"));
        assert_eq!(ip(&["203.0.113.9"]), a("203.0.113.9"));
        assert_eq!(ip(&["10.1.2.3, 203.0.113.9"]), a("203.0.113.9"));
        assert_eq!(ip(&["203.0.113.9, 10.9.0.1, 10.9.4.4"]), a("203.0.113.9"));
        // Two lines are one list: the later line is further right.
        assert_eq!(ip(&["10.1.2.3", "203.0.113.9"]), a("203.0.113.9"));
        assert_eq!(ip(&["203.0.113.9", "10.1.2.3, 10.9.0.1"]), a("10.1.2.3"));
        // Forms proxies write.
        assert_eq!(ip(&["2001:db8::1"]), a("2001:db8::1"));
        assert_eq!(ip(&["[2001:db8::1]"]), a("2001:db8::1"));
        assert_eq!(ip(&["203.0.113.9:4711"]), a("203.0.113.9"));
        assert_eq!(ip(&["::ffff:203.0.113.9"]), a("203.0.113.9"));
        assert_eq!(ip(&["203.0.113.9,"]), a("203.0.113.9"));
    }

    #[test]
    fn padding_left_of_the_client_is_never_read() {
        // Cut at 256 characters this header would end in 10.1.2.3.
        let mut pad = "1.1.1.1,".repeat(31);
        pad.push_str("10.1.2.3");
        assert_eq!(pad.len(), 256);
        let line = format!("{pad}, 203.0.113.9");
        assert_eq!(ip(&[&line]), a("203.0.113.9"));
        let junk = format!("{}, 198.51.100.7", "x".repeat(100_000));
        assert_eq!(ip(&[&junk]), a("198.51.100.7"));
        assert_eq!(
            ip(&[&"a,".repeat(10_000), "198.51.100.7"]),
            a("198.51.100.7")
        );
    }

    #[test]
    fn an_unusable_header_means_the_socket_peer() {
        let hops = |n: usize| vec!["10.9.0.1"; n].join(",");
        assert_eq!(
            ip(&[&format!("203.0.113.9,{}", hops(32))]),
            a("203.0.113.9")
        );
        assert_eq!(ip(&[&format!("203.0.113.9,{}", hops(33))]), a("127.0.0.1"));
        assert_eq!(ip(&["203.0.113.9", &hops(40)]), a("127.0.0.1"));
        assert_eq!(ip(&["203.0.113.9, unknown"]), a("127.0.0.1"));
        assert_eq!(ip(&["203.0.113.9", "nonsense"]), a("127.0.0.1"));
        // Only trusted entries: the peer too.
        assert_eq!(ip(&["10.9.0.1, 10.9.0.2"]), a("127.0.0.1"));
        // Not visible ASCII.
        let values = [
            HeaderValue::from_str("203.0.113.9").unwrap(),
            HeaderValue::from_bytes(b"198.51.100.7\xff").unwrap(),
        ];
        assert_eq!(client_ip(|_| true, PROXY.into(), &values), a("127.0.0.1"));
    }

    #[test]
    fn without_a_trusted_peer_the_header_is_ignored() {
        let values = [HeaderValue::from_static("10.1.2.3")];
        let peer = a("192.0.2.1");
        assert_eq!(client_ip(|ip| ip == a("127.0.0.1"), peer, &values), peer);
    }
}
