//! The user service on a real `PostgreSQL` (`TEST_DATABASE_URL`, default the local server), each
//! test on its own fresh, migrated database.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platform::ServiceConfig;
use platform::auth::JwtKeys;
use platform::config::DEV_JWT_SECRET;
use platform::health::Readiness;
use platform::topology::USER_SERVICE;
use serde_json::{Value, json};
use shared_events::{InMemoryEventBus, UserRegistered, topics};
use sqlx::PgPool;
use testing::TestClient;
use user_service::config::{HashingCost, Settings};
use user_service::models::{Email, hash_secret};
use user_service::repository::postgres::PostgresUserRepository;
use user_service::service::{MailError, ResetMailer, UserService};
use user_service::{MIGRATOR, api, start_with_pool};

const PASSWORD: &str = "correct horse battery";

/// Captures reset mails: (to, token).
#[derive(Default)]
struct CapturingMailer(Mutex<Vec<(String, String)>>);

#[async_trait]
impl ResetMailer for CapturingMailer {
    async fn send_reset(
        &self,
        to: &Email,
        token: &str,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), MailError> {
        self.0
            .lock()
            .unwrap()
            .push((to.to_string(), token.to_owned()));
        Ok(())
    }
}

fn settings() -> Settings {
    Settings {
        hashing: HashingCost::insecure_for_tests(),
        ..Settings::default()
    }
}

async fn migrated_database() -> PgPool {
    let (pool, _) = testing::pg::fresh_database("user_service").await;
    platform::db::migrate(&pool, &MIGRATOR).await.unwrap();
    pool
}

/// A service instance on `pool` (no relay: the outbox is inspected directly).
async fn instance(pool: &PgPool, mailer: Arc<CapturingMailer>) -> (UserService, TestClient) {
    let service = UserService::new(
        Arc::new(PostgresUserRepository::new(pool.clone())),
        mailer,
        JwtKeys::new(DEV_JWT_SECRET.as_bytes()),
        settings(),
    )
    .await
    .unwrap();
    let client = TestClient::new(api::router(api::AppState::new(service.clone())));
    (service, client)
}

async fn post(client: &TestClient, path: &str, body: &Value) -> (StatusCode, Value) {
    client.post(path).json(body).send().await.status_and_json()
}

async fn register(client: &TestClient, email: &str) -> (StatusCode, Value) {
    post(
        client,
        "/api/v1/auth/register",
        &json!({"email": email, "password": PASSWORD, "name": "Ada"}),
    )
    .await
}

