//! What the user service's test suites share: a mailer that keeps what it is given, and
//! settings with cheap hashing.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::sync::Mutex;

use async_trait::async_trait;
use user_service::config::{HashingCost, Settings};
use user_service::mail::{Mail, MailError, MailSettings, Mailer};

/// The password every test account has.
pub const PASSWORD: &str = "correct horse battery";

/// Keeps every mail instead of sending it.
#[derive(Default)]
pub struct CapturingMailer(Mutex<Vec<Mail>>);

impl CapturingMailer {
    /// Every mail so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        self.0.lock().unwrap().clone()
    }

    /// The reset tokens mailed to `email`, oldest first.
    pub fn reset_tokens(&self, email: &str) -> Vec<String> {
        self.mails()
            .into_iter()
            .filter_map(|mail| match mail {
                Mail::PasswordReset { to, token, .. } if to.as_str() == email => Some(token),
                _ => None,
            })
            .collect()
    }

    /// The verification tokens mailed to `email`, oldest first.
    pub fn verification_tokens(&self, email: &str) -> Vec<String> {
        self.mails()
            .into_iter()
            .filter_map(|mail| match mail {
                Mail::EmailVerification { to, token, .. } if to.as_str() == email => Some(token),
                _ => None,
            })
            .collect()
    }

    /// The newest verification token mailed to `email`.
    pub fn verification_token(&self, email: &str) -> String {
        self.verification_tokens(email)
            .pop()
            .unwrap_or_else(|| panic!("no verification mail to {email}: {:?}", self.mails()))
    }

    /// The addresses the notices to `email` say the account moved to.
    pub fn change_notices(&self, email: &str) -> Vec<String> {
        self.mails()
            .into_iter()
            .filter_map(|mail| match mail {
                Mail::EmailChanged { to, new_email, .. } if to.as_str() == email => {
                    Some(new_email.to_string())
                }
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl Mailer for CapturingMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

/// The defaults with hashing cheap enough for many accounts, and mail (where the service
/// builds its own mailer) in an outbox directory of its own.
pub fn settings() -> Settings {
    let outbox = std::env::temp_dir().join(format!(
        "user-service-test-mail-{}",
        uuid::Uuid::new_v4().simple()
    ));
    Settings {
        hashing: HashingCost::insecure_for_tests(),
        mail: MailSettings::outbox(outbox),
        ..Settings::default()
    }
}
