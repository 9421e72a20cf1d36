//! The gateway's rules, as pure functions: which routes are public and which try
//! credentials, which upstream owns a path, who the client is and whose rate-limit bucket a
//! request uses, which headers never cross a proxy, and which outcomes count as upstream
//! failures or may be retried.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use platform::auth::Claims;
use sha2::{Digest, Sha256};

/// `POST` routes reachable without an access token: getting one, and recovering an account.
pub const PUBLIC_POSTS: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
];

/// `POST` routes that try a password, create an account or recover one (user-service's
/// `/api/v1/auth` routes): limited per client address and per account on top of the
/// per-client limit, since each guess is cheap for a client and costly for an account.
pub const CREDENTIAL_POSTS: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    // Each sends a mail: held to the same allowance so nobody can flood an inbox with them.
    "/api/v1/auth/verify-email/resend",
];

/// The public catalogue: readable by anyone.
pub const PUBLIC_CATALOGUE: &str = "/api/v1/products";

/// Whether `path` is `prefix` itself or below it (`/api/v1/cart` owns `/api/v1/cart/items`
/// but not `/api/v1/cartel`).
#[must_use]
pub fn under(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `path` without one trailing slash (`/` stays `/`).
fn trimmed(path: &str) -> &str {
    path.strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path)
}

/// Whether `method path` may be called without a valid access token.
#[must_use]
pub fn is_public(method: &Method, path: &str) -> bool {
    let path = trimmed(path);
    (*method == Method::POST && PUBLIC_POSTS.contains(&path))
        || ((*method == Method::GET || *method == Method::HEAD) && under(PUBLIC_CATALOGUE, path))
}

/// Whether `method path` tries credentials, creates or recovers an account.
#[must_use]
pub fn is_credential_route(method: &Method, path: &str) -> bool {
    (*method == Method::POST && CREDENTIAL_POSTS.contains(&trimmed(path)))
        // A profile change may carry the current password (an e-mail change checks it): held
        // to the same allowance, or a stolen access token could guess the password at the
        // general rate.
        || (*method == Method::PATCH && under(USERS, trimmed(path)))
}

/// The user profiles (`/api/v1/users/{id}`).
pub const USERS: &str = "/api/v1/users";

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Removes hop-by-hop headers, including any the `Connection` header names, and the
/// framing headers the next hop recomputes (`host`, `content-length`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    for name in &named {
        headers.remove(name);
    }
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
}

/// The client's address. With `trusted_proxy_hops` = 0 it is the connection's peer and
/// `x-forwarded-for` is ignored. Behind N proxies of ours, each appending the address it
/// received the request from, it is the Nth entry from the right of `x-forwarded-for`: what a
/// client wrote into the header itself stays left of it and picks nothing. With fewer entries
/// than hops it is the leftmost (the farthest a trusted proxy saw); without the header, or
/// when the entry is not an address, the peer. Header lines that are not text are skipped.
#[must_use]
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted_proxy_hops: usize,
) -> Option<IpAddr> {
    let peer = peer.map(|addr| addr.ip().to_canonical());
    if trusted_proxy_hops == 0 {
        return peer;
    }
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        // Our proxies write plain addresses; a line that is not text came from the client,
        // left of theirs: skipping it keeps the count from the right (falling back to the
        // proxy's address would hand the sender the bucket everyone behind the proxy shares).
        let Ok(value) = value.to_str() else {
            continue;
        };
        entries.extend(value.split(',').map(str::trim).filter(|e| !e.is_empty()));
    }
    let Some(client) = entries
        .len()
        .checked_sub(1)
        .map(|last| entries[last.saturating_sub(trusted_proxy_hops - 1)])
    else {
        return peer;
    };
    parse_forwarded(client).or(peer)
}

/// An `x-forwarded-for` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

/// The rate-limit bucket of a client address: the address itself for IPv4, its /64 for IPv6
/// (one subscriber usually holds a whole /64 and could otherwise use a fresh bucket per
/// request).
#[must_use]
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let network = Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX));
            format!("ip:{network}/64")
        }
        None => "ip:unknown".to_owned(),
    }
}

