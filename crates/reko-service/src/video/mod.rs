//! Video jobs: `Start*` validates a request, stores the job durably and queues it; a bounded pool of
//! workers (`worker.rs`) decodes the video and analyses its frames (`analysis.rs`); `Get*` reads where
//! the job stands and pages through its results.
//!
//! The stored job is the task; the results are stored already rendered as Rekognition items (by the
//! front end's [`VideoRenderer`], so that only the protocol crate knows the JSON shapes), each with the
//! keys `Get*` sorts them by.

mod analysis;
mod worker;

use std::sync::{Arc, Mutex};

use reko_store::{JobInsert, JobRecord, JobStatus, RequestRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::{DetectedFace, Label, ModerationLabel, RatioBox};
use crate::{DetectedText, FaceMatch, LabelSettings, Scope, Service, ServiceError, TextFilters, now_ms};

pub(crate) use worker::JobQueue;

/// Rekognition Video reads stored videos up to 10 GiB.
pub const MAX_VIDEO_BYTES: u64 = 10 << 30;
/// ... and up to 6 hours long.
pub const MAX_VIDEO_DURATION_MS: u64 = 6 * 3600 * 1000;
/// `MaxResults` of the `Get*` operations when the request gives none, and their largest page.
pub const MAX_RESULTS_PAGE: usize = 1000;
/// `FaceMatchThreshold` of StartFaceSearch when the request gives none, as on Rekognition.
pub const DEFAULT_VIDEO_FACE_MATCH_THRESHOLD: f32 = 80.0;
/// `MinConfidence` of StartLabelDetection and StartContentModeration when the request gives none.
pub const DEFAULT_VIDEO_MIN_CONFIDENCE: f32 = 50.0;
/// `MinSegmentConfidence` of segment detection's filters when the request gives none.
pub const DEFAULT_SEGMENT_CONFIDENCE: f32 = 50.0;
/// `BlackFrame.MaxPixelThreshold` when the request gives none, as on Rekognition.
pub const DEFAULT_MAX_PIXEL_THRESHOLD: f32 = 0.2;
/// `BlackFrame.MinCoveragePercentage` when the request gives none, as on Rekognition.
pub const DEFAULT_MIN_COVERAGE: f32 = 99.0;
/// The version segment detection reports for both its segment types.
pub const SEGMENT_MODEL_VERSION: &str = "1.0";

/// Server-wide settings of video jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoConfig {
    /// Frames analysed per second of video (segment detection reads every frame).
    pub sample_fps: f32,
    /// Jobs analysed at the same time.
    pub workers: usize,
    /// Frames of one job analysed at the same time (each with the models' own threads).
    pub frame_threads: usize,
    /// Unfinished jobs one account may have; more `Start*` requests get `LimitExceededException`.
    pub max_unfinished_jobs: usize,
    /// Frames larger than this many pixels are scaled down before analysis.
    pub max_pixels: u32,
    /// How long a finished job's results (and request tokens) are kept: 7 days, as on Rekognition.
    pub retention: std::time::Duration,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            sample_fps: 2.0,
            workers: 1,
            frame_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            max_unfinished_jobs: 20,
            max_pixels: 1920 * 1080,
            retention: std::time::Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Segment detection's filters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentSettings {
    /// SHOT, with `MinSegmentConfidence`.
    pub shots: Option<f32>,
    /// TECHNICAL_CUE, with its filter.
    pub technical_cues: Option<TechnicalCueSettings>,
}

/// `TechnicalCueFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TechnicalCueSettings {
    pub min_confidence: f32,
    /// `BlackFrame.MaxPixelThreshold`, 0–1 of the luminance range.
    pub max_pixel_threshold: f32,
    /// `BlackFrame.MinCoveragePercentage`.
    pub min_coverage: f32,
}

/// What a job analyses, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "analysis")]
pub enum VideoAnalysis {
    FaceDetection { all_attributes: bool },
    FaceSearch { collection_id: String, threshold: f32 },
    LabelDetection { settings: LabelSettings },
    ContentModeration { min_confidence: f32 },
    TextDetection { filters: TextFilters },
    SegmentDetection { settings: SegmentSettings },
    PersonTracking,
}

