//! Custom Labels: projects, their TRAIN and TEST datasets (Ground Truth manifests; only the entries,
//! labels and image features are kept, never the images), model versions trained on them (a linear head
//! over the ImageNet classifier's features, [`reko_vision::custom`]), started, stopped and asked with
//! DetectCustomLabels. Reading images and training run on the worker ([`worker`]), durable like video jobs:
//! the work is in the project's record, claimed under a lease, and taken over when its node dies.
//!
//! A project is one store record ([`ProjectState`] in its body); its datasets (entries and features) and
//! trained models are its items.

pub mod manifest;
mod worker;

pub(crate) use worker::Wake;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use reko_store::{ProjectRecord, Scope, Update};
use reko_vision::custom::{FEATURE_LEN, Head};
use serde::{Deserialize, Serialize};

use crate::pagination;
use crate::{Service, ServiceError, now_ms};
use manifest::Entry;

/// The most entries a dataset may hold in reko (its features are one stored item; Rekognition allows
/// 250,000).
pub const MAX_DATASET_ENTRIES: usize = 20_000;
/// The most labels a dataset may have, as on Rekognition.
pub const MAX_DATASET_LABELS: usize = 250;
/// DescribeProjects' and DescribeProjectVersions' page when the request gives none.
pub const DEFAULT_PROJECTS_PAGE: usize = 100;
/// ListDatasetEntries' and ListDatasetLabels' page when the request gives none.
pub const DEFAULT_ENTRIES_PAGE: usize = 100;
/// One in this many training entries goes to the test set (DistributeDatasetEntries, AutoCreate).
const TEST_SHARE: usize = 5;

/// What a project customises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Feature {
    CustomLabels,
    ContentModeration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatasetKind {
    Train,
    Test,
}

impl DatasetKind {
    fn arn_part(self) -> &'static str {
        match self {
            DatasetKind::Train => "train",
            DatasetKind::Test => "test",
        }
    }

    fn item(self) -> &'static str {
        match self {
            DatasetKind::Train => "dataset/train",
            DatasetKind::Test => "dataset/test",
        }
    }

    fn pending_item(self) -> &'static str {
        match self {
            DatasetKind::Train => "pending/train",
            DatasetKind::Test => "pending/test",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatasetStatus {
    CreateInProgress,
    CreateComplete,
    CreateFailed,
    UpdateInProgress,
    UpdateComplete,
    UpdateFailed,
}

impl DatasetStatus {
    fn in_progress(self) -> bool {
        matches!(self, DatasetStatus::CreateInProgress | DatasetStatus::UpdateInProgress)
    }
}

/// Whose fault a dataset's status is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusMessageCode {
    Success,
    ServiceError,
    ClientError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionStatus {
    TrainingInProgress,
    TrainingCompleted,
    TrainingFailed,
    Running,
    Stopped,
    Deleting,
}

/// An object of the object store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A claim on a piece of work (a dataset to read, a version to train): which node, until when, and how
/// many times it has been started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    #[serde(default)]
    pub attempts: u32,
}

impl Claim {
    fn lease(&self) -> reko_store::Lease<'_> {
        reko_store::Lease { owner: self.owner.as_deref(), until_ms: self.until_ms }
    }

    /// Whether node `me` holds the claim (and so may store the work's outcome).
    fn is_held_by(&self, me: &str) -> bool {
        self.owner.as_deref() == Some(me)
    }
}

/// Where a dataset's pending entries come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DatasetWork {
    /// A manifest in the object store.
    Manifest(S3Location),
    /// Lines kept in the project's `pending/<kind>` item (UpdateDatasetEntries).
    Lines,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub labeled_entries: u32,
    pub total_entries: u32,
    pub total_labels: u32,
    pub error_entries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetState {
    pub kind: DatasetKind,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub status: DatasetStatus,
    pub status_message: String,
    pub message_code: StatusMessageCode,
    #[serde(default)]
    pub stats: DatasetStats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<DatasetWork>,
    #[serde(default)]
    pub claim: Claim,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What CreateProjectVersion was given to train on, for projects without datasets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInputs {
    #[serde(default)]
    pub training: Vec<S3Location>,
    #[serde(default)]
    pub testing: Vec<S3Location>,
    /// Split the test images off the training images.
    #[serde(default)]
    pub auto_create_test: bool,
}

/// The files training wrote where `OutputConfig` said.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionOutputs {
    pub summary: Option<S3Location>,
    pub training_manifest: Option<S3Location>,
    pub testing_manifest: Option<S3Location>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionState {
    pub name: String,
    pub created_at_ms: i64,
    pub status: VersionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub output_bucket: Option<String>,
    pub output_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `None` when the project's datasets are the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<VersionInputs>,
    #[serde(default)]
    pub outputs: VersionOutputs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1_score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_end_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_inference_units: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inference_units: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub claim: Claim,
}

/// What the service keeps of a project (the body of its store record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    pub feature: Feature,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_update: Option<bool>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub datasets: Vec<DatasetState>,
    #[serde(default)]
    pub versions: Vec<VersionState>,
}

impl ProjectState {
    fn of(record: &ProjectRecord) -> Result<ProjectState, ServiceError> {
        serde_json::from_value(record.body.clone()).map_err(|e| {
            ServiceError::Store(reko_store::StoreError::Corrupt { key: record.name.clone(), reason: e.to_string() })
        })
    }

    fn dataset(&self, kind: DatasetKind) -> Option<&DatasetState> {
        self.datasets.iter().find(|d| d.kind == kind)
    }

    fn dataset_mut(&mut self, kind: DatasetKind) -> Option<&mut DatasetState> {
        self.datasets.iter_mut().find(|d| d.kind == kind)
    }

    fn version(&self, name: &str) -> Option<&VersionState> {
        self.versions.iter().find(|v| v.name == name)
    }
}

/// A dataset's entries and the features of those that have them, as one stored item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetContent {
    pub entries: Vec<Entry>,
    /// [`FEATURE_LEN`] values for each entry with `has_features`, in entry order.
    pub features: Vec<f32>,
}

