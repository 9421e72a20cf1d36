//! The gateway's rules, as pure functions: which routes are public, which upstream owns a
//! path, whose rate-limit bucket a request uses, which headers never cross a proxy, and
//! which outcomes count as upstream failures or may be retried.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use platform::auth::Claims;

/// `POST` routes reachable without an access token: getting one, and recovering an account.
pub const PUBLIC_POSTS: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
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

/// Whether `method path` may be called without a valid access token.
#[must_use]
pub fn is_public(method: &Method, path: &str) -> bool {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    (*method == Method::POST && PUBLIC_POSTS.contains(&path))
        || ((*method == Method::GET || *method == Method::HEAD) && under(PUBLIC_CATALOGUE, path))
}

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

/// The client address: the first `x-forwarded-for` entry when trusted, else the peer.
#[must_use]
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .and_then(|first| first.trim().parse().ok());
    forwarded.or(peer.map(|addr| addr.ip()))
}

/// The rate-limit bucket: the authenticated user, else the client address.
#[must_use]
pub fn client_key(claims: Option<&Claims>, ip: Option<IpAddr>) -> String {
    match (claims, ip) {
        (Some(claims), _) => format!("user:{}", claims.sub),
        (None, Some(ip)) => format!("ip:{ip}"),
        (None, None) => "ip:unknown".to_owned(),
    }
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

    #[test]
    fn forwarded_for_is_used_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.1"),
        );
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert_eq!(
            client_ip(&headers, Some(peer), true),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(client_ip(&headers, Some(peer), false), Some(peer.ip()));
        assert_eq!(client_ip(&HeaderMap::new(), None, true), None);
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
