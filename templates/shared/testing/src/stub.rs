//! Stand-ins for upstream units on ephemeral ports, and a client for real sockets.

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves `router` on `127.0.0.1:0`; answers its base URL (`http://127.0.0.1:PORT`) and the
/// server task (abort it, or let the test runtime drop it).
pub async fn serve(router: Router) -> (String, JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    (url, server)
}

/// A base URL where nothing listens: the port was free a moment ago and is closed again.
pub async fn unreachable_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    drop(listener);
    url
}

/// A `reqwest` client for tests over sockets: no proxy from the environment, and `timeout`
/// per request when given.
#[must_use]
pub fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    let builder = reqwest::Client::builder().no_proxy();
    match timeout {
        Some(timeout) => builder.timeout(timeout),
        None => builder,
    }
    .build()
    .expect("a client")
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    #[tokio::test]
    async fn a_served_router_answers_on_its_url() {
        let (url, server) = serve(Router::new().route("/ping", get(|| async { "pong" }))).await;
        let text = http_client(Some(Duration::from_secs(5)))
            .get(format!("{url}/ping"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "pong");
        server.abort();
    }

    #[tokio::test]
    async fn nothing_answers_on_an_unreachable_url() {
        let url = unreachable_url().await;
        let sent = http_client(Some(Duration::from_secs(5)))
            .get(format!("{url}/ping"))
            .send()
            .await;
        assert!(sent.is_err());
    }
}