impl DatasetContent {
    fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(&self.entries).expect("entries serialise");
        let mut out = Vec::with_capacity(4 + json.len() + self.features.len() * 4);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        self.features.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out
    }

    fn decode(bytes: &[u8]) -> Result<DatasetContent, ServiceError> {
        let corrupt = |reason: &str| {
            ServiceError::Store(reko_store::StoreError::Corrupt { key: "dataset".into(), reason: reason.into() })
        };
        let len =
            u32::from_le_bytes(bytes.get(..4).ok_or_else(|| corrupt("short"))?.try_into().expect("4 bytes")) as usize;
        let json = bytes.get(4..4 + len).ok_or_else(|| corrupt("short entries"))?;
        let entries: Vec<Entry> = serde_json::from_slice(json).map_err(|e| corrupt(&e.to_string()))?;
        let features: Vec<f32> =
            bytes[4 + len..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        if features.len() != entries.iter().filter(|e| e.has_features).count() * FEATURE_LEN {
            return Err(corrupt("features do not match the entries"));
        }
        Ok(DatasetContent { entries, features })
    }

    /// Each entry with the features it has, if it has them.
    pub fn with_features(&self) -> Vec<(&Entry, Option<&[f32]>)> {
        let mut chunks = self.features.chunks_exact(FEATURE_LEN);
        self.entries.iter().map(|e| (e, if e.has_features { chunks.next() } else { None })).collect()
    }

    fn stats(&self) -> DatasetStats {
        let mut labels: Vec<&str> = self.entries.iter().flat_map(|e| e.all_labels()).collect();
        labels.sort_unstable();
        labels.dedup();
        DatasetStats {
            labeled_entries: self.entries.iter().filter(|e| e.is_labeled()).count() as u32,
            total_entries: self.entries.len() as u32,
            total_labels: labels.len() as u32,
            error_entries: self.entries.iter().filter(|e| !e.errors.is_empty()).count() as u32,
        }
    }
}

/// A trained model version: the head and each label's assumed threshold (0–1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub head: Head,
    pub thresholds: Vec<f32>,
}

fn model_item(version: &str) -> String {
    format!("model/{version}")
}

/// The parts of a Custom Labels ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CustomArn {
    project: String,
    /// `None` for a project's ARN; the dataset or version otherwise.
    child: Option<ArnChild>,
    created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ArnChild {
    Dataset(DatasetKind),
    Version(String),
}

fn arn_prefix(scope: &Scope) -> String {
    format!("arn:aws:rekognition:{}:{}:project/", scope.region, scope.account_id)
}

/// The ARN of project `name` created at `ms`.
pub fn project_arn(scope: &Scope, name: &str, ms: i64) -> String {
    format!("{}{name}/{ms}", arn_prefix(scope))
}

fn dataset_arn(scope: &Scope, project: &str, kind: DatasetKind, ms: i64) -> String {
    format!("{}{project}/dataset/{}/{ms}", arn_prefix(scope), kind.arn_part())
}

fn version_arn(scope: &Scope, project: &str, version: &str, ms: i64) -> String {
    format!("{}{project}/version/{version}/{ms}", arn_prefix(scope))
}

/// The tags of the project, dataset or version an ARN names.
fn tags_mut<'a>(state: &'a mut ProjectState, arn: &CustomArn) -> Option<&'a mut BTreeMap<String, String>> {
    match &arn.child {
        None => Some(&mut state.tags),
        Some(ArnChild::Dataset(kind)) => state
            .datasets
            .iter_mut()
            .find(|d| d.kind == *kind && d.created_at_ms == arn.created_ms)
            .map(|d| &mut d.tags),
        Some(ArnChild::Version(name)) => state
            .versions
            .iter_mut()
            .find(|v| &v.name == name && v.created_at_ms == arn.created_ms)
            .map(|v| &mut v.tags),
    }
}

/// Parses an ARN of the caller's account and region; any other (another account's included) is not
/// found.
fn parse_arn(scope: &Scope, arn: &str) -> Result<CustomArn, ServiceError> {
    let not_found = || ServiceError::ResourceNotFound(arn.to_owned());
    let rest = arn.strip_prefix(&arn_prefix(scope)).ok_or_else(not_found)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let ms = |s: &str| s.parse::<i64>().map_err(|_| not_found());
    match parts[..] {
        [project, created] => Ok(CustomArn { project: project.into(), child: None, created_ms: ms(created)? }),
        [project, "dataset", kind, created] => {
            let kind = match kind {
                "train" => DatasetKind::Train,
                "test" => DatasetKind::Test,
                _ => return Err(not_found()),
            };
            Ok(CustomArn { project: project.into(), child: Some(ArnChild::Dataset(kind)), created_ms: ms(created)? })
        }
        [project, "version", version, created] => Ok(CustomArn {
            project: project.into(),
            child: Some(ArnChild::Version(version.into())),
            created_ms: ms(created)?,
        }),
        _ => Err(not_found()),
    }
}

/// A project as DescribeProjects shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectView {
    pub arn: String,
    /// Seconds since the Unix epoch.
    pub created_at: f64,
    pub feature: Feature,
    pub auto_update: Option<bool>,
    pub datasets: Vec<DatasetView>,
}

/// A dataset as DescribeProjects and DescribeDataset show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetView {
    pub arn: String,
    pub kind: DatasetKind,
    pub created_at: f64,
    pub updated_at: f64,
    pub status: DatasetStatus,
    pub status_message: String,
    pub message_code: StatusMessageCode,
    pub stats: DatasetStats,
}

/// A model version as DescribeProjectVersions shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionView {
    pub arn: String,
    pub created_at: f64,
    pub state: VersionState,
    pub feature: Feature,
}

/// A label of ListDatasetLabels: how many entries carry it, and on how many of those it is on a box.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetLabel {
    pub name: String,
    pub entries: u32,
    pub boxed_entries: u32,
}

