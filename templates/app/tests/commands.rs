//! The app binary's own commands on a real `PostgreSQL` (`TEST_DATABASE_URL`, default the local
//! server): `migrate` puts every module's tables in its schema, `create-admin` makes an admin
//! in the user module's.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs the built `app` with `args`, `stdin` as standard input and `DATABASE_URL=url`; whether
/// it succeeded and what it printed.
fn app(url: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_app"))
        .args(args)
        .env("APP_ENV", "development")
        .env("DATABASE_URL", url)
        .env("USER_SERVICE_ARGON2_MEMORY_KIB", "8")
        .env("USER_SERVICE_ARGON2_ITERATIONS", "1")
        .env(
            "USER_SERVICE_MAIL_DIR",
            std::env::temp_dir().join("app-commands-mail"),
        )
        .env_remove("CREATE_ADMIN_EMAIL")
        .env_remove("CREATE_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the app binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn migrate_puts_each_modules_tables_in_its_schema_and_create_admin_uses_the_users() {
    let (pool, url) = testing::pg::fresh_database("app").await;
    let (ok, printed) = app(&url, &["migrate"], "");
    assert!(ok, "{printed}");
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT table_schema::text FROM information_schema.tables \
         WHERE table_name = '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        schemas,
        [
            "inventory_service",
            "notification_service",
            "order_service",
            "payment_service",
            "product_service",
            "user_service"
        ]
    );
    // Again: nothing left to apply, and that is no failure.
    let (ok, printed) = app(&url, &["migrate"], "");
    assert!(ok, "{printed}");

    let (ok, printed) = app(
        &url,
        &["create-admin", "--email", "ops@example.com"],
        "operator passphrase 1\n",
    );
    assert!(ok, "{printed}");
    assert!(printed.contains("admin created"), "{printed}");
    let role: String =
        sqlx::query_scalar("SELECT role FROM user_service.users WHERE email = 'ops@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(role, "admin");
}

#[test]
fn migrate_without_a_database_says_what_it_needs() {
    let output = Command::new(env!("CARGO_BIN_EXE_app"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .output()
        .expect("the app binary runs");
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("DATABASE_URL"), "{printed}");
}
