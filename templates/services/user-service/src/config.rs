//! Service-specific settings, read from `USER_SERVICE_*` environment variables.

use std::path::PathBuf;
use std::time::Duration;

use platform::auth::JwtSigner;
use platform::config::{AppEnv, ConfigError, JWT_SIGNING_KEY, env_or, jwt_signing_key};
use platform::db::Database;

use crate::mail::{MailSettings, MailTransport, SmtpUrl};
use crate::models::Email;

/// Cost of argon2id password hashing. The defaults are OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane); tests lower them so a hash takes microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashingCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashingCost {
    /// The cheapest parameters argon2 accepts: for tests only, never for real passwords.
    #[must_use]
    pub const fn insecure_for_tests() -> Self {
        Self {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// An admin account the service makes sure exists when it starts: the devstack's
/// `DEVSTACK_ADMIN_EMAIL` and `DEVSTACK_ADMIN_PASSWORD`. Development only; a deployment creates
/// its admins with `user-service create-admin`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    pub email: Email,
    pub password: String,
}

impl AdminAccount {
    /// `email` (normalized) with `password`, refused when the address does not parse or the
    /// password breaks the policy, naming which.
    pub fn parse(email: &str, password: &str) -> anyhow::Result<Self> {
        let parsed =
            Email::parse(email).map_err(|err| anyhow::anyhow!("admin email `{email}`: {err}"))?;
        crate::models::check_password_policy(password)
            .map_err(|err| anyhow::anyhow!("admin password for `{parsed}`: {err}"))?;
        Ok(Self {
            email: parsed,
            password: password.to_owned(),
        })
    }

    /// The admin the variables `email_key` and `password_key` ask for, as `var` reads them: both
    /// set (and valid), or neither (no admin); one without the other is an error naming the
    /// missing one.
    pub fn from_vars(
        email_key: &str,
        password_key: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<Self>> {
        let set = |key: &str| var(key).filter(|value| !value.trim().is_empty());
        match (set(email_key), set(password_key)) {
            (Some(email), Some(password)) => Self::parse(&email, &password).map(Some),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!(
                "{email_key} is set but {password_key} is not: set both to have an admin, or neither"
            ),
            (None, Some(_)) => anyhow::bail!(
                "{password_key} is set but {email_key} is not: set both to have an admin, or neither"
            ),
        }
    }
}

impl std::fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccount")
            .field("email", &self.email)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Everything the user service needs beyond [`platform::ServiceConfig`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a refresh token is usable.
    pub refresh_token_ttl: Duration,
    /// How long a password-reset token is usable.
    pub reset_token_ttl: Duration,
    /// How long an email-verification token is usable.
    pub verification_token_ttl: Duration,
    /// argon2id cost.
    pub hashing: HashingCost,
    /// How mail (reset and verification tokens, notices) leaves the service.
    pub mail: MailSettings,
    /// The `PostgreSQL` that stores accounts (`DATABASE_URL`); `None` keeps them in memory.
    pub database: Option<Database>,
    /// A verified admin created at start-up unless it exists (development only; the devstack
    /// sets it, the environment never does).
    pub development_admin: Option<AdminAccount>,
    /// The key access tokens are signed with (`JWT_SIGNING_KEY`).
    pub signing: JwtSigner,
}

impl Default for Settings {
    /// Development defaults: mail goes to the outbox directory under the system temp dir.
    fn default() -> Self {
        Self {
            refresh_token_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            reset_token_ttl: Duration::from_secs(30 * 60),
            verification_token_ttl: Duration::from_secs(24 * 60 * 60),
            hashing: HashingCost::default(),
            mail: MailSettings::development(),
            database: None,
            development_admin: None,
            signing: JwtSigner::development(),
        }
    }
}

impl Settings {
    /// Reads `USER_SERVICE_REFRESH_TOKEN_TTL_SECS`, `USER_SERVICE_RESET_TOKEN_TTL_SECS`,
    /// `USER_SERVICE_VERIFICATION_TOKEN_TTL_SECS`,
    /// `USER_SERVICE_ARGON2_{MEMORY_KIB,ITERATIONS,PARALLELISM}`, the mail settings (see
    /// [`mail_from_env`]), the database settings (`DATABASE_URL`, see [`Database::from_env`]) and
    /// the signing key (`JWT_SIGNING_KEY`, see [`jwt_signing_key`]).
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let secs = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(env_or(key, default.as_secs())?))
        };
        Ok(Self {
            refresh_token_ttl: secs(
                "USER_SERVICE_REFRESH_TOKEN_TTL_SECS",
                defaults.refresh_token_ttl,
            )?,
            reset_token_ttl: secs(
                "USER_SERVICE_RESET_TOKEN_TTL_SECS",
                defaults.reset_token_ttl,
            )?,
            verification_token_ttl: secs(
                "USER_SERVICE_VERIFICATION_TOKEN_TTL_SECS",
                defaults.verification_token_ttl,
            )?,
            hashing: HashingCost {
                memory_kib: env_or(
                    "USER_SERVICE_ARGON2_MEMORY_KIB",
                    defaults.hashing.memory_kib,
                )?,
                iterations: env_or(
                    "USER_SERVICE_ARGON2_ITERATIONS",
                    defaults.hashing.iterations,
                )?,
                parallelism: env_or(
                    "USER_SERVICE_ARGON2_PARALLELISM",
                    defaults.hashing.parallelism,
                )?,
            },
            mail: mail_from_env(env, |key| std::env::var(key).ok())?,
            database: Database::from_env(env)?,
            development_admin: None,
            signing: jwt_signing_key(env, std::env::var(JWT_SIGNING_KEY).ok())?,
        })
    }
}

