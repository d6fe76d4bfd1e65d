//! `NotificationChannel`: when a video job finishes, Rekognition's completion message is published as an
//! SNS HTTP(S) notification to the endpoint the server's configuration gives for the job's topic ARN,
//! retried with backoff until the endpoint answers 2xx.
//!
//! What reko cannot do as SNS does: the notification is not signed (there is no AWS key to sign it
//! with; `Signature`, `SigningCertURL` and `UnsubscribeURL` are absent), and a notification still being
//! retried when the server stops is not sent again after a restart.

use std::collections::HashMap;
use std::time::Duration;

use reko_store::JobRecord;
use serde_json::{Value, json};

/// Delivery attempts of one notification, and the wait before the second (doubling after each).
const ATTEMPTS: u32 = 6;
const FIRST_RETRY: Duration = Duration::from_millis(500);

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

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a time in ms since the epoch (SNS's `Timestamp`).
fn iso8601(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// `FaceSearch` → `FACE_SEARCH`: the analysis as the completion message's `API` names it.
fn api_name(operation: &str) -> String {
    let mut name = String::new();
    for (i, c) in operation.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Rekognition Video's completion message for a finished job (the developer guide's "Video analysis
/// results notification": `API` as `LABEL_DETECTION`, `Message` empty unless the job failed).
pub fn completion_message(job: &JobRecord) -> Value {
    let mut message = json!({
        "JobId": job.job_id,
        "Status": if job.status == reko_store::JobStatus::Succeeded { "SUCCEEDED" } else { "FAILED" },
        "API": api_name(&job.operation),
        "Message": job.status_message.clone().unwrap_or_default(),
        "Timestamp": job.finished_at_ms.unwrap_or(job.created_at_ms),
        "Video": {"S3ObjectName": job.name, "S3Bucket": job.bucket},
    });
    if let Some(tag) = &job.job_tag {
        message["JobTag"] = json!(tag);
    }
    message
}

/// The SNS HTTP(S) notification carrying `message`.
fn sns_envelope(topic_arn: &str, message_id: &str, message: &Value, now_ms: i64) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Message": message.to_string(),
        "Timestamp": iso8601(now_ms),
    })
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
    pub(crate) fn publish(&self, job: &JobRecord) {
        let Some((topic, _role)) = &job.notification else { return };
        let Some(url) = self.topics.get(topic).cloned() else {
            tracing::warn!(topic, job_id = %job.job_id, "no endpoint for the job's SNS topic");
            return;
        };
        let message_id = uuid::Uuid::new_v4().to_string();
        let body = sns_envelope(topic, &message_id, &completion_message(job), crate::now_ms()).to_string();
        let (client, topic, job_id) = (self.client.clone(), topic.clone(), job.job_id.clone());
        self.runtime.spawn(async move {
            let mut wait = FIRST_RETRY;
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
                    tokio::time::sleep(wait).await;
                    wait *= 2;
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
    fn timestamps_are_utc_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_796_010_245_006), "2026-11-30T03:44:05.006Z");
    }

    #[test]
    fn the_completion_message_is_rekognitions() {
        let job = JobRecord {
            job_id: "j".into(),
            operation: "FaceSearch".into(),
            parameters: json!({}),
            bucket: "b".into(),
            name: "v.mp4".into(),
            version: None,
            job_tag: Some("door".into()),
            notification: Some(("arn:aws:sns:us-east-1:1:t".into(), "arn:aws:iam::1:role/r".into())),
            status: reko_store::JobStatus::Succeeded,
            status_message: None,
            metadata: None,
            created_at_ms: 1,
            finished_at_ms: Some(2),
            attempts: 1,
        };
        assert_eq!(
            completion_message(&job),
            json!({"JobId": "j", "Status": "SUCCEEDED", "API": "FACE_SEARCH", "Message": "", "Timestamp": 2,
                   "JobTag": "door", "Video": {"S3ObjectName": "v.mp4", "S3Bucket": "b"}})
        );
        assert_eq!(api_name("ContentModeration"), "CONTENT_MODERATION");
        let envelope = sns_envelope("arn:t", "m", &completion_message(&job), 0);
        assert_eq!(envelope["Type"], "Notification");
        let inner: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["JobId"], "j");
    }
}
