//! Keyed concurrency for consumers, after Confluent's parallel consumer: events of one key (an
//! aggregate id) are handled one after another in the order they arrived, while events of
//! different keys run side by side on up to `concurrency` lanes. A key always maps to the same
//! lane (a hash of the key), so order within a key needs no bookkeeping; two keys that share a
//! lane wait for each other, which costs some throughput but never order.
//!
//! Each lane's queue holds at most `depth` items: a dispatcher that gets ahead of the handlers
//! waits in [`Lanes::dispatch`], so at most `concurrency × (depth + 1)` items are in flight.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lanes running `work` on the items dispatched to them.
pub struct Lanes<T> {
    senders: Vec<mpsc::Sender<T>>,
    tasks: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> Lanes<T> {
    /// Starts `concurrency` lanes (at least one), each queueing up to `depth` items (at least
    /// one) and running `work` on them one at a time.
    pub fn spawn<F, Fut>(concurrency: usize, depth: usize, work: F) -> Self
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let work = Arc::new(work);
        let (senders, tasks) = (0..concurrency.max(1))
            .map(|_| {
                let (sender, mut receiver) = mpsc::channel::<T>(depth.max(1));
                let work = work.clone();
                let task = tokio::spawn(async move {
                    while let Some(item) = receiver.recv().await {
                        work(item).await;
                    }
                });
                (sender, task)
            })
            .unzip();
        Self { senders, tasks }
    }

    /// How many lanes there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Never: there is always at least one lane.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The lane of `key`: the same for the same key, for the life of these lanes.
    #[must_use]
    pub fn lane_of(&self, key: &[u8]) -> usize {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let lanes = u64::try_from(self.senders.len()).unwrap_or(u64::MAX);
        usize::try_from(hasher.finish() % lanes).unwrap_or(0)
    }

    /// Queues `item` on the lane of `key`, waiting while that lane is full. Gives the item
    /// back when the lane has stopped (its work panicked).
    pub async fn dispatch(&self, key: &[u8], item: T) -> Result<(), T> {
        self.senders[self.lane_of(key)]
            .send(item)
            .await
            .map_err(|refused| refused.0)
    }

    /// Stops taking items, lets every lane finish what it has queued, and waits for them.
    pub async fn close(self) {
        drop(self.senders);
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "a consumer lane ended abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn items_of_one_key_keep_their_order_while_keys_run_side_by_side() {
        let seen: Arc<Mutex<Vec<(u8, u32)>>> = Arc::default();
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let lanes = {
            let (seen, running, most) = (seen.clone(), running.clone(), most.clone());
            Lanes::spawn(8, 4, move |(key, n): (u8, u32)| {
                let (seen, running, most) = (seen.clone(), running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    // Later items of a key finish faster: only the lane keeps them in order.
                    tokio::time::sleep(Duration::from_millis(u64::from(10 - n))).await;
                    seen.lock().unwrap().push((key, n));
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        };
        for n in 0..10 {
            for key in 0..16_u8 {
                lanes.dispatch(&[key], (key, n)).await.unwrap();
            }
        }
        lanes.close().await;
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 160, "every item ran once");
        for key in 0..16_u8 {
            let order: Vec<u32> = seen.iter().filter(|s| s.0 == key).map(|s| s.1).collect();
            assert_eq!(order, (0..10).collect::<Vec<_>>(), "key {key}");
        }
        assert!(
            most.load(std::sync::atomic::Ordering::SeqCst) > 1,
            "different keys ran concurrently"
        );
    }

    #[tokio::test]
    async fn a_key_always_gets_the_same_lane_and_one_lane_is_the_least() {
        let lanes = Lanes::spawn(0, 0, |(): ()| async {});
        assert_eq!(lanes.len(), 1);
        assert_eq!(lanes.lane_of(b"anything"), 0);
        let lanes = Lanes::spawn(16, 1, |(): ()| async {});
        assert_eq!(lanes.lane_of(b"order-1"), lanes.lane_of(b"order-1"));
        let used: std::collections::BTreeSet<usize> = (0..200)
            .map(|n| lanes.lane_of(format!("order-{n}").as_bytes()))
            .collect();
        assert!(used.len() > 8, "keys spread over the lanes: {used:?}");
    }
}