/// ListDatasetEntries' filters.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub contains_labels: Vec<String>,
    pub labeled: Option<bool>,
    pub source_ref_contains: Option<String>,
    pub has_errors: Option<bool>,
}

/// Where CreateDataset's entries come from.
#[derive(Debug, Clone)]
pub enum DatasetSource {
    Empty,
    Manifest(S3Location),
    /// Another dataset's ARN (of the caller's account).
    Dataset(String),
}

/// CreateProjectVersion's request, in the service's terms.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub project_arn: String,
    pub name: String,
    pub output_bucket: Option<String>,
    pub output_prefix: Option<String>,
    pub training: Option<Vec<S3Location>>,
    pub testing: Option<(Vec<S3Location>, bool)>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// One label of DetectCustomLabels.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomLabel {
    pub name: String,
    /// 0–100.
    pub confidence: f32,
}

/// Trained models in memory, by version ARN (a version's model never changes once trained).
#[derive(Default)]
pub(crate) struct Models {
    loaded: Mutex<HashMap<String, Arc<TrainedModel>>>,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn dataset_view(scope: &Scope, project: &str, d: &DatasetState) -> DatasetView {
    DatasetView {
        arn: dataset_arn(scope, project, d.kind, d.created_at_ms),
        kind: d.kind,
        created_at: seconds(d.created_at_ms),
        updated_at: seconds(d.updated_at_ms),
        status: d.status,
        status_message: d.status_message.clone(),
        message_code: d.message_code,
        stats: d.stats,
    }
}

/// One page of an in-memory list, by position: the items from the token's position on.
fn page_of<T: Clone>(items: &[T], token: Option<&str>, size: usize) -> Result<(Vec<T>, Option<String>), ServiceError> {
    let offset = token.map(pagination::decode_offset).transpose()?.unwrap_or(0);
    let (range, next) = pagination::offset_page(items.len(), offset, size);
    Ok((items[range].to_vec(), next.map(pagination::encode_offset)))
}

impl Service {
    fn project_state(&self, scope: &Scope, arn: &CustomArn) -> Result<(ProjectRecord, ProjectState), ServiceError> {
        let not_found = || ServiceError::ResourceNotFound(project_arn(scope, &arn.project, arn.created_ms));
        let record = self.store.project(scope, &arn.project)?.ok_or_else(not_found)?;
        if arn.child.is_none() && record.created_at_ms != arn.created_ms {
            return Err(not_found());
        }
        let state = ProjectState::of(&record)?;
        Ok((record, state))
    }

    /// Changes a project's state in one store transaction; `change` may refuse with an error (nothing is
    /// written then).
    fn change_project<T>(
        &self,
        scope: &Scope,
        name: &str,
        mut change: impl FnMut(&mut ProjectState) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let mut outcome = None;
        let mut failure = None;
        let updated = self.store.update_project(scope, name, &mut |record| {
            let mut state = match ProjectState::of(record) {
                Ok(state) => state,
                Err(e) => {
                    failure = Some(e);
                    return Update::Abort;
                }
            };
            match change(&mut state) {
                Ok(value) => {
                    record.body = serde_json::to_value(&state).expect("project state serialises");
                    outcome = Some(value);
                    Update::Commit
                }
                Err(e) => {
                    failure = Some(e);
                    Update::Abort
                }
            }
        })?;
        if updated.is_none() {
            return Err(ServiceError::ResourceNotFound(name.to_owned()));
        }
        match (failure, outcome) {
            (Some(e), _) => Err(e),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(ServiceError::ResourceNotFound(name.to_owned())),
        }
    }

    pub(crate) fn dataset_content(
        &self,
        scope: &Scope,
        project: &str,
        kind: DatasetKind,
    ) -> Result<DatasetContent, ServiceError> {
        match self.store.project_item(scope, project, kind.item())? {
            Some(bytes) => DatasetContent::decode(&bytes),
            None => Ok(DatasetContent::default()),
        }
    }

    fn put_dataset_content(
        &self,
        scope: &Scope,
        project: &str,
        kind: DatasetKind,
        content: &DatasetContent,
    ) -> Result<(), ServiceError> {
        Ok(self.store.put_project_item(scope, project, kind.item(), Some(&content.encode()))?)
    }

    /// CreateProject.
    pub fn create_project(
        &self,
        scope: &Scope,
        name: &str,
        feature: Option<Feature>,
        auto_update: Option<bool>,
        tags: BTreeMap<String, String>,
    ) -> Result<String, ServiceError> {
        let feature = feature.unwrap_or(Feature::CustomLabels);
        if feature == Feature::ContentModeration {
            return Err(ServiceError::InvalidRequest(
                "reko trains CUSTOM_LABELS projects only; CONTENT_MODERATION adapters are not supported".into(),
            ));
        }
        if tags.len() > crate::MAX_TAGS_PER_RESOURCE {
            return Err(ServiceError::TooManyTags(tags.len()));
        }
        let state = ProjectState { feature, auto_update, tags, datasets: Vec::new(), versions: Vec::new() };
        let created_at_ms = now_ms();
        let record = ProjectRecord {
            name: name.to_owned(),
            created_at_ms,
            body: serde_json::to_value(&state).expect("project state serialises"),
        };
        if !self.store.insert_project(scope, &record)? {
            return Err(ServiceError::ResourceInUse(format!("A project named {name} already exists")));
        }
        Ok(project_arn(scope, name, created_at_ms))
    }

