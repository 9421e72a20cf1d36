//! Password hashing: argon2id with the configured cost, off the async runtime, at most one
//! hash per CPU at a time.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use platform::ApiError;

use crate::config::HashingCost;

/// argon2id hashing with configured cost, off the async runtime, at most one hash per CPU at
/// a time. Each hash takes the cost's memory (19 MiB by default) and a CPU for tens of
/// milliseconds: without the bound, a burst of logins ran hundreds at once, and the process
/// grew by gigabytes while every hash got slower. Requests beyond the bound wait their turn.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
    turns: Arc<tokio::sync::Semaphore>,
}

impl PasswordHashing {
    /// Hashing with `cost`; refuses parameters argon2 does not accept.
    pub fn new(cost: HashingCost) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|err| anyhow::anyhow!("invalid argon2 parameters {cost:?}: {err}"))?;
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            params,
            turns: Arc::new(tokio::sync::Semaphore::new(cpus)),
        })
    }

    /// How many hashes run at once at most: the CPUs this process may use.
    #[must_use]
    pub fn at_once(&self) -> usize {
        self.turns.available_permits()
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `work` on a blocking thread once a turn is free.
    async fn in_turn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(turn);
            done
        })
        .await
        .map_err(ApiError::internal)
    }

    /// The PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon2 = self.argon2();
        self.in_turn(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
        })
        .await?
        .map_err(ApiError::internal)
    }

    /// Whether `password` matches the PHC string `hash` (whose own parameters are used).
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        let argon2 = self.argon2();
        self.in_turn(move || {
            argon2
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_hash_waits_while_every_turn_is_taken_and_runs_once_one_is_free() {
        let hashing = PasswordHashing::new(HashingCost::insecure_for_tests()).unwrap();
        let turns = u32::try_from(hashing.at_once()).unwrap();
        assert!(turns >= 1);
        let held = hashing
            .turns
            .clone()
            .acquire_many_owned(turns)
            .await
            .unwrap();
        let pending = tokio::spawn({
            let hashing = hashing.clone();
            async move { hashing.hash("correct horse".to_owned()).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!pending.is_finished(), "it ran although no turn was free");
        drop(held);
        let hash = pending.await.unwrap().unwrap();
        assert!(
            hashing
                .verify("correct horse".to_owned(), hash)
                .await
                .unwrap()
        );
        assert_eq!(hashing.at_once(), usize::try_from(turns).unwrap());
    }
}
