//! HTTP behaviour of the user service, through its router.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::config::AppEnv;
use platform::health::Readiness;
use serde_json::{Value, json};
use shared_events::{InMemoryEventBus, UserRegistered, topics};
use shared_types::UserId;
use testing::TestClient;
use user_service::config::{AdminAccount, Settings};
use user_service::mail::{MailSettings, MailTransport, SmtpUrl};
use user_service::models::Email;
use user_service::repository::InMemoryUserRepository;
use user_service::service::{AdminBootstrap, INVALID_CREDENTIALS, UNVERIFIED_ADMIN, UserService};
use user_service::{api, start_with};

mod common;
use common::{CapturingMailer, PASSWORD, settings};

struct Harness {
    client: TestClient,
    bus: InMemoryEventBus,
    mailer: Arc<CapturingMailer>,
    service: UserService,
}

async fn harness_with(settings: Settings) -> Harness {
    let bus = InMemoryEventBus::default();
    let mailer = Arc::new(CapturingMailer::default());
    let service = UserService::new(
        Arc::new(InMemoryUserRepository::new(Arc::new(bus.clone()))),
        mailer.clone(),
        JwtKeys::development(),
        settings,
    )
    .await
    .unwrap();
    Harness {
        client: TestClient::new(api::router(api::AppState::new(service.clone()))),
        bus,
        mailer,
        service,
    }
}

async fn harness() -> Harness {
    harness_with(settings()).await
}