    /// DescribeProjects: the scope's projects by name, or those named.
    pub fn describe_projects(
        &self,
        scope: &Scope,
        names: Option<&[String]>,
        features: Option<&[Feature]>,
        token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<(Vec<ProjectView>, Option<String>), ServiceError> {
        let size = pagination::page_size(max_results, DEFAULT_PROJECTS_PAGE);
        let mut records = Vec::new();
        let mut next = None;
        match names {
            Some(names) => {
                for name in names {
                    records.extend(self.store.project(scope, name)?);
                }
            }
            None => {
                // Filtering by feature may leave a batch short: read on until the page is full or the end.
                let mut after = pagination::resume_after(token)?;
                loop {
                    let batch = self.store.list_projects(scope, after.as_deref(), size)?;
                    let exhausted = batch.len() < size;
                    for record in batch {
                        after = Some(record.name.clone());
                        let feature = ProjectState::of(&record)?.feature;
                        if features.is_none_or(|f| f.contains(&feature)) {
                            records.push(record);
                        }
                        if records.len() == size {
                            break;
                        }
                    }
                    if records.len() == size {
                        if !self.store.list_projects(scope, after.as_deref(), 1)?.is_empty() {
                            next = after.as_deref().map(pagination::encode);
                        }
                        break;
                    }
                    if exhausted {
                        break;
                    }
                }
            }
        }
        let mut views = Vec::new();
        for record in records {
            let state = ProjectState::of(&record)?;
            if features.is_some_and(|f| !f.contains(&state.feature)) {
                continue;
            }
            views.push(ProjectView {
                arn: project_arn(scope, &record.name, record.created_at_ms),
                created_at: seconds(record.created_at_ms),
                feature: state.feature,
                auto_update: state.auto_update,
                datasets: state.datasets.iter().map(|d| dataset_view(scope, &record.name, d)).collect(),
            });
        }
        Ok((views, next))
    }

    /// DeleteProject: only once its model versions are deleted; its datasets go with it.
    pub fn delete_project(&self, scope: &Scope, arn: &str) -> Result<(), ServiceError> {
        let parsed = parse_arn(scope, arn)?;
        if parsed.child.is_some() {
            return Err(ServiceError::ResourceNotFound(arn.to_owned()));
        }
        let (_, state) = self.project_state(scope, &parsed)?;
        if state.datasets.iter().any(|d| d.status.in_progress()) {
            return Err(ServiceError::ResourceInUse("A dataset of the project is being created or updated".into()));
        }
        if !state.versions.is_empty() {
            return Err(ServiceError::ResourceInUse(format!(
                "The project has {} model versions; delete them first (DeleteProjectVersion)",
                state.versions.len()
            )));
        }
        self.store.delete_project(scope, &parsed.project)?;
        Ok(())
    }

    /// CreateDataset.
    pub fn create_dataset(
        &self,
        scope: &Scope,
        project_arn: &str,
        kind: DatasetKind,
        source: DatasetSource,
        tags: BTreeMap<String, String>,
    ) -> Result<String, ServiceError> {
        if tags.len() > crate::MAX_TAGS_PER_RESOURCE {
            return Err(ServiceError::TooManyTags(tags.len()));
        }
        let parsed = parse_arn(scope, project_arn)?;
        if parsed.child.is_some() {
            return Err(ServiceError::ResourceNotFound(project_arn.to_owned()));
        }
        let (record, state) = self.project_state(scope, &parsed)?;
        if state.dataset(kind).is_some() {
            return Err(ServiceError::ResourceAlreadyExists(format!(
                "The project already has a {} dataset",
                kind.arn_part()
            )));
        }
        // A copy is made now: the source's entries and features are already read.
        let copied = match &source {
            DatasetSource::Dataset(source_arn) => {
                let from = parse_arn(scope, source_arn)?;
                let Some(ArnChild::Dataset(from_kind)) = from.child else {
                    return Err(ServiceError::ResourceNotFound(source_arn.clone()));
                };
                let (_, from_state) = self.project_state(scope, &from)?;
                let from_dataset = from_state
                    .dataset(from_kind)
                    .filter(|d| d.created_at_ms == from.created_ms)
                    .ok_or_else(|| ServiceError::ResourceNotFound(source_arn.clone()))?;
                if from_dataset.status.in_progress() {
                    return Err(ServiceError::ResourceNotReady(format!("The dataset {source_arn} is being updated")));
                }
                Some(self.dataset_content(scope, &from.project, from_kind)?)
            }
            _ => None,
        };
        let now = now_ms();
        let (status, work, stats) = match (&source, &copied) {
            (DatasetSource::Manifest(location), _) => (
                DatasetStatus::CreateInProgress,
                Some(DatasetWork::Manifest(location.clone())),
                DatasetStats::default(),
            ),
            (_, Some(content)) => (DatasetStatus::CreateComplete, None, content.stats()),
            _ => (DatasetStatus::CreateComplete, None, DatasetStats::default()),
        };
        let content = copied.unwrap_or_default();
        self.put_dataset_content(scope, &record.name, kind, &content)?;
        let dataset = DatasetState {
            kind,
            created_at_ms: now,
            updated_at_ms: now,
            status,
            status_message: match status {
                DatasetStatus::CreateInProgress => "The dataset is being created.".into(),
                _ => "The dataset is created.".into(),
            },
            message_code: StatusMessageCode::Success,
            stats,
            work,
            claim: Claim::default(),
            tags,
        };
        self.change_project(scope, &record.name, |state| {
            if state.dataset(kind).is_some() {
                return Err(ServiceError::ResourceAlreadyExists(format!(
                    "The project already has a {} dataset",
                    kind.arn_part()
                )));
            }
            state.datasets.push(dataset.clone());
            Ok(())
        })?;
        self.custom_labels_wake();
        Ok(dataset_arn(scope, &record.name, kind, now))
    }

    /// The dataset an ARN names, with its project's name.
    fn find_dataset(&self, scope: &Scope, arn: &str) -> Result<(String, ProjectState, DatasetState), ServiceError> {
        let parsed = parse_arn(scope, arn)?;
        let Some(ArnChild::Dataset(kind)) = parsed.child else {
            return Err(ServiceError::ResourceNotFound(arn.to_owned()));
        };
        let (record, state) = self.project_state(scope, &parsed)?;
        let dataset = state
            .dataset(kind)
            .filter(|d| d.created_at_ms == parsed.created_ms)
            .cloned()
            .ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))?;
        Ok((record.name, state, dataset))
    }

    /// DescribeDataset.
    pub fn describe_dataset(&self, scope: &Scope, arn: &str) -> Result<DatasetView, ServiceError> {
        let (project, _, dataset) = self.find_dataset(scope, arn)?;
        Ok(dataset_view(scope, &project, &dataset))
    }

