//! HTTP behaviour of the user service, through its router.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::config::DEV_JWT_SECRET;
use platform::health::Readiness;
use serde_json::{Value, json};
use shared_events::{InMemoryEventBus, UserRegistered, topics};
use shared_types::UserId;
use testing::TestClient;
use user_service::config::{HashingCost, Settings, parse_admin_emails};
use user_service::models::Email;
use user_service::repository::InMemoryUserRepository;
use user_service::service::{INVALID_CREDENTIALS, MailError, ResetMailer, UserService};
use user_service::{api, start_with};

/// Captures reset mails instead of sending them.
#[derive(Default)]
struct CapturingMailer(Mutex<Vec<(String, String)>>);

impl CapturingMailer {
    fn tokens_for(&self, email: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, _)| to == email)
            .map(|(_, token)| token.clone())
            .collect()
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

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
        admin_emails: parse_admin_emails("boss@example.com").unwrap(),
        hashing: HashingCost::insecure_for_tests(),
        ..Settings::default()
    }
}

struct Harness {
    client: TestClient,
    bus: InMemoryEventBus,
    mailer: Arc<CapturingMailer>,
}

async fn harness_with(settings: Settings) -> Harness {
    let bus = InMemoryEventBus::default();
    let mailer = Arc::new(CapturingMailer::default());
    let service = UserService::new(
        Arc::new(InMemoryUserRepository::new(Arc::new(bus.clone()))),
        mailer.clone(),
        JwtKeys::new(DEV_JWT_SECRET.as_bytes()),
        settings,
    )
    .await
    .unwrap();
    Harness {
        client: TestClient::new(api::router(api::AppState::new(service))),
        bus,
        mailer,
    }
}

async fn harness() -> Harness {
    harness_with(settings()).await
}

const PASSWORD: &str = "correct horse battery";

