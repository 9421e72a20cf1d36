//! Access tokens: JWTs signed with Ed25519 (`EdDSA`) by the user service, the only unit that
//! holds a signing key (`JWT_SIGNING_KEY`), and verified by the gateway and every service
//! against the public keys in `JWT_PUBLIC_KEYS` (a JWK set). Each token names its key (`kid`,
//! the key's RFC 7638 thumbprint), so during a key rotation tokens signed with the old and the
//! new key both verify; `iss` and `aud` are checked, so a token minted for another system does
//! not pass here. Tokens are short-lived; refresh tokens and their revocation live in the user
//! service.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared_types::UserId;

use crate::error::ApiError;

/// Who signs access tokens (`iss`).
pub const ISSUER: &str = "user-service";
/// Whom access tokens are for (`aud`): this system's units.
pub const AUDIENCE: &str = crate::topology::SYSTEM;

/// The signing key of development and tests. It is public (it is in this file), so production
/// refuses to sign with it (`JWT_SIGNING_KEY`) or to accept tokens it signed
/// (`JWT_PUBLIC_KEYS`).
pub const DEV_SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIPQM57X9Tbw+Y3JkcmqqNcL7iR5Ki6WmujtyladiUkq
-----END PRIVATE KEY-----
";

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
    /// The signer: [`ISSUER`].
    pub iss: String,
    /// The system the token is for: [`AUDIENCE`].
    pub aud: String,
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

/// The public keys access tokens are verified with, by key id. Cloning shares them.
#[derive(Clone)]
pub struct JwtKeys {
    keys: Arc<HashMap<String, PublicKey>>,
    /// What a token must be: `EdDSA`, for this system, from the user service, unexpired.
    validation: Arc<Validation>,
}

/// One verification key: the decoding key and its `x` (to recognise the development key).
struct PublicKey {
    decoding: DecodingKey,
    x: String,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&str> = self.kids().collect();
        kids.sort_unstable();
        f.debug_struct("JwtKeys").field("kids", &kids).finish()
    }
}

impl JwtKeys {
    /// The keys of a JWK set (`{"keys": [...]}`, as `JWT_PUBLIC_KEYS` holds it): every key an
    /// Ed25519 public key (`"kty": "OKP", "crv": "Ed25519"`) with a `kid`. The error says which
    /// key is wrong and why.
    pub fn from_jwks(jwks: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|err| format!("is not a JWK set (`{{\"keys\": [...]}}`): {err}"))?;
        if set.keys.is_empty() {
            return Err("holds no key: add the public key of the user service's JWT_SIGNING_KEY (`user-service public-key`)".to_owned());
        }
        let mut keys = HashMap::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let kid = jwk.common.key_id.clone().ok_or_else(|| {
                format!("key {index} has no `kid`; tokens name the key that signed them")
            })?;
            let AlgorithmParameters::OctetKeyPair(params) = &jwk.algorithm else {
                return Err(format!(
                    "key `{kid}` is not an Ed25519 key (`\"kty\": \"OKP\", \"crv\": \"Ed25519\"`)"
                ));
            };
            if params.curve != EllipticCurve::Ed25519 {
                return Err(format!("key `{kid}` is not on the Ed25519 curve"));
            }
            let decoding = DecodingKey::from_jwk(jwk)
                .map_err(|err| format!("key `{kid}` cannot be read: {err}"))?;
            let key = PublicKey {
                decoding,
                x: params.x.clone(),
            };
            if keys.insert(kid.clone(), key).is_some() {
                return Err(format!("holds two keys with the `kid` `{kid}`"));
            }
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            keys: Arc::new(keys),
            validation: Arc::new(validation),
        })
    }

    /// The keys that verify the development signer's tokens.
    ///
    /// # Panics
    ///
    /// Never: the development key in this file is valid (its unit test reads it).
    #[must_use]
    pub fn development() -> Self {
        Self::from_jwks(&JwtSigner::development().jwks()).expect("the development key is valid")
    }

    /// The ids of the keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether the development key (public, see [`DEV_SIGNING_KEY`]) is among these keys,
    /// under any id.
    #[must_use]
    pub fn accept_the_development_key(&self) -> bool {
        let development = JwtSigner::development();
        self.keys.values().any(|key| key.x == development.x)
    }

    /// Whether tokens `signer` issues verify with these keys: its key is here under its id.
    #[must_use]
    pub fn verify_tokens_of(&self, signer: &JwtSigner) -> bool {
        self.keys
            .get(&signer.kid)
            .is_some_and(|key| key.x == signer.x)
    }

    /// The claims of a valid, unexpired token signed with one of these keys, for this system.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let invalid =
            |reason: String| ApiError::unauthorized(format!("invalid access token: {reason}"));
        let header = jsonwebtoken::decode_header(token).map_err(|err| invalid(err.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| invalid("it names no signing key".to_owned()))?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| invalid("signed with an unknown key".to_owned()))?;
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| invalid(err.to_string()))
    }
}