    /// ListDatasetEntries: the entries' JSON lines, filtered, a page at a time.
    pub fn list_dataset_entries(
        &self,
        scope: &Scope,
        arn: &str,
        filter: &EntryFilter,
        token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<(Vec<String>, Option<String>), ServiceError> {
        let (project, _, dataset) = self.find_dataset(scope, arn)?;
        if dataset.status.in_progress() {
            return Err(ServiceError::ResourceNotReady(format!("The dataset {arn} is being created or updated")));
        }
        let content = self.dataset_content(scope, &project, dataset.kind)?;
        let lines: Vec<String> = content
            .entries
            .iter()
            .filter(|e| {
                (filter.contains_labels.is_empty()
                    || e.all_labels().iter().any(|l| filter.contains_labels.iter().any(|f| f == l)))
                    && filter.labeled.is_none_or(|l| l == e.is_labeled())
                    && filter.source_ref_contains.as_deref().is_none_or(|s| e.source_ref.contains(s))
                    && filter.has_errors.is_none_or(|h| h != e.errors.is_empty())
            })
            .map(Entry::rendered)
            .collect();
        page_of(&lines, token, pagination::page_size(max_results, DEFAULT_ENTRIES_PAGE))
    }

    /// ListDatasetLabels.
    pub fn list_dataset_labels(
        &self,
        scope: &Scope,
        arn: &str,
        token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<(Vec<DatasetLabel>, Option<String>), ServiceError> {
        let (project, _, dataset) = self.find_dataset(scope, arn)?;
        if dataset.status.in_progress() {
            return Err(ServiceError::ResourceNotReady(format!("The dataset {arn} is being created or updated")));
        }
        let content = self.dataset_content(scope, &project, dataset.kind)?;
        let mut labels: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for entry in &content.entries {
            for label in entry.all_labels() {
                let counts = labels.entry(label).or_default();
                counts.0 += 1;
                counts.1 += u32::from(entry.boxes.iter().any(|b| b == label));
            }
        }
        let all: Vec<DatasetLabel> = labels
            .into_iter()
            .map(|(name, (entries, boxed_entries))| DatasetLabel { name: name.to_owned(), entries, boxed_entries })
            .collect();
        page_of(&all, token, pagination::page_size(max_results, DEFAULT_ENTRIES_PAGE))
    }

    /// UpdateDatasetEntries: the lines are added (or replace the entries of the same `source-ref`) by the
    /// worker, which reads their images.
    pub fn update_dataset_entries(&self, scope: &Scope, arn: &str, lines: &[u8]) -> Result<(), ServiceError> {
        let (project, _, dataset) = self.find_dataset(scope, arn)?;
        if dataset.status.in_progress() {
            return Err(ServiceError::ResourceInUse(format!("The dataset {arn} is being created or updated")));
        }
        let text = std::str::from_utf8(lines)
            .map_err(|_| ServiceError::InvalidRequest("Changes.GroundTruth is not UTF-8 JSON lines".into()))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            manifest::parse_line(line)
                .map_err(|why| ServiceError::InvalidRequest(format!("Changes.GroundTruth line {}: {why}", n + 1)))?;
        }
        self.store.put_project_item(scope, &project, dataset.kind.pending_item(), Some(lines))?;
        let kind = dataset.kind;
        self.change_project(scope, &project, |state| {
            let d = state.dataset_mut(kind).ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))?;
            if d.status.in_progress() {
                return Err(ServiceError::ResourceInUse(format!("The dataset {arn} is being created or updated")));
            }
            d.status = DatasetStatus::UpdateInProgress;
            d.status_message = "The dataset is being updated.".into();
            d.message_code = StatusMessageCode::Success;
            d.work = Some(DatasetWork::Lines);
            d.claim = Claim::default();
            d.updated_at_ms = now_ms();
            Ok(())
        })?;
        self.custom_labels_wake();
        Ok(())
    }

    /// DistributeDatasetEntries: moves every fifth training entry (20%, in an order fixed by a hash of
    /// its `source-ref`) to the empty test dataset of the same project.
    pub fn distribute_dataset_entries(&self, scope: &Scope, arns: &[String]) -> Result<(), ServiceError> {
        let [first, second] = arns else {
            return Err(ServiceError::InvalidRequest("Datasets must name the TRAIN and the TEST dataset".into()));
        };
        let (p1, _, d1) = self.find_dataset(scope, first)?;
        let (p2, _, d2) = self.find_dataset(scope, second)?;
        if p1 != p2 || d1.kind == d2.kind {
            return Err(ServiceError::InvalidRequest(
                "Datasets must be the TRAIN and the TEST dataset of one project".into(),
            ));
        }
        let project = p1;
        if d1.status.in_progress() || d2.status.in_progress() {
            return Err(ServiceError::ResourceNotReady("A dataset is being created or updated".into()));
        }
        let train = self.dataset_content(scope, &project, DatasetKind::Train)?;
        let test = self.dataset_content(scope, &project, DatasetKind::Test)?;
        if !test.entries.is_empty() {
            return Err(ServiceError::InvalidRequest("The TEST dataset must be empty".into()));
        }
        if train.entries.len() < 2 {
            return Err(ServiceError::InvalidRequest("The TRAIN dataset needs at least two entries".into()));
        }
        let (kept, out) = worker::split_test(&train);
        self.put_dataset_content(scope, &project, DatasetKind::Test, &out)?;
        self.put_dataset_content(scope, &project, DatasetKind::Train, &kept)?;
        let stats = [(DatasetKind::Train, kept.stats()), (DatasetKind::Test, out.stats())];
        let now = now_ms();
        self.change_project(scope, &project, |state| {
            for (kind, stats) in stats {
                if let Some(d) = state.dataset_mut(kind) {
                    d.stats = stats;
                    d.status = DatasetStatus::UpdateComplete;
                    d.status_message = "The dataset is updated.".into();
                    d.updated_at_ms = now;
                }
            }
            Ok(())
        })
    }

    /// DeleteDataset.
    pub fn delete_dataset(&self, scope: &Scope, arn: &str) -> Result<(), ServiceError> {
        let (project, _, dataset) = self.find_dataset(scope, arn)?;
        if dataset.status.in_progress() {
            return Err(ServiceError::ResourceInUse(format!("The dataset {arn} is being created or updated")));
        }
        let kind = dataset.kind;
        self.change_project(scope, &project, |state| {
            state.datasets.retain(|d| d.kind != kind);
            Ok(())
        })?;
        self.store.put_project_item(scope, &project, kind.item(), None)?;
        self.store.put_project_item(scope, &project, kind.pending_item(), None)?;
        Ok(())
    }

    /// CreateProjectVersion: stores the version as TRAINING_IN_PROGRESS; the worker trains it.
    pub fn create_project_version(&self, scope: &Scope, new: NewVersion) -> Result<String, ServiceError> {
        let parsed = parse_arn(scope, &new.project_arn)?;
        if parsed.child.is_some() {
            return Err(ServiceError::ResourceNotFound(new.project_arn.clone()));
        }
        let (record, state) = self.project_state(scope, &parsed)?;
        let inputs = if state.datasets.is_empty() {
            let training = new.training.clone().unwrap_or_default();
            if training.is_empty() {
                return Err(ServiceError::InvalidRequest(
                    "The project has no datasets: give TrainingData with a manifest, or create its datasets first"
                        .into(),
                ));
            }
            let (testing, auto_create_test) = new.testing.clone().unwrap_or_default();
            if testing.is_empty() && !auto_create_test {
                return Err(ServiceError::InvalidRequest("TestingData needs a manifest or AutoCreate: true".into()));
            }
            Some(VersionInputs { training, testing, auto_create_test })
        } else {
            if new.training.is_some() || new.testing.is_some() {
                return Err(ServiceError::InvalidRequest(
                    "The project has datasets: its model versions train on them, not on TrainingData/TestingData"
                        .into(),
                ));
            }
            let train = state
                .dataset(DatasetKind::Train)
                .ok_or_else(|| ServiceError::InvalidRequest("The project has no TRAIN dataset".into()))?;
            if state.datasets.iter().any(|d| d.status.in_progress()) {
                return Err(ServiceError::ResourceNotReady(
                    "A dataset of the project is being created or updated".into(),
                ));
            }
            if train.stats.labeled_entries == 0 {
                return Err(ServiceError::InvalidRequest("The TRAIN dataset has no labeled entries".into()));
            }
            let content = self.dataset_content(scope, &record.name, DatasetKind::Train)?;
            if content.entries.iter().any(|e| !e.boxes.is_empty()) {
                return Err(ServiceError::InvalidRequest(OBJECT_DETECTION_REFUSED.into()));
            }
            None
        };
        let now = now_ms();
        let version = VersionState {
            name: new.name.clone(),
            created_at_ms: now,
            status: VersionStatus::TrainingInProgress,
            status_message: Some("The model is being trained.".into()),
            output_bucket: new.output_bucket.clone(),
            output_prefix: new.output_prefix.clone(),
            description: new.description.clone(),
            inputs,
            outputs: VersionOutputs::default(),
            f1_score: None,
            training_end_ms: None,
            billable_seconds: None,
            min_inference_units: None,
            max_inference_units: None,
            tags: new.tags.clone(),
            claim: Claim::default(),
        };
        self.change_project(scope, &record.name, |state| {
            if state.version(&new.name).is_some() {
                return Err(ServiceError::ResourceInUse(format!(
                    "The project already has a version named {}",
                    new.name
                )));
            }
            state.versions.push(version.clone());
            Ok(())
        })?;
        self.custom_labels_wake();
        Ok(version_arn(scope, &record.name, &new.name, now))
    }

    /// DescribeProjectVersions: the project's versions, newest first, or those named.
    pub fn describe_project_versions(
        &self,
        scope: &Scope,
        project_arn: &str,
        names: Option<&[String]>,
        token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<(Vec<VersionView>, Option<String>), ServiceError> {
        let parsed = parse_arn(scope, project_arn)?;
        if parsed.child.is_some() {
            return Err(ServiceError::ResourceNotFound(project_arn.to_owned()));
        }
        let (record, state) = self.project_state(scope, &parsed)?;
        let mut versions: Vec<&VersionState> =
            state.versions.iter().filter(|v| names.is_none_or(|n| n.contains(&v.name))).collect();
        versions.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then_with(|| a.name.cmp(&b.name)));
        let views: Vec<VersionView> = versions
            .into_iter()
            .map(|v| VersionView {
                arn: version_arn(scope, &record.name, &v.name, v.created_at_ms),
                created_at: seconds(v.created_at_ms),
                state: v.clone(),
                feature: state.feature,
            })
            .collect();
        page_of(&views, token, pagination::page_size(max_results, DEFAULT_PROJECTS_PAGE))
    }

    /// The version an ARN names, with its project's name.
    fn find_version(&self, scope: &Scope, arn: &str) -> Result<(String, VersionState), ServiceError> {
        let parsed = parse_arn(scope, arn)?;
        let Some(ArnChild::Version(name)) = &parsed.child else {
            return Err(ServiceError::ResourceNotFound(arn.to_owned()));
        };
        let (record, state) = self.project_state(scope, &parsed)?;
        let version = state
            .version(name)
            .filter(|v| v.created_at_ms == parsed.created_ms)
            .cloned()
            .ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))?;
        Ok((record.name, version))
    }

    /// Sets a version's status if `allowed` says its present one permits; the status it has then.
    fn set_version_status(
        &self,
        scope: &Scope,
        arn: &str,
        allowed: impl Fn(VersionStatus) -> Result<(), ServiceError>,
        change: impl Fn(&mut VersionState),
    ) -> Result<VersionStatus, ServiceError> {
        let (project, version) = self.find_version(scope, arn)?;
        self.change_project(scope, &project, |state| {
            let v = state
                .versions
                .iter_mut()
                .find(|v| v.name == version.name && v.created_at_ms == version.created_at_ms)
                .ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))?;
            allowed(v.status)?;
            change(v);
            Ok(v.status)
        })
    }

    /// StartProjectVersion: a trained version serves DetectCustomLabels on every node (its model is
    /// read from the store on first use).
    pub fn start_project_version(
        &self,
        scope: &Scope,
        arn: &str,
        min_units: u32,
        max_units: Option<u32>,
    ) -> Result<VersionStatus, ServiceError> {
        self.set_version_status(
            scope,
            arn,
            |status| match status {
                VersionStatus::TrainingCompleted | VersionStatus::Stopped | VersionStatus::Running => Ok(()),
                other => Err(ServiceError::ResourceInUse(format!("The model version is {other:?}; it cannot start"))),
            },
            |v| {
                v.status = VersionStatus::Running;
                v.status_message = Some("The model is running.".into());
                v.min_inference_units = Some(min_units);
                v.max_inference_units = max_units;
            },
        )
    }

    /// StopProjectVersion.
    pub fn stop_project_version(&self, scope: &Scope, arn: &str) -> Result<VersionStatus, ServiceError> {
        let status = self.set_version_status(
            scope,
            arn,
            |status| match status {
                VersionStatus::Running => Ok(()),
                other => Err(ServiceError::ResourceInUse(format!("The model version is {other:?}, not RUNNING"))),
            },
            |v| {
                v.status = VersionStatus::Stopped;
                v.status_message = Some("The model is stopped.".into());
            },
        )?;
        self.custom_models.loaded.lock().remove(arn);
        Ok(status)
    }

    /// DeleteProjectVersion: not while it trains or runs.
    pub fn delete_project_version(&self, scope: &Scope, arn: &str) -> Result<VersionStatus, ServiceError> {
        let (project, version) = self.find_version(scope, arn)?;
        self.change_project(scope, &project, |state| {
            let v = state
                .versions
                .iter()
                .find(|v| v.name == version.name && v.created_at_ms == version.created_at_ms)
                .ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))?;
            if matches!(v.status, VersionStatus::Running | VersionStatus::TrainingInProgress) {
                return Err(ServiceError::ResourceInUse(format!(
                    "The model version is {:?}; stop it or let it finish training first",
                    v.status
                )));
            }
            state.versions.retain(|v| v.name != version.name);
            Ok(())
        })?;
        self.store.put_project_item(scope, &project, &model_item(&version.name), None)?;
        self.custom_models.loaded.lock().remove(arn);
        Ok(VersionStatus::Deleting)
    }

    /// DetectCustomLabels: the running version's labels for an image, best first; without
    /// `min_confidence`, each label at or above its assumed threshold.
    pub fn detect_custom_labels(
        &self,
        scope: &Scope,
        arn: &str,
        image: &[u8],
        max_results: Option<u32>,
        min_confidence: Option<f32>,
    ) -> Result<Vec<CustomLabel>, ServiceError> {
        let (project, version) = self.find_version(scope, arn)?;
        if version.status != VersionStatus::Running {
            return Err(ServiceError::ResourceNotReady(format!(
                "ProjectVersion {arn} is {:?}, not RUNNING: start it with StartProjectVersion",
                version.status
            )));
        }
        let model = self.trained_model(scope, &project, &version.name, arn)?;
        let vision = self.vision()?;
        let decoded = crate::faces::decoded(image)?;
        let features = reko_vision::custom::features(&vision.runtime, &decoded)?;
        let p = model.head.probabilities(&features);
        let mut labels: Vec<CustomLabel> = model
            .head
            .labels
            .iter()
            .zip(&p)
            .zip(&model.thresholds)
            .filter(|((_, p), threshold)| match min_confidence {
                Some(min) => **p * 100.0 >= min,
                None => **p >= **threshold,
            })
            .map(|((name, p), _)| CustomLabel { name: name.clone(), confidence: p * 100.0 })
            .collect();
        labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        if let Some(max) = max_results {
            labels.truncate(max as usize);
        }
        Ok(labels)
    }

    /// The tags of a project, dataset or model version: TagResource, UntagResource and
    /// ListTagsForResource with a Custom Labels ARN. `change` edits them (and may refuse); they are
    /// written only when it changed something.
    pub(crate) fn custom_tags(
        &self,
        scope: &Scope,
        arn: &str,
        mut change: impl FnMut(&mut BTreeMap<String, String>) -> Result<(), ServiceError>,
    ) -> Result<BTreeMap<String, String>, ServiceError> {
        let parsed = parse_arn(scope, arn)?;
        let (record, state) = self.project_state(scope, &parsed)?;
        let not_found = || ServiceError::ResourceNotFound(arn.to_owned());
        let mut after = tags_mut(&mut state.clone(), &parsed).cloned().ok_or_else(not_found)?;
        let before = after.clone();
        change(&mut after)?;
        if after != before {
            self.change_project(scope, &record.name, |state| {
                *tags_mut(state, &parsed).ok_or_else(not_found)? = after.clone();
                Ok(())
            })?;
        }
        Ok(after)
    }

    fn trained_model(
        &self,
        scope: &Scope,
        project: &str,
        version: &str,
        arn: &str,
    ) -> Result<Arc<TrainedModel>, ServiceError> {
        if let Some(model) = self.custom_models.loaded.lock().get(arn) {
            return Ok(model.clone());
        }
        let bytes = self.store.project_item(scope, project, &model_item(version))?.ok_or_else(|| {
            ServiceError::Store(reko_store::StoreError::Corrupt { key: arn.into(), reason: "no stored model".into() })
        })?;
        let model: TrainedModel = serde_json::from_slice(&bytes).map_err(|e| {
            ServiceError::Store(reko_store::StoreError::Corrupt { key: arn.into(), reason: e.to_string() })
        })?;
        let model = Arc::new(model);
        self.custom_models.loaded.lock().insert(arn.to_owned(), model.clone());
        Ok(model)
    }
}

