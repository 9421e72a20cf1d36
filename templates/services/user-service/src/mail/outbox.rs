//! The development mailer: every mail becomes an `.eml` file (the message as an SMTP server
//! would get it) in an outbox directory the developer reads; nothing is delivered. The
//! files carry tokens, so the directory must be private to its owner: it is created so, and an
//! existing one that others may enter is refused rather than changed.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Utc;
use lettre::message::Mailbox;

use super::{Mail, MailError, Mailer};

/// Writes each mail to `<dir>/<UTC time>-<random>.eml`, so the newest sorts last.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// The outbox in `dir`, created (mode 0700 on Unix) if missing; an existing directory that
    /// its group or others may read is refused, naming the directory and the fix.
    pub fn new(dir: PathBuf, from: Mailbox) -> anyhow::Result<Self> {
        prepare(&dir).map_err(|err| {
            anyhow::anyhow!(
                "mail outbox `{}`: {err}; set USER_SERVICE_MAIL_DIR to a directory of your own",
                dir.display()
            )
        })?;
        Ok(Self { dir, from })
    }

    /// The directory the mails are written to.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(unix)]
fn prepare(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "others may read it (mode {mode:o}) and the mails carry tokens: `chmod 700` it"
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn prepare(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Writes `bytes` to a new file at `path` that only its owner may read.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let bytes = mail.message(&self.from)?.formatted();
        let name = format!(
            "{}-{}.eml",
            Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let path = self.dir.join(name);
        let file = path.clone();
        tokio::task::spawn_blocking(move || write_new(&file, &bytes))
            .await
            .map_err(|err| MailError(format!("writing the mail stopped: {err}")))?
            .map_err(|err| MailError(format!("cannot write `{}`: {err}", path.display())))?;
        tracing::info!(
            mail = mail.kind(),
            to = %mail.to(),
            path = %path.display(),
            "mail written to the development outbox (not sent)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!(
            "user-service-outbox-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    fn from() -> Mailbox {
        super::super::DEVELOPMENT_FROM.parse().unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn the_outbox_is_created_private_and_a_shared_one_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = scratch().join("nested");
        OutboxMailer::new(dir.clone(), from()).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = OutboxMailer::new(dir.clone(), from())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("chmod 700") && err.contains("USER_SERVICE_MAIL_DIR"),
            "{err}"
        );
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
