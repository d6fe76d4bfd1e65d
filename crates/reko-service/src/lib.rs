//! reko's operations, free of the wire protocol: plain Rust functions over the store, called by the HTTP
//! front end, the CLI and tests alike. Requests arrive here already validated against the service model;
//! this layer enforces what the model cannot say (existence, ownership, quotas).

mod arn;
mod collection_faces;
mod collections;
pub mod custom_labels;
mod face_index;
mod faces;
mod labels;
mod moderation;
mod notify;
mod objects;
mod pagination;
mod results;
#[cfg(test)]
mod test_support;
mod text;
mod users;
mod video;

use std::sync::Arc;

use reko_store::Store;
pub use reko_store::StoreError;

pub use arn::ResourceArn;
pub use collection_faces::{
    DEFAULT_FACE_MATCH_THRESHOLD, DEFAULT_INDEX_QUALITY_FILTER, DEFAULT_LIST_FACES_PAGE, DEFAULT_MAX_FACE_MATCHES,
    Deletion, DeletionFailure, FaceMatch, FacePage, FailedDeletion, ImageSearch, IndexOutcome, NewFace, image_id,
};
pub use collections::{Collection, CollectionPage};
pub use face_index::SNAPSHOT_MIN_FACES;
pub use faces::{Comparison, DEFAULT_SIMILARITY_THRESHOLD, QualityFilter, Vision};
pub use labels::{
    DEFAULT_LABEL_CONFIDENCE, DEFAULT_MAX_DOMINANT_COLORS, ImageProperties, LABEL_MODEL_VERSION, LabelSettings,
    LabeledImage, Region,
};
pub use moderation::{DEFAULT_MODERATION_CONFIDENCE, MODERATION_MODEL_VERSION};
pub use notify::{Completion, Notifier, SnsNotification};
pub use objects::{DirectoryObjects, LocalObject, MAX_S3_IMAGE_BYTES, ObjectSource, S3Objects, S3Settings};
/// Cancellation of one request's work: run a service call inside [`cancellable`] with the request's
/// [`Cancel`], and cancelling it stops the work at its next model run ([`ServiceError::is_cancelled`]).
pub use reko_inference::cancel::{Cancel, scope as cancellable};
pub use reko_store::JobStatus;
pub use reko_store::Scope;
pub use reko_store::{FaceRecord, UserRecord};
pub use results::{
    Color, DetectedFace, Emotion, FaceAttributes, FaceQuality, FaceReason, Gender, ImageQuality, Label, LabelInstance,
    Landmark, ModerationLabel, Pose, RatioBox, Verdict,
};
pub use text::{DetectedText, TEXT_MODEL_VERSION, TextFilters, TextKind};
pub use users::{
    Association, AssociationFailure, DEFAULT_LIST_USERS_PAGE, DEFAULT_MAX_USERS, DEFAULT_USER_MATCH_THRESHOLD,
    DEFAULT_USER_SEARCH_THRESHOLD, FailedFace, MAX_FACES_PER_USER, User, UserImageSearch, UserPage, UserStatus,
};
pub use video::{
    AudioMetadata, DEFAULT_MAX_PIXEL_THRESHOLD, DEFAULT_MIN_COVERAGE, DEFAULT_SEGMENT_CONFIDENCE,
    DEFAULT_VIDEO_FACE_MATCH_THRESHOLD, DEFAULT_VIDEO_MIN_CONFIDENCE, Finding, JobView, MAX_RESULTS_PAGE, ResultsPage,
    SEGMENT_MODEL_VERSION, SegmentSettings, SortBy, Span, StartVideoJob, TechnicalCueSettings, VideoAnalysis,
    VideoConfig, VideoMetadata, VideoObject, VideoRenderer, VideoSegment,
};

/// The face model version new collections are created with. It names reko's face pipeline (detector,
/// aligner, embedder); collections keep the version they were created with.
pub const FACE_MODEL_VERSION: &str = "1.0";

/// The most tags one resource may carry, as on Rekognition.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// ListCollections' page size when the request gives none.
pub const DEFAULT_LIST_COLLECTIONS_PAGE: usize = 1000;

