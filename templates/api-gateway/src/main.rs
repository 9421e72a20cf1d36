#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::server::run(platform::topology::API_GATEWAY, api_gateway::start, &[]).await
}
