//! The JSON of a video job's completion notification: Rekognition Video's completion message (the
//! developer guide's "Video analysis results notification") and the SNS HTTP(S) notification that
//! carries it.

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

/// Rekognition Video's completion message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletionMessage {
    pub job_id: String,
    /// `SUCCEEDED` or `FAILED`.
    pub status: &'static str,
    /// The analysis, e.g. `LABEL_DETECTION`.
    #[serde(rename = "API")]
    pub api: String,
    /// Empty unless the job failed.
    pub message: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub video: CompletionVideo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_tag: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompletionVideo {
    #[serde(rename = "S3ObjectName")]
    pub s3_object_name: String,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: String,
}

/// `FaceSearch` → `FACE_SEARCH`: an analysis as the completion message's `API` names it.
pub fn api_name(analysis: &str) -> String {
    let mut name = String::new();
    for (i, c) in analysis.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// An SNS HTTP(S) notification (unsigned: reko has no AWS key to sign it with).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsNotification {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub message_id: String,
    pub topic_arn: String,
    /// The completion message as JSON text.
    pub message: String,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub timestamp: String,
}

/// SNS's `Timestamp` of a time in ms since the epoch: UTC ISO 8601 with milliseconds.
pub fn sns_timestamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_iso8601() {
        assert_eq!(sns_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(sns_timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(sns_timestamp(1_796_010_245_006), "2026-11-30T03:44:05.006Z");
    }

    #[test]
    fn the_completion_message_is_rekognitions() {
        let message = CompletionMessage {
            job_id: "j".into(),
            status: "SUCCEEDED",
            api: api_name("FaceSearch"),
            message: String::new(),
            timestamp: 2,
            video: CompletionVideo { s3_object_name: "v.mp4".into(), s3_bucket: "b".into() },
            job_tag: Some("door".into()),
        };
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            serde_json::json!({"JobId": "j", "Status": "SUCCEEDED", "API": "FACE_SEARCH", "Message": "",
                               "Timestamp": 2, "JobTag": "door", "Video": {"S3ObjectName": "v.mp4", "S3Bucket": "b"}})
        );
        assert_eq!(api_name("ContentModeration"), "CONTENT_MODERATION");
        let envelope = SnsNotification {
            kind: "Notification",
            message_id: "m".into(),
            topic_arn: "arn:t".into(),
            message: serde_json::to_string(&message).unwrap(),
            timestamp: sns_timestamp(0),
        };
        let envelope = serde_json::to_value(&envelope).unwrap();
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["TopicArn"], "arn:t");
        let inner: serde_json::Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["JobId"], "j");
    }
}
