//! Accounts and credentials: email normalisation, the password policy, the role an account's
//! tokens carry, and the rules of refresh, password-reset and email-verification tokens.
//! Everything here is pure; time is passed in.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared_types::UserId;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (argon2 handles more, but nobody types this much).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest display name accepted.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Why an input was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("email `{0}` is not a valid address")]
    InvalidEmail(String),
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters long")]
    PasswordTooShort,
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters long")]
    PasswordTooLong,
    #[error("name must not be empty")]
    EmptyName,
    #[error("name must be at most {MAX_NAME_CHARS} characters long")]
    NameTooLong,
}

/// A normalised email address: trimmed, lower-cased, one `@` between a non-empty local part
/// and a dotted domain, no whitespace. Two spellings of one address compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Normalises and validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let email = raw.trim().to_lowercase();
        let invalid = || ValidationError::InvalidEmail(raw.trim().to_owned());
        if email.len() > MAX_EMAIL_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

/// Checks the password policy: at least [`MIN_PASSWORD_CHARS`] characters (not bytes), at most
/// [`MAX_PASSWORD_CHARS`]. Length beats composition rules (NIST SP 800-63B).
pub fn check_password_policy(password: &str) -> Result<(), ValidationError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(ValidationError::PasswordTooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(ValidationError::PasswordTooLong)
    } else {
        Ok(())
    }
}

/// A trimmed, non-empty display name of bounded length.
pub fn normalise_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        Err(ValidationError::EmptyName)
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(ValidationError::NameTooLong)
    } else {
        Ok(name.to_owned())
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    /// The stored role; what its tokens carry is [`User::effective_role`].
    pub role: Role,
    /// Whether the holder proved `email` is theirs (a verification token mailed to it). A new
    /// address starts unverified.
    pub email_verified: bool,
    /// argon2id PHC string; never leaves the service.
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// The role the account acts with: admin power needs a verified address, so an admin whose
    /// address is unverified (a changed one, or one registered before verification existed)
    /// acts as a customer until it is verified.
    #[must_use]
    pub fn effective_role(&self) -> Role {
        match self.role {
            Role::Admin if self.email_verified => Role::Admin,
            _ => Role::Customer,
        }
    }
}

/// What clients see of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    pub name: String,
    /// The stored role; an admin's power also needs `email_verified`.
    pub role: Role,
    /// Whether the address was confirmed with a verification token.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            email_verified: user.email_verified,
            created_at: user.created_at,
        }
    }
}

/// A fresh opaque secret: two random v4 UUIDs (244 random bits) as 64 hex characters.
#[must_use]
pub fn generate_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The SHA-256 of a secret, hex encoded: what is stored, so a leaked table grants nothing.
/// A fast hash is enough because the secrets are long and random, unlike passwords.
#[must_use]
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// `now + ttl`, saturating far in the future instead of overflowing.
#[must_use]
pub fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Why a refresh, reset or verification token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is unknown")]
    Unknown,
    #[error("token has expired")]
    Expired,
    #[error("token was already used or revoked")]
    Revoked,
}

/// A refresh token as stored: its hash, owner, expiry, and whether it was revoked (by
/// rotation, logout or password reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

impl RefreshToken {
    /// A new token for `user`, valid for `ttl` from `now`; returns the secret to hand out
    /// and the record to store.
    #[must_use]
    pub fn issue(user: UserId, now: DateTime<Utc>, ttl: Duration) -> (String, Self) {
        let secret = generate_secret();
        let record = Self {
            token_hash: hash_secret(&secret),
            user_id: user,
            expires_at: expiry(now, ttl),
            revoked: false,
        };
        (secret, record)
    }

    /// Whether the token may be exchanged at `now`. A revoked token is reported as such
    /// even once expired, so reuse of a rotated token is always noticed.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), TokenError> {
        if self.revoked {
            Err(TokenError::Revoked)
        } else if now >= self.expires_at {
            Err(TokenError::Expired)
        } else {
            Ok(())
        }
    }
}

/// A password-reset or email-verification token as stored: mailed, single use, short-lived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub token_hash: String,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