impl VideoAnalysis {
    /// The operation pair's name without its verb (`FaceSearch` for StartFaceSearch/GetFaceSearch).
    pub fn operation(&self) -> &'static str {
        match self {
            VideoAnalysis::FaceDetection { .. } => "FaceDetection",
            VideoAnalysis::FaceSearch { .. } => "FaceSearch",
            VideoAnalysis::LabelDetection { .. } => "LabelDetection",
            VideoAnalysis::ContentModeration { .. } => "ContentModeration",
            VideoAnalysis::TextDetection { .. } => "TextDetection",
            VideoAnalysis::SegmentDetection { .. } => "SegmentDetection",
            VideoAnalysis::PersonTracking => "PersonTracking",
        }
    }
}

/// A video in object storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoObject {
    pub bucket: String,
    pub name: String,
    pub version: Option<String>,
}

/// A `Start*` request.
#[derive(Debug, Clone, PartialEq)]
pub struct StartVideoJob {
    pub analysis: VideoAnalysis,
    pub video: VideoObject,
    pub client_request_token: Option<String>,
    pub job_tag: Option<String>,
    /// `NotificationChannel`: (SNS topic ARN, role ARN).
    pub notification: Option<(String, String)>,
}

/// A sound track of the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioMetadata {
    pub codec: String,
    pub duration_ms: u64,
    pub channels: u64,
    pub sample_rate: u64,
}

/// Rekognition's `VideoMetadata`, with the sound tracks segment detection reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMetadata {
    pub codec: String,
    pub duration_ms: u64,
    pub format: String,
    pub frame_rate: f32,
    pub frame_width: u32,
    pub frame_height: u32,
    pub color_range: Option<String>,
    #[serde(default)]
    pub audio: Vec<AudioMetadata>,
}

/// A period of the video (segment aggregation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A shot or technical cue found by segment detection.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSegment {
    /// `Some(index)` for a shot, `None` for a run of black frames.
    pub shot_index: Option<u64>,
    pub confidence: f32,
    pub start_ms: u64,
    pub end_ms: u64,
    pub start_frame: u64,
    pub end_frame: u64,
    pub start_timecode: String,
    pub end_timecode: String,
    pub duration_timecode: String,
}

/// One result of a job, for the front end to render as a Rekognition item.
#[derive(Debug, Clone, Copy)]
pub enum Finding<'a> {
    Face {
        timestamp_ms: u64,
        face: &'a DetectedFace,
        all_attributes: bool,
    },
    /// A tracked person whose face matched faces of the collection.
    FaceMatch {
        timestamp_ms: u64,
        index: u64,
        face: &'a DetectedFace,
        matches: &'a [FaceMatch],
    },
    Person {
        timestamp_ms: u64,
        index: u64,
        bounding_box: RatioBox,
    },
    /// A label in one frame (`span` none) or over a segment.
    Label {
        timestamp_ms: u64,
        label: &'a Label,
        span: Option<Span>,
    },
    Moderation {
        timestamp_ms: u64,
        label: &'a ModerationLabel,
        span: Option<Span>,
    },
    Text {
        timestamp_ms: u64,
        text: &'a DetectedText,
    },
    Segment(&'a VideoSegment),
}

/// Turns findings into the items `Get*` returns, and a finished job into its completion notification
/// (implemented by the front end: only the protocol crate knows the JSON shapes).
pub trait VideoRenderer: Send + Sync {
    fn render(&self, finding: &Finding<'_>) -> Value;
    /// Rekognition Video's completion message (the `Message` of the SNS notification).
    fn completion_message(&self, completion: &crate::Completion) -> String;
    /// The body of an SNS HTTP(S) notification.
    fn sns_notification(&self, notification: &crate::SnsNotification<'_>) -> String;
}

/// A rendered result with its sort keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredItem {
    /// Timestamp (or a segment's start), ms.
    pub t: u64,
    /// Person index.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub i: u64,
    /// Label name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    /// Part of the SEGMENTS aggregation rather than TIMESTAMPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub s: bool,
    pub b: Value,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `SortBy` of the `Get*` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Timestamp,
    Index,
    Name,
}

/// Which page of a job's results to return.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultsPage {
    pub max_results: Option<u32>,
    pub next_token: Option<String>,
    pub sort_by: SortBy,
    /// `AggregateBy` SEGMENTS (labels and moderation).
    pub segments: bool,
}

