//! Mail to account holders: what the service tells them ([`Mail`]: a password-reset token, an
//! email-verification token, a notice that the address changed) and how it reaches them (a
//! [`Mailer`]): SMTP ([`smtp::SmtpMailer`]) in production, `.eml` files in an outbox directory
//! ([`outbox::OutboxMailer`]) in development. No mailer writes a mail's body, and so its token,
//! to the log: the log says which mail went to whom and where (`Debug` of a [`Mail`] hides the
//! token too).

pub mod outbox;
pub mod smtp;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};

pub use crate::mail::smtp::SmtpUrl;
use crate::models::Email;

/// The sender in development when `USER_SERVICE_MAIL_FROM` is unset.
pub const DEVELOPMENT_FROM: &str = "user-service <no-reply@localhost>";

/// The development outbox when `USER_SERVICE_MAIL_DIR` is unset: `<temp dir>/user-service-mail`.
#[must_use]
pub fn default_outbox() -> PathBuf {
    std::env::temp_dir().join("user-service-mail")
}

/// Where mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// To this SMTP server (`USER_SERVICE_SMTP_URL`).
    Smtp(SmtpUrl),
    /// Into this directory, one `.eml` file per mail, delivered to nobody (development only).
    Outbox(PathBuf),
}

/// How mail leaves the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// The sender of every mail (`USER_SERVICE_MAIL_FROM`).
    pub from: Mailbox,
}

impl MailSettings {
    /// The development outbox `dir`, from [`DEVELOPMENT_FROM`].
    ///
    /// # Panics
    ///
    /// Only on a bug: [`DEVELOPMENT_FROM`] not being a mailbox (a test guards it).
    #[must_use]
    pub fn outbox(dir: PathBuf) -> Self {
        Self {
            transport: MailTransport::Outbox(dir),
            from: DEVELOPMENT_FROM
                .parse()
                .expect("the development sender is a valid mailbox (tested)"),
        }
    }

    /// The development defaults: the outbox under the system temp dir.
    #[must_use]
    pub fn development() -> Self {
        Self::outbox(default_outbox())
    }
}

/// Why a mail was not delivered. The text names the transport's failure, never the mail's body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

/// A mail to one account holder.
#[derive(Clone, PartialEq, Eq)]
pub enum Mail {
    /// A password-reset token for the account of `to`.
    PasswordReset {
        to: Email,
        token: String,
        expires_at: DateTime<Utc>,
    },
    /// A token that confirms `to` belongs to the account holder.
    EmailVerification {
        to: Email,
        token: String,
        expires_at: DateTime<Utc>,
    },
    /// To the address an account had: it now has `new_email`.
    EmailChanged {
        to: Email,
        new_email: Email,
        at: DateTime<Utc>,
    },
}

impl fmt::Debug for Mail {
    /// The kind and the recipient: a token never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("kind", &self.kind())
            .field("to", self.to())
            .finish_non_exhaustive()
    }
}

impl Mail {
    /// The recipient.
    #[must_use]
    pub fn to(&self) -> &Email {
        match self {
            Self::PasswordReset { to, .. }
            | Self::EmailVerification { to, .. }
            | Self::EmailChanged { to, .. } => to,
        }
    }