impl OneTimeToken {
    /// A new token for `user`; returns the secret to mail and the record to store.
    #[must_use]
    pub fn issue(user: UserId, now: DateTime<Utc>, ttl: Duration) -> (String, Self) {
        let secret = generate_secret();
        let record = Self {
            token_hash: hash_secret(&secret),
            user_id: user,
            expires_at: expiry(now, ttl),
            used: false,
        };
        (secret, record)
    }

    /// Whether the token may be redeemed at `now`.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), TokenError> {
        if self.used {
            Err(TokenError::Revoked)
        } else if now >= self.expires_at {
            Err(TokenError::Expired)
        } else {
            Ok(())
        }
    }
}

/// An email-verification token as stored: a [`OneTimeToken`] for the address it was mailed to,
/// which it verifies only while the account still has that address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationToken {
    pub token: OneTimeToken,
    pub email: Email,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        assert_eq!(email, Email::parse("ada.lovelace@example.com").unwrap());
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "plain",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "ada@exa mple.com",
            "ada@example..com",
            "ada@-example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
    }

    #[test]
    fn an_email_deserializes_only_when_valid_and_normalised() {
        let email: Email = serde_json::from_str("\" Bob@Example.org\"").unwrap();
        assert_eq!(email.as_str(), "bob@example.org");
        assert!(serde_json::from_str::<Email>("\"bob\"").is_err());
    }

    #[test]
    fn passwords_need_twelve_characters_counted_as_characters() {
        assert_eq!(
            check_password_policy("short-pass1"),
            Err(ValidationError::PasswordTooShort)
        );
        assert!(check_password_policy("twelve-chars").is_ok());
        // Eleven characters but 22 bytes: still too short.
        assert_eq!(
            check_password_policy("ééééééééééé"),
            Err(ValidationError::PasswordTooShort)
        );
        assert_eq!(
            check_password_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(ValidationError::PasswordTooLong)
        );
    }

    #[test]
    fn names_are_trimmed_and_must_not_be_blank() {
        assert_eq!(normalise_name("  Ada ").unwrap(), "Ada");
        assert_eq!(normalise_name("   "), Err(ValidationError::EmptyName));
        assert_eq!(
            normalise_name(&"n".repeat(MAX_NAME_CHARS + 1)),
            Err(ValidationError::NameTooLong)
        );
    }

    #[test]
    fn a_refresh_token_is_usable_until_it_expires() {
        let (secret, token) = RefreshToken::issue(UserId::new(), at(0), Duration::from_secs(60));
        assert_eq!(token.token_hash, hash_secret(&secret));
        assert_ne!(token.token_hash, secret, "only the hash is stored");
        assert_eq!(token.check(at(59)), Ok(()));
        assert_eq!(token.check(at(60)), Err(TokenError::Expired));
    }

    #[test]
    fn a_revoked_refresh_token_is_refused_even_before_expiry() {
        let (_, mut token) = RefreshToken::issue(UserId::new(), at(0), Duration::from_secs(60));
        token.revoked = true;
        assert_eq!(token.check(at(1)), Err(TokenError::Revoked));
        assert_eq!(token.check(at(600)), Err(TokenError::Revoked));
    }

    #[test]
    fn a_one_time_token_is_single_use_and_short_lived() {
        let (_, mut token) = OneTimeToken::issue(UserId::new(), at(0), Duration::from_secs(1800));
        assert_eq!(token.check(at(1799)), Ok(()));
        assert_eq!(token.check(at(1800)), Err(TokenError::Expired));
        token.used = true;
        assert_eq!(token.check(at(1)), Err(TokenError::Revoked));
    }

    #[test]
    fn only_a_verified_admin_acts_as_an_admin() {
        let mut user = User {
            id: UserId::new(),
            email: Email::parse("ops@example.com").unwrap(),
            name: "Ops".to_owned(),
            role: Role::Admin,
            email_verified: false,
            password_hash: "hash".to_owned(),
            created_at: at(0),
        };
        assert_eq!(user.effective_role(), Role::Customer);
        user.email_verified = true;
        assert_eq!(user.effective_role(), Role::Admin);
        user.role = Role::Customer;
        assert_eq!(user.effective_role(), Role::Customer);
    }

    #[test]
    fn secrets_are_long_random_and_hash_deterministically() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn an_absurd_ttl_saturates_instead_of_overflowing() {
        assert_eq!(expiry(at(0), Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