/// A `Get*` answer in the service's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
    pub status_message: Option<String>,
    pub job_tag: Option<String>,
    pub video: VideoObject,
    pub analysis: VideoAnalysis,
    pub metadata: Option<VideoMetadata>,
    pub items: Vec<Value>,
    pub next_token: Option<String>,
}

/// The results of the last job read, sorted, so that paging through a large job reads it once.
#[derive(Default)]
pub(crate) struct ResultsCache {
    last: Mutex<Option<(String, Arc<Vec<StoredItem>>)>>,
}

/// A new job id: 64 hexadecimal digits, like Rekognition's.
fn new_job_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Service {
    /// `Start*`: checks the request, stores the job and queues it; the job id. A retry with the same
    /// `ClientRequestToken` and parameters gets the first job's id.
    pub fn start_video_job(&self, scope: &Scope, start: StartVideoJob) -> Result<String, ServiceError> {
        let objects = self.objects()?;
        let video = &start.video;
        let length = objects.size(&video.bucket, &video.name, video.version.as_deref())?;
        if length > MAX_VIDEO_BYTES {
            return Err(ServiceError::VideoTooLarge(format!(
                "The video is {length} bytes; stored videos may be at most {MAX_VIDEO_BYTES} bytes"
            )));
        }
        if let Some((topic, _)) = &start.notification
            && !self.notifier.as_ref().is_some_and(|n| n.knows(topic))
        {
            return Err(ServiceError::InvalidRequest(format!(
                "The SNS topic {topic} has no endpoint on this reko server (see sns_topics in its configuration)"
            )));
        }
        if let VideoAnalysis::FaceSearch { collection_id, .. } = &start.analysis {
            self.searchable_collection(scope, collection_id)?;
        }
        let operation = start.analysis.operation();
        let parameters = serde_json::to_value(&start.analysis).expect("settings serialise");
        let job = JobRecord {
            job_id: new_job_id(),
            operation: operation.to_owned(),
            parameters: parameters.clone(),
            bucket: video.bucket.clone(),
            name: video.name.clone(),
            version: video.version.clone(),
            job_tag: start.job_tag.clone(),
            notification: start.notification.clone(),
            status: JobStatus::Queued,
            status_message: None,
            metadata: None,
            created_at_ms: now_ms(),
            finished_at_ms: None,
            attempts: 0,
            owner: None,
            lease_until_ms: None,
        };
        let token = start.client_request_token.as_ref().map(|token| {
            let digest = crate::users::digest(&(&parameters, video, &start.job_tag, &start.notification));
            let record = RequestRecord {
                parameters: digest,
                response: Value::String(job.job_id.clone()),
                created_at_ms: now_ms(),
            };
            (format!("{operation}/{token}"), record)
        });
        let max = self.video_config.max_unfinished_jobs;
        match self.store.insert_job(scope, &job, token.as_ref().map(|(k, r)| (k.as_str(), r)), max)? {
            JobInsert::Inserted => {
                tracing::info!(job_id = %job.job_id, operation, bucket = %video.bucket, key = %video.name, "video job queued");
                self.jobs.push(scope.clone(), job.job_id.clone());
                Ok(job.job_id)
            }
            JobInsert::Existing(first) => match (&token, first.response.as_str()) {
                (Some((_, asked)), Some(job_id)) if asked.parameters == first.parameters => Ok(job_id.to_owned()),
                _ => Err(ServiceError::IdempotencyMismatch),
            },
            JobInsert::LimitReached => Err(ServiceError::LimitExceeded(format!(
                "An account may have at most {max} video jobs in progress at a time"
            ))),
        }
    }

    /// `Get*`: where the job stands and, once it has succeeded, one page of its results.
    pub fn video_job(
        &self,
        scope: &Scope,
        job_id: &str,
        operation: &str,
        page: &ResultsPage,
    ) -> Result<JobView, ServiceError> {
        let job = self
            .store
            .job(scope, job_id)?
            .filter(|job| job.operation == operation)
            .ok_or_else(|| ServiceError::JobNotFound(job_id.to_owned()))?;
        let analysis: VideoAnalysis = serde_json::from_value(job.parameters.clone())
            .map_err(|e| reko_store::StoreError::Corrupt { key: format!("jobs/{job_id}"), reason: e.to_string() })?;
        let metadata = job.metadata.clone().and_then(|m| serde_json::from_value(m).ok());
        let limit = crate::pagination::page_size(page.max_results, MAX_RESULTS_PAGE).min(MAX_RESULTS_PAGE);
        let offset = page.next_token.as_deref().map(crate::pagination::decode_offset).transpose()?.unwrap_or(0);
        let (mut items, mut next_token) = (Vec::new(), None);
        if job.status == JobStatus::Succeeded {
            let sorted = self.sorted_results(scope, &job.job_id, page.sort_by, page.segments)?;
            let (range, next) = crate::pagination::offset_page(sorted.len(), offset, limit);
            items = sorted[range].iter().map(|item| item.b.clone()).collect();
            next_token = next.map(crate::pagination::encode_offset);
        }
        Ok(JobView {
            job_id: job.job_id,
            status: job.status,
            status_message: job.status_message,
            job_tag: job.job_tag,
            video: VideoObject { bucket: job.bucket, name: job.name, version: job.version },
            analysis,
            metadata,
            items,
            next_token,
        })
    }

    /// A job's results of one aggregation, in the asked order (ties in timestamp order).
    fn sorted_results(
        &self,
        scope: &Scope,
        job_id: &str,
        sort_by: SortBy,
        segments: bool,
    ) -> Result<Arc<Vec<StoredItem>>, ServiceError> {
        let key = format!("{}/{}/{job_id}/{sort_by:?}/{segments}", scope.account_id, scope.region);
        let mut cache = self.results_cache.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached, items)) = cache.as_ref()
            && *cached == key
        {
            return Ok(items.clone());
        }
        let mut items = Vec::new();
        for chunk in self.store.job_results(scope, job_id)? {
            let part: Vec<StoredItem> = serde_json::from_slice(&chunk).map_err(|e| {
                reko_store::StoreError::Corrupt { key: format!("job_results/{job_id}"), reason: e.to_string() }
            })?;
            items.extend(part.into_iter().filter(|item| item.s == segments));
        }
        match sort_by {
            SortBy::Timestamp => items.sort_by_key(|item| item.t),
            SortBy::Index => items.sort_by_key(|item| (item.i, item.t)),
            SortBy::Name => items.sort_by(|a, b| a.n.cmp(&b.n).then(a.t.cmp(&b.t))),
        }
        let items = Arc::new(items);
        *cache = Some((key, items.clone()));
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_look_like_rekognition_ones() {
        let id = new_job_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[cfg(test)]
mod job_tests {
    use std::path::Path;
    use std::process::Command;

    use reko_store::EmbeddedStore;

    use super::*;
    use crate::DirectoryObjects;

    fn scope() -> Scope {
        Scope { account_id: "111122223333".into(), region: "us-east-1".into() }
    }

    /// Renders a segment as its kind, frames and confidence; anything else as its debug text.
    struct TestRenderer;

    impl VideoRenderer for TestRenderer {
        fn render(&self, finding: &Finding<'_>) -> Value {
            match finding {
                Finding::Segment(s) => serde_json::json!({
                    "shot": s.shot_index, "start": s.start_frame, "end": s.end_frame, "start_ms": s.start_ms,
                    "timecode": s.start_timecode, "confidence": s.confidence,
                }),
                other => Value::String(format!("{other:?}")),
            }
        }

        fn completion_message(&self, completion: &crate::Completion) -> String {
            format!("{completion:?}")
        }

        fn sns_notification(&self, notification: &crate::SnsNotification<'_>) -> String {
            format!("{notification:?}")
        }
    }

    /// 1 s of colour bars, 1 s of black, 1 s of a moving test pattern, at 25 fps (ffmpeg's lavfi).
    fn make_video(bucket: &Path) {
        std::fs::create_dir_all(bucket).unwrap();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(["-f", "lavfi", "-i", "smptebars=size=320x240:rate=25:duration=1"])
            .args(["-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=1"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1"])
            .args(["-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1[v]", "-map", "[v]"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .arg(bucket.join("cuts.mp4"))
            .status()
            .expect("ffmpeg is installed (Debian package ffmpeg)");
        assert!(status.success());
    }

    fn service(data: &Path, s3: &Path) -> Service {
        Service::new(Arc::new(EmbeddedStore::open(data).unwrap()))
            .with_objects(Arc::new(DirectoryObjects::new(s3)))
            .with_video_config(VideoConfig { max_unfinished_jobs: 2, ..VideoConfig::default() })
    }

    #[test]
    fn jobs_are_leased_and_a_dead_nodes_jobs_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let s3 = dir.path().join("s3");
        make_video(&s3.join("videos"));
        let store: Arc<dyn reko_store::Store> = Arc::new(EmbeddedStore::open(&dir.path().join("data")).unwrap());
        let node =
            |id: &str| Service::new(store.clone()).with_objects(Arc::new(DirectoryObjects::new(&s3))).with_node_id(id);
        let (a, b) = (node("node-a"), node("node-b"));
        let held = a.start_video_job(&scope(), segments_job("cuts.mp4", None)).unwrap();
        let dead = a.start_video_job(&scope(), segments_job("cuts.mp4", None)).unwrap();
        // Node A claimed both and stopped answering: one lease still runs, the other ran out.
        let now = crate::now_ms();
        for (job_id, lease_until) in [(&held, now + 60_000), (&dead, now - 1)] {
            store
                .update_job(&scope(), job_id, &mut |job| {
                    job.status = JobStatus::InProgress;
                    job.owner = Some("node-a".into());
                    job.lease_until_ms = Some(lease_until);
                    job.attempts = 1;
                    reko_store::Update::Commit
                })
                .unwrap();
        }
        // B's scout takes over only the job whose lease ran out; B finishes it.
        assert_eq!(b.start_video_workers(Arc::new(TestRenderer)).unwrap(), 1);
        let taken = wait(&b, &dead);
        assert_eq!(taken.status, JobStatus::Succeeded, "{:?}", taken.status_message);
        let record = store.job(&scope(), &dead).unwrap().unwrap();
        assert_eq!((record.owner.as_deref(), record.attempts), (Some("node-b"), 2));
        let untouched = store.job(&scope(), &held).unwrap().unwrap();
        assert_eq!((untouched.status, untouched.owner.as_deref()), (JobStatus::InProgress, Some("node-a")));
        // A, back with its name, resumes its own job at once (no waiting for the lease); B never ran it.
        // (Its queue still has both jobs from their Start: the finished one is skipped.)
        assert_eq!(a.scout_jobs().unwrap(), 1);
        a.run_queued_jobs(&TestRenderer);
        let resumed = store.job(&scope(), &held).unwrap().unwrap();
        assert_eq!((resumed.status, resumed.owner.as_deref()), (JobStatus::Succeeded, Some("node-a")));
        // A worker whose lease was taken over does not store its outcome.
        let mut late = resumed.clone();
        late.status = JobStatus::Failed;
        assert!(!store.finish_job(&scope(), &late, &[], Some("node-b"), None).unwrap());
    }

    #[test]
    fn finished_jobs_expire_after_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let s3 = dir.path().join("s3");
        make_video(&s3.join("videos"));
        let service = Service::new(Arc::new(EmbeddedStore::open(&dir.path().join("data")).unwrap()))
            .with_objects(Arc::new(DirectoryObjects::new(&s3)))
            .with_video_config(VideoConfig { retention: std::time::Duration::from_secs(5), ..Default::default() });
        let job_id = service.start_video_job(&scope(), segments_job("cuts.mp4", Some("t"))).unwrap();
        service.run_queued_jobs(&TestRenderer);
        assert_eq!(wait(&service, &job_id).status, JobStatus::Succeeded);
        // Within the retention nothing goes; after it, the job, its results and its token do.
        assert_eq!(service.expire_old_records().unwrap(), 0);
        std::thread::sleep(std::time::Duration::from_millis(5100));
        assert_eq!(service.expire_old_records().unwrap(), 2);
        assert!(matches!(
            service.video_job(&scope(), &job_id, "SegmentDetection", &page()),
            Err(ServiceError::JobNotFound(_))
        ));
        // The token is free again: the same request starts a new job.
        assert_ne!(service.start_video_job(&scope(), segments_job("cuts.mp4", Some("t"))).unwrap(), job_id);
    }

    fn segments_job(name: &str, token: Option<&str>) -> StartVideoJob {
        StartVideoJob {
            analysis: VideoAnalysis::SegmentDetection {
                settings: SegmentSettings {
                    shots: Some(50.0),
                    technical_cues: Some(TechnicalCueSettings {
                        min_confidence: 50.0,
                        max_pixel_threshold: 0.2,
                        min_coverage: 99.0,
                    }),
                },
            },
            video: VideoObject { bucket: "videos".into(), name: name.into(), version: None },
            client_request_token: token.map(str::to_owned),
            job_tag: Some("tag".into()),
            notification: None,
        }
    }

    fn page() -> ResultsPage {
        ResultsPage { max_results: None, next_token: None, sort_by: SortBy::Timestamp, segments: false }
    }

    /// Waits (at most 60 s) for a job to finish.
    fn wait(service: &Service, job_id: &str) -> JobView {
        for _ in 0..600 {
            let view = service.video_job(&scope(), job_id, "SegmentDetection", &page()).unwrap();
            if view.status.finished() {
                return view;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("job {job_id} did not finish");
    }

    #[test]
    fn segment_detection_finds_the_black_second_and_the_cuts_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (data, s3) = (dir.path().join("data"), dir.path().join("s3"));
        make_video(&s3.join("videos"));
        std::fs::write(s3.join("videos/notes.mp4"), b"not a video").unwrap();

        // Jobs stored while no worker runs stay queued, across a restart.
        let first = {
            let service = service(&data, &s3);
            let job_id = service.start_video_job(&scope(), segments_job("cuts.mp4", Some("t1"))).unwrap();
            // A retry with the same token is the same job; other parameters under it are refused.
            assert_eq!(service.start_video_job(&scope(), segments_job("cuts.mp4", Some("t1"))).unwrap(), job_id);
            assert!(matches!(
                service.start_video_job(&scope(), segments_job("notes.mp4", Some("t1"))),
                Err(ServiceError::IdempotencyMismatch)
            ));
            assert!(matches!(
                service.start_video_job(&scope(), segments_job("missing.mp4", None)),
                Err(ServiceError::InvalidS3Object(_))
            ));
            let view = service.video_job(&scope(), &job_id, "SegmentDetection", &page()).unwrap();
            assert_eq!((view.status, view.job_tag.as_deref()), (JobStatus::Queued, Some("tag")));
            // Another operation's Get does not see the job, nor does another account.
            assert!(matches!(
                service.video_job(&scope(), &job_id, "FaceSearch", &page()),
                Err(ServiceError::JobNotFound(_))
            ));
            let other = Scope { account_id: "999999999999".into(), region: "us-east-1".into() };
            assert!(service.video_job(&other, &job_id, "SegmentDetection", &page()).is_err());
            job_id
        };
        let service = service(&data, &s3);
        let bad = service.start_video_job(&scope(), segments_job("notes.mp4", None)).unwrap();
        // Two unfinished jobs is this service's limit.
        assert!(matches!(
            service.start_video_job(&scope(), segments_job("cuts.mp4", None)),
            Err(ServiceError::LimitExceeded(_))
        ));
        assert_eq!(service.start_video_workers(Arc::new(TestRenderer)).unwrap(), 2);

        let view = wait(&service, &first);
        assert_eq!(view.status, JobStatus::Succeeded, "{:?}", view.status_message);
        let metadata = view.metadata.unwrap();
        assert_eq!((metadata.codec.as_str(), metadata.frame_width, metadata.duration_ms), ("h264", 320, 3000));
        let found: Vec<(Option<u64>, u64, u64)> = view
            .items
            .iter()
            .map(|s| (s["shot"].as_u64(), s["start"].as_u64().unwrap(), s["end"].as_u64().unwrap()))
            .collect();
        // Black frames 25–49; shots cut where the black starts and ends.
        assert_eq!(found, [(Some(0), 0, 24), (None, 25, 49), (Some(1), 25, 49), (Some(2), 50, 74)]);
        assert_eq!(view.items[1]["timecode"], "00:00:01:00");

        // Paging: one item a page, the same items in the same order.
        let mut paged = Vec::new();
        let mut token = None;
        loop {
            let request = ResultsPage { max_results: Some(1), next_token: token, ..page() };
            let view = service.video_job(&scope(), &first, "SegmentDetection", &request).unwrap();
            paged.extend(view.items);
            token = view.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(paged, view.items);

        let failed = wait(&service, &bad);
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.status_message.as_deref(), Some(reko_video::decode::UNSUPPORTED));
        assert!(failed.items.is_empty());
    }
}