/// The rate-limit bucket: the authenticated user, else the client address.
#[must_use]
pub fn client_key(claims: Option<&Claims>, ip: Option<IpAddr>) -> String {
    match claims {
        Some(claims) => format!("user:{}", claims.sub),
        None => address_key(ip),
    }
}

/// The account a credential request is about: the `email` of its JSON body, trimmed and
/// lower-cased as user-service stores it, hashed (the key names no address in logs or
/// Redis). `None` when the body has none: user-service refuses such a request anyway.
#[must_use]
pub fn account_key(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct WithEmail {
        email: String,
    }
    let WithEmail { email } = serde_json::from_slice(body).ok()?;
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    let hex = digest
        .iter()
        .take(16)
        .fold(String::with_capacity(32), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    Some(format!("account:{hex}"))
}

/// Methods safe to send twice.
#[must_use]
pub fn is_idempotent(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// Upstream answers that count against its circuit breaker.
#[must_use]
pub fn is_failure(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502..=504)
}

/// Upstream answers worth retrying (for idempotent methods): the transient ones, as for
/// every call between units.
#[must_use]
pub fn is_retryable(status: StatusCode) -> bool {
    platform::client::is_retryable_status(status)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_getting_tokens_recovering_accounts_and_reading_the_catalogue_is_public() {
        for path in PUBLIC_POSTS {
            assert!(is_public(&Method::POST, path), "{path}");
            assert!(!is_public(&Method::GET, path), "GET {path}");
        }
        assert!(is_public(&Method::POST, "/api/v1/auth/login/"));
        assert!(is_public(&Method::GET, "/api/v1/products"));
        assert!(is_public(&Method::GET, "/api/v1/products/123"));
        assert!(is_public(&Method::HEAD, "/api/v1/products/123"));
        assert!(!is_public(&Method::POST, "/api/v1/products"));
        assert!(!is_public(&Method::GET, "/api/v1/productsx"));
        assert!(!is_public(&Method::POST, "/api/v1/auth/logout"));
        assert!(!is_public(&Method::GET, "/api/v1/users/me"));
        assert!(!is_public(&Method::GET, "/api/v1/orders"));
    }

    #[test]
    fn a_prefix_owns_its_subtree_only() {
        assert!(under("/api/v1/cart", "/api/v1/cart"));
        assert!(under("/api/v1/cart", "/api/v1/cart/items/1"));
        assert!(!under("/api/v1/cart", "/api/v1/cartel"));
        assert!(!under("/api/v1/cart", "/api/v1"));
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::HOST, HeaderValue::from_static("gateway"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert("idempotency-key", HeaderValue::from_static("k"));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(headers.contains_key(header::AUTHORIZATION));
        assert!(headers.contains_key("idempotency-key"));
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let headers = forwarded(&["203.0.113.7, 10.0.0.1"]);
        let peer: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        assert_eq!(client_ip(&headers, Some(peer), 0), Some(ip("192.0.2.9")));
        assert_eq!(client_ip(&HeaderMap::new(), None, 0), None);
    }

    #[test]
    fn behind_n_proxies_the_client_is_the_nth_entry_from_the_right() {
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        // The client wrote "198.51.100.66"; our CDN appended the client, our ingress the CDN.
        let headers = forwarded(&["198.51.100.66, 203.0.113.7, 10.0.0.1"]);
        assert_eq!(client_ip(&headers, Some(proxy), 1), Some(ip("10.0.0.1")));
        assert_eq!(client_ip(&headers, Some(proxy), 2), Some(ip("203.0.113.7")));
        // One header line per proxy counts the same as one comma-separated line.
        let lines = forwarded(&["198.51.100.66", "203.0.113.7", "10.0.0.1"]);
        assert_eq!(client_ip(&lines, Some(proxy), 2), Some(ip("203.0.113.7")));
        // Fewer entries than hops: the farthest one a trusted proxy saw.
        let short = forwarded(&["203.0.113.7"]);
        assert_eq!(client_ip(&short, Some(proxy), 3), Some(ip("203.0.113.7")));
        // No header (a direct caller) or an entry that is no address: the peer.
        assert_eq!(
            client_ip(&HeaderMap::new(), Some(proxy), 1),
            Some(ip("10.0.0.2"))
        );
        let junk = forwarded(&["198.51.100.66, unknown"]);
        assert_eq!(client_ip(&junk, Some(proxy), 1), Some(ip("10.0.0.2")));
        // Entries with ports, and IPv4-mapped IPv6, name the plain address.
        let ported = forwarded(&["203.0.113.7:4711, [2001:db8::1]:443"]);
        assert_eq!(client_ip(&ported, Some(proxy), 1), Some(ip("2001:db8::1")));
        assert_eq!(client_ip(&ported, Some(proxy), 2), Some(ip("203.0.113.7")));
        let mapped = forwarded(&["::ffff:203.0.113.7"]);
        assert_eq!(client_ip(&mapped, Some(proxy), 1), Some(ip("203.0.113.7")));
    }

    #[test]
    fn a_client_line_that_is_not_text_is_skipped_not_a_reason_to_use_the_proxy() {
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        headers.append("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        assert_eq!(client_ip(&headers, Some(proxy), 1), Some(ip("203.0.113.7")));
    }

    #[test]
    fn a_spoofed_prefix_never_changes_the_client() {
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        for spoofed in ["", "1.1.1.1, ", "1.1.1.1, 2.2.2.2, ", "garbage, "] {
            let value = format!("{spoofed}203.0.113.7");
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", HeaderValue::from_str(&value).unwrap());
            assert_eq!(
                client_ip(&headers, Some(proxy), 1),
                Some(ip("203.0.113.7")),
                "{value}"
            );
        }
    }

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64_and_users_by_their_id() {
        assert_eq!(address_key(Some(ip("192.0.2.1"))), "ip:192.0.2.1");
        assert_eq!(
            address_key(Some(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key(Some(ip("2001:db8:1:2::1"))),
            address_key(Some(ip("2001:db8:1:2:ffff::9")))
        );
        assert_eq!(address_key(Some(ip("::ffff:192.0.2.1"))), "ip:192.0.2.1");
        assert_eq!(address_key(None), "ip:unknown");
    }

    #[test]
    fn credential_routes_are_sign_in_sign_up_and_password_reset() {
        for path in CREDENTIAL_POSTS {
            assert!(is_credential_route(&Method::POST, path), "{path}");
            if !path.starts_with("/api/v1/auth/verify-email") {
                assert!(is_public(&Method::POST, path), "{path} is public too");
            }
        }
        assert!(is_credential_route(&Method::POST, "/api/v1/auth/login/"));
        assert!(is_credential_route(
            &Method::PATCH,
            "/api/v1/users/0b9f3c3e-8c1e-4f7a-9d55-0d3c2f4b7a10"
        ));
        assert!(!is_credential_route(&Method::GET, "/api/v1/users/me"));
        assert!(!is_credential_route(&Method::GET, "/api/v1/auth/login"));
        assert!(!is_credential_route(&Method::POST, "/api/v1/auth/refresh"));
        assert!(!is_credential_route(&Method::POST, "/api/v1/auth/logout"));
    }

    #[test]
    fn the_account_is_the_normalised_email_of_the_body_and_is_not_spelled_out() {
        let ada = account_key(br#"{"email":"ada@example.com","password":"x"}"#).unwrap();
        assert!(ada.starts_with("account:") && ada.len() == 8 + 32, "{ada}");
        assert!(!ada.contains("example"));
        assert_eq!(
            account_key(br#"{"email":"  Ada@Example.COM ","password":"y"}"#),
            Some(ada.clone())
        );
        assert_ne!(account_key(br#"{"email":"bob@example.com"}"#), Some(ada));
        assert_eq!(account_key(b"not json"), None);
        assert_eq!(account_key(br#"{"token":"t"}"#), None);
        assert_eq!(account_key(br#"{"email":7}"#), None);
    }

    #[test]
    fn only_transient_server_errors_are_retried_but_all_count_as_failures() {
        assert!(is_retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(is_failure(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!is_failure(StatusCode::NOT_FOUND));
        assert!(is_idempotent(&Method::GET));
        assert!(!is_idempotent(&Method::POST));
    }
}
