//! The records the store keeps, serialised as JSON values so that fields can be added compatibly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a record lives: resources belong to one account in one region, as on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
}

/// A face collection's metadata. Its faces and users are separate records under the same key prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionRecord {
    pub collection_id: String,
    /// The face model the collection was created with; searches must use the same one.
    pub face_model_version: String,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    #[serde(default)]
    pub face_count: u64,
    #[serde(default)]
    pub user_count: u64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The vector-index key the next face gets; keys are never reused within a collection.
    #[serde(default)]
    pub next_face_key: u64,
    /// Counts the transactions that added or removed vectors: an index snapshot taken at this count
    /// holds exactly the stored vectors.
    #[serde(default)]
    pub vector_changes: u64,
}

impl CollectionRecord {
    /// A new, empty collection made with face model `face_model_version` at `created_at_ms`.
    pub fn new(collection_id: &str, face_model_version: &str, created_at_ms: i64) -> CollectionRecord {
        CollectionRecord {
            collection_id: collection_id.to_owned(),
            face_model_version: face_model_version.to_owned(),
            created_at_ms,
            face_count: 0,
            user_count: 0,
            tags: BTreeMap::new(),
            next_face_key: 0,
            vector_changes: 0,
        }
    }
}

/// One indexed face: metadata only. Its feature vector is stored beside it under `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    pub face_id: String,
    /// The face's key in the collection's vector index (unique within the collection, never reused).
    pub key: u64,
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    /// Left, top, width, height as ratios of the image.
    pub bounding_box: [f32; 4],
    /// Detection confidence, 0–100.
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The face model version that produced the vector.
    pub model_version: String,
    pub created_at_ms: i64,
}

/// A user of a collection and the faces associated with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: String,
    #[serde(default)]
    pub face_ids: Vec<String>,
    pub created_at_ms: i64,
}

/// A remembered request with a `ClientRequestToken`: what it asked and what it answered, so that a
/// retry gets the same answer and a reuse with other parameters is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// A digest of the request's parameters.
    pub parameters: String,
    /// The answer, as the service encoded it.
    pub response: serde_json::Value,
    pub created_at_ms: i64,
}

/// Where a video job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Stored, waiting for a worker.
    Queued,
    /// A worker is analysing the video (or was, when the server stopped).
    InProgress,
    Succeeded,
    Failed,
}

impl JobStatus {
    /// Whether the job is done, one way or the other.
    pub fn finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// A video job: what was asked, and where it stands. Its results are stored beside it, in chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    /// The analysis (`FaceSearch`, `LabelDetection`, ...): the `Start*`/`Get*` pair without its verb.
    pub operation: String,
    /// The analysis' settings, as the service encoded them.
    pub parameters: serde_json::Value,
    pub bucket: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_tag: Option<String>,
    /// `NotificationChannel`: (SNS topic ARN, role ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<(String, String)>,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The video's metadata, as the service encoded it, once read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    /// How many times a worker has started the job (a restart interrupts one attempt).
    #[serde(default)]
    pub attempts: u32,
    /// The node whose worker runs (or ran) the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Until when the owner's claim holds (milliseconds since the Unix epoch); the owner renews it while
    /// it works, and once it has passed, another node may take the job over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<i64>,
}

/// A finished job's completion notification not yet delivered (the outbox): written in the transaction
/// that finishes the job, removed once delivered or given up. Delivery is leased like a job, so that one
/// node at a time sends it and another takes over when that node dies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The SNS message id, the same on every attempt (a receiver can drop a repeat).
    pub message_id: String,
    /// Delivery attempts so far, on every node.
    #[serde(default)]
    pub attempts: u32,
    /// The node delivering it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Until when that node's claim holds (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<i64>,
}

/// A Custom Labels project: its name and creation time; the rest (feature, tags, datasets, model versions
/// and where each stands) is the service's, kept opaque here. Its larger parts (dataset entries, features,
/// trained models) are the project's items ([`crate::Store::put_project_item`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub name: String,
    /// Creation time in milliseconds since the Unix epoch (the project ARN's last part).
    pub created_at_ms: i64,
    /// What the service keeps of the project, as the service encoded it.
    pub body: serde_json::Value,
}

/// A claim on a record that one node at a time works on (a job, a notification's delivery): the node that
/// holds it and until when (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    pub owner: Option<&'a str>,
    pub until_ms: Option<i64>,
}

impl Lease<'_> {
    /// Whether node `me` may (go on) work on it at `now_ms`: nobody holds it, `me` holds it, or the
    /// holder's lease ran out.
    pub fn may_be_taken_by(&self, me: &str, now_ms: i64) -> bool {
        self.is_not_held_by_another(me) || self.until_ms.is_none_or(|t| t <= now_ms)
    }

    /// Whether no node but `me` holds it.
    pub fn is_not_held_by_another(&self, me: &str) -> bool {
        self.owner.is_none_or(|o| o == me)
    }
}

impl OutboxRecord {
    pub fn lease(&self) -> Lease<'_> {
        Lease { owner: self.owner.as_deref(), until_ms: self.lease_until_ms }
    }

    /// Whether node `me` may (go on) deliver it at `now_ms` ([`Lease::may_be_taken_by`]).
    pub fn may_be_sent_by(&self, me: &str, now_ms: i64) -> bool {
        self.lease().may_be_taken_by(me, now_ms)
    }

    /// Whether `owner` (anyone when none) may take it out of the outbox: no other node holds it.
    pub fn may_be_removed_by(&self, owner: Option<&str>) -> bool {
        owner.is_none_or(|me| self.lease().is_not_held_by_another(me))
    }
}

impl JobRecord {
    pub fn lease(&self) -> Lease<'_> {
        Lease { owner: self.owner.as_deref(), until_ms: self.lease_until_ms }
    }

    /// Whether a worker of node `owner` may still store this job's outcome: the job is unfinished and
    /// no other node holds it (its lease was not taken over).
    pub fn may_be_finished_by(&self, owner: &str) -> bool {
        !self.status.finished() && self.lease().is_not_held_by_another(owner)
    }
}