    /// What kind of mail it is, for the log.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PasswordReset { .. } => "password reset",
            Self::EmailVerification { .. } => "email verification",
            Self::EmailChanged { .. } => "email changed",
        }
    }

    #[must_use]
    pub fn subject(&self) -> &'static str {
        match self {
            Self::PasswordReset { .. } => "Reset your password",
            Self::EmailVerification { .. } => "Confirm your email address",
            Self::EmailChanged { .. } => "The email address of your account was changed",
        }
    }

    /// The plain-text body, in lines of at most 74 characters (besides long addresses): lettre
    /// then sends it as it is (`7bit`), and every mail reader shows it as written. A token
    /// stands on a line of its own. A front end would put its own link around the token here.
    #[must_use]
    pub fn body(&self) -> String {
        let time = |at: &DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
        match self {
            Self::PasswordReset {
                to,
                token,
                expires_at,
            } => format!(
                "Someone asked to reset the password of the account {to}.\n\n\
                 Your reset token:\n\n    {token}\n\n\
                 Send it with your new password to POST /api/v1/auth/password-reset/confirm\n\
                 before {}. It works once.\n\n\
                 If you did not ask for this, ignore this mail; your password stays.\n",
                time(expires_at)
            ),
            Self::EmailVerification {
                to,
                token,
                expires_at,
            } => format!(
                "Please confirm that {to} is your address.\n\n\
                 Your verification token:\n\n    {token}\n\n\
                 Log in and send it to POST /api/v1/auth/verify-email\n\
                 before {}.\n\n\
                 If you did not create an account or change its address, ignore this mail.\n",
                time(expires_at)
            ),
            Self::EmailChanged { to, new_email, at } => format!(
                "The email address of your account was changed at {}\n\
                 from {to}\n\
                 to {new_email}.\n\n\
                 If you made this change, there is nothing to do. If you did not, someone\n\
                 who knows your password changed it: contact support at once. This address\n\
                 gets no more mail about the account.\n",
                time(at)
            ),
        }
    }

    /// The RFC 5322 message from `from`.
    pub fn message(&self, from: &Mailbox) -> Result<Message, MailError> {
        let to = self
            .to()
            .as_str()
            .parse()
            .map_err(|err| MailError(format!("cannot mail `{}`: {err}", self.to())))?;
        Message::builder()
            .from(from.clone())
            .to(Mailbox::new(None, to))
            .subject(self.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(self.body())
            .map_err(|err| MailError(format!("cannot build the {} mail: {err}", self.kind())))
    }
}

/// Delivers mail. Implementations log where each mail went, never its body.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// The mailer `settings` describe, with a start-up log line saying where mail goes. The outbox
/// directory is created (readable by its owner only) or checked now; SMTP connects per mail.
pub fn mailer(settings: &MailSettings) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &settings.transport {
        MailTransport::Smtp(url) => {
            let mailer = smtp::SmtpMailer::new(url, settings.from.clone())?;
            tracing::info!(server = %url, from = %settings.from, "mail: SMTP");
            Arc::new(mailer)
        }
        MailTransport::Outbox(dir) => {
            let mailer = outbox::OutboxMailer::new(dir.clone(), settings.from.clone())?;
            tracing::warn!(
                outbox = %dir.display(),
                "mail: development outbox, nothing is delivered (each mail is a file there; set USER_SERVICE_SMTP_URL to send)"
            );
            Arc::new(mailer)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset() -> Mail {
        Mail::PasswordReset {
            to: Email::parse("ada@example.com").unwrap(),
            token: "f".repeat(64),
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn the_development_sender_is_a_valid_mailbox() {
        let settings = MailSettings::development();
        assert_eq!(settings.from.email.to_string(), "no-reply@localhost");
    }

    #[test]
    fn every_line_of_every_mail_fits_in_74_characters() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let ada = Email::parse("ada.lovelace@example.com").unwrap();
        let token = "f".repeat(64);
        for mail in [
            reset(),
            Mail::EmailVerification {
                to: ada.clone(),
                token,
                expires_at: at,
            },
            Mail::EmailChanged {
                to: ada,
                new_email: Email::parse("ada@analytical-engines.example").unwrap(),
                at,
            },
        ] {
            for line in mail.body().lines() {
                assert!(line.len() <= 74, "{} mail: {line:?}", mail.kind());
            }
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", reset());
        assert!(shown.contains("password reset") && shown.contains("ada@example.com"));
        assert!(!shown.contains(&"f".repeat(64)), "{shown}");
    }

    #[test]
    fn a_message_carries_the_token_on_a_line_of_its_own_in_plain_text() {
        let from: Mailbox = "Shop <no-reply@shop.example.com>".parse().unwrap();
        let raw = String::from_utf8(reset().message(&from).unwrap().formatted()).unwrap();
        assert!(raw.contains("To: ada@example.com"), "{raw}");
        assert!(
            raw.contains("From: Shop <no-reply@shop.example.com>"),
            "{raw}"
        );
        assert!(raw.contains("Subject: Reset your password"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Transfer-Encoding: 7bit"),
            "short ASCII lines need no encoding that rewraps them: {raw}"
        );
        assert!(
            raw.contains(&format!("\r\n    {}\r\n", "f".repeat(64))),
            "{raw}"
        );
        assert!(raw.contains("2027-01-15 08:00 UTC"), "{raw}");
    }
}