/// The role an access token carries.
fn role_of(access: &str) -> Role {
    JwtKeys::development().verify(access).unwrap().role
}

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
        self.mailer.reset_tokens(email).remove(0)
    }

    /// `POST /api/v1/auth/verify-email` with `token`, as the holder of `access` if any.
    async fn verify(&self, access: Option<&str>, token: &str) -> (StatusCode, Value) {
        self.client
            .post("/api/v1/auth/verify-email")
            .maybe_bearer(access)
            .json(&json!({ "token": token }))
            .send()
            .await
            .status_and_json()
    }

    /// A verified admin made as `create-admin` makes one, logged in: (id, access token).
    async fn admin(&self, email: &str) -> (String, String) {
        let AdminBootstrap::Created(admin) = self
            .service
            .create_admin(email, PASSWORD.to_owned(), "Boss")
            .await
            .unwrap()
        else {
            panic!("{email} was no admin before");
        };
        let (status, tokens) = self.login(email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        (
            admin.id.to_string(),
            tokens["access_token"].as_str().unwrap().to_owned(),
        )
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
    assert_eq!(user["email_verified"], false);
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
async fn login_returns_a_bearer_pair_whose_access_token_identifies_the_user() {
    let h = harness().await;
    let user = h.register("ada@example.com", "Ada").await;
    let (status, tokens) = h.login(" ADA@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_token"].as_str().unwrap().len(), 64);
    let access = tokens["access_token"].as_str().unwrap();
    let claims = JwtKeys::development().verify(access).unwrap();
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
    let (_, boss_access) = h.admin("boss@example.com").await;
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
    let (_, boss_access) = h.admin("boss@example.com").await;
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
            .patch_user(
                &ada_id,
                &ada_access,
                json!({"email": email, "current_password": PASSWORD}),
            )
            .await;
        assert_eq!(status, expected, "{email}");
    }
    let (status, ada) = h
        .patch_user(
            &ada_id,
            &ada_access,
            json!({"email": " Ada@New.Example ", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ada}");
    assert_eq!(ada["email"], "ada@new.example");
    let (status, _) = h.login("ada@new.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the new email logs in");
}

#[tokio::test]
async fn changing_the_email_without_or_with_a_wrong_current_password_is_403_and_changes_nothing() {
    let h = harness().await;
    let (ada_id, ada_access, _) = h.signed_in("ada@example.com").await;
    let mails_before = h.mailer.mails().len();
    for (body, says) in [
        (json!({"email": "mallory@example.com"}), "current password"),
        (
            json!({"email": "mallory@example.com", "current_password": "not the password"}),
            "not your current password",
        ),
        (
            json!({"email": "mallory@example.com", "current_password": null, "name": "Mallory"}),
            "current password",
        ),
    ] {
        let response = h
            .client
            .patch(&format!("/api/v1/users/{ada_id}"))
            .bearer(&ada_access)
            .json(&body)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{body}");
        let problem = response.problem();
        assert_eq!(problem["status"], 403);
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    let (_, ada) = h.get_user(&ada_id, Some(&ada_access)).await;
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["name"], "Someone", "a refused change changes nothing");
    assert_eq!(h.login("ada@example.com", PASSWORD).await.0, StatusCode::OK);
    assert_eq!(h.mailer.mails().len(), mails_before, "and mails nobody");

    let (status, ada) = h
        .patch_user(
            &ada_id,
            &ada_access,
            json!({"name": "Ada", "email": "ADA@example.com"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a name, or the same address, needs no password: {ada}"
    );
    assert_eq!(ada["name"], "Ada");
}

#[tokio::test]
async fn changing_the_email_tells_the_old_address_and_verifies_the_new_one() {
    let h = harness().await;
    let (ada_id, ada_access, _) = h.signed_in("ada@example.com").await;
    let (status, _) = h
        .verify(
            Some(&ada_access),
            &h.mailer.verification_token("ada@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, ada) = h
        .patch_user(
            &ada_id,
            &ada_access,
            json!({"email": "ada@new.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ada}");
    assert_eq!(
        ada["email_verified"], false,
        "the new address is unverified"
    );
    assert_eq!(
        h.mailer.change_notices("ada@example.com"),
        ["ada@new.example"],
        "the old address is told where the account went"
    );
    let token = h.mailer.verification_token("ada@new.example");
    let (status, _) = h.verify(Some(&ada_access), &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, ada) = h.get_user(&ada_id, Some(&ada_access)).await;
    assert_eq!(ada["email_verified"], true);
}

#[tokio::test]
async fn registering_mails_a_verification_token_that_only_the_account_holder_can_use_once() {
    let h = harness().await;
    let (ada_id, ada_access, _) = h.signed_in("ada@example.com").await;
    let (_, bob_access, _) = h.signed_in("bob@example.com").await;
    let (_, ada) = h.get_user(&ada_id, Some(&ada_access)).await;
    assert_eq!(ada["email_verified"], false);
    let token = h.mailer.verification_token("ada@example.com");

    let (status, _) = h.verify(None, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the holder logs in first");
    let (status, problem) = h.verify(Some(&bob_access), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("unknown"),
        "{problem}"
    );
    let (status, _) = h.verify(Some(&ada_access), "made-up").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = h.verify(Some(&ada_access), &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, ada) = h.get_user(&ada_id, Some(&ada_access)).await;
    assert_eq!(ada["email_verified"], true);
    let (status, problem) = h.verify(Some(&ada_access), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["detail"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn a_new_verification_token_is_mailed_on_request_until_the_address_is_verified() {
    let h = harness_with(Settings {
        verification_token_ttl: Duration::ZERO,
        ..settings()
    })
    .await;
    let (_, ada_access, _) = h.signed_in("ada@example.com").await;
    let expired = h.mailer.verification_token("ada@example.com");
    let (status, problem) = h.verify(Some(&ada_access), &expired).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["detail"].as_str().unwrap().contains("expired"));

    let h = harness().await;
    let (_, ada_access, _) = h.signed_in("ada@example.com").await;
    let resend = || {
        h.client
            .post("/api/v1/auth/verify-email/resend")
            .bearer(&ada_access)
            .send()
    };
    assert_eq!(resend().await.status, StatusCode::ACCEPTED);
    let tokens = h.mailer.verification_tokens("ada@example.com");
    assert_eq!(tokens.len(), 2, "one at registration, one on request");
    let (status, _) = h.verify(Some(&ada_access), &tokens[1]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let response = resend().await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    assert!(
        response.problem()["detail"]
            .as_str()
            .unwrap()
            .contains("verified already")
    );
}

#[tokio::test]
async fn nobody_registers_as_an_admin_and_create_admin_makes_a_verified_one() {
    let h = harness().await;
    let first = h.register("first@example.com", "First").await;
    assert_eq!(first["role"], "customer");
    let (_, tokens) = h.login("first@example.com", PASSWORD).await;
    assert_eq!(
        role_of(tokens["access_token"].as_str().unwrap()),
        Role::Customer
    );

    let (boss_id, boss_access) = h.admin("Boss@Example.com").await;
    assert_eq!(role_of(&boss_access), Role::Admin);
    let (_, boss) = h.get_user(&boss_id, Some(&boss_access)).await;
    assert_eq!(boss["role"], "admin");
    assert_eq!(boss["email_verified"], true);
    assert!(h.mailer.verification_tokens("boss@example.com").is_empty());

    let again = h
        .service
        .create_admin("boss@example.com", "another password!".to_owned(), "Boss")
        .await
        .unwrap();
    assert!(matches!(again, AdminBootstrap::Existed(_)), "{again:?}");
    assert_eq!(
        h.login("boss@example.com", PASSWORD).await.0,
        StatusCode::OK,
        "an existing admin's password is left as it is"
    );
    let err = h
        .service
        .create_admin("first@example.com", PASSWORD.to_owned(), "First")
        .await
        .unwrap_err();
    assert_eq!(err.status, StatusCode::CONFLICT);
    assert!(err.detail.contains("not a verified admin"), "{err}");
    let (_, first) = h.login("first@example.com", PASSWORD).await;
    assert_eq!(
        role_of(first["access_token"].as_str().unwrap()),
        Role::Customer,
        "a customer's address does not become an admin's"
    );
}

#[tokio::test]
async fn an_admin_who_changes_email_has_no_admin_power_until_the_new_address_is_verified() {
    let h = harness().await;
    let (ada_id, _, _) = h.signed_in("ada@example.com").await;
    let (boss_id, boss_access) = h.admin("boss@example.com").await;
    let (status, _) = h
        .patch_user(
            &boss_id,
            &boss_access,
            json!({"email": "boss@new.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The access token issued before the change still says admin; the service asks the account.
    let (status, problem) = h.get_user(&ada_id, Some(&boss_access)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["detail"], UNVERIFIED_ADMIN);
    let (_, tokens) = h.login("boss@new.example", PASSWORD).await;
    let unverified_access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        role_of(&unverified_access),
        Role::Customer,
        "no admin token for it"
    );
    let (status, _) = h.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let token = h.mailer.verification_token("boss@new.example");
    let (status, _) = h.verify(Some(&unverified_access), &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, tokens) = h.login("boss@new.example", PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(role_of(access), Role::Admin);
    assert_eq!(h.get_user(&ada_id, Some(access)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_changing_someone_elses_email_gives_the_admins_own_password() {
    let h = harness().await;
    let (ada_id, _, _) = h.signed_in("ada@example.com").await;
    let (_, boss_access) = h.admin("boss@example.com").await;
    let (status, _) = h
        .patch_user(&ada_id, &boss_access, json!({"email": "ada@new.example"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, ada) = h
        .patch_user(
            &ada_id,
            &boss_access,
            json!({"email": "ada@new.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ada}");
    assert_eq!(
        h.mailer.change_notices("ada@example.com"),
        ["ada@new.example"]
    );
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
    let resets: Vec<_> = h
        .mailer
        .mails()
        .into_iter()
        .filter(|mail| mail.kind() == "password reset")
        .collect();
    assert_eq!(resets.len(), 1);
    assert_eq!(h.mailer.reset_tokens("ada@example.com").len(), 1);
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
async fn a_reset_spends_every_other_reset_token_of_the_account() {
    let h = harness().await;
    h.signed_in("ada@example.com").await;
    let (first, second) = (
        h.reset_token("ada@example.com").await,
        h.reset_token("ada@example.com").await,
    );
    let (status, _) = h.confirm_reset(&second, "a brand new passphrase").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Whoever holds the older mail cannot take the account back.
    let (status, problem) = h.confirm_reset(&first, "an attacker's passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(
        h.login("ada@example.com", "an attacker's passphrase")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn changing_the_email_spends_the_reset_tokens_mailed_to_the_old_address() {
    let h = harness().await;
    let (ada_id, ada_access, _) = h.signed_in("ada@example.com").await;
    let token = h.reset_token("ada@example.com").await;
    let (status, ada) = h
        .patch_user(
            &ada_id,
            &ada_access,
            json!({"email": "ada@new.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ada}");
    // The old mailbox (perhaps no longer the owner's) cannot reset the account.
    let (status, problem) = h.confirm_reset(&token, "an attacker's passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(h.login("ada@new.example", PASSWORD).await.0, StatusCode::OK);
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

#[tokio::test]
async fn the_devstacks_admin_is_made_at_start_in_development_and_refused_in_production() {
    let admin = AdminAccount {
        email: Email::parse("ops@example.com").unwrap(),
        password: PASSWORD.to_owned(),
    };
    let with_admin = || Settings {
        development_admin: Some(admin.clone()),
        ..settings()
    };
    let start = |config: ServiceConfig, settings: Settings| {
        start_with(
            config,
            settings,
            Arc::new(InMemoryEventBus::default()),
            Readiness::default(),
        )
    };
    let client = TestClient::new(
        start(
            ServiceConfig::for_tests(platform::topology::USER_SERVICE),
            with_admin(),
        )
        .await
        .unwrap(),
    );
    let (status, tokens) = client
        .post("/api/v1/auth/login")
        .json(&json!({"email": "ops@example.com", "password": PASSWORD}))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        role_of(tokens["access_token"].as_str().unwrap()),
        Role::Admin
    );

    let mut production = ServiceConfig::for_tests(platform::topology::USER_SERVICE);
    production.env = AppEnv::Production;
    let smtp = MailSettings {
        transport: MailTransport::Smtp(
            SmtpUrl::parse("smtps://mailer:secret@smtp.example.com", AppEnv::Production).unwrap(),
        ),
        from: "no-reply@shop.example.com".parse().unwrap(),
    };
    let err = start(
        production,
        Settings {
            mail: smtp,
            ..with_admin()
        },
    )
    .await
    .expect_err("production makes no development admin");
    let err = format!("{err:#}");
    assert!(err.contains("create-admin"), "{err}");
}
