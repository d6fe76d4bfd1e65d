//! The video operations: `Start*` requests → [`StartVideoJob`], `Get*` → one page of a job's results
//! (rendered when the job finished, by [`crate::render::video::Renderer`]).

use std::collections::BTreeMap;

use reko_protocol::types::*;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::{
    DEFAULT_MAX_PIXEL_THRESHOLD, DEFAULT_MIN_COVERAGE, DEFAULT_SEGMENT_CONFIDENCE, DEFAULT_VIDEO_FACE_MATCH_THRESHOLD,
    DEFAULT_VIDEO_MIN_CONFIDENCE, JobStatus, JobView, LABEL_MODEL_VERSION, LabelSettings, MODERATION_MODEL_VERSION,
    ResultsPage, SEGMENT_MODEL_VERSION, Scope, SegmentSettings, SortBy, StartVideoJob, TEXT_MODEL_VERSION,
    TechnicalCueSettings, VideoAnalysis, VideoMetadata, VideoObject,
};
use serde_json::Value;

use crate::dispatch::{Call, decode, encode};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message.into())
}

/// The common members of a `Start*` request, checked.
fn job_request(common: StartJobCommon, analysis: VideoAnalysis) -> Result<StartVideoJob, ApiError> {
    let object = common.video.s3_object.unwrap_or_default();
    let (Some(bucket), Some(name)) = (object.bucket, object.name) else {
        return Err(invalid("Video.S3Object needs Bucket and Name"));
    };
    Ok(StartVideoJob {
        analysis,
        video: VideoObject { bucket, name, version: object.version },
        client_request_token: common.client_request_token,
        job_tag: common.job_tag,
        notification: common.notification_channel.map(|n| (n.sns_topic_arn, n.role_arn)),
    })
}

/// `StartFaceDetection`, `StartFaceSearch`, ...: the job's id.
pub(crate) async fn start(call: &Call<'_>, scope: Scope, operation: &str, body: Value) -> Result<Value, ApiError> {
    let start = match operation {
        "StartFaceDetection" => {
            let req: StartFaceDetectionRequest = decode(body)?;
            let all_attributes = req.face_attributes.as_deref() == Some("ALL");
            job_request(req.common, VideoAnalysis::FaceDetection { all_attributes })?
        }
        "StartFaceSearch" => {
            let req: StartFaceSearchRequest = decode(body)?;
            let threshold = req.face_match_threshold.unwrap_or(DEFAULT_VIDEO_FACE_MATCH_THRESHOLD);
            job_request(req.common, VideoAnalysis::FaceSearch { collection_id: req.collection_id, threshold })?
        }
        "StartLabelDetection" => {
            let req: StartLabelDetectionRequest = decode(body)?;
            let general = req.settings.unwrap_or_default().general_labels.unwrap_or_default();
            let settings = LabelSettings {
                general_labels: true,
                image_properties: None,
                min_confidence: req.min_confidence.unwrap_or(DEFAULT_VIDEO_MIN_CONFIDENCE),
                max_labels: None,
                include: general.label_inclusion_filters,
                exclude: general.label_exclusion_filters,
                include_categories: general.label_category_inclusion_filters,
                exclude_categories: general.label_category_exclusion_filters,
            };
            job_request(req.common, VideoAnalysis::LabelDetection { settings })?
        }
        "StartContentModeration" => {
            let req: StartContentModerationRequest = decode(body)?;
            let min_confidence = req.min_confidence.unwrap_or(DEFAULT_VIDEO_MIN_CONFIDENCE);
            job_request(req.common, VideoAnalysis::ContentModeration { min_confidence })?
        }
        "StartTextDetection" => {
            let req: StartTextDetectionRequest = decode(body)?;
            let filters = super::analysis::text_filters(req.filters.unwrap_or_default())?;
            job_request(req.common, VideoAnalysis::TextDetection { filters })?
        }
        "StartSegmentDetection" => {
            let req: StartSegmentDetectionRequest = decode(body)?;
            let filters = req.filters.unwrap_or_default();
            let wants = |kind: &str| req.segment_types.iter().any(|t| t == kind);
            let shots = wants("SHOT").then(|| {
                filters.shot_filter.and_then(|f| f.min_segment_confidence).unwrap_or(DEFAULT_SEGMENT_CONFIDENCE)
            });
            let technical_cues = wants("TECHNICAL_CUE").then(|| {
                let filter = filters.technical_cue_filter.unwrap_or_default();
                let black = filter.black_frame.unwrap_or_default();
                TechnicalCueSettings {
                    min_confidence: filter.min_segment_confidence.unwrap_or(DEFAULT_SEGMENT_CONFIDENCE),
                    max_pixel_threshold: black.max_pixel_threshold.unwrap_or(DEFAULT_MAX_PIXEL_THRESHOLD),
                    min_coverage: black.min_coverage_percentage.unwrap_or(DEFAULT_MIN_COVERAGE),
                }
            });
            job_request(
                req.common,
                VideoAnalysis::SegmentDetection { settings: SegmentSettings { shots, technical_cues } },
            )?
        }
        "StartPersonTracking" => {
            let req: StartPersonTrackingRequest = decode(body)?;
            job_request(req.common, VideoAnalysis::PersonTracking)?
        }
        other => unreachable!("{other} is not a Start operation"),
    };
    let job_id = call.run(move |s| s.start_video_job(&scope, start)).await?;
    encode(StartJobResponse { job_id })
}

