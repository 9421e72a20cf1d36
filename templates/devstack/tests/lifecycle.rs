//! Starting and stopping the whole stack.

use std::time::Duration;

use devstack::Options;
use platform::topology;
use testing::stub;

fn client() -> reqwest::Client {
    stub::http_client(Some(Duration::from_secs(2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unit_is_ready_once_start_returns_and_gone_after_shutdown() {
    let stack = devstack::start(Options::for_tests()).await.unwrap();
    let http = client();
    assert_eq!(stack.urls.len(), topology::SERVICES.len() + 1);
    assert_eq!(stack.urls[topology::API_GATEWAY.name], stack.gateway_url);
    for (name, url) in &stack.urls {
        let health: serde_json::Value = http
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["service"], *name, "{url} is {name}");
        let ready = http.get(format!("{url}/ready")).send().await.unwrap();
        assert_eq!(ready.status(), reqwest::StatusCode::OK, "{name}");
    }
    let summary = stack.to_string();
    for (name, url) in &stack.urls {
        assert!(summary.contains(&format!("{name:<22} {url}")), "{summary}");
    }
    assert!(summary.contains("idempotency-key"), "{summary}");

    let urls = stack.urls.clone();
    tokio::time::timeout(Duration::from_secs(5), stack.shutdown())
        .await
        .expect("shutdown finishes")
        .unwrap();
    for (name, url) in urls {
        assert!(
            client().get(format!("{url}/health")).send().await.is_err(),
            "{name} still answers at {url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_on_ephemeral_ports_run_side_by_side() {
    let (one, two) = tokio::join!(
        devstack::start(Options::for_tests()),
        devstack::start(Options::for_tests())
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_ne!(one.gateway_url, two.gateway_url);
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}
