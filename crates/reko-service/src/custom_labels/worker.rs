//! The Custom Labels worker: reads datasets' images into features and trains model versions. The work
//! waits in the project's record (a dataset with `work`, a version TRAINING_IN_PROGRESS); a node claims it
//! under a lease it renews while it works, so that another node takes it over if this one dies, and a
//! restarted node goes on with what it left.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use reko_vision::custom::{self, Example, Head, TrainSettings};

use super::manifest::{self, Entry};
use super::*;

/// How long a claim holds without renewal.
const LEASE: Duration = Duration::from_secs(60);
/// How often the worker looks for work when nobody wakes it.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// A piece of work started this many times (each start interrupted) fails.
const MAX_ATTEMPTS: u32 = 3;
/// Manifests are read up to this size.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;
/// More than this share of a manifest's lines unreadable fails the dataset, as on Rekognition.
const MAX_INVALID_SHARE: f64 = 0.2;

/// Wakes the worker when work is stored.
#[derive(Default)]
pub(crate) struct Wake {
    pending: Mutex<bool>,
    signal: Condvar,
}

/// A piece of work found in a project.
#[derive(Debug, Clone)]
enum Task {
    Dataset(DatasetKind),
    Train(String),
}

/// Why a piece of work failed, and whose fault it was (the client's, or reko's own).
struct Failure {
    message: String,
    client: bool,
}

impl From<ServiceError> for Failure {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Store(_) | ServiceError::Inference(_) | ServiceError::ModelsUnavailable => {
                tracing::error!(%error, "custom labels work failed");
                Failure { message: "Internal error; the server log has the details.".into(), client: false }
            }
            other => Failure { message: other.to_string(), client: true },
        }
    }
}

impl From<reko_store::StoreError> for Failure {
    fn from(error: reko_store::StoreError) -> Self {
        ServiceError::Store(error).into()
    }
}

fn client(message: impl Into<String>) -> Failure {
    Failure { message: message.into(), client: true }
}

/// Every fifth entry (in an order fixed by a hash of its `source-ref`) goes to the test set.
pub(crate) fn split_test(content: &DatasetContent) -> (DatasetContent, DatasetContent) {
    let mut order: Vec<(String, usize)> =
        content.entries.iter().enumerate().map(|(i, e)| (crate::pagination::id_hash(&e.source_ref), i)).collect();
    order.sort();
    let test: HashSet<usize> =
        order.iter().enumerate().filter(|(rank, _)| rank % TEST_SHARE == 0).map(|(_, (_, i))| *i).collect();
    let (mut kept, mut out) = (DatasetContent::default(), DatasetContent::default());
    for (i, (entry, features)) in content.with_features().into_iter().enumerate() {
        let target = if test.contains(&i) { &mut out } else { &mut kept };
        target.entries.push(entry.clone());
        target.features.extend(features.into_iter().flatten());
    }
    (kept, out)
}

impl Service {
    /// Wakes the worker (work was stored).
    pub(crate) fn custom_labels_wake(&self) {
        *self.custom_wake.pending.lock() = true;
        self.custom_wake.signal.notify_all();
    }

    /// Starts the worker thread.
    pub fn start_custom_labels_worker(&self) -> Result<(), ServiceError> {
        let service = self.clone();
        std::thread::Builder::new()
            .name("custom-labels".into())
            .spawn(move || {
                loop {
                    {
                        let mut pending = service.custom_wake.pending.lock();
                        if !*pending {
                            service.custom_wake.signal.wait_for(&mut pending, LOOK_EVERY);
                        }
                        *pending = false;
                    }
                    if let Err(error) = service.run_custom_labels_work() {
                        tracing::warn!(%error, "custom labels: cannot look for work");
                    }
                }
            })
            .map(drop)
            .map_err(|e| ServiceError::InvalidRequest(format!("cannot start the custom labels worker: {e}")))
    }