fn metadata(m: &VideoMetadata) -> VideoMetadataOut {
    VideoMetadataOut {
        codec: m.codec.clone(),
        duration_millis: m.duration_ms,
        format: m.format.clone(),
        frame_rate: m.frame_rate,
        frame_height: m.frame_height,
        frame_width: m.frame_width,
        color_range: m.color_range.clone(),
    }
}

/// `GetFaceDetection`, `GetFaceSearch`, ...: the job's status and a page of its results.
pub(crate) async fn get(call: &Call<'_>, scope: Scope, operation: &str, body: Value) -> Result<Value, ApiError> {
    let req: GetJobRequest = decode(body)?;
    let analysis = operation.strip_prefix("Get").unwrap_or(operation).to_owned();
    let sort_by = match req.sort_by.as_deref() {
        Some("INDEX") => SortBy::Index,
        Some("NAME") => SortBy::Name,
        _ => SortBy::Timestamp,
    };
    let segments = req.aggregate_by.as_deref() == Some("SEGMENTS");
    let page = ResultsPage { max_results: req.max_results, next_token: req.next_token, sort_by, segments };
    let job_id = req.job_id;
    let view = call.run(move |s| s.video_job(&scope, &job_id, &analysis, &page)).await?;
    let succeeded = view.status == JobStatus::Succeeded;
    let common = GetJobCommon {
        job_id: view.job_id.clone(),
        job_status: match view.status {
            JobStatus::Queued | JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
        }
        .to_owned(),
        status_message: view.status_message.clone(),
        next_token: view.next_token.clone(),
        video: VideoOut {
            s3_object: S3ObjectRef {
                bucket: Some(view.video.bucket.clone()),
                name: Some(view.video.name.clone()),
                version: view.video.version.clone(),
            },
        },
        job_tag: view.job_tag.clone(),
    };
    if let VideoAnalysis::SegmentDetection { settings } = &view.analysis {
        let mut selected = Vec::new();
        if settings.technical_cues.is_some() {
            selected
                .push(SegmentTypeInfo { kind: "TECHNICAL_CUE".into(), model_version: SEGMENT_MODEL_VERSION.into() });
        }
        if settings.shots.is_some() {
            selected.push(SegmentTypeInfo { kind: "SHOT".into(), model_version: SEGMENT_MODEL_VERSION.into() });
        }
        let JobView { metadata: known, items, .. } = view;
        return encode(GetSegmentDetectionResponse {
            common,
            video_metadata: known.iter().map(metadata).collect(),
            audio_metadata: known
                .iter()
                .flat_map(|m| &m.audio)
                .map(|a| AudioMetadataOut {
                    codec: a.codec.clone(),
                    duration_millis: a.duration_ms,
                    sample_rate: a.sample_rate,
                    number_of_channels: a.channels,
                })
                .collect(),
            segments: items,
            selected_segment_types: selected,
        });
    }
    let mut extra: BTreeMap<String, Value> = BTreeMap::new();
    let request_metadata = || {
        serde_json::to_value(GetRequestMetadata {
            sort_by: if sort_by == SortBy::Name { "NAME" } else { "TIMESTAMP" }.into(),
            aggregate_by: if segments { "SEGMENTS" } else { "TIMESTAMPS" }.into(),
        })
        .expect("serialises")
    };
    let items_key = match &view.analysis {
        VideoAnalysis::FaceDetection { .. } => "Faces",
        VideoAnalysis::FaceSearch { .. } | VideoAnalysis::PersonTracking => "Persons",
        VideoAnalysis::TextDetection { .. } => {
            extra.insert("TextModelVersion".into(), TEXT_MODEL_VERSION.into());
            "TextDetections"
        }
        VideoAnalysis::LabelDetection { .. } => {
            extra.insert("LabelModelVersion".into(), LABEL_MODEL_VERSION.into());
            extra.insert("GetRequestMetadata".into(), request_metadata());
            "Labels"
        }
        VideoAnalysis::ContentModeration { .. } => {
            extra.insert("ModerationModelVersion".into(), MODERATION_MODEL_VERSION.into());
            extra.insert("GetRequestMetadata".into(), request_metadata());
            "ModerationLabels"
        }
        VideoAnalysis::SegmentDetection { .. } => unreachable!("answered above"),
    };
    if succeeded {
        extra.insert(items_key.into(), Value::Array(view.items));
    }
    encode(GetJobResponse { common, video_metadata: view.metadata.as_ref().map(metadata), items: extra })
}
