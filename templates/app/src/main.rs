//! app: every module in one process, behind one port.

use app::{MIGRATIONS, start};
use platform::topology::APP;
use user_service::admin::CREATE_ADMIN;
use user_service::keys::{GENERATE_SIGNING_KEY, PUBLIC_KEY};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `app migrate` applies every module's migrations, each in its schema, and exits (for a
    // Job or init container); `app create-admin --email …` creates a verified admin and exits;
    // `generate-signing-key` and `public-key` make the token keys (docs/SECURITY.md).
    platform::server::run_with(
        APP,
        start,
        MIGRATIONS,
        &[CREATE_ADMIN, GENERATE_SIGNING_KEY, PUBLIC_KEY],
    )
    .await
}