    /// Does the work this node may claim now (datasets to read, versions to train); how many pieces.
    pub fn run_custom_labels_work(&self) -> Result<usize, ServiceError> {
        let now = now_ms();
        let mut tasks = Vec::new();
        self.store.each_project(&mut |scope, record| {
            let Ok(state) = ProjectState::of(record) else { return };
            for d in &state.datasets {
                if d.work.is_some() && d.claim.lease().may_be_taken_by(&self.node_id, now) {
                    tasks.push((scope.clone(), record.name.clone(), Task::Dataset(d.kind)));
                }
            }
            for v in &state.versions {
                if v.status == VersionStatus::TrainingInProgress && v.claim.lease().may_be_taken_by(&self.node_id, now)
                {
                    tasks.push((scope.clone(), record.name.clone(), Task::Train(v.name.clone())));
                }
            }
        })?;
        let mut done = 0;
        for (scope, project, task) in tasks {
            match self.claim(&scope, &project, &task, true) {
                Ok(Some(attempts)) => {
                    done += 1;
                    let outcome = if attempts > MAX_ATTEMPTS {
                        Err(Failure { message: "The work was interrupted too many times.".into(), client: false })
                    } else {
                        match &task {
                            Task::Dataset(kind) => self.read_dataset(&scope, &project, *kind),
                            Task::Train(version) => self.train_version(&scope, &project, version),
                        }
                    };
                    if let Err(failure) = outcome {
                        self.fail(&scope, &project, &task, failure);
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, project, "custom labels: cannot claim work"),
            }
        }
        Ok(done)
    }

    /// Claims (`start`: to start it, counted as an attempt) or renews the claim on a piece of work; its
    /// attempt number, or `None` when it is no longer there or another node holds it. (This node's one
    /// worker thread starts a piece only when it is not working on it, so a start that finds this node's
    /// own claim follows a restart.)
    fn claim(&self, scope: &Scope, project: &str, task: &Task, start: bool) -> Result<Option<u32>, ServiceError> {
        let me = self.node_id.to_string();
        let result = self.change_project(scope, project, |state| {
            let now = now_ms();
            let claim = match task {
                Task::Dataset(kind) => state.dataset_mut(*kind).filter(|d| d.work.is_some()).map(|d| &mut d.claim),
                Task::Train(name) => state
                    .versions
                    .iter_mut()
                    .find(|v| &v.name == name && v.status == VersionStatus::TrainingInProgress)
                    .map(|v| &mut v.claim),
            };
            let Some(claim) = claim else { return Err(ServiceError::ResourceNotFound(project.into())) };
            if !claim.lease().may_be_taken_by(&me, now) {
                return Err(ServiceError::ResourceInUse(project.into()));
            }
            if start {
                claim.attempts += 1;
            }
            claim.owner = Some(me.clone());
            claim.until_ms = Some(now + LEASE.as_millis() as i64);
            Ok(claim.attempts)
        });
        match result {
            Ok(attempts) => Ok(Some(attempts)),
            Err(ServiceError::ResourceNotFound(_) | ServiceError::ResourceInUse(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Renews a claim while the work goes on; `Err` when it was lost (the work stops).
    fn renew(&self, scope: &Scope, project: &str, task: &Task) -> Result<(), Failure> {
        match self.claim(scope, project, task, false)? {
            Some(_) => Ok(()),
            None => Err(Failure { message: "lost".into(), client: false }),
        }
    }

    fn fail(&self, scope: &Scope, project: &str, task: &Task, failure: Failure) {
        let me = self.node_id.to_string();
        let result = self.change_project(scope, project, |state| {
            match task {
                Task::Dataset(kind) => {
                    let Some(d) = state.dataset_mut(*kind) else { return Ok(()) };
                    if !d.claim.is_held_by(&me) || d.work.is_none() {
                        return Ok(());
                    }
                    d.status = match d.status {
                        DatasetStatus::CreateInProgress => DatasetStatus::CreateFailed,
                        _ => DatasetStatus::UpdateFailed,
                    };
                    d.status_message = failure.message.clone();
                    d.message_code =
                        if failure.client { StatusMessageCode::ClientError } else { StatusMessageCode::ServiceError };
                    d.work = None;
                    d.claim = Claim::default();
                    d.updated_at_ms = now_ms();
                }
                Task::Train(name) => {
                    let Some(v) = state.versions.iter_mut().find(|v| &v.name == name) else { return Ok(()) };
                    if !v.claim.is_held_by(&me) || v.status != VersionStatus::TrainingInProgress {
                        return Ok(());
                    }
                    v.status = VersionStatus::TrainingFailed;
                    v.status_message = Some(failure.message.clone());
                    v.training_end_ms = Some(now_ms());
                    v.claim = Claim::default();
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            tracing::warn!(%error, project, "custom labels: cannot record a failure");
        }
    }

    /// Reads manifest lines into entries: the unreadable lines fail the whole when they are over a fifth.
    fn parse_lines(&self, text: &str, what: &str) -> Result<Vec<Entry>, Failure> {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut entries = Vec::with_capacity(lines.len());
        let mut invalid = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            match manifest::parse_line(line) {
                Ok(entry) => entries.push(entry),
                Err(why) => invalid.push(format!("line {}: {why}", n + 1)),
            }
        }
        if lines.is_empty() {
            return Err(client(format!("{what} has no JSON lines")));
        }
        if invalid.len() as f64 > MAX_INVALID_SHARE * lines.len() as f64 {
            return Err(client(format!(
                "{what}: {} of {} lines cannot be read (at most 20% may be), first {}",
                invalid.len(),
                lines.len(),
                invalid[0]
            )));
        }
        if entries.len() > MAX_DATASET_ENTRIES {
            return Err(client(format!(
                "{what} has {} entries; reko takes at most {MAX_DATASET_ENTRIES}",
                entries.len()
            )));
        }
        Ok(entries)
    }

    fn read_manifest(&self, location: &S3Location) -> Result<String, Failure> {
        let bytes =
            self.objects()?.read(&location.bucket, &location.name, location.version.as_deref(), MAX_MANIFEST_BYTES)?;
        String::from_utf8(bytes)
            .map_err(|_| client(format!("s3://{}/{} is not UTF-8 JSON lines", location.bucket, location.name)))
    }

    /// Computes the features of the entries that lack them and can have them, renewing the claim as it
    /// goes; an image that cannot be read marks its entry with an error.
    fn add_features(
        &self,
        scope: &Scope,
        project: &str,
        task: &Task,
        entries: Vec<(Entry, Option<Vec<f32>>)>,
    ) -> Result<DatasetContent, Failure> {
        let vision = self.vision()?;
        let mut content = DatasetContent::default();
        let mut renewed = Instant::now();
        for (mut entry, features) in entries {
            let features = match features {
                Some(f) => Some(f),
                None if entry.errors.is_empty() => {
                    if renewed.elapsed() > LEASE / 4 {
                        self.renew(scope, project, task)?;
                        renewed = Instant::now();
                    }
                    let (bucket, key) = manifest::parse_s3_uri(&entry.source_ref).expect("checked when parsed");
                    let read = self
                        .read_image_object(&bucket, &key, None)
                        .and_then(|bytes| crate::faces::decoded(&bytes))
                        .and_then(|image| Ok(custom::features(&vision.runtime, &image)?));
                    match read {
                        Ok(f) => Some(f),
                        Err(ServiceError::InvalidS3Object(why)) => {
                            entry.errors.push(("ERROR_INVALID_IMAGE_SOURCE".into(), why));
                            None
                        }
                        Err(ServiceError::InvalidImage(why) | ServiceError::ImageTooLarge(why)) => {
                            entry.errors.push(("ERROR_INVALID_IMAGE".into(), why));
                            None
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
                None => None,
            };
            entry.has_features = features.is_some();
            content.features.extend(features.into_iter().flatten());
            content.entries.push(entry);
        }
        Ok(content)
    }

    /// A dataset's pending entries: read, merged with what it has (a line replaces the entry of the same
    /// `source-ref`), their images read into features, stored.
    fn read_dataset(&self, scope: &Scope, project: &str, kind: DatasetKind) -> Result<(), Failure> {
        let task = Task::Dataset(kind);
        let record = self.store.project(scope, project)?.ok_or_else(|| client("The project was deleted"))?;
        let state = ProjectState::of(&record)?;
        let Some(dataset) = state.dataset(kind) else { return Ok(()) };
        let (text, what) = match &dataset.work {
            Some(DatasetWork::Manifest(location)) => {
                (self.read_manifest(location)?, format!("s3://{}/{}", location.bucket, location.name))
            }
            Some(DatasetWork::Lines) => {
                let bytes = self.store.project_item(scope, project, kind.pending_item())?.unwrap_or_default();
                (String::from_utf8_lossy(&bytes).into_owned(), "Changes.GroundTruth".to_owned())
            }
            None => return Ok(()),
        };
        let new_entries = self.parse_lines(&text, &what)?;
        let existing = self.dataset_content(scope, project, kind)?;
        let mut merged: Vec<(Entry, Option<Vec<f32>>)> =
            existing.with_features().into_iter().map(|(e, f)| (e.clone(), f.map(<[f32]>::to_vec))).collect();
        for entry in new_entries {
            match merged.iter_mut().find(|(e, _)| e.source_ref == entry.source_ref) {
                // Same image, new labels: its features stay.
                Some((old, features)) => {
                    let keep = features.take().filter(|_| entry.errors.is_empty());
                    *old = entry;
                    *features = keep;
                }
                None => merged.push((entry, None)),
            }
        }
        if merged.len() > MAX_DATASET_ENTRIES {
            return Err(client(format!(
                "The dataset would have {} entries; reko takes at most {MAX_DATASET_ENTRIES}",
                merged.len()
            )));
        }
        let content = self.add_features(scope, project, &task, merged)?;
        let stats = content.stats();
        if stats.total_labels as usize > MAX_DATASET_LABELS {
            return Err(client(format!("The dataset has {} labels; at most {MAX_DATASET_LABELS}", stats.total_labels)));
        }
        self.renew(scope, project, &task)?;
        self.put_dataset_content(scope, project, kind, &content)?;
        let me = self.node_id.to_string();
        self.change_project(scope, project, |state| {
            let Some(d) = state.dataset_mut(kind) else { return Ok(()) };
            if !d.claim.is_held_by(&me) {
                return Ok(());
            }
            d.status = match d.status {
                DatasetStatus::CreateInProgress => DatasetStatus::CreateComplete,
                _ => DatasetStatus::UpdateComplete,
            };
            d.status_message = format!(
                "The dataset has {} entries, {} labeled, {} with errors.",
                stats.total_entries, stats.labeled_entries, stats.error_entries
            );
            d.message_code = StatusMessageCode::Success;
            d.stats = stats;
            d.work = None;
            d.claim = Claim::default();
            d.updated_at_ms = now_ms();
            Ok(())
        })?;
        self.store.put_project_item(scope, project, kind.pending_item(), None)?;
        Ok(())
    }

    /// The training and test entries of a version: the project's datasets, or the manifests it was given.
    fn version_data(
        &self,
        scope: &Scope,
        project: &str,
        version: &VersionState,
        task: &Task,
    ) -> Result<(DatasetContent, DatasetContent), Failure> {
        let Some(inputs) = &version.inputs else {
            let train = self.dataset_content(scope, project, DatasetKind::Train)?;
            let test = self.dataset_content(scope, project, DatasetKind::Test)?;
            return Ok(if test.entries.iter().any(|e| e.has_features) { (train, test) } else { split_test(&train) });
        };
        let read_all = |locations: &[S3Location]| -> Result<DatasetContent, Failure> {
            let mut entries = Vec::new();
            for location in locations {
                let text = self.read_manifest(location)?;
                entries.extend(self.parse_lines(&text, &format!("s3://{}/{}", location.bucket, location.name))?);
            }
            self.add_features(scope, project, task, entries.into_iter().map(|e| (e, None)).collect())
        };
        let train = read_all(&inputs.training)?;
        if inputs.testing.is_empty() { Ok(split_test(&train)) } else { Ok((train, read_all(&inputs.testing)?)) }
    }

    /// Trains a version, evaluates it on its test images, writes the evaluation where `OutputConfig` says
    /// and stores the model.
    fn train_version(&self, scope: &Scope, project: &str, name: &str) -> Result<(), Failure> {
        let task = Task::Train(name.to_owned());
        let started = Instant::now();
        let record = self.store.project(scope, project)?.ok_or_else(|| client("The project was deleted"))?;
        let state = ProjectState::of(&record)?;
        let Some(version) = state.version(name).cloned() else { return Ok(()) };
        let (train, test) = self.version_data(scope, project, &version, &task)?;
        if train.entries.iter().chain(&test.entries).any(|e| !e.boxes.is_empty()) {
            return Err(client(OBJECT_DETECTION_REFUSED));
        }
        let usable = |content: &DatasetContent| -> Vec<(Entry, Vec<f32>)> {
            content
                .with_features()
                .into_iter()
                .filter_map(|(e, f)| Some((e.clone(), f?.to_vec())).filter(|(e, _)| !e.labels.is_empty()))
                .collect()
        };
        let (train_rows, test_rows) = (usable(&train), usable(&test));
        let mut labels: Vec<String> = train_rows.iter().flat_map(|(e, _)| e.labels.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(client(format!(
                "The training images have {} label(s); an image-level model needs at least 2",
                labels.len()
            )));
        }
        if test_rows.is_empty() {
            return Err(client("No test image has a label and a readable image"));
        }
        let multi_label = train_rows.iter().any(|(e, _)| e.labels.len() > 1);
        let example = |(e, f): &(Entry, Vec<f32>)| Example {
            features: f.clone(),
            labels: e.labels.iter().filter_map(|l| labels.iter().position(|x| x == l)).collect(),
        };
        let examples: Vec<Example> = train_rows.iter().map(example).collect();
        self.renew(scope, project, &task)?;
        let head = Head::train(labels.clone(), multi_label, &examples, TrainSettings::default());
        // Evaluation on the test images: each label's assumed threshold is where its F1 is best.
        let predictions: Vec<Vec<f32>> = test_rows.iter().map(|(_, f)| head.probabilities(f)).collect();
        let mut thresholds = Vec::new();
        let mut label_results = Vec::new();
        for (j, label) in labels.iter().enumerate() {
            let scored: Vec<(f32, bool)> =
                test_rows.iter().zip(&predictions).map(|((e, _), p)| (p[j], e.labels.contains(label))).collect();
            let threshold = custom::assumed_threshold(&scored);
            let (precision, recall, f1) = custom::precision_recall_f1(&scored, threshold);
            thresholds.push(threshold);
            label_results.push(serde_json::json!({
                "Label": label,
                "NumberOfTestingImages": scored.iter().filter(|(_, t)| *t).count(),
                "Metrics": {"F1Score": f1, "Precision": precision, "Recall": recall, "Threshold": threshold},
            }));
        }
        let mean = |key: &str| {
            label_results.iter().map(|r| r["Metrics"][key].as_f64().unwrap_or(0.0)).sum::<f64>() / labels.len() as f64
        };
        let (f1, precision, recall) = (mean("F1Score"), mean("Precision"), mean("Recall"));
        label_results.sort_by(|a, b| {
            b["Metrics"]["F1Score"].as_f64().unwrap_or(0.0).total_cmp(&a["Metrics"]["F1Score"].as_f64().unwrap_or(0.0))
        });
        let arn = version_arn(scope, project, name, version.created_at_ms);
        let summary = serde_json::json!({
            "Version": 1,
            "AggregatedEvaluationResults": {"F1Score": f1, "Precision": precision, "Recall": recall},
            "EvaluationDetails": {
                "EvaluationEndTimestamp": summary_timestamp(now_ms()),
                "Labels": labels,
                "NumberOfTestingImages": test_rows.len(),
                "NumberOfTrainingImages": train_rows.len(),
                "ProjectVersionArn": arn,
            },
            "LabelEvaluationResults": label_results,
        });
        let mut outputs = VersionOutputs::default();
        if let Some(bucket) = &version.output_bucket {
            let prefix = match version.output_prefix.as_deref() {
                Some(p) if !p.is_empty() && !p.ends_with('/') => format!("{p}/"),
                Some(p) => p.to_owned(),
                None => String::new(),
            };
            let write = |file: String, bytes: Vec<u8>| -> Result<Option<S3Location>, Failure> {
                let key = format!("{prefix}{file}");
                self.objects()?.write(bucket, &key, bytes)?;
                Ok(Some(S3Location { bucket: bucket.clone(), name: key, version: None }))
            };
            let lines = |rows: &[(Entry, Vec<f32>)]| -> Vec<u8> {
                rows.iter().map(|(e, _)| e.line.to_string() + "\n").collect::<String>().into_bytes()
            };
            outputs.summary = write(
                format!("EvaluationResultSummary-{project}-{name}.json"),
                serde_json::to_vec_pretty(&summary).expect("summary serialises"),
            )?;
            outputs.training_manifest =
                write(format!("TrainingGroundTruth-{project}-{name}.json"), lines(&train_rows))?;
            outputs.testing_manifest = write(format!("TestingGroundTruth-{project}-{name}.json"), lines(&test_rows))?;
        }
        let model = TrainedModel { head, thresholds };
        self.renew(scope, project, &task)?;
        self.store.put_project_item(
            scope,
            project,
            &model_item(name),
            Some(&serde_json::to_vec(&model).expect("model serialises")),
        )?;
        let took = started.elapsed();
        let me = self.node_id.to_string();
        self.change_project(scope, project, |state| {
            let Some(v) = state.versions.iter_mut().find(|v| v.name == name) else { return Ok(()) };
            if !v.claim.is_held_by(&me) || v.status != VersionStatus::TrainingInProgress {
                return Ok(());
            }
            v.status = VersionStatus::TrainingCompleted;
            v.status_message = Some(format!(
                "Trained on {} images and tested on {} in {:.1} s: F1 {:.3}.",
                train_rows.len(),
                test_rows.len(),
                took.as_secs_f64(),
                f1
            ));
            v.f1_score = Some(f1 as f32);
            v.outputs = outputs.clone();
            v.training_end_ms = Some(now_ms());
            v.billable_seconds = Some(took.as_secs().max(1));
            v.claim = Claim::default();
            Ok(())
        })?;
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC) of a time in milliseconds, as the evaluation summary writes it.
fn summary_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(summary_timestamp(0), "1970-01-01T00:00:00.000000");
        assert_eq!(summary_timestamp(1_574_317_823_910), "2019-11-21T06:30:23.910000");
        assert_eq!(summary_timestamp(951_782_400_000), "2000-02-29T00:00:00.000000");
    }

    #[test]
    fn a_fifth_goes_to_the_test_set_and_features_follow_their_entries() {
        let mut content = DatasetContent::default();
        for i in 0..50 {
            let mut e = manifest::parse_line(&format!(r#"{{"source-ref":"s3://b/{i}.jpg"}}"#)).unwrap();
            e.has_features = i % 2 == 0;
            if e.has_features {
                content.features.extend(std::iter::repeat_n(i as f32, FEATURE_LEN));
            }
            content.entries.push(e);
        }
        let (train, test) = split_test(&content);
        assert_eq!((train.entries.len(), test.entries.len()), (40, 10));
        for part in [&train, &test] {
            for (e, f) in part.with_features() {
                let i: f32 = e.source_ref.trim_start_matches("s3://b/").trim_end_matches(".jpg").parse().unwrap();
                assert_eq!(f.map(|f| f[0]), e.has_features.then_some(i));
            }
        }
    }
}