/// The variable naming the SMTP server.
pub const SMTP_URL: &str = "USER_SERVICE_SMTP_URL";
/// The variable naming the sender of every mail.
pub const MAIL_FROM: &str = "USER_SERVICE_MAIL_FROM";
/// The variable naming the development outbox directory.
pub const MAIL_DIR: &str = "USER_SERVICE_MAIL_DIR";

/// The mail settings from the variables `var` reads: SMTP when `USER_SERVICE_SMTP_URL` is set
/// (with `USER_SERVICE_MAIL_FROM`, required in production); otherwise, in development only,
/// the outbox directory `USER_SERVICE_MAIL_DIR` (default `<temp dir>/user-service-mail`).
/// Production without an SMTP server is an error naming `USER_SERVICE_SMTP_URL`: its users
/// would never get a reset or verification mail.
pub fn mail_from_env(
    env: AppEnv,
    var: impl Fn(&str) -> Option<String>,
) -> Result<MailSettings, ConfigError> {
    let set = |key: &str| var(key).filter(|value| !value.trim().is_empty());
    let smtp = env.require(
        SMTP_URL,
        set(SMTP_URL),
        "the mail server that sends password-reset and verification mails, e.g. `smtps://user:password@smtp.example.com:465`",
    )?;
    let transport = match smtp {
        Some(url) => {
            MailTransport::Smtp(SmtpUrl::parse(&url, env).map_err(|reason| ConfigError {
                key: SMTP_URL.to_owned(),
                value: SmtpUrl::redact(&url),
                reason,
            })?)
        }
        None => MailTransport::Outbox(
            set(MAIL_DIR).map_or_else(crate::mail::default_outbox, PathBuf::from),
        ),
    };
    let from = match (&transport, set(MAIL_FROM)) {
        (_, Some(from)) => from,
        (MailTransport::Smtp(_), None) => env
            .require(
                MAIL_FROM,
                None,
                "the sender of every mail, e.g. `Shop <no-reply@shop.example.com>`",
            )?
            .unwrap_or_else(|| crate::mail::DEVELOPMENT_FROM.to_owned()),
        (MailTransport::Outbox(_), None) => crate::mail::DEVELOPMENT_FROM.to_owned(),
    };
    let from = from.trim().parse().map_err(|err| ConfigError {
        key: MAIL_FROM.to_owned(),
        value: from.clone(),
        reason: format!("not a mailbox ({err}); e.g. `Shop <no-reply@shop.example.com>`"),
    })?;
    Ok(MailSettings { transport, from })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn mail(env: AppEnv, vars: &[(&str, &str)]) -> Result<MailSettings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        mail_from_env(env, |key| vars.get(key).cloned())
    }

    #[test]
    fn production_without_an_smtp_server_is_one_error_naming_the_variable() {
        for vars in [
            &[][..],
            &[(MAIL_DIR, "/tmp/mail")][..],
            &[(SMTP_URL, " ")][..],
        ] {
            let err = mail(AppEnv::Production, vars).unwrap_err().to_string();
            assert!(err.contains("`USER_SERVICE_SMTP_URL`"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn production_with_an_smtp_server_needs_a_sender() {
        let smtp = (SMTP_URL, "smtps://mailer:s3cret@smtp.example.com:465");
        let err = mail(AppEnv::Production, &[smtp]).unwrap_err().to_string();
        assert!(err.contains("`USER_SERVICE_MAIL_FROM`"), "{err}");
        let settings = mail(
            AppEnv::Production,
            &[smtp, (MAIL_FROM, "Shop <no-reply@shop.example.com>")],
        )
        .unwrap();
        assert!(matches!(settings.transport, MailTransport::Smtp(_)));
        assert_eq!(settings.from.email.to_string(), "no-reply@shop.example.com");
        assert!(
            !format!("{settings:?}").contains("s3cret"),
            "Debug hides the SMTP password: {settings:?}"
        );
    }

    #[test]
    fn a_bad_smtp_url_is_refused_without_echoing_its_password() {
        for url in [
            "http://mailer:s3cret@smtp.example.com",
            "smtp://mailer:s3cret@smtp.example.com:587",
            "smtp://mailer:s3cret@smtp.example.com:587?tls=opportunistic",
        ] {
            let err = mail(
                AppEnv::Production,
                &[(SMTP_URL, url), (MAIL_FROM, "no-reply@shop.example.com")],
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("USER_SERVICE_SMTP_URL"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn development_writes_mail_to_an_outbox_directory() {
        let settings = mail(AppEnv::Development, &[]).unwrap();
        assert_eq!(
            settings.transport,
            MailTransport::Outbox(std::env::temp_dir().join("user-service-mail"))
        );
        let settings = mail(AppEnv::Development, &[(MAIL_DIR, "/var/tmp/mail")]).unwrap();
        assert_eq!(
            settings.transport,
            MailTransport::Outbox(PathBuf::from("/var/tmp/mail"))
        );
        let err = mail(AppEnv::Development, &[(MAIL_FROM, "nobody")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("USER_SERVICE_MAIL_FROM"), "{err}");
    }
}
