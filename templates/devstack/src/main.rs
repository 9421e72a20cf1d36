//! `cargo run -p devstack`: every service and the gateway in one process, configured from the
//! environment, until Ctrl-C or SIGTERM.

use platform::config::{LogFormat, env_or};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(env_or("LOG_FORMAT", LogFormat::Pretty)?);
    let stack = devstack::start(devstack::Options::from_env()?).await?;
    let bus = if stack.kafka.is_some() {
        "one Kafka event bus"
    } else {
        "one in-memory event bus"
    };
    println!("\nThe devstack is up: every unit in this process, {bus}.\n");
    println!("{stack}");
    println!("Press Ctrl-C to stop.");
    platform::server::shutdown_signal().await;
    stack.shutdown().await
}
