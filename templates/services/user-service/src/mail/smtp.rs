//! Mail over SMTP with lettre (rustls, Mozilla's root certificates): one connection per mail,
//! closed after it. The server comes from `USER_SERVICE_SMTP_URL`, whose password never reaches
//! a log or an error message.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use platform::config::AppEnv;
use url::Url;

use super::{Mail, MailError, Mailer};

/// How long one mail may take to hand over, connection included: a request waits for it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// An SMTP server: `smtps://user:password@host:465` (TLS from the start),
/// `smtp://user:password@host:587?tls=required` (STARTTLS, refused if the server does not offer
/// it), or `smtp://host:25` (no encryption: a relay on a network you trust, without
/// credentials). Percent-encode special characters in the user and password. `Debug` and
/// `Display` hide the password (`Display` shows only the scheme, host and port).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    /// Checks `raw`. In production a URL that would send its credentials unencrypted
    /// (`smtp://` without `tls=required`) is refused. The error never contains the password.
    pub fn parse(raw: &str, env: AppEnv) -> Result<Self, String> {
        const FORMS: &str = "use `smtps://user:password@host:465`, `smtp://user:password@host:587?tls=required` or `smtp://host:25`";
        let raw = raw.trim();
        let url = Url::parse(raw).map_err(|err| format!("not a URL ({err}); {FORMS}"))?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none_or(str::is_empty) {
            return Err(format!("not an SMTP server URL; {FORMS}"));
        }
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        if !matches!(tls.as_deref(), None | Some("required" | "opportunistic")) {
            return Err(format!(
                "`tls` must be `required` or `opportunistic`; {FORMS}"
            ));
        }
        let encrypted = url.scheme() == "smtps" || tls.as_deref() == Some("required");
        if env == AppEnv::Production && url.password().is_some() && !encrypted {
            return Err(format!(
                "would send the SMTP password unencrypted (or let a man in the middle strip STARTTLS); {FORMS}"
            ));
        }
        AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|err| format!("not usable: {err}; {FORMS}"))?;
        Ok(Self(raw.to_owned()))
    }

    /// `raw` with its password replaced by `***` (or `<hidden>` when it is no URL at all), for
    /// an error message.
    #[must_use]
    pub fn redact(raw: &str) -> String {
        match Url::parse(raw.trim()) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "<hidden>".to_owned(),
        }
    }
}

impl fmt::Display for SmtpUrl {
    /// `scheme://host:port`, for the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(url) => {
                // lettre's defaults: 465 for TLS, 587 for STARTTLS, 25 for neither.
                let starttls = url.query_pairs().any(|(key, _)| key == "tls");
                let default_port = match (url.scheme(), starttls) {
                    ("smtps", _) => 465,
                    (_, true) => 587,
                    _ => 25,
                };
                write!(
                    f,
                    "{}://{}:{}",
                    url.scheme(),
                    url.host_str().unwrap_or_default(),
                    url.port().unwrap_or(default_port)
                )
            }
            Err(_) => f.write_str("<hidden>"),
        }
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SmtpUrl")
            .field(&Self::redact(&self.0))
            .finish()
    }
}

/// Sends each mail over its own SMTP connection.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
}

impl SmtpMailer {
    /// A mailer for `url`, sending from `from`; connects only when it sends.
    pub fn new(url: &SmtpUrl, from: Mailbox) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
            .map_err(|err| anyhow::anyhow!("SMTP server {url}: {err}"))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        Ok(Self {
            transport,
            from,
            server: url.to_string(),
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = mail.message(&self.from)?;
        self.transport
            .send(message)
            .await
            .map_err(|err| MailError(format!("SMTP server {}: {err}", self.server)))?;
        tracing::info!(mail = mail.kind(), to = %mail.to(), server = %self.server, "mail sent");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let url = SmtpUrl::parse(
            "smtps://mailer:s3cret@smtp.example.com:465",
            AppEnv::Production,
        )
        .unwrap();
        assert_eq!(url.to_string(), "smtps://smtp.example.com:465");
        assert_eq!(
            format!("{url:?}"),
            "SmtpUrl(\"smtps://mailer:***@smtp.example.com:465\")"
        );
        assert_eq!(SmtpUrl::redact("smtps://mailer:s3cret@"), "<hidden>");
    }

    #[test]
    fn production_refuses_credentials_without_encryption_but_not_a_plain_relay() {
        let plain = "smtp://mailer:s3cret@smtp.example.com:587";
        assert!(SmtpUrl::parse(plain, AppEnv::Production).is_err());
        assert!(SmtpUrl::parse(plain, AppEnv::Development).is_ok());
        for fine in [
            "smtp://mailer:s3cret@smtp.example.com:587?tls=required",
            "smtps://mailer:s3cret@smtp.example.com",
            "smtp://relay.internal:25",
        ] {
            assert!(SmtpUrl::parse(fine, AppEnv::Production).is_ok(), "{fine}");
        }
        let err = SmtpUrl::parse("smtp://relay:25?tls=maybe", AppEnv::Development).unwrap_err();
        assert!(err.contains("`tls` must be"), "{err}");
    }
}
