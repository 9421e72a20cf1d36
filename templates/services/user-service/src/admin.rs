//! Admins are never made by registering: `user-service create-admin` creates a verified admin
//! on the service's database (`DATABASE_URL`, migrated first) and exits, and in development
//! the devstack's admin is made at start-up ([`ensure_development_admin`]). The email comes
//! from `--email` or `CREATE_ADMIN_EMAIL`, the password from `CREATE_ADMIN_PASSWORD` or standard
//! input (prompted twice without echo on a terminal, otherwise its first line); it is never a
//! flag, so no process list shows it. An address that is a verified admin's already is left
//! alone, so a deploy Job may run the command every time; any other account on it is an error.

use std::io::{BufRead, IsTerminal as _};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail, ensure};
use platform::ServiceConfig;
use platform::config::AppEnv;
use platform::server::{CommandFuture, CommandRun, UnitCommand};
use platform::topology::USER_SERVICE;

use crate::config::{AdminAccount, Settings};
use crate::repository::postgres::PostgresUserRepository;
use crate::service::{AdminBootstrap, UserService};

/// `user-service create-admin [--email EMAIL] [--name NAME]`.
pub const CREATE_ADMIN: UnitCommand = UnitCommand {
    name: "create-admin",
    purpose: "create a verified admin (`--email EMAIL`, the password on standard input or in CREATE_ADMIN_PASSWORD)",
    run: CommandRun::Configured(run_boxed),
};

/// The variable `--email` falls back to.
pub const EMAIL_VAR: &str = "CREATE_ADMIN_EMAIL";
/// The variable read before standard input for the password.
pub const PASSWORD_VAR: &str = "CREATE_ADMIN_PASSWORD";
/// The name of an admin created without `--name`.
pub const DEFAULT_NAME: &str = "Admin";

const USAGE: &str = "usage: user-service create-admin [--email EMAIL] [--name NAME], with the password in CREATE_ADMIN_PASSWORD or on standard input";

/// What `create-admin` was asked for. The password is absent when it is to be read from
/// standard input.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub email: String,
    pub name: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("email", &self.email)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Parses the arguments after `create-admin` (`--email X` or `--email=X`, `--name`), with
    /// `var` reading the environment.
    pub fn parse(args: &[String], var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let set = |key: &str| var(key).filter(|value| !value.trim().is_empty());
        let (mut email, mut name) = (set(EMAIL_VAR), None);
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let slot = match flag {
                "--email" => &mut email,
                "--name" => &mut name,
                "--password" => bail!(
                    "`--password` would show the password in the process list: set {PASSWORD_VAR} or pipe it on standard input"
                ),
                other => bail!("unknown argument `{other}`; {USAGE}"),
            };
            let value = inline
                .or_else(|| args.next().cloned())
                .ok_or_else(|| anyhow!("`{flag}` needs a value; {USAGE}"))?;
            *slot = Some(value);
        }
        Ok(Self {
            email: email.ok_or_else(|| anyhow!("no email: pass `--email` or set {EMAIL_VAR}"))?,
            name: name.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
            password: var(PASSWORD_VAR).filter(|password| !password.is_empty()),
        })
    }
}

fn run_boxed(config: ServiceConfig, args: Vec<String>) -> CommandFuture {
    Box::pin(run(config, args))
}

/// `user-service create-admin`: with the service's settings (so production needs what serving
/// needs), on the database of `DATABASE_URL`.
pub async fn run(config: ServiceConfig, args: Vec<String>) -> anyhow::Result<()> {
    let request = Request::parse(&args, |key| std::env::var(key).ok())?;
    let settings = Settings::from_env(config.env)?;
    let Some(database) = settings.database.clone() else {
        bail!(
            "`create-admin` needs DATABASE_URL, the user service's database: an admin kept in this process's memory would be gone when it exits"
        );
    };
    // Run by a unit that hosts this crate as a module (a modular monolith's `app`), the
    // database is shared and this module's tables are in its own schema.
    let database = if config.unit == USER_SERVICE {
        database
    } else {
        database.in_schema(&USER_SERVICE.name.replace('-', "_"))
    };
    let password = match request.password {
        Some(password) => password,
        None => read_password(&request.email)?,
    };
    let pool = platform::db::open(Some(&database), &crate::MIGRATOR)
        .await?
        .context("the database was given")?;
    let service = UserService::new(
        Arc::new(PostgresUserRepository::new(pool.clone())),
        crate::mail::mailer(&settings.mail)?,
        config.jwt_keys.clone(),
        settings,
    )
    .await?;
    let created = service
        .create_admin(&request.email, password, &request.name)
        .await;
    pool.close().await;
    // The service logs a creation itself.
    if let AdminBootstrap::Existed(admin) = created.map_err(|err| anyhow!("{}", err.detail))? {
        tracing::info!(
            user_id = %admin.id,
            email = %admin.email,
            "a verified admin has this address already; nothing was changed (its password neither)"
        );
    }
    Ok(())
}

