//! Duplicates that wait for the first request: while one caller does the work for a key (an
//! idempotency key, a pending payment), a concurrent caller with the same key waits until that
//! work is finished — woken as soon as the first caller says so, and re-checking the store
//! every so often in case the work finished in another replica, whose wake-up this process
//! cannot see — or gives up after a bound.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What one look at the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T, P> {
    /// Finished (or never started): stop waiting with this.
    Done(T),
    /// Someone else is still at it; this is what was seen.
    InProgress(P),
}

/// How waiting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited<T, P> {
    Done(T),
    /// Still in progress when the bound ran out; the last thing seen.
    TimedOut(P),
}

/// Wake-ups for callers waiting on work that another caller holds, by key.
#[derive(Debug)]
pub struct InFlight<K> {
    waiters: Mutex<HashMap<K, Arc<Notify>>>,
    recheck_every: Duration,
}

impl<K: Eq + Hash + Clone> InFlight<K> {
    /// Waiters that re-check the store at least every `recheck_every`.
    #[must_use]
    pub fn new(recheck_every: Duration) -> Self {
        Self {
            waiters: Mutex::new(HashMap::new()),
            recheck_every,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Arc<Notify>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes everyone waiting on `key`; the caller that did the work calls it when done
    /// (whether the work succeeded or not).
    pub fn finished(&self, key: &K) {
        if let Some(notify) = self.lock().remove(key) {
            notify.notify_waiters();
        }
    }

    /// Looks with `check` until it answers [`Check::Done`] or `within` has passed, sleeping
    /// between looks until [`InFlight::finished`] is called for `key` or the re-check interval
    /// runs out. The first look happens at once, so a key no one holds costs one `check`.
    pub async fn wait_for<T, P, E, F, Fut>(
        &self,
        key: &K,
        within: Duration,
        mut check: F,
    ) -> Result<Waited<T, P>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<T, P>, E>>,
    {
        let deadline = Instant::now() + within;
        let result = loop {
            let notify = self.lock().entry(key.clone()).or_default().clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a completion right after the look still wakes us.
            notified.as_mut().enable();
            match check().await {
                Ok(Check::Done(done)) => break Ok(Waited::Done(done)),
                Ok(Check::InProgress(seen)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Ok(Waited::TimedOut(seen));
                    }
                    let wait = (deadline - now).min(self.recheck_every);
                    let _ = tokio::time::timeout(wait, notified).await;
                }
                Err(err) => break Err(err),
            }
        };
        self.prune(key);
        result
    }

    /// Drops the entry of `key` if no one waits on it any more.
    fn prune(&self, key: &K) {
        let mut waiters = self.lock();
        if waiters
            .get(key)
            .is_some_and(|notify| Arc::strong_count(notify) == 1)
        {
            waiters.remove(key);
        }
    }

    /// How many keys have someone waiting on them (or an entry not yet cleaned up).
    #[must_use]
    pub fn waiting_keys(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    /// One look: done once `done` is set, else in progress with the number of looks so far.
    fn look(done: &AtomicBool, looks: &AtomicU32) -> Check<&'static str, u32> {
        let n = looks.fetch_add(1, Ordering::SeqCst) + 1;
        if done.load(Ordering::SeqCst) {
            Check::Done("finished")
        } else {
            Check::InProgress(n)
        }
    }

    #[tokio::test]
    async fn work_already_done_costs_one_look_and_leaves_nothing_behind() {
        let inflight = InFlight::new(LONG);
        let (done, looks) = (AtomicBool::new(true), AtomicU32::new(0));
        let waited = inflight
            .wait_for(&"k", LONG, || async {
                Ok::<_, Infallible>(look(&done, &looks))
            })
            .await;
        assert_eq!(waited, Ok(Waited::Done("finished")));
        assert_eq!(looks.load(Ordering::SeqCst), 1);
        assert_eq!(inflight.waiting_keys(), 0);
    }

    #[tokio::test]
    async fn a_waiter_is_woken_by_finished_long_before_its_re_check() {
        let inflight = Arc::new(InFlight::new(LONG));
        let done = Arc::new(AtomicBool::new(false));
        let looks = Arc::new(AtomicU32::new(0));
        let waiting = {
            let (inflight, done, looks) = (inflight.clone(), done.clone(), looks.clone());
            tokio::spawn(async move {
                inflight
                    .wait_for(&"k", LONG, || async {
                        Ok::<_, Infallible>(look(&done, &looks))
                    })
                    .await
            })
        };
        while looks.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        done.store(true, Ordering::SeqCst);
        inflight.finished(&"k");
        let waited = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken well before the 30 s re-check")
            .unwrap();
        assert_eq!(waited, Ok(Waited::Done("finished")));
        assert_eq!(looks.load(Ordering::SeqCst), 2);
        assert_eq!(inflight.waiting_keys(), 0);
    }

    #[tokio::test]
    async fn without_a_wake_up_the_store_is_re_checked_until_the_bound() {
        let inflight = InFlight::new(Duration::from_millis(5));
        let (done, looks) = (AtomicBool::new(false), AtomicU32::new(0));
        let waited = inflight
            .wait_for(&"k", Duration::from_millis(60), || async {
                Ok::<_, Infallible>(look(&done, &looks))
            })
            .await;
        let Ok(Waited::TimedOut(last)) = waited else {
            panic!("still in progress: {waited:?}");
        };
        assert!(last >= 3, "re-checked every few ms, {last} looks");
        assert_eq!(
            last,
            looks.load(Ordering::SeqCst),
            "the last look is reported"
        );
        assert_eq!(inflight.waiting_keys(), 0);
    }

    #[tokio::test]
    async fn work_finished_elsewhere_is_noticed_at_the_next_re_check() {
        let inflight = InFlight::new(Duration::from_millis(5));
        let looks = AtomicU32::new(0);
        let waited = inflight
            .wait_for(&"k", LONG, || async {
                let n = looks.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(if n < 2 {
                    Check::InProgress(())
                } else {
                    Check::Done(n)
                })
            })
            .await;
        assert_eq!(waited, Ok(Waited::Done(2)));
    }

    #[tokio::test]
    async fn an_error_from_the_store_ends_the_wait() {
        let inflight = InFlight::new(LONG);
        let waited: Result<Waited<(), ()>, &str> = inflight
            .wait_for(&"k", LONG, || async { Err("store down") })
            .await;
        assert_eq!(waited, Err("store down"));
        assert_eq!(inflight.waiting_keys(), 0);
    }

    #[tokio::test]
    async fn finishing_one_key_does_not_wake_another() {
        let inflight = Arc::new(InFlight::new(LONG));
        let looks = Arc::new(AtomicU32::new(0));
        let waiter = {
            let (inflight, looks) = (inflight.clone(), looks.clone());
            tokio::spawn(async move {
                inflight
                    .wait_for(&"a", Duration::from_millis(200), || async {
                        looks.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(Check::<(), ()>::InProgress(()))
                    })
                    .await
            })
        };
        while looks.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        inflight.finished(&"b");
        assert_eq!(waiter.await.unwrap(), Ok(Waited::TimedOut(())));
        assert_eq!(
            looks.load(Ordering::SeqCst),
            2,
            "one look at once, one when the bound ran out: never woken early"
        );
    }
}