/// What went wrong, in the service's terms; the front end maps each to a Rekognition error code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("The collection id: {0} already exists")]
    CollectionAlreadyExists(String),
    #[error("The collection id: {0} does not exist")]
    CollectionNotFound(String),
    #[error("The resource {0} does not exist")]
    ResourceNotFound(String),
    #[error("{0} is not a valid Rekognition resource ARN")]
    InvalidArn(String),
    #[error("A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; this request would leave {0}")]
    TooManyTags(usize),
    #[error("Invalid pagination token")]
    InvalidPaginationToken,
    #[error("{0}")]
    InvalidImage(String),
    #[error("{0}")]
    ImageTooLarge(String),
    /// An `S3Object` that cannot be read.
    #[error("{0}")]
    InvalidS3Object(String),
    /// The object store failed (down, or cut the answer) after the client's retries: retry later.
    #[error("The object store cannot be read right now ({0}); retry later.")]
    ObjectStoreUnavailable(String),
    /// A stored video over Rekognition's size limit.
    #[error("{0}")]
    VideoTooLarge(String),
    /// Too many unfinished video jobs.
    #[error("{0}")]
    LimitExceeded(String),
    /// The resource exists, or is busy, in a way that refuses the request (a Custom Labels project name
    /// taken, a model version running).
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    /// The resource is not ready for the request yet (a dataset being read, a model not running).
    #[error("{0}")]
    ResourceNotReady(String),
    #[error("The job id {0} does not exist")]
    JobNotFound(String),
    /// A searched image has no face (that passes the quality filter).
    #[error("There are no faces in the image. Should be at least 1.")]
    NoFaceInImage,
    #[error("faceId {0} was not found in the collection.")]
    FaceNotFound(String),
    #[error("The user id: {0} does not exist")]
    UserNotFound(String),
    #[error("The user id: {0} already exists")]
    UserAlreadyExists(String),
    #[error("User {0} would have more than {MAX_FACES_PER_USER} faces")]
    TooManyUserFaces(String),
    #[error("ClientRequestToken was already used with different parameters")]
    IdempotencyMismatch,
    #[error(
        "Collection {collection} was created with face model version {version}; this server runs version {FACE_MODEL_VERSION} and cannot search or extend it"
    )]
    ModelVersionMismatch { collection: String, version: String },
    #[error("{0}")]
    InvalidRequest(String),
    /// The named image ("source" or "target") has no face (that passes the quality filter).
    #[error("Request has invalid parameters: no face found in the {0} image")]
    NoFace(&'static str),
    /// reko's own fault: the server runs without its models.
    #[error("the analysis models are not loaded")]
    ModelsUnavailable,
    /// reko's own fault: inference failed.
    #[error(transparent)]
    Inference(#[from] reko_inference::InferenceError),
    /// reko's own fault: logged, never shown to the client in detail.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// Whether the work stopped because its request was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ServiceError::Inference(reko_inference::InferenceError::Cancelled))
    }
}

/// A small tokio runtime on a thread of its own, for the asynchronous clients (S3, SNS) that reko's
/// blocking service functions use; it lives as long as the process.
pub(crate) fn background_runtime(name: &str) -> std::io::Result<tokio::runtime::Handle> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name(name).enable_all().build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("{name}-runtime"))
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

/// Milliseconds since the Unix epoch (record times).
fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The service: every operation reko implements, over one store.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    vision: Option<Arc<Vision>>,
    indexes: Arc<face_index::Indexes>,
    objects: Option<Arc<dyn ObjectSource>>,
    video_config: VideoConfig,
    jobs: Arc<video::JobQueue>,
    results_cache: Arc<video::ResultsCache>,
    notifier: Option<Arc<Notifier>>,
    /// This node's name in the store (video job leases).
    node_id: Arc<str>,
    custom_models: Arc<custom_labels::Models>,
    custom_wake: Arc<custom_labels::Wake>,
}

impl Service {
    /// A service over `store` without analysis models (collections and tags only).
    pub fn new(store: Arc<dyn Store>) -> Service {
        Service {
            store,
            vision: None,
            indexes: Default::default(),
            objects: None,
            video_config: VideoConfig::default(),
            jobs: Default::default(),
            results_cache: Default::default(),
            notifier: None,
            node_id: uuid::Uuid::new_v4().to_string().into(),
            custom_models: Default::default(),
            custom_wake: Default::default(),
        }
    }

    /// The same service, naming its node `id` in the store (video job leases): keep it across restarts
    /// (`reko serve` keeps it in the data directory) so that a restarted node resumes its own jobs at once.
    pub fn with_node_id(self, id: impl Into<Arc<str>>) -> Service {
        Service { node_id: id.into(), ..self }
    }

    /// This node's name in the store.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The same service, keeping snapshots of large collection indexes in `dir` (normally
    /// `<data-dir>/indexes`). Call before the service is cloned or used.
    pub fn with_index_snapshots(self, dir: std::path::PathBuf) -> Service {
        Service { indexes: Arc::new(face_index::Indexes::with_snapshots(dir)), ..self }
    }

    /// The same service, reading `S3Object` images from `objects`.
    pub fn with_objects(self, objects: Arc<dyn ObjectSource>) -> Service {
        Service { objects: Some(objects), ..self }
    }

    /// The same service with these video job settings. Call before the service is cloned or used.
    pub fn with_video_config(self, video_config: VideoConfig) -> Service {
        Service { video_config, ..self }
    }

    /// The same service, publishing video job completions to the SNS topics `notifier` knows.
    pub fn with_notifier(self, notifier: Arc<Notifier>) -> Service {
        Service { notifier: Some(notifier), ..self }
    }

    /// Whether the store can write now (a tiny commit): the health check.
    pub fn check_store(&self) -> Result<(), ServiceError> {
        Ok(self.store.check_writable()?)
    }

    /// The same service with the analysis models.
    pub fn with_vision(self, vision: Arc<Vision>) -> Service {
        Service { vision: Some(vision), ..self }
    }
}
