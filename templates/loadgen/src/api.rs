//! The gateway as the load generator speaks to it: one pooled HTTP client, a request that
//! answers its status and body (read to the end, so a latency covers the whole answer), and
//! [`Failure`], the ways a request can fail, named as the report counts them.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use tokio::time::Instant;

/// Why a request has no successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The gateway answered with this status, and it was not the one expected.
    Status(u16),
    /// No answer within `--timeout`.
    Timeout,
    /// No connection.
    Connect,
    /// Its intended start passed and `--max-in-flight` never let it go out before the end.
    Unsent,
    /// The answer was not what the API documents, or the request failed otherwise.
    Other(String),
}

impl Failure {
    /// How the report counts it: the status code, or a word.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Status(code) => code.to_string(),
            Self::Timeout => "timeout".to_owned(),
            Self::Connect => "connect".to_owned(),
            Self::Unsent => "unsent".to_owned(),
            Self::Other(_) => "other".to_owned(),
        }
    }

    /// One line for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Other(why) => why.clone(),
            other => other.label(),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else if err.is_connect() {
            Self::Connect
        } else {
            Self::Other(err.to_string())
        }
    }
}

/// One request to the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub body: Option<&'a Value>,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// `method path`, anonymous and without a body.
    #[must_use]
    pub fn new(method: &'a Method, path: &'a str) -> Self {
        Self {
            method,
            path,
            token: None,
            body: None,
            idempotency_key: None,
        }
    }

    /// As the holder of `token`.
    #[must_use]
    pub fn token(self, token: &'a str) -> Self {
        Self {
            token: Some(token),
            ..self
        }
    }

    /// With a JSON body.
    #[must_use]
    pub fn json(self, body: &'a Value) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    /// With an `Idempotency-Key`.
    #[must_use]
    pub fn idempotency_key(self, key: &'a str) -> Self {
        Self {
            idempotency_key: Some(key),
            ..self
        }
    }

    /// `POST /api/v1/orders` as the report and error messages name it.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The gateway's HTTP client.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client of the gateway at `base` whose requests give up after `timeout`.
    #[must_use]
    pub fn new(base: &Url, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .tcp_nodelay(true)
            .build()
            .expect("a client without TLS or proxies always builds");
        Self {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// Sends `call`; answers the status and the body, whatever the status.
    pub async fn send(&self, call: Call<'_>) -> Result<(StatusCode, String), Failure> {
        let mut request = self
            .http
            .request(call.method.clone(), format!("{}{}", self.base, call.path));
        if let Some(token) = call.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, text))
    }

    /// Sends `call`, insisting on `expected`; answers the body as JSON (`null` when empty).
    pub async fn expect(&self, expected: StatusCode, call: Call<'_>) -> Result<Value, Failure> {
        let (status, text) = self.send(call).await?;
        if status != expected {
            return Err(Failure::Status(status.as_u16()));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|err| Failure::Other(format!("{}: not JSON: {err}", call.name())))
    }

    /// Waits until the gateway's `/ready` answers 200, asking every 200 ms for at most `wait`
    /// (once when `wait` is zero); answers why not.
    pub async fn wait_ready(&self, wait: Duration) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        let get = Method::GET;
        loop {
            let why = match self.send(Call::new(&get, "/ready")).await {
                Ok((StatusCode::OK, _)) => return Ok(()),
                Ok((status, _)) => format!("`/ready` answered {status}"),
                Err(Failure::Connect) => "connection refused".to_owned(),
                Err(failure) => failure.describe(),
            };
            if Instant::now() >= deadline {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_status_or_by_kind() {
        assert_eq!(Failure::Status(429).label(), "429");
        assert_eq!(Failure::Timeout.label(), "timeout");
        assert_eq!(Failure::Unsent.label(), "unsent");
        assert_eq!(Failure::Other("no order id".into()).label(), "other");
        assert_eq!(
            Failure::Other("no order id".into()).describe(),
            "no order id"
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_reported_as_unreachable() {
        // A port just freed: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let api = Api::new(&url, Duration::from_secs(1));
        assert_eq!(
            api.wait_ready(Duration::ZERO).await.unwrap_err(),
            "connection refused"
        );
    }
}
