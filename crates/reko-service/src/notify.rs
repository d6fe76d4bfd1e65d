//! `NotificationChannel`: when a video job finishes, Rekognition's completion message is published as an
//! SNS HTTP(S) notification to the endpoint the server's configuration gives for the job's topic ARN,
//! retried with jittered exponential backoff until the endpoint answers 2xx. The message and the SNS
//! envelope are written by the front end's [`VideoRenderer`] (only the protocol crate knows their JSON).
//!
//! Nothing acknowledged is lost: the notification is written to the store's outbox in the transaction
//! that finishes the job, and taken out once delivered (or given up after [`ATTEMPTS`] attempts, counted
//! across nodes and restarts). Delivery is leased like a job ([`DELIVERY_LEASE`], renewed before every
//! attempt): one node at a time sends it; the scout of a restarted node, or of another node once the
//! lease ran out, takes over what a stopped node left. As with SNS, delivery is at least once: a node that
//! dies after the endpoint accepted but before the outbox forgot sends it again, with the same
//! `MessageId` (and `x-amz-sns-message-id`), so a receiver can drop the repeat.
//!
//! What reko cannot do as SNS does: the notification is not signed (there is no AWS key to sign it
//! with; `Signature`, `SigningCertURL` and `UnsubscribeURL` are absent).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use reko_store::{JobRecord, JobStatus, OutboxRecord, Update};

use crate::{Scope, Service, ServiceError, VideoRenderer, now_ms};

/// Delivery attempts of one notification, and the wait before the second (doubling after each).
pub const ATTEMPTS: u32 = 6;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// How long one attempt may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a node's claim on a delivery holds: one attempt and the wait after it, with room to spare.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(30);

/// A finished job, as its completion message tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub job_id: String,
    /// Succeeded or failed.
    pub succeeded: bool,
    /// The analysis, as the operation pair's name without its verb (`FaceSearch`).
    pub analysis: String,
    /// Why the job failed (none when it succeeded).
    pub message: Option<String>,
    /// When it finished, ms since the epoch.
    pub timestamp_ms: i64,
    pub bucket: String,
    pub name: String,
    pub job_tag: Option<String>,
}

impl Completion {
    pub(crate) fn of(job: &JobRecord) -> Completion {
        Completion {
            job_id: job.job_id.clone(),
            succeeded: job.status == JobStatus::Succeeded,
            analysis: job.operation.clone(),
            message: job.status_message.clone(),
            timestamp_ms: job.finished_at_ms.unwrap_or(job.created_at_ms),
            bucket: job.bucket.clone(),
            name: job.name.clone(),
            job_tag: job.job_tag.clone(),
        }
    }
}

/// One SNS notification to deliver: the envelope's facts, with the message text it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsNotification<'a> {
    pub topic_arn: &'a str,
    pub message_id: &'a str,
    pub message: &'a str,
    /// When it was published, ms since the epoch.
    pub timestamp_ms: i64,
}

/// Topic ARNs and the HTTP(S) endpoints subscribed to them.
pub struct Notifier {
    topics: HashMap<String, String>,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    /// The jobs whose notification this node is delivering now (the scout leaves them alone).
    here: Mutex<HashSet<(Scope, String)>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("topics", &self.topics).finish()
    }
}

/// The wait after failed attempt `attempt` (1-based): the doubling backoff, jittered down by up to half
/// so that endpoints coming back are not hit by every waiting notification at once.
fn backoff(attempt: u32) -> Duration {
    let full = FIRST_RETRY * 2u32.saturating_pow(attempt - 1);
    full.mul_f64(0.5 + 0.5 * fastrand::f64())
}

impl Notifier {
    /// A notifier for `topics` (topic ARN → endpoint URL).
    pub fn new(topics: HashMap<String, String>) -> std::io::Result<Notifier> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Notifier { topics, client, runtime: crate::background_runtime("sns")?, here: Default::default() })
    }

    /// Whether the topic has an endpoint.
    pub fn knows(&self, topic_arn: &str) -> bool {
        self.topics.contains_key(topic_arn)
    }

    /// Sends one notification; whether the endpoint accepted it (2xx).
    async fn send(&self, url: &str, topic: &str, message_id: &str, body: &str, job_id: &str, attempt: u32) -> bool {
        let sent = self
            .client
            .post(url)
            .header("content-type", "text/plain; charset=UTF-8")
            .header("x-amz-sns-message-type", "Notification")
            .header("x-amz-sns-message-id", message_id)
            .header("x-amz-sns-topic-arn", topic)
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                tracing::info!(job_id, topic, attempt, "job notification delivered");
                return true;
            }
            Ok(response) => {
                tracing::warn!(job_id, topic, attempt, status = %response.status(), "job notification refused")
            }
            Err(error) => tracing::warn!(job_id, topic, attempt, %error, "job notification not delivered"),
        }
        false
    }

    /// Marks a delivery as running here; false when it was already.
    fn start_here(&self, scope: &Scope, job_id: &str) -> bool {
        self.here.lock().unwrap_or_else(|p| p.into_inner()).insert((scope.clone(), job_id.to_owned()))
    }

    fn done_here(&self, scope: &Scope, job_id: &str) {
        self.here.lock().unwrap_or_else(|p| p.into_inner()).remove(&(scope.clone(), job_id.to_owned()));
    }
}

