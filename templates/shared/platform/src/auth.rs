//! JWT access tokens (HS256): issued by the user service, verified by the gateway and by every
//! service that needs to know who is calling. Tokens are short-lived; refresh tokens and their
//! revocation live in the user service.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared_types::UserId;

use crate::error::ApiError;

/// What a user may do beyond their own resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Token id, for revocation lists.
    pub jti: String,
}

impl Claims {
    /// Whether these claims may act on `user`'s resources.
    #[must_use]
    pub fn may_act_for(&self, user: UserId) -> bool {
        self.sub == user || self.role == Role::Admin
    }
}

/// Signing and verification keys. Cloning shares them.
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<(EncodingKey, DecodingKey)>,
    /// How long an access token lives.
    pub access_ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from a shared secret; access tokens live 15 minutes.
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        Self {
            inner: Arc::new((
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            )),
            access_ttl: Duration::from_secs(15 * 60),
        }
    }

    /// Signs an access token for `user`, valid from `now` (seconds since the epoch).
    pub fn issue(&self, user: UserId, role: Role, now: i64) -> Result<(String, Claims), ApiError> {
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user,
            role,
            iat: now,
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.0)
            .map_err(ApiError::internal)?;
        Ok((token, claims))
    }

    /// The claims of a valid, unexpired token signed with these keys.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.inner.1, &validation)
            .map(|data| data.claims)
            .map_err(|err| ApiError::unauthorized(format!("invalid access token: {err}")))
    }
}

/// The bearer token of a request, if it has one.
#[must_use]
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Extractor: the authenticated caller. Rejects with 401 problem+json.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub claims: Claims,
    /// The raw token, to forward on calls to other services.
    pub token: String,
}

impl<S> FromRequestParts<S> for AuthUser
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let claims = JwtKeys::from_ref(state).verify(token)?;
        Ok(Self {
            claims,
            token: token.to_owned(),
        })
    }
}

impl AuthUser {
    /// Rejects with 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.claims.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("admin role required"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_fresh_token_verifies_and_names_its_user() {
        let keys = JwtKeys::new(b"secret");
        let user = UserId::new();
        let (token, _) = keys.issue(user, Role::Customer, now()).unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, user);
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let keys = JwtKeys::new(b"secret");
        let (token, _) = keys
            .issue(UserId::new(), Role::Customer, now() - 3600)
            .unwrap();
        assert_eq!(keys.verify(&token).unwrap_err().status.as_u16(), 401);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let (token, _) = JwtKeys::new(b"other")
            .issue(UserId::new(), Role::Admin, now())
            .unwrap();
        assert!(JwtKeys::new(b"secret").verify(&token).is_err());
    }
}