/// The password from standard input: prompted twice without echo on a terminal, else its
/// first line.
fn read_password(email: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {email}: "))?;
        let again = rpassword::prompt_password("The same password again: ")?;
        ensure!(
            first == again,
            "the two passwords differ; nothing was created"
        );
        Ok(first)
    } else {
        first_line(std::io::stdin().lock())
    }
}

/// The first line of `input` without its line ending (other whitespace is the password's).
fn first_line(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').map_or(line.as_str(), |line| {
        line.strip_suffix('\r').unwrap_or(line)
    });
    ensure!(
        !password.is_empty(),
        "no password on standard input: pipe it in, or set {PASSWORD_VAR}"
    );
    Ok(password.to_owned())
}

/// Makes sure `account` is a verified admin of `service` (created unless it is one already):
/// the devstack's admin. Refused outside development.
pub async fn ensure_development_admin(
    env: AppEnv,
    service: &UserService,
    account: &AdminAccount,
) -> anyhow::Result<()> {
    ensure!(
        env.is_development(),
        "a development admin (`{}`) needs APP_ENV=development; create a deployment's admins with `user-service create-admin`",
        account.email
    );
    let created = service
        .create_admin(
            account.email.as_str(),
            account.password.clone(),
            DEFAULT_NAME,
        )
        .await
        .map_err(|err| anyhow!("development admin `{}`: {}", account.email, err.detail))?;
    match created {
        AdminBootstrap::Created(_) => {
            tracing::warn!(email = %account.email, "development admin created");
        }
        AdminBootstrap::Existed(_) => tracing::info!(
            email = %account.email,
            "development admin exists already; its password is left as it is"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(args: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<Request> {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        Request::parse(&args, |key| vars.get(key).map(|value| (*value).to_owned()))
    }

    #[test]
    fn the_email_comes_from_the_flag_or_the_environment_and_the_password_never_from_a_flag() {
        let request = parse(&["--email", "ops@example.com"], &[]).unwrap();
        assert_eq!(request.email, "ops@example.com");
        assert_eq!(request.name, DEFAULT_NAME);
        assert_eq!(request.password, None, "read from standard input later");

        let request = parse(
            &["--name=Ops Team"],
            &[
                (EMAIL_VAR, "ops@example.com"),
                (PASSWORD_VAR, "correct horse battery"),
            ],
        )
        .unwrap();
        assert_eq!(request.email, "ops@example.com");
        assert_eq!(request.name, "Ops Team");
        assert_eq!(request.password.as_deref(), Some("correct horse battery"));
        assert!(!format!("{request:?}").contains("correct horse"));

        let err = parse(&["--email", "ops@example.com", "--password", "x"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("process list") && err.contains(PASSWORD_VAR),
            "{err}"
        );
        assert!(parse(&[], &[]).unwrap_err().to_string().contains("--email"));
        assert!(
            parse(&["--email"], &[])
                .unwrap_err()
                .to_string()
                .contains("needs a value")
        );
        assert!(
            parse(&["--admin"], &[])
                .unwrap_err()
                .to_string()
                .contains("usage")
        );
    }

    #[test]
    fn the_password_is_the_first_line_of_standard_input_without_its_line_ending() {
        let read = |input: &str| first_line(input.as_bytes());
        assert_eq!(
            read("correct horse battery\nmore\n").unwrap(),
            "correct horse battery"
        );
        assert_eq!(read(" spaced out \r\n").unwrap(), " spaced out ");
        assert_eq!(read("no newline").unwrap(), "no newline");
        assert!(read("\n").unwrap_err().to_string().contains(PASSWORD_VAR));
        assert!(read("").is_err());
    }
}