/// The key access tokens are signed with: only the user service has one. Cloning shares it.
#[derive(Clone)]
pub struct JwtSigner {
    key: Arc<EncodingKey>,
    /// The public key as a JWK, with its id and use.
    public: Arc<Jwk>,
    /// The key's id: its RFC 7638 thumbprint.
    kid: String,
    /// The public key (base64url), as a JWK's `x`.
    x: String,
    /// How long an access token lives.
    pub access_ttl: Duration,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("kid", &self.kid)
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// The signer of an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, as
    /// `openssl genpkey -algorithm ed25519` or [`JwtSigner::generate`] writes it); access
    /// tokens live 15 minutes.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let pair = KeypairBytes::from_pkcs8_pem(pem.trim()).map_err(|_| {
            "is not an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); make one with `user-service generate-signing-key`".to_owned()
        })?;
        // PKCS#8 v1 (the secret alone), the form the token library reads.
        let der = KeypairBytes {
            secret_key: pair.secret_key,
            public_key: None,
        }
        .to_pkcs8_der()
        .map_err(|err| format!("cannot be encoded: {err}"))?;
        let key = EncodingKey::from_ed_der(der.as_bytes());
        let mut public = Jwk::from_encoding_key(&key, Algorithm::EdDSA)
            .map_err(|err| format!("has no public key: {err}"))?;
        let AlgorithmParameters::OctetKeyPair(params) = &public.algorithm else {
            return Err("is not an Ed25519 key".to_owned());
        };
        let x = params.x.clone();
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|err| format!("has no thumbprint: {err}"))?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            key: Arc::new(key),
            public: Arc::new(public),
            kid,
            x,
            access_ttl: Duration::from_secs(15 * 60),
        })
    }

    /// The public development signer ([`DEV_SIGNING_KEY`]).
    ///
    /// # Panics
    ///
    /// Never: the development key in this file is valid (its unit test reads it).
    #[must_use]
    pub fn development() -> Self {
        static DEVELOPMENT: LazyLock<JwtSigner> = LazyLock::new(|| {
            JwtSigner::from_pem(DEV_SIGNING_KEY).expect("the development key is valid")
        });
        DEVELOPMENT.clone()
    }

    /// A new random Ed25519 private key, in PKCS#8 PEM.
    pub fn generate() -> Result<String, String> {
        let mut secret_key = [0_u8; 32];
        getrandom::fill(&mut secret_key)
            .map_err(|err| format!("the system has no randomness to offer: {err}"))?;
        let pem = KeypairBytes {
            secret_key,
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|err| format!("cannot encode the key: {err}"))?;
        Ok(pem.to_string())
    }

    /// Whether this is the public development key.
    #[must_use]
    pub fn is_development(&self) -> bool {
        self.x == Self::development().x
    }

    /// The id tokens name this key by.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK set of one key, the form `JWT_PUBLIC_KEYS` takes.
    ///
    /// # Panics
    ///
    /// Never: a JWK set of strings always serializes.
    #[must_use]
    pub fn jwks(&self) -> String {
        let keys = vec![Jwk::clone(&self.public)];
        serde_json::to_string(&JwkSet { keys }).expect("a JWK set serializes")
    }

    /// Signs an access token for `user`, valid from `now` (seconds since the epoch).
    pub fn issue(&self, user: UserId, role: Role, now: i64) -> Result<(String, Claims), ApiError> {
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user,
            role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.key).map_err(ApiError::internal)?;
        Ok((token, claims))
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

    fn signer() -> JwtSigner {
        JwtSigner::from_pem(&JwtSigner::generate().unwrap()).unwrap()
    }

    fn keys_of(signers: &[&JwtSigner]) -> JwtKeys {
        let keys: Vec<serde_json::Value> = signers
            .iter()
            .map(|signer| {
                serde_json::from_str::<serde_json::Value>(&signer.jwks()).unwrap()["keys"][0]
                    .clone()
            })
            .collect();
        JwtKeys::from_jwks(&serde_json::json!({ "keys": keys }).to_string()).unwrap()
    }

    #[test]
    fn a_fresh_token_verifies_and_names_its_user_issuer_and_audience() {
        let signer = signer();
        let user = UserId::new();
        let (token, _) = signer.issue(user, Role::Customer, now()).unwrap();
        let claims = keys_of(&[&signer]).verify(&token).unwrap();
        assert_eq!(claims.sub, user);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            (ISSUER, AUDIENCE)
        );
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(signer.kid()));
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let signer = signer();
        let (token, _) = signer
            .issue(UserId::new(), Role::Customer, now() - 3600)
            .unwrap();
        assert_eq!(
            keys_of(&[&signer])
                .verify(&token)
                .unwrap_err()
                .status
                .as_u16(),
            401
        );
    }

    #[test]
    fn a_token_signed_with_a_key_not_in_the_set_is_rejected() {
        let (token, _) = signer().issue(UserId::new(), Role::Admin, now()).unwrap();
        let err = keys_of(&[&signer()]).verify(&token).unwrap_err();
        assert_eq!(err.status.as_u16(), 401);
        assert!(err.detail.contains("unknown key"), "{}", err.detail);
    }

    #[test]
    fn a_token_claiming_a_known_kid_but_signed_by_another_key_is_rejected() {
        let genuine = signer();
        let mut impostor = signer();
        impostor.kid = genuine.kid.clone();
        let (token, _) = impostor.issue(UserId::new(), Role::Admin, now()).unwrap();
        assert!(keys_of(&[&genuine]).verify(&token).is_err());
    }

    #[test]
    fn during_a_rotation_tokens_of_the_old_and_the_new_key_both_verify() {
        let (old, new) = (signer(), signer());
        let keys = keys_of(&[&old, &new]);
        for signer in [&old, &new] {
            let (token, _) = signer.issue(UserId::new(), Role::Customer, now()).unwrap();
            assert!(keys.verify(&token).is_ok());
        }
        let (token, _) = old.issue(UserId::new(), Role::Customer, now()).unwrap();
        assert!(
            keys_of(&[&new]).verify(&token).is_err(),
            "retired key still accepted"
        );
    }

    #[test]
    fn tokens_for_another_audience_or_issuer_or_algorithm_are_rejected() {
        let signer = signer();
        let keys = keys_of(&[&signer]);
        let claims = |iss: &str, aud: &str| Claims {
            sub: UserId::new(),
            role: Role::Admin,
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            iat: now(),
            exp: now() + 60,
            jti: "j".to_owned(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid().to_owned());
        for (iss, aud) in [(ISSUER, "another-system"), ("someone-else", AUDIENCE)] {
            let token = jsonwebtoken::encode(&header, &claims(iss, aud), &signer.key).unwrap();
            assert!(
                keys.verify(&token).is_err(),
                "iss {iss}, aud {aud} accepted"
            );
        }
        // HS256 keyed with the public key: the classic algorithm confusion.
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(signer.kid().to_owned());
        let token = jsonwebtoken::encode(
            &hs,
            &claims(ISSUER, AUDIENCE),
            &EncodingKey::from_secret(signer.x.as_bytes()),
        )
        .unwrap();
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn a_key_set_that_cannot_verify_names_what_is_wrong() {
        for (jwks, expected) in [
            ("not json", "is not a JWK set"),
            (r#"{"keys": []}"#, "holds no key"),
            (
                r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}"#,
                "no `kid`",
            ),
            (
                r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#,
                "not an Ed25519 key",
            ),
        ] {
            let err = JwtKeys::from_jwks(jwks).unwrap_err();
            assert!(err.contains(expected), "{jwks}: {err}");
        }
    }

    #[test]
    fn a_signing_key_that_is_not_an_ed25519_pkcs8_pem_is_refused() {
        for pem in [
            "",
            "secret",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            assert!(
                JwtSigner::from_pem(pem).unwrap_err().contains("PKCS#8"),
                "{pem}"
            );
        }
    }

    #[test]
    fn the_development_key_is_recognised_and_generated_keys_differ() {
        assert!(JwtSigner::development().is_development());
        assert!(JwtKeys::development().accept_the_development_key());
        let (a, b) = (signer(), signer());
        assert!(!a.is_development());
        assert_ne!(a.kid(), b.kid());
        assert!(!keys_of(&[&a]).accept_the_development_key());
        assert!(keys_of(&[&a]).verify_tokens_of(&a));
        assert!(!keys_of(&[&a]).verify_tokens_of(&b));
    }
}
