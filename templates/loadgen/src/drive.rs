//! The open-loop driver: sends each request of the [`Schedule`] at its intended start, never
//! waiting for earlier answers, with at most `--max-in-flight` outstanding. When the cap is
//! full a request waits for a slot and its wait counts in its latency, which is always taken
//! from the intended start (as wrk2 does). Requests the cap holds back past the run's end
//! plus one `--timeout` are never sent and are counted as failed (`unsent`), not dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::Failure;
use crate::journey::{Journey, PlacedOrder, Shop};
use crate::record::Recorder;
use crate::schedule::Schedule;

/// How the driver paces and bounds the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests outstanding at once.
    pub max_in_flight: usize,
    /// How long after the last intended start a held-back request may still go out.
    pub grace: Duration,
}

/// What the run observed, and the orders it placed.
#[derive(Debug)]
pub struct Driven {
    pub recorder: Recorder,
    pub orders: Vec<PlacedOrder>,
    /// From the first intended start to the last answer.
    pub elapsed: Duration,
}

/// Runs `schedule` against `shop`; `journeys[e]` is what entry path `e` does.
pub async fn drive(
    shop: Arc<Shop>,
    schedule: &Schedule,
    journeys: &[Journey],
    limits: Limits,
) -> Driven {
    let slots = Arc::new(Semaphore::new(limits.max_in_flight));
    let observed = Arc::new(Mutex::new((Recorder::new(journeys.len()), Vec::new())));
    let start = Instant::now();
    let last_start = schedule
        .len()
        .checked_sub(1)
        .map_or(Duration::ZERO, |i| schedule.offset(i));
    let send_by = start + last_start + limits.grace;
    let mut in_flight = JoinSet::new();
    for i in 0..schedule.len() {
        let (entry, due) = (schedule.entry(i), schedule.offset(i));
        tokio::time::sleep_until(start + due).await;
        let Ok(slot) = tokio::time::timeout_at(send_by, slots.clone().acquire_owned()).await else {
            let mut observed = observed.lock().expect("no holder of the lock panics");
            let now = start.elapsed();
            for j in i..schedule.len() {
                observed.0.done(
                    schedule.entry(j),
                    schedule.offset(j),
                    now,
                    Err(&Failure::Unsent),
                );
            }
            break;
        };
        let slot = slot.expect("the semaphore is never closed");
        let (shop, observed, journey) = (shop.clone(), observed.clone(), journeys[entry]);
        observed
            .lock()
            .expect("no holder of the lock panics")
            .0
            .sent(start.elapsed().saturating_sub(due));
        in_flight.spawn(async move {
            let outcome = shop.perform(journey, i).await;
            let done = start.elapsed();
            drop(slot);
            let mut observed = observed.lock().expect("no holder of the lock panics");
            match outcome {
                Ok(order) => {
                    observed.0.done(entry, due, done, Ok(()));
                    observed.1.extend(order);
                }
                Err(failure) => observed.0.done(entry, due, done, Err(&failure)),
            }
        });
        // Forget finished tasks as we go, so the set holds only what is in flight.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let (recorder, orders) = Arc::try_unwrap(observed)
        .expect("every task has finished")
        .into_inner()
        .expect("no holder of the lock panicked");
    Driven {
        recorder,
        orders,
        elapsed,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    use super::*;
    use crate::api::Api;
    use crate::journey::Product;

    /// A server on loopback that answers every request with 200 after `delay`, one request at
    /// a time per connection; answers its URL.
    fn slow_server(delay: Duration) -> reqwest::Url {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut line = String::new();
                        // Headers end with an empty line; a GET has no body.
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        std::thread::sleep(delay);
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url.parse().unwrap()
    }

    fn shop(url: &reqwest::Url) -> Arc<Shop> {
        let product = Product {
            id: "p".into(),
            stock: 1,
        };
        Arc::new(Shop::new(
            Api::new(url, Duration::from_secs(5)),
            String::new(),
            vec![product],
            Vec::new(),
        ))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_server_shows_in_the_latency_of_the_requests_queued_behind_it() {
        // 20 requests due over one second, one at a time, each answered after 100 ms: the
        // last is due at 0.95 s but can only finish at about 2 s. Measured from the send, every
        // latency would be 100 ms (coordinated omission); from the intended start it is ~1 s.
        let url = slow_server(Duration::from_millis(100));
        let schedule = Schedule::new(20, Duration::from_secs(1), &[1]);
        let limits = Limits {
            max_in_flight: 1,
            grace: Duration::from_secs(10),
        };
        let driven = drive(shop(&url), &schedule, &[Journey::Browse], limits).await;
        let latency = &driven.recorder.entries[0].latency;
        assert_eq!(latency.len(), 20, "{:?}", driven.recorder.entries[0].errors);
        assert!(latency.min() >= 100_000, "min {} µs", latency.min());
        assert!(latency.max() >= 900_000, "max {} µs", latency.max());
        assert!(driven.elapsed >= Duration::from_millis(1_900));
        assert!(
            driven.recorder.lag.max() >= 800_000,
            "the sends were held back"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_held_back_past_the_grace_are_counted_unsent() {
        let url = slow_server(Duration::from_millis(300));
        let schedule = Schedule::new(20, Duration::from_millis(500), &[1]);
        let limits = Limits {
            max_in_flight: 1,
            grace: Duration::from_millis(100),
        };
        let driven = drive(shop(&url), &schedule, &[Journey::Browse], limits).await;
        let entry = &driven.recorder.entries[0];
        let unsent = entry.errors.get("unsent").copied().unwrap_or(0);
        assert!(unsent >= 5, "{:?}", entry.errors);
        assert_eq!(
            entry.latency.len() + unsent,
            10,
            "every request is accounted for"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fast_server_is_loaded_at_the_rate_not_faster() {
        let url = slow_server(Duration::ZERO);
        let schedule = Schedule::new(50, Duration::from_secs(1), &[1]);
        let limits = Limits {
            max_in_flight: 16,
            grace: Duration::from_secs(5),
        };
        let driven = drive(shop(&url), &schedule, &[Journey::Browse], limits).await;
        assert_eq!(driven.recorder.entries[0].latency.len(), 50);
        // The last request is due at 0.98 s: the run cannot end sooner.
        assert!(
            driven.elapsed >= Duration::from_millis(980),
            "{:?}",
            driven.elapsed
        );
        assert!(
            driven.elapsed < Duration::from_secs(3),
            "{:?}",
            driven.elapsed
        );
    }
}
