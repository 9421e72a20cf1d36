//! The user service on a real `PostgreSQL` (`TEST_DATABASE_URL`, default the local server), each
//! test on its own fresh, migrated database.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use platform::topology::USER_SERVICE;
use serde_json::{Value, json};
use shared_events::{InMemoryEventBus, UserRegistered, topics};
use sqlx::PgPool;
use testing::TestClient;
use user_service::models::hash_secret;
use user_service::repository::postgres::PostgresUserRepository;
use user_service::service::UserService;
use user_service::{MIGRATOR, api, start_with_pool};

mod common;
use common::{CapturingMailer, PASSWORD, settings};

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
        JwtKeys::development(),
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
    // A second request: redeeming one spends the other, which an older mail still carries.
    post(
        &client,
        "/api/v1/auth/password-reset",
        &json!({"email": "ada@example.com"}),
    )
    .await;
    let mut tokens = mailer.reset_tokens("ada@example.com");
    assert_eq!(tokens.len(), 2);
    let older = tokens.remove(0);
    let token = tokens.remove(0);
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
    let older = json!({"token": older, "new_password": "an attacker's password"});
    assert_eq!(
        post(&client, "/api/v1/auth/password-reset/confirm", &older)
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "the older token is spent with it"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM password_reset_tokens WHERE used_at IS NULL"
        )
        .await,
        0
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

async fn email_verified(pool: &PgPool, email: &str) -> bool {
    sqlx::query_scalar("SELECT email_verified FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn verification_and_an_email_change_persist_and_a_token_for_the_old_address_is_refused() {
    let pool = migrated_database().await;
    let mailer = Arc::new(CapturingMailer::default());
    let (_, first) = instance(&pool, mailer.clone()).await;
    let (_, ada) = register(&first, "ada@example.com").await;
    let id = ada["id"].as_str().unwrap().to_owned();
    let (_, tokens) = login(&first, "ada@example.com", PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert!(!email_verified(&pool, "ada@example.com").await);

    // Verified through another instance: the token is in the database, hashed.
    let token = mailer.verification_token("ada@example.com");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM email_verification_tokens WHERE token_hash = $1 AND email = $2",
    )
    .bind(hash_secret(&token))
    .bind("ada@example.com")
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let (_, second) = instance(&pool, mailer.clone()).await;
    let verify = |client: &TestClient, token: String| {
        client
            .post("/api/v1/auth/verify-email")
            .bearer(&access)
            .json(&json!({ "token": token }))
            .send()
    };
    assert_eq!(
        verify(&second, token.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(email_verified(&pool, "ada@example.com").await);
    assert_eq!(
        verify(&first, token).await.status,
        StatusCode::BAD_REQUEST,
        "spent"
    );

    // A second token for the address, then the address changes: the token is for the old one.
    let resent = first
        .post("/api/v1/auth/verify-email/resend")
        .bearer(&access)
        .send()
        .await;
    assert_eq!(resent.status, StatusCode::CONFLICT, "verified already");
    let change = |body: Value| {
        second
            .patch(&format!("/api/v1/users/{id}"))
            .bearer(&access)
            .json(&body)
            .send()
    };
    let refused =
        change(json!({"email": "ada@new.example", "current_password": "wrong password!"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        email_verified(&pool, "ada@example.com").await,
        "nothing changed"
    );
    let changed = change(json!({"email": "ada@new.example", "current_password": PASSWORD})).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.json());
    assert!(!email_verified(&pool, "ada@new.example").await);
    assert_eq!(
        mailer.change_notices("ada@example.com"),
        ["ada@new.example"]
    );
    let new_token = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM email_verification_tokens WHERE email = 'ada@new.example' AND used_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(new_token, 1, "a token for the new address waits");

    // A token mailed to the old address before the change cannot verify the new one.
    let (stale, record) = user_service::models::OneTimeToken::issue(
        shared_types::UserId(id.parse().unwrap()),
        chrono::Utc::now(),
        Duration::from_secs(600),
    );
    sqlx::query(
        "INSERT INTO email_verification_tokens (token_hash, user_id, email, expires_at) \
         VALUES ($1, $2, 'ada@example.com', $3)",
    )
    .bind(&record.token_hash)
    .bind(record.user_id.0)
    .bind(record.expires_at)
    .execute(&pool)
    .await
    .unwrap();
    let response = verify(&first, stale).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(!email_verified(&pool, "ada@new.example").await);
}

/// Runs the built `user-service create-admin` with `args`, `stdin` as standard input and
/// `DATABASE_URL=url`; answers whether it succeeded and what it printed.
fn create_admin(url: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let mail_dir = std::env::temp_dir().join(format!(
        "user-service-create-admin-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_user-service"))
        .arg("create-admin")
        .args(args)
        .env("APP_ENV", "development")
        .env("DATABASE_URL", url)
        .env("USER_SERVICE_MAIL_DIR", &mail_dir)
        .env("USER_SERVICE_ARGON2_MEMORY_KIB", "8")
        .env("USER_SERVICE_ARGON2_ITERATIONS", "1")
        .env("RUST_LOG", "info")
        .env_remove("CREATE_ADMIN_EMAIL")
        .env_remove("CREATE_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the user-service binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(mail_dir);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn create_admin_makes_one_verified_admin_on_database_url_and_never_takes_a_customers_address()
{
    let (pool, url) = testing::pg::fresh_database("user_service").await;
    let password = "operator passphrase 1";
    let (ok, printed) = create_admin(
        &url,
        &["--email", "Ops@Example.com"],
        &format!("{password}\n"),
    );
    assert!(ok, "{printed}");
    assert!(printed.contains("admin created"), "{printed}");
    assert!(
        !printed.contains(password),
        "the password is never shown: {printed}"
    );

    // The service on that database (migrated by the command) logs the admin in as an admin.
    let (_, client) = instance(&pool, Arc::default()).await;
    let (status, tokens) = login(&client, "ops@example.com", password).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = JwtKeys::development()
        .verify(tokens["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.role, Role::Admin);
    assert!(email_verified(&pool, "ops@example.com").await);

    // Again: nothing changes, and that is no failure (a Job may run it on every deploy).
    let (ok, printed) = create_admin(&url, &["--email", "ops@example.com"], "another password\n");
    assert!(ok, "{printed}");
    assert!(printed.contains("nothing was changed"), "{printed}");
    assert_eq!(
        login(&client, "ops@example.com", password).await.0,
        StatusCode::OK
    );

    // A customer's address: a clear error, and the customer stays one.
    register(&client, "ada@example.com").await;
    let (ok, printed) = create_admin(
        &url,
        &["--email", "ada@example.com"],
        "operator passphrase 2\n",
    );
    assert!(!ok);
    assert!(
        printed.contains("not a verified admin; nothing was changed"),
        "{printed}"
    );
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE email = 'ada@example.com'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(role, "customer");

    let (ok, printed) = create_admin(&url, &["--email", "nobody@example.com"], "");
    assert!(!ok);
    assert!(
        printed.contains("no password on standard input"),
        "{printed}"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE role = 'admin'").await,
        1
    );
}