async fn login(client: &TestClient, email: &str, password: &str) -> (StatusCode, Value) {
    post(
        client,
        "/api/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn refresh(client: &TestClient, token: &Value) -> StatusCode {
    post(
        client,
        "/api/v1/auth/refresh",
        &json!({"refresh_token": token}),
    )
    .await
    .0
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn registration_and_login_round_trip_on_postgresql_and_user_registered_is_relayed() {
    let pool = migrated_database().await;
    let bus = InMemoryEventBus::default();
    let start = || {
        start_with_pool(
            ServiceConfig::for_tests(USER_SERVICE),
            settings(),
            Some(pool.clone()),
            Arc::new(bus.clone()),
            Readiness::default(),
        )
    };
    let first = TestClient::new(start().await.unwrap());
    let (status, user) = register(&first, " Ada@Example.com ").await;
    assert_eq!(status, StatusCode::CREATED, "{user}");

    // Another instance (a restart, or a second replica) sees the account.
    let second = TestClient::new(start().await.unwrap());
    let (status, tokens) = login(&second, "ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let me = second
        .get_as(tokens["access_token"].as_str().unwrap(), "/api/v1/users/me")
        .await
        .json();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(
        login(&second, "ada@example.com", "wrong password!!")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // The relay started with the service publishes the outbox row, once.
    tokio::time::timeout(Duration::from_secs(5), async {
        while testing::bus::count(&bus, topics::USER_REGISTERED) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("user.registered is relayed from the outbox");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let published = testing::bus::decoded::<UserRegistered>(&bus);
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].user_id.to_string(),
        user["id"].as_str().unwrap()
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_duplicate_email_is_refused_by_the_database_even_under_concurrent_registration() {
    let pool = migrated_database().await;
    // Separate instances, as separate replicas would be: no shared lock but the database.
    let mut attempts = Vec::new();
    for spelling in [
        "ada@example.com",
        "Ada@Example.com",
        "ADA@EXAMPLE.COM",
        " ada@example.COM",
        "aDa@example.com",
        "ada@EXAMPLE.com",
    ] {
        let (_, client) = instance(&pool, Arc::default()).await;
        attempts.push(tokio::spawn(
            async move { register(&client, spelling).await.0 },
        ));
    }
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT
        ]
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE topic = 'user.registered'"
        )
        .await,
        1,
        "a refused registration leaves no event behind"
    );

    // The constraints hold for any writer, not just the service.
    let insert = |email: &'static str| {
        sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash, created_at) \
             VALUES ($1, $2, 'X', 'customer', 'h', now())",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(email)
        .execute(&pool)
    };
    let duplicate = insert("ada@example.com").await.unwrap_err();
    assert!(
        duplicate
            .as_database_error()
            .is_some_and(|err| err.constraint() == Some("users_email_key"))
    );
    let mixed_case = insert("Bob@Example.com").await.unwrap_err();
    assert!(
        mixed_case
            .as_database_error()
            .is_some_and(|err| err.constraint() == Some("users_email_lowercase"))
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn refresh_rotation_and_revocation_persist_across_instances() {
    let pool = migrated_database().await;
    let (_, first) = instance(&pool, Arc::default()).await;
    register(&first, "ada@example.com").await;
    let (_, original) = login(&first, "ada@example.com", PASSWORD).await;
    let original_refresh = original["refresh_token"].clone();

    let (status, rotated) = post(
        &first,
        "/api/v1/auth/refresh",
        &json!({"refresh_token": original_refresh}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let rotated_refresh = rotated["refresh_token"].clone();

    // Only hashes are stored.
    let secret = original_refresh.as_str().unwrap();
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1 AND revoked_at IS NOT NULL",
    )
    .bind(hash_secret(secret))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "the rotated token is stored hashed and revoked");
    let plain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE token_hash = $1")
            .bind(secret)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plain, 0);

    // A second instance knows the rotation: reusing the old token is theft, which revokes
    // the whole family, including the token the rotation issued.
    let (_, second) = instance(&pool, Arc::default()).await;
    assert_eq!(
        refresh(&second, &original_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&first, &rotated_refresh).await,
        StatusCode::UNAUTHORIZED
    );

    // Logout on one instance revokes for all.
    let (_, fresh) = login(&second, "ada@example.com", PASSWORD).await;
    let access = fresh["access_token"].as_str().unwrap();
    let logout = first
        .post("/api/v1/auth/logout")
        .bearer(access)
        .json(&json!({"refresh_token": fresh["refresh_token"]}))
        .send()
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(
        refresh(&second, &fresh["refresh_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL"
        )
        .await,
        0
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_password_reset_token_is_single_use_and_revokes_refresh_tokens() {
    let pool = migrated_database().await;
    let mailer = Arc::new(CapturingMailer::default());
    let (_, client) = instance(&pool, mailer.clone()).await;
    register(&client, "ada@example.com").await;
    let (_, before) = login(&client, "ada@example.com", PASSWORD).await;

    let (status, _) = post(
        &client,
        "/api/v1/auth/password-reset",
        &json!({"email": "ada@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = mailer.0.lock().unwrap()[0].1.clone();
    let confirm = json!({"token": token, "new_password": "a brand new password"});
    let (_, other_instance) = instance(&pool, Arc::default()).await;
    assert_eq!(
        post(
            &other_instance,
            "/api/v1/auth/password-reset/confirm",
            &confirm
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post(&client, "/api/v1/auth/password-reset/confirm", &confirm)
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "the token is spent"
    );
    assert_eq!(
        refresh(&client, &before["refresh_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&client, "ada@example.com", "a brand new password")
            .await
            .0,
        StatusCode::OK
    );
}