/// Why an object-detection dataset cannot be trained.
pub const OBJECT_DETECTION_REFUSED: &str = "reko trains image-level labels only: the dataset has bounding boxes \
    (object detection), which reko's Custom Labels does not train on a CPU from few examples. Label the images with \
    groundtruth/image-classification attributes instead.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_parse_back_and_stay_in_their_account() {
        let scope = Scope { account_id: "111122223333".into(), region: "us-east-1".into() };
        let other = Scope { account_id: "999988887777".into(), region: "us-east-1".into() };
        let p = project_arn(&scope, "my-project", 17);
        assert_eq!(p, "arn:aws:rekognition:us-east-1:111122223333:project/my-project/17");
        assert_eq!(
            parse_arn(&scope, &p).unwrap(),
            CustomArn { project: "my-project".into(), child: None, created_ms: 17 }
        );
        let d = dataset_arn(&scope, "my-project", DatasetKind::Test, 18);
        assert_eq!(parse_arn(&scope, &d).unwrap().child, Some(ArnChild::Dataset(DatasetKind::Test)));
        let v = version_arn(&scope, "my-project", "v1.0", 19);
        assert_eq!(parse_arn(&scope, &v).unwrap().child, Some(ArnChild::Version("v1.0".into())));
        assert!(matches!(parse_arn(&other, &p), Err(ServiceError::ResourceNotFound(_))));
        assert!(parse_arn(&scope, "arn:aws:rekognition:us-east-1:111122223333:project/x/dataset/val/1").is_err());
    }

    fn service() -> (tempfile::TempDir, Service) {
        let data = tempfile::tempdir().unwrap();
        let store: Arc<dyn reko_store::Store> = Arc::new(reko_store::EmbeddedStore::open(data.path()).unwrap());
        let objects = Arc::new(crate::DirectoryObjects::new(data.path().join("s3")));
        std::fs::create_dir_all(data.path().join("s3/bucket")).unwrap();
        (data, Service::new(store).with_objects(objects))
    }

    /// Projects page in name order; a manifest with too many unreadable lines fails its dataset with the
    /// client's fault; the lifecycle's refusals carry Rekognition's meanings.
    #[test]
    fn projects_page_and_datasets_fail_on_bad_manifests() {
        let (data, service) = service();
        let scope = crate::test_support::scope();
        let arns: Vec<String> = ["c", "a", "b"]
            .iter()
            .map(|name| service.create_project(&scope, name, None, None, BTreeMap::new()).unwrap())
            .collect();
        let (page, next) = service.describe_projects(&scope, None, None, None, Some(2)).unwrap();
        assert_eq!(page.iter().map(|p| p.arn.as_str()).collect::<Vec<_>>(), [&arns[1], &arns[2]]);
        let (rest, last) = service.describe_projects(&scope, None, None, next.as_deref(), Some(2)).unwrap();
        assert_eq!((rest.len(), last), (1, None));
        let moderation = service.create_project(&scope, "m", Some(Feature::ContentModeration), None, BTreeMap::new());
        assert!(matches!(moderation, Err(ServiceError::InvalidRequest(_))));

        std::fs::write(
            data.path().join("s3/bucket/bad.manifest"),
            "not json\nnot json either\n{\"source-ref\":\"s3://bucket/x.jpg\"}\n",
        )
        .unwrap();
        let manifest = S3Location { bucket: "bucket".into(), name: "bad.manifest".into(), version: None };
        let dataset = service
            .create_dataset(&scope, &arns[0], DatasetKind::Train, DatasetSource::Manifest(manifest), BTreeMap::new())
            .unwrap();
        assert_eq!(service.describe_dataset(&scope, &dataset).unwrap().status, DatasetStatus::CreateInProgress);
        assert!(matches!(
            service.list_dataset_entries(&scope, &dataset, &EntryFilter::default(), None, None),
            Err(ServiceError::ResourceNotReady(_))
        ));
        // No models are loaded, but the manifest fails before any image is read.
        assert_eq!(service.run_custom_labels_work().unwrap(), 1);
        let failed = service.describe_dataset(&scope, &dataset).unwrap();
        assert_eq!((failed.status, failed.message_code), (DatasetStatus::CreateFailed, StatusMessageCode::ClientError));
        assert!(failed.status_message.contains("2 of 3 lines"), "{}", failed.status_message);
        assert_eq!(service.run_custom_labels_work().unwrap(), 0);

        let new = |name: &str| NewVersion {
            project_arn: arns[0].clone(),
            name: name.into(),
            output_bucket: None,
            output_prefix: None,
            training: None,
            testing: None,
            description: None,
            tags: BTreeMap::new(),
        };
        assert!(matches!(service.create_project_version(&scope, new("v1")), Err(ServiceError::InvalidRequest(_))));
        service.delete_dataset(&scope, &dataset).unwrap();
        assert!(matches!(service.describe_dataset(&scope, &dataset), Err(ServiceError::ResourceNotFound(_))));
        assert!(matches!(service.create_project_version(&scope, new("v1")), Err(ServiceError::InvalidRequest(_))));
        let other = Scope { account_id: "999999999999".into(), region: "us-east-1".into() };
        assert!(matches!(service.delete_project(&other, &arns[0]), Err(ServiceError::ResourceNotFound(_))));
        service.delete_project(&scope, &arns[0]).unwrap();
        assert!(matches!(service.delete_project(&scope, &arns[0]), Err(ServiceError::ResourceNotFound(_))));
    }

    #[test]
    fn dataset_content_round_trips_and_refuses_a_mismatch() {
        let entry = manifest::parse_line(r#"{"source-ref":"s3://b/a.jpg"}"#).unwrap();
        let content = DatasetContent {
            entries: vec![Entry { has_features: true, ..entry.clone() }, entry],
            features: vec![0.5; FEATURE_LEN],
        };
        assert_eq!(DatasetContent::decode(&content.encode()).unwrap(), content);
        let mut broken = content.encode();
        broken.truncate(broken.len() - 4);
        assert!(DatasetContent::decode(&broken).is_err());
    }
}
