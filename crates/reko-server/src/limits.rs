//! What one node admits, and for how long it waits: connections, request heads and bodies, and the
//! analyses (requests that run the models). A request beyond a bound is refused early with the error AWS
//! gives for it (ThrottlingException or ProvisionedThroughputExceededException, which the SDKs' retry
//! modes back off and retry), so that accepted requests keep a bounded latency and memory stays bounded.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use reko_protocol::{ApiError, ErrorCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of one node. Every one has a default and a setting (README, Configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Open connections at once; a connection beyond them is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long a client has to send a request's headers; also how long a kept-alive connection may
    /// idle before its next request.
    pub header_timeout: Duration,
    /// How long a client has to send a request's body once its headers are in.
    pub body_timeout: Duration,
    /// Request body bytes held at once, over all requests (each body is counted at its declared length,
    /// or at the largest body allowed when it declares none).
    pub max_body_bytes_in_flight: usize,
    /// Analyses that run at once.
    pub max_analyses: usize,
    /// Analyses that wait for a turn; more are throttled.
    pub max_queued_analyses: usize,
    /// Analyses one account may have running and waiting; more are throttled.
    pub max_analyses_per_account: usize,
    /// How long an analysis waits for its turn before it is throttled.
    pub queue_timeout: Duration,
    /// How long a request may take from its body to its answer; work still going on then is
    /// cancelled at its next model run.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(60),
            max_body_bytes_in_flight: 256 << 20,
            max_analyses: cores,
            max_queued_analyses: 4 * cores,
            max_analyses_per_account: 3 * cores,
            queue_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The analyses of one node: a few run, a bounded number wait, each account has its share.
#[derive(Debug)]
pub(crate) struct Admission {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    per_account: Mutex<HashMap<String, usize>>,
    limits: Limits,
}

/// The right to run one analysis; given back when dropped (when the work itself has ended).
#[derive(Debug)]
pub(crate) struct Ticket {
    _running: OwnedSemaphorePermit,
    _account: AccountShare,
}

/// One of an account's analyses, running or waiting.
#[derive(Debug)]
struct AccountShare {
    admission: Arc<Admission>,
    account: String,
}

impl Drop for AccountShare {
    fn drop(&mut self) {
        let mut shares = self.admission.per_account.lock();
        if let Some(count) = shares.get_mut(&self.account) {
            *count -= 1;
            if *count == 0 {
                shares.remove(&self.account);
            }
        }
    }
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            running: Arc::new(Semaphore::new(limits.max_analyses.max(1))),
            waiting: AtomicUsize::new(0),
            per_account: Mutex::new(HashMap::new()),
            limits,
        })
    }

    /// Waits for the turn of one analysis of `account`, or refuses it at once when the account or the
    /// node has too many, or after [`Limits::queue_timeout`].
    pub(crate) async fn admit(self: &Arc<Self>, account: &str) -> Result<Ticket, ApiError> {
        let share = {
            let mut shares = self.per_account.lock();
            let count = shares.entry(account.to_owned()).or_default();
            if *count >= self.limits.max_analyses_per_account {
                return Err(ApiError::new(
                    ErrorCode::ProvisionedThroughputExceeded,
                    format!(
                        "This account has {} analyses running or waiting, the most this node allows \
                         (max_analyses_per_account); retry with backoff.",
                        self.limits.max_analyses_per_account
                    ),
                ));
            }
            *count += 1;
            AccountShare { admission: self.clone(), account: account.to_owned() }
        };
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Ticket { _running: permit, _account: share });
        }
        let throttled =
            |why: &str| ApiError::new(ErrorCode::Throttling, format!("Rate exceeded: {why}; retry with backoff."));
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.max_queued_analyses {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(throttled("every analysis slot of this node is busy and its queue is full"));
        }
        let permit = tokio::time::timeout(self.limits.queue_timeout, self.running.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(Ticket { _running: permit, _account: share }),
            _ => Err(throttled("no analysis slot of this node came free in time")),
        }
    }

    /// Analyses running and waiting now.
    pub(crate) fn load(&self) -> (usize, usize) {
        let running = self.limits.max_analyses.max(1) - self.running.available_permits();
        (running, self.waiting.load(Ordering::Acquire))
    }
}

/// The request body bytes the node holds, bounded.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    kib: Arc<Semaphore>,
    total_kib: usize,
}

impl BodyBudget {
    pub(crate) fn new(limits: &Limits) -> BodyBudget {
        let total_kib = limits.max_body_bytes_in_flight.div_ceil(1024).max(1);
        BodyBudget { kib: Arc::new(Semaphore::new(total_kib)), total_kib }
    }

    /// Reserves room for a body of `bytes`, or refuses it when the node holds too many bodies already.
    pub(crate) fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = bytes.div_ceil(1024).clamp(1, self.total_kib);
        self.kib.clone().try_acquire_many_owned(kib as u32).map_err(|_| {
            ApiError::new(
                ErrorCode::Throttling,
                "Rate exceeded: this node holds as many request bodies as it allows (max_body_bytes_in_flight); \
                 retry with backoff.",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_analyses: usize, max_queued_analyses: usize, max_analyses_per_account: usize) -> Limits {
        Limits {
            max_analyses,
            max_queued_analyses,
            max_analyses_per_account,
            queue_timeout: Duration::from_millis(200),
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn analyses_beyond_the_slots_wait_and_beyond_the_queue_are_throttled() {
        let admission = Admission::new(limits(2, 1, 10));
        let first = admission.admit("a").await.unwrap();
        let _second = admission.admit("b").await.unwrap();
        assert_eq!(admission.load(), (2, 0));
        // The third waits for a slot; the fourth finds the queue full.
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit("c").await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(admission.load(), (2, 1));
        let refused = admission.admit("d").await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Throttling);
        drop(first);
        assert!(waiting.await.unwrap().is_ok(), "a slot came free: the waiting one runs");
        // A wait longer than the queue timeout is throttled too.
        let _third = admission.admit("e").await.unwrap();
        let started = std::time::Instant::now();
        let slow = admission.admit("f").await.unwrap_err();
        assert_eq!(slow.code, ErrorCode::Throttling);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn one_account_cannot_take_the_whole_node() {
        let admission = Admission::new(limits(4, 8, 2));
        let one = admission.admit("greedy").await.unwrap();
        let _two = admission.admit("greedy").await.unwrap();
        let refused = admission.admit("greedy").await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::ProvisionedThroughputExceeded);
        assert!(admission.admit("other").await.is_ok(), "another account still gets in");
        drop(one);
        assert!(admission.admit("greedy").await.is_ok(), "its share comes back with its ticket");
    }

    #[test]
    fn bodies_are_held_within_the_budget() {
        let budget = BodyBudget::new(&Limits { max_body_bytes_in_flight: 10 << 20, ..Limits::default() });
        let first = budget.reserve(6 << 20).unwrap();
        assert_eq!(budget.reserve(6 << 20).unwrap_err().code, ErrorCode::Throttling);
        let _small = budget.reserve(1000).unwrap();
        drop(first);
        assert!(budget.reserve(6 << 20).is_ok());
    }
}
