//! Token keys as the service starts with them: it signs with `JWT_SIGNING_KEY`'s key, refuses
//! to start when `JWT_PUBLIC_KEYS` could not verify what it signs, and during a rotation
//! accepts tokens of the old key and the new one while rejecting any other.

use std::sync::Arc;

use axum::http::StatusCode;
use platform::ServiceConfig;
use platform::auth::{JwtKeys, JwtSigner, Role};
use platform::health::Readiness;
use platform::topology::USER_SERVICE;
use serde_json::{Value, json};
use shared_events::InMemoryEventBus;
use shared_types::UserId;
use testing::TestClient;
use user_service::config::Settings;
use user_service::keys::jwks_of;
use user_service::start_with;

mod common;
use common::{PASSWORD, settings};

/// The public keys of `pems` as one JWK set, as an operator merges them during a rotation.
fn jwks(pems: &[&str]) -> String {
    let keys: Vec<Value> = pems
        .iter()
        .map(|pem| {
            serde_json::from_str::<Value>(&jwks_of(pem).unwrap()).unwrap()["keys"][0].clone()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

async fn service(signing: &str, public: &str) -> anyhow::Result<TestClient> {
    let mut config = ServiceConfig::for_tests(USER_SERVICE);
    config.jwt_keys = JwtKeys::from_jwks(public).map_err(anyhow::Error::msg)?;
    let router = start_with(
        config,
        Settings {
            signing: JwtSigner::from_pem(signing).map_err(anyhow::Error::msg)?,
            ..settings()
        },
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await?;
    Ok(TestClient::new(router))
}

#[tokio::test]
async fn a_service_whose_public_keys_lack_its_signing_key_does_not_start() {
    let (signing, other) = (
        JwtSigner::generate().unwrap(),
        JwtSigner::generate().unwrap(),
    );
    let Err(err) = service(&signing, &jwks(&[&other])).await else {
        panic!("every token it signed would be rejected, yet it started");
    };
    let line = format!("{err:#}");
    assert!(
        line.contains("JWT_PUBLIC_KEYS")
            && line.contains("JWT_SIGNING_KEY")
            && line.contains("public-key"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
}

#[tokio::test]
async fn during_a_rotation_tokens_of_both_keys_are_accepted_and_new_ones_name_the_new_key() {
    let (old, new) = (
        JwtSigner::generate().unwrap(),
        JwtSigner::generate().unwrap(),
    );
    let client = service(&new, &jwks(&[&old, &new])).await.unwrap();
    let (status, user) = client
        .post("/api/v1/auth/register")
        .json(&json!({"email": "rota@example.com", "password": PASSWORD, "name": "Rota"}))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, tokens) = client
        .post("/api/v1/auth/login")
        .json(&json!({"email": "rota@example.com", "password": PASSWORD}))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let kid = jsonwebtoken::decode_header(access).unwrap().kid;
    assert_eq!(
        kid.as_deref(),
        Some(JwtSigner::from_pem(&new).unwrap().kid())
    );

    let id: UserId = user["id"].as_str().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    let issued_by = |pem: &str| {
        JwtSigner::from_pem(pem)
            .unwrap()
            .issue(id, Role::Customer, now)
            .unwrap()
            .0
    };
    for (token, expected) in [
        (access.to_owned(), StatusCode::OK),
        (issued_by(&old), StatusCode::OK),
        (
            issued_by(&JwtSigner::generate().unwrap()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            testing::tokens::for_user(id, Role::Customer),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let response = client.get("/api/v1/users/me").bearer(&token).send().await;
        assert_eq!(
            response.status_and_json().0,
            expected,
            "{:?}",
            response.json()
        );
    }
}