/// A new notification for the outbox, held by node `me` (which delivers it right away).
pub(crate) fn outbox_entry(me: &str) -> OutboxRecord {
    OutboxRecord {
        message_id: uuid::Uuid::new_v4().to_string(),
        attempts: 0,
        owner: Some(me.to_owned()),
        lease_until_ms: Some(now_ms() + DELIVERY_LEASE.as_millis() as i64),
    }
}

/// What one claim on a delivery got.
enum Claim {
    /// This node holds it for one more attempt.
    Held(OutboxRecord),
    /// Another node holds it, or it is gone (delivered, given up).
    Lost,
    /// Its attempts are spent.
    Spent,
}

impl Service {
    /// Claims a job's notification for one more attempt by this node.
    fn claim_notification(&self, scope: &Scope, job_id: &str) -> Result<Claim, ServiceError> {
        let me = self.node_id.as_ref();
        let mut claim = Claim::Lost;
        self.store.update_notification(scope, job_id, &mut |n| {
            let now = now_ms();
            if !n.may_be_sent_by(me, now) {
                return Update::Abort;
            }
            if n.attempts >= ATTEMPTS {
                claim = Claim::Spent;
                return Update::Abort;
            }
            n.owner = Some(me.to_owned());
            n.lease_until_ms = Some(now + DELIVERY_LEASE.as_millis() as i64);
            n.attempts += 1;
            claim = Claim::Held(n.clone());
            Update::Commit
        })?;
        Ok(claim)
    }

    /// Takes a notification whose attempts are spent out of the outbox.
    fn give_up_notification(&self, scope: &Scope, job_id: &str) {
        tracing::error!(job_id, "job notification given up after {ATTEMPTS} attempts");
        if let Err(error) = self.store.remove_notification(scope, job_id, Some(&self.node_id)) {
            tracing::warn!(%error, job_id, "job notification: cannot take it out of the outbox");
        }
    }

    /// Delivers a finished job's notification from the outbox, in the background, unless this node has
    /// no notifier, is delivering it already, or another node holds it.
    pub(crate) fn deliver_notification(&self, scope: &Scope, job_id: &str, renderer: &dyn VideoRenderer) {
        let Some(notifier) = self.notifier.clone() else { return };
        if !notifier.start_here(scope, job_id) {
            return;
        }
        match self.first_attempt(scope, job_id, renderer) {
            Ok(Some((record, topic, body))) => {
                let service = self.clone();
                let (scope, job_id) = (scope.clone(), job_id.to_owned());
                notifier.runtime.clone().spawn(async move {
                    service.keep_delivering(&notifier, &scope, &job_id, record, &topic, &body).await;
                    notifier.done_here(&scope, &job_id);
                });
            }
            Ok(None) => notifier.done_here(scope, job_id),
            Err(error) => {
                // The store is out of reach: the scout tries again later.
                tracing::warn!(%error, job_id, "job notification: cannot claim the delivery");
                notifier.done_here(scope, job_id);
            }
        }
    }

    /// Claims the first attempt of a delivery here and writes the notification (the same on every
    /// attempt of this node): (the claim, the topic, the SNS envelope), or none when there is nothing
    /// for this node to send.
    fn first_attempt(
        &self,
        scope: &Scope,
        job_id: &str,
        renderer: &dyn VideoRenderer,
    ) -> Result<Option<(OutboxRecord, String, String)>, ServiceError> {
        let Some(job) = self.store.job(scope, job_id)? else {
            // The job itself expired: nothing is left to tell.
            self.store.remove_notification(scope, job_id, None)?;
            return Ok(None);
        };
        let record = match self.claim_notification(scope, job_id)? {
            Claim::Held(record) => record,
            Claim::Lost => return Ok(None),
            Claim::Spent => {
                self.give_up_notification(scope, job_id);
                return Ok(None);
            }
        };
        let topic = job.notification.as_ref().map(|(topic, _)| topic.clone()).unwrap_or_default();
        let message = renderer.completion_message(&Completion::of(&job));
        let body = renderer.sns_notification(&SnsNotification {
            topic_arn: &topic,
            message_id: &record.message_id,
            message: &message,
            timestamp_ms: now_ms(),
        });
        Ok(Some((record, topic, body)))
    }

