//! Video results as Rekognition's items: [`Renderer`] turns each finding of a job into the item its
//! `Get*` answer lists, and a finished job into Rekognition Video's completion message inside an SNS
//! notification.

use reko_protocol::notification::{CompletionMessage, CompletionVideo, SnsNotification, api_name, sns_timestamp};
use reko_protocol::types::*;
use reko_service::{Completion, Finding, VideoRenderer};
use serde_json::Value;

use super::{AttributeSelection, bounding_box, face_detail, face_matches, label, moderation_label, text_detection};

/// Renders findings as the items of the `Get*` answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Renderer;

fn segment_span(span: reko_service::Span) -> SegmentSpan {
    SegmentSpan {
        start_timestamp_millis: span.start_ms,
        end_timestamp_millis: span.end_ms,
        duration_millis: span.end_ms - span.start_ms,
    }
}

fn value(item: impl serde::Serialize) -> Value {
    serde_json::to_value(item).expect("items serialise")
}

impl VideoRenderer for Renderer {
    fn render(&self, finding: &Finding<'_>) -> Value {
        let default = AttributeSelection::default();
        match *finding {
            Finding::Face { timestamp_ms, face, all_attributes } => {
                let selection = if all_attributes { AttributeSelection::all() } else { default };
                value(FaceDetectionItem { timestamp: timestamp_ms, face: face_detail(face, &selection) })
            }
            Finding::FaceMatch { timestamp_ms, index, face, matches } => value(PersonMatch {
                timestamp: timestamp_ms,
                person: PersonDetail { index, bounding_box: None, face: Some(face_detail(face, &default)) },
                face_matches: face_matches(matches),
            }),
            Finding::Person { timestamp_ms, index, bounding_box: b } => value(PersonDetection {
                timestamp: timestamp_ms,
                person: PersonDetail { index, bounding_box: Some(bounding_box(&b)), face: None },
            }),
            Finding::Label { timestamp_ms, label: l, span } => value(LabelDetectionItem {
                timestamp: timestamp_ms,
                label: label(l, span.is_none()),
                span: span.map(segment_span),
            }),
            Finding::Moderation { timestamp_ms, label, span } => value(ContentModerationItem {
                timestamp: timestamp_ms,
                moderation_label: moderation_label(label),
                span: span.map(segment_span),
            }),
            Finding::Text { timestamp_ms, text } => {
                value(TextDetectionItem { timestamp: timestamp_ms, text_detection: text_detection(text) })
            }
            Finding::Segment(s) => value(SegmentDetectionItem {
                kind: if s.shot_index.is_some() { "SHOT" } else { "TECHNICAL_CUE" }.into(),
                start_timestamp_millis: s.start_ms,
                end_timestamp_millis: s.end_ms,
                duration_millis: s.end_ms - s.start_ms,
                start_timecode_smpte: s.start_timecode.clone(),
                end_timecode_smpte: s.end_timecode.clone(),
                duration_smpte: s.duration_timecode.clone(),
                technical_cue_segment: s
                    .shot_index
                    .is_none()
                    .then(|| TechnicalCueSegment { kind: "BlackFrames".into(), confidence: s.confidence }),
                shot_segment: s.shot_index.map(|index| ShotSegment { index, confidence: s.confidence }),
                start_frame_number: s.start_frame,
                end_frame_number: s.end_frame,
                duration_frames: s.end_frame + 1 - s.start_frame,
            }),
        }
    }

    fn completion_message(&self, completion: &Completion) -> String {
        let message = CompletionMessage {
            job_id: completion.job_id.clone(),
            status: if completion.succeeded { "SUCCEEDED" } else { "FAILED" },
            api: api_name(&completion.analysis),
            message: completion.message.clone().unwrap_or_default(),
            timestamp: completion.timestamp_ms,
            video: CompletionVideo { s3_object_name: completion.name.clone(), s3_bucket: completion.bucket.clone() },
            job_tag: completion.job_tag.clone(),
        };
        serde_json::to_string(&message).expect("messages serialise")
    }

    fn sns_notification(&self, notification: &reko_service::SnsNotification<'_>) -> String {
        let envelope = SnsNotification {
            kind: "Notification",
            message_id: notification.message_id.to_owned(),
            topic_arn: notification.topic_arn.to_owned(),
            message: notification.message.to_owned(),
            timestamp: sns_timestamp(notification.timestamp_ms),
        };
        serde_json::to_string(&envelope).expect("notifications serialise")
    }
}
