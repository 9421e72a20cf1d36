//! Mail through the real transports, started as the service starts them: the development
//! outbox writes a readable `.eml` with the token while the log only says where it went; SMTP
//! hands the mail to a server (a tiny one speaking just enough SMTP, on 127.0.0.1 in this
//! test); production without an SMTP server does not start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use platform::ServiceConfig;
use platform::config::AppEnv;
use platform::health::Readiness;
use platform::topology::USER_SERVICE;
use serde_json::{Value, json};
use shared_events::InMemoryEventBus;
use testing::TestClient;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use user_service::config::Settings;
use user_service::mail::{MailSettings, MailTransport, SmtpUrl};
use user_service::start_with;

mod common;
use common::{PASSWORD, settings};

/// Everything logged while it is the thread's subscriber, as text.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Captures every event at every level on this thread until the guard is dropped.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let log = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || log.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fresh directory under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()))
}

/// The user service as `start` builds it, with `mail`.
async fn service(mail: MailSettings) -> TestClient {
    let router = start_with(
        ServiceConfig::for_tests(USER_SERVICE),
        Settings { mail, ..settings() },
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .unwrap();
    TestClient::new(router)
}

async fn post(client: &TestClient, path: &str, body: &Value) -> StatusCode {
    client.post(path).json(body).send().await.status
}

/// Registers ada@example.com (a verification mail) and asks for a reset of her password (a
/// reset mail); both requests succeed whatever becomes of the mails.
async fn register_and_ask_for_a_reset(client: &TestClient) {
    let register = json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"});
    assert_eq!(
        post(client, "/api/v1/auth/register", &register).await,
        StatusCode::CREATED
    );
    let reset = json!({"email": "ada@example.com"});
    assert_eq!(
        post(client, "/api/v1/auth/password-reset", &reset).await,
        StatusCode::ACCEPTED
    );
}

/// The 64-hex-digit token on a line of its own in `text`.
fn token_in(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no token in:\n{text}"))
        .to_owned()
}

/// The `.eml` files in `dir`, oldest first.
fn mails_in(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect()
}

#[tokio::test]
async fn the_outbox_gets_a_readable_mail_with_the_token_and_the_log_only_where_it_went() {
    let dir = scratch("user-service-outbox");
    let log = CapturedLog::default();
    let _capture = log.install();
    let client = service(MailSettings::outbox(dir.clone())).await;
    register_and_ask_for_a_reset(&client).await;

    let mails = mails_in(&dir);
    assert_eq!(mails.len(), 2, "a verification mail, then the reset mail");
    let reset_mail = &mails[1];
    assert!(reset_mail.contains("To: ada@example.com"), "{reset_mail}");
    assert!(
        reset_mail.contains("Subject: Reset your password"),
        "{reset_mail}"
    );
    assert!(
        reset_mail.contains("POST /api/v1/auth/password-reset/confirm"),
        "{reset_mail}"
    );
    let reset_token = token_in(reset_mail);
    let verification_token = token_in(&mails[0]);

    let logged = log.text();
    assert!(
        logged.contains("mail written to the development outbox"),
        "{logged}"
    );
    assert!(logged.contains(&dir.display().to_string()), "{logged}");
    for token in [&reset_token, &verification_token] {
        assert!(
            !logged.contains(token.as_str()),
            "a token reached the log:\n{logged}"
        );
    }

    // The token from the file works.
    let confirm = json!({"token": reset_token, "new_password": "a brand new passphrase"});
    assert_eq!(
        post(&client, "/api/v1/auth/password-reset/confirm", &confirm).await,
        StatusCode::NO_CONTENT
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn production_without_an_smtp_server_does_not_start_and_says_which_variable_is_missing() {
    let mut config = ServiceConfig::for_tests(USER_SERVICE);
    config.env = AppEnv::Production;
    let err = start_with(
        config,
        Settings {
            mail: MailSettings::outbox(scratch("never-created")),
            ..settings()
        },
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .expect_err("production refuses the development outbox");
    let line = format!("{err:#}");
    assert!(line.contains("`USER_SERVICE_SMTP_URL`"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
}

/// What the SMTP server below was told: every command line, then the message.
#[derive(Debug, Default, Clone)]
struct Received {
    commands: Vec<String>,
    data: String,
}

/// A server speaking just enough SMTP for one client at a time: it greets, says yes to EHLO,
/// MAIL, RCPT and RSET, takes DATA up to the lone dot, and closes on QUIT. Every session's
/// commands and message are kept.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<Received>>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let kept = sessions.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let mut session = Received::default();
            write.write_all(b"220 test ESMTP ready\r\n").await.unwrap();
            while let Ok(Some(line)) = lines.next_line().await {
                session.commands.push(line.clone());
                let verb = line
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 test\r\n",
                    "DATA" => {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if line == "." {
                                break;
                            }
                            session.data.push_str(&line);
                            session.data.push('\n');
                        }
                        b"250 queued\r\n"
                    }
                    "QUIT" => {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                write.write_all(reply).await.unwrap();
            }
            kept.lock().unwrap().push(session);
        }
    });
    (port, sessions, server)
}

#[tokio::test]
async fn smtp_hands_the_mail_to_the_server_and_the_log_names_only_the_server() {
    let (port, sessions, server) = smtp_server().await;
    let url = SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}"), AppEnv::Development).unwrap();
    let mail = MailSettings {
        transport: MailTransport::Smtp(url),
        from: "Shop <no-reply@shop.example.com>".parse().unwrap(),
    };
    let log = CapturedLog::default();
    let _capture = log.install();
    let client = service(mail).await;
    register_and_ask_for_a_reset(&client).await;

    let sessions = sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 2, "one connection per mail: {sessions:?}");
    let session = &sessions[1];
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<no-reply@shop.example.com>")),
        "{session:?}"
    );
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("RCPT TO:<ada@example.com>")),
        "{session:?}"
    );
    assert!(
        session.data.contains("Subject: Reset your password"),
        "{session:?}"
    );
    let token = token_in(&session.data);

    let logged = log.text();
    assert!(logged.contains("mail sent"), "{logged}");
    assert!(
        logged.contains(&format!("smtp://127.0.0.1:{port}")),
        "{logged}"
    );
    assert!(
        !logged.contains(&token),
        "the token reached the log:\n{logged}"
    );

    let confirm = json!({"token": token, "new_password": "a brand new passphrase"});
    assert_eq!(
        post(&client, "/api/v1/auth/password-reset/confirm", &confirm).await,
        StatusCode::NO_CONTENT,
        "the mailed token works"
    );
    server.abort();
}

#[tokio::test]
async fn a_mail_server_that_is_down_fails_no_request_and_the_log_keeps_the_token_out() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}"), AppEnv::Development).unwrap();
    let mail = MailSettings {
        transport: MailTransport::Smtp(url),
        from: "no-reply@shop.example.com".parse().unwrap(),
    };
    let log = CapturedLog::default();
    let _capture = log.install();
    let client = service(mail).await;
    register_and_ask_for_a_reset(&client).await;
    let logged = log.text();
    assert!(logged.contains("mail not sent"), "{logged}");
    assert!(
        !logged.lines().any(|line| line
            .split_whitespace()
            .any(|word| word.len() >= 64 && word.bytes().all(|b| b.is_ascii_hexdigit()))),
        "something token-like reached the log:\n{logged}"
    );
}