    /// Sends a claimed notification until the endpoint takes it, this node loses the claim, or the
    /// attempts are spent; each attempt after the first is claimed anew.
    async fn keep_delivering(
        &self,
        notifier: &Notifier,
        scope: &Scope,
        job_id: &str,
        mut record: OutboxRecord,
        topic: &str,
        body: &str,
    ) {
        loop {
            let delivered = match notifier.topics.get(topic) {
                Some(url) => notifier.send(url, topic, &record.message_id, body, job_id, record.attempts).await,
                None => {
                    tracing::warn!(topic, job_id, "no endpoint for the job's SNS topic on this node");
                    false
                }
            };
            let (service, owned_scope, owned_job) = (self.clone(), scope.clone(), job_id.to_owned());
            if delivered {
                let removed = tokio::task::spawn_blocking(move || {
                    service.store.remove_notification(&owned_scope, &owned_job, Some(&service.node_id))
                })
                .await;
                if let Ok(Err(error)) = removed {
                    // It stays in the outbox and is sent again (the same MessageId) once the store is back.
                    tracing::warn!(%error, job_id, "job notification: delivered, but the outbox cannot forget it");
                }
                return;
            }
            tokio::time::sleep(backoff(record.attempts.max(1))).await;
            let claim = tokio::task::spawn_blocking(move || {
                let claim = service.claim_notification(&owned_scope, &owned_job);
                if let Ok(Claim::Spent) = claim {
                    service.give_up_notification(&owned_scope, &owned_job);
                }
                claim
            })
            .await;
            match claim {
                Ok(Ok(Claim::Held(next))) => record = next,
                Ok(Err(error)) => {
                    tracing::warn!(%error, job_id, "job notification: cannot claim the delivery");
                    return;
                }
                _ => return,
            }
        }
    }

    /// Starts delivering the outbox's notifications that this node may send (its own from before a
    /// restart, and those whose holder's lease ran out); how many it may send.
    pub(crate) fn scout_notifications(&self, renderer: &dyn VideoRenderer) -> Result<usize, ServiceError> {
        if self.notifier.is_none() {
            return Ok(0);
        }
        let now = now_ms();
        let mut found = Vec::new();
        self.store.each_pending_notification(&mut |scope, job_id, record| {
            // Those this node is delivering already are skipped by `deliver_notification` itself.
            if record.may_be_sent_by(&self.node_id, now) {
                found.push((scope.clone(), job_id.to_owned()));
            }
        })?;
        for (scope, job_id) in &found {
            self.deliver_notification(scope, job_id, renderer);
        }
        Ok(found.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter() {
        for attempt in 1..ATTEMPTS {
            let full = FIRST_RETRY * 2u32.pow(attempt - 1);
            let waits: Vec<Duration> = (0..50).map(|_| backoff(attempt)).collect();
            assert!(waits.iter().all(|w| *w >= full / 2 && *w <= full), "{attempt}: {waits:?}");
            assert!(waits.iter().any(|w| *w != waits[0]), "the waits are jittered");
        }
    }

    #[test]
    fn a_completion_tells_the_job() {
        let mut job = JobRecord {
            job_id: "j".into(),
            operation: "FaceSearch".into(),
            parameters: serde_json::json!({}),
            bucket: "b".into(),
            name: "v.mp4".into(),
            version: None,
            job_tag: Some("door".into()),
            notification: None,
            status: JobStatus::Failed,
            status_message: Some("no frames".into()),
            metadata: None,
            created_at_ms: 1,
            finished_at_ms: Some(2),
            attempts: 1,
            owner: None,
            lease_until_ms: None,
        };
        let failed = Completion::of(&job);
        assert!(!failed.succeeded);
        assert_eq!((failed.timestamp_ms, failed.message.as_deref()), (2, Some("no frames")));
        job.status = JobStatus::Succeeded;
        job.finished_at_ms = None;
        assert!(Completion::of(&job).succeeded);
        assert_eq!(Completion::of(&job).timestamp_ms, 1);
    }
}
