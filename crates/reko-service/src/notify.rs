//! `NotificationChannel`: when a video job finishes, Rekognition's completion message is published as an
//! SNS HTTP(S) notification to the endpoint the server's configuration gives for the job's topic ARN,
//! retried with jittered exponential backoff until the endpoint answers 2xx. The message and the SNS
//! envelope are written by the front end's [`VideoRenderer`] (only the protocol crate knows their JSON).
//!
//! What reko cannot do as SNS does: the notification is not signed (there is no AWS key to sign it
//! with; `Signature`, `SigningCertURL` and `UnsubscribeURL` are absent), and a notification still being
//! retried when the server stops is not sent again after a restart.

use std::collections::HashMap;
use std::time::Duration;

use reko_store::{JobRecord, JobStatus};

use crate::VideoRenderer;

/// Delivery attempts of one notification, and the wait before the second (doubling after each).
const ATTEMPTS: u32 = 6;
const FIRST_RETRY: Duration = Duration::from_millis(500);

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
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Notifier { topics, client, runtime: crate::background_runtime("sns")? })
    }

    /// Whether the topic has an endpoint.
    pub fn knows(&self, topic_arn: &str) -> bool {
        self.topics.contains_key(topic_arn)
    }

    /// Publishes a finished job's completion message to its topic's endpoint, in the background.
    pub(crate) fn publish(&self, job: &JobRecord, renderer: &dyn VideoRenderer) {
        let Some((topic, _role)) = &job.notification else { return };
        let Some(url) = self.topics.get(topic).cloned() else {
            tracing::warn!(topic, job_id = %job.job_id, "no endpoint for the job's SNS topic");
            return;
        };
        let message_id = uuid::Uuid::new_v4().to_string();
        let message = renderer.completion_message(&Completion::of(job));
        let body = renderer.sns_notification(&SnsNotification {
            topic_arn: topic,
            message_id: &message_id,
            message: &message,
            timestamp_ms: crate::now_ms(),
        });
        let (client, topic, job_id) = (self.client.clone(), topic.clone(), job.job_id.clone());
        self.runtime.spawn(async move {
            for attempt in 1..=ATTEMPTS {
                let sent = client
                    .post(&url)
                    .header("content-type", "text/plain; charset=UTF-8")
                    .header("x-amz-sns-message-type", "Notification")
                    .header("x-amz-sns-message-id", &message_id)
                    .header("x-amz-sns-topic-arn", &topic)
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        tracing::info!(job_id, topic, attempt, "job notification delivered");
                        return;
                    }
                    Ok(response) => {
                        tracing::warn!(job_id, topic, attempt, status = %response.status(), "job notification refused")
                    }
                    Err(error) => tracing::warn!(job_id, topic, attempt, %error, "job notification not delivered"),
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
            tracing::error!(job_id, topic, "job notification given up after {ATTEMPTS} attempts");
        });
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