impl Harness {
    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.client
            .post(uri)
            .json(&body)
            .send()
            .await
            .status_and_json()
    }

    /// `PATCH /api/v1/users/{id}` as the holder of `access`; answers the status and body.
    async fn patch_user(&self, id: &str, access: &str, body: Value) -> (StatusCode, Value) {
        self.client
            .patch(&format!("/api/v1/users/{id}"))
            .bearer(access)
            .json(&body)
            .send()
            .await
            .status_and_json()
    }

    /// `GET /api/v1/users/{id}`, with `access` if any; answers the status and body.
    async fn get_user(&self, id: &str, access: Option<&str>) -> (StatusCode, Value) {
        self.client
            .get(&format!("/api/v1/users/{id}"))
            .maybe_bearer(access)
            .send()
            .await
            .status_and_json()
    }

    /// `POST /api/v1/auth/refresh` with `token`; answers the status and body.
    async fn refresh(&self, token: &str) -> (StatusCode, Value) {
        self.post("/api/v1/auth/refresh", json!({"refresh_token": token}))
            .await
    }

    /// Asks for a reset mail for `email` and answers the token it carried.
    async fn reset_token(&self, email: &str) -> String {
        self.post("/api/v1/auth/password-reset", json!({"email": email}))
            .await;
        self.mailer.tokens_for(email).remove(0)
    }

    /// `POST /api/v1/auth/password-reset/confirm`; answers the status and body.
    async fn confirm_reset(&self, token: &str, new_password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": new_password}),
        )
        .await
    }

    async fn register(&self, email: &str, name: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "password": PASSWORD, "name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers and logs in; returns (user id, access token, refresh token).
    async fn signed_in(&self, email: &str) -> (String, String, String) {
        let user = self.register(email, "Someone").await;
        let (status, tokens) = self.login(email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        (
            user["id"].as_str().unwrap().to_owned(),
            tokens["access_token"].as_str().unwrap().to_owned(),
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn registering_returns_the_user_with_a_normalised_email_and_no_password() {
    let h = harness().await;
    let user = h.register("  Ada@Example.COM ", "  Ada Lovelace ").await;
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "customer");
    assert!(user["id"].as_str().unwrap().parse::<UserId>().is_ok());
    assert!(user.get("password_hash").is_none());
    assert!(!user.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn registering_publishes_user_registered_exactly_once() {
    let h = harness().await;
    let user = h.register("ada@example.com", "Ada").await;
    h.bus.settled().await;
    let published = h.bus.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event_type, topics::USER_REGISTERED);
    let event: UserRegistered = published[0].decode().unwrap();
    assert_eq!(event.user_id.to_string(), user["id"].as_str().unwrap());
    assert_eq!(event.email, "ada@example.com");
    assert_eq!(event.name, "Ada");
}

#[tokio::test]
async fn a_short_password_is_refused_with_a_clear_422() {
    let h = harness().await;
    let (status, problem) = h
        .post(
            "/api/v1/auth/register",
            json!({"email": "ada@example.com", "password": "too-short", "name": "Ada"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["detail"],
        "password must be at least 12 characters long"
    );
    assert!(h.bus.published().is_empty(), "nothing registered");
}

#[tokio::test]
async fn an_invalid_email_or_blank_name_is_refused_with_422() {
    let h = harness().await;
    for (email, name) in [("not-an-email", "Ada"), ("ada@example.com", "  ")] {
        let (status, _) = h
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "password": PASSWORD, "name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_malformed_body_is_a_problem_not_a_crash() {
    let h = harness().await;
    let (status, problem) = h
        .post("/api/v1/auth/register", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("password"));
}

#[tokio::test]
async fn registering_an_email_twice_in_another_spelling_conflicts() {
    let h = harness().await;
    h.register("ada@example.com", "Ada").await;
    let (status, problem) = h
        .post(
            "/api/v1/auth/register",
            json!({"email": "ADA@example.com ", "password": PASSWORD, "name": "Ada 2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["status"], 409);
    assert_eq!(
        h.bus.published().len(),
        1,
        "only the first registration is announced"
    );
}

#[tokio::test]
async fn listed_admin_emails_register_as_admins_and_the_first_user_is_a_customer() {
    let h = harness().await;
    let first = h.register("first@example.com", "First").await;
    assert_eq!(first["role"], "customer");
    let boss = h.register("Boss@Example.com", "Boss").await;
    assert_eq!(boss["role"], "admin");
}

#[tokio::test]
async fn login_returns_a_bearer_pair_whose_access_token_identifies_the_user() {
    let h = harness().await;
    let user = h.register("ada@example.com", "Ada").await;
    let (status, tokens) = h.login(" ADA@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_token"].as_str().unwrap().len(), 64);
    let access = tokens["access_token"].as_str().unwrap();
    let claims = JwtKeys::new(DEV_JWT_SECRET.as_bytes())
        .verify(access)
        .unwrap();
    assert_eq!(claims.sub.to_string(), user["id"].as_str().unwrap());
    assert_eq!(claims.role, Role::Customer);

    let me = h.client.get("/api/v1/users/me").bearer(access).send().await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "ada@example.com");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let h = harness().await;
    h.register("ada@example.com", "Ada").await;
    let (wrong_status, wrong) = h.login("ada@example.com", "not the password").await;
    let (unknown_status, unknown) = h.login("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["detail"], INVALID_CREDENTIALS);
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_the_old_one_stops_working() {
    let h = harness().await;
    let (_, _, refresh) = h.signed_in("ada@example.com").await;
    let (status, rotated) = h.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let next = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(next, refresh);
    assert!(rotated["access_token"].as_str().is_some());

    let (status, _) = h.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a rotated token is spent");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_successor_too() {
    let h = harness().await;
    let (_, _, refresh) = h.signed_in("ada@example.com").await;
    let (_, rotated) = h.refresh(&refresh).await;
    let next = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = h.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.refresh(&next).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "reuse signals theft: the whole family is revoked"
    );
}

#[tokio::test]
async fn an_expired_or_unknown_refresh_token_is_refused() {
    let h = harness_with(Settings {
        refresh_token_ttl: Duration::ZERO,
        ..settings()
    })
    .await;
    let (_, _, refresh) = h.signed_in("ada@example.com").await;
    let (status, problem) = h.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(problem["detail"].as_str().unwrap().contains("expired"));
    let (status, _) = h.refresh("made-up").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_needs_a_bearer_token() {
    let h = harness().await;
    let (_, access, refresh) = h.signed_in("ada@example.com").await;
    let logout = || {
        h.client
            .post("/api/v1/auth/logout")
            .json(&json!({"refresh_token": refresh}))
    };
    assert_eq!(logout().send().await.status, StatusCode::UNAUTHORIZED);

    let (status, body) = logout().bearer(&access).send().await.status_and_json();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (status, _) = h.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logging_out_with_someone_elses_refresh_token_does_not_revoke_it() {
    let h = harness().await;
    let (_, _, ada_refresh) = h.signed_in("ada@example.com").await;
    let (_, bob_access, _) = h.signed_in("bob@example.com").await;
    let response = h
        .client
        .post("/api/v1/auth/logout")
        .bearer(&bob_access)
        .json(&json!({"refresh_token": ada_refresh}))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let (status, _) = h.refresh(&ada_refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_user_sees_their_own_profile_but_not_someone_elses() {
    let h = harness().await;
    let (ada_id, ada_access, _) = h.signed_in("ada@example.com").await;
    let (bob_id, _, _) = h.signed_in("bob@example.com").await;
    let (status, ada) = h.get_user(&ada_id, Some(&ada_access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ada["email"], "ada@example.com");
    let (status, _) = h.get_user(&bob_id, Some(&ada_access)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h
        .patch_user(&bob_id, &ada_access, json!({"name": "Mallory"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.get_user(&ada_id, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_reads_and_edits_any_profile() {
    let h = harness().await;
    let (ada_id, _, _) = h.signed_in("ada@example.com").await;
    let (_, boss_access, _) = h.signed_in("boss@example.com").await;
    let (status, ada) = h.get_user(&ada_id, Some(&boss_access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ada["name"], "Someone");
    let (status, ada) = h
        .patch_user(&ada_id, &boss_access, json!({"name": "Ada Lovelace"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_eq!(ada["email"], "ada@example.com", "absent fields are kept");
}

#[tokio::test]
async fn a_malformed_user_id_is_400_and_an_unknown_one_404() {
    let h = harness().await;
    let (_, boss_access, _) = h.signed_in("boss@example.com").await;
    let unknown = UserId::new().to_string();
    for (id, expected) in [
        ("not-a-uuid", StatusCode::BAD_REQUEST),
        (unknown.as_str(), StatusCode::NOT_FOUND),
    ] {
        let (status, _) = h.get_user(id, Some(&boss_access)).await;
        assert_eq!(status, expected, "{id}");
    }
}

#[tokio::test]
async fn patching_the_email_normalises_it_and_refuses_a_taken_one() {
    let h = harness().await;
    let (ada_id, ada_access, _) = h.signed_in("ada@example.com").await;
    h.register("bob@example.com", "Bob").await;
    for (email, expected) in [
        ("BOB@example.com", StatusCode::CONFLICT),
        ("nope", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, _) = h
            .patch_user(&ada_id, &ada_access, json!({"email": email}))
            .await;
        assert_eq!(status, expected, "{email}");
    }
    let (status, ada) = h
        .patch_user(&ada_id, &ada_access, json!({"email": " Ada@New.Example "}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ada["email"], "ada@new.example");
    let (status, _) = h.login("ada@new.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the new email logs in");
}

#[tokio::test]
async fn a_password_reset_request_is_always_accepted_but_only_mailed_to_real_accounts() {
    let h = harness().await;
    h.register("ada@example.com", "Ada").await;
    for email in ["nobody@example.com", "garbage", "ADA@example.com"] {
        let (status, _) = h
            .post("/api/v1/auth/password-reset", json!({"email": email}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{email}");
    }
    assert_eq!(h.mailer.count(), 1);
    assert_eq!(h.mailer.tokens_for("ada@example.com").len(), 1);
}

#[tokio::test]
async fn a_reset_sets_the_password_once_and_revokes_every_refresh_token() {
    let h = harness().await;
    let (_, _, refresh) = h.signed_in("ada@example.com").await;
    let token = h.reset_token("ada@example.com").await;
    let new_password = "a brand new passphrase";
    let (status, _) = h.confirm_reset(&token, new_password).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert_eq!(
        h.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.login("ada@example.com", new_password).await.0,
        StatusCode::OK
    );
    let (status, _) = h.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "old sessions are gone");

    let (status, problem) = h.confirm_reset(&token, new_password).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the token is single-use");
    assert!(problem["detail"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn an_expired_or_unknown_reset_token_is_a_400() {
    let h = harness_with(Settings {
        reset_token_ttl: Duration::ZERO,
        ..settings()
    })
    .await;
    h.register("ada@example.com", "Ada").await;
    let token = h.reset_token("ada@example.com").await;
    let (status, problem) = h.confirm_reset(&token, "a brand new passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["detail"].as_str().unwrap().contains("expired"));
    assert_eq!(
        h.login("ada@example.com", PASSWORD).await.0,
        StatusCode::OK,
        "the password is unchanged"
    );
    let (status, _) = h.confirm_reset("made-up", "a brand new passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_reset_to_a_weak_password_is_refused_and_keeps_the_token_usable() {
    let h = harness().await;
    h.register("ada@example.com", "Ada").await;
    let token = h.reset_token("ada@example.com").await;
    let (status, _) = h.confirm_reset(&token, "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = h.confirm_reset(&token, "long enough this time").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_started_service_serves_its_routes_with_health_and_request_ids() {
    let bus = Arc::new(InMemoryEventBus::default());
    let router = start_with(
        ServiceConfig::for_tests(platform::topology::USER_SERVICE),
        settings(),
        bus.clone(),
        Readiness::default(),
    )
    .await
    .unwrap();
    let client = TestClient::new(router);
    let response = client.get("/health").send().await;
    assert_eq!(response.status, StatusCode::OK);
    let response = client
        .post("/api/v1/auth/register")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert!(response.headers.contains_key("x-request-id"));
    assert_eq!(bus.published().len(), 1);
}
