//! Custom Labels' projects, datasets and model versions as Rekognition's shapes and enum strings.

use reko_protocol::types::*;
use reko_service::custom_labels::{
    DatasetKind, DatasetStatus, DatasetView, Feature, ProjectView, S3Location, StatusMessageCode, VersionStatus,
    VersionView,
};

pub fn feature(feature: Feature) -> &'static str {
    match feature {
        Feature::CustomLabels => "CUSTOM_LABELS",
        Feature::ContentModeration => "CONTENT_MODERATION",
    }
}

fn dataset_kind(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::Train => "TRAIN",
        DatasetKind::Test => "TEST",
    }
}

fn dataset_status(status: DatasetStatus) -> &'static str {
    match status {
        DatasetStatus::CreateInProgress => "CREATE_IN_PROGRESS",
        DatasetStatus::CreateComplete => "CREATE_COMPLETE",
        DatasetStatus::CreateFailed => "CREATE_FAILED",
        DatasetStatus::UpdateInProgress => "UPDATE_IN_PROGRESS",
        DatasetStatus::UpdateComplete => "UPDATE_COMPLETE",
        DatasetStatus::UpdateFailed => "UPDATE_FAILED",
    }
}

fn message_code(code: StatusMessageCode) -> &'static str {
    match code {
        StatusMessageCode::Success => "SUCCESS",
        StatusMessageCode::ServiceError => "SERVICE_ERROR",
        StatusMessageCode::ClientError => "CLIENT_ERROR",
    }
}

pub fn version_status(status: VersionStatus) -> &'static str {
    match status {
        VersionStatus::TrainingInProgress => "TRAINING_IN_PROGRESS",
        VersionStatus::TrainingCompleted => "TRAINING_COMPLETED",
        VersionStatus::TrainingFailed => "TRAINING_FAILED",
        VersionStatus::Running => "RUNNING",
        VersionStatus::Stopped => "STOPPED",
        VersionStatus::Deleting => "DELETING",
    }
}

pub fn project(p: &ProjectView) -> ProjectDescription {
    ProjectDescription {
        project_arn: p.arn.clone(),
        creation_timestamp: p.created_at,
        status: "CREATED".into(),
        datasets: p
            .datasets
            .iter()
            .map(|d| DatasetMetadata {
                creation_timestamp: d.created_at,
                dataset_type: dataset_kind(d.kind).into(),
                dataset_arn: d.arn.clone(),
                status: dataset_status(d.status).into(),
                status_message: d.status_message.clone(),
                status_message_code: message_code(d.message_code).into(),
            })
            .collect(),
        feature: feature(p.feature).into(),
        auto_update: p.auto_update.map(|a| if a { "ENABLED" } else { "DISABLED" }.into()),
    }
}

pub fn dataset_description(d: &DatasetView) -> DatasetDescription {
    DatasetDescription {
        creation_timestamp: d.created_at,
        last_updated_timestamp: d.updated_at,
        status: dataset_status(d.status).into(),
        status_message: d.status_message.clone(),
        status_message_code: message_code(d.message_code).into(),
        dataset_stats: DatasetStats {
            labeled_entries: d.stats.labeled_entries,
            total_entries: d.stats.total_entries,
            total_labels: d.stats.total_labels,
            error_entries: d.stats.error_entries,
        },
    }
}

fn object(location: &S3Location) -> S3ObjectRef {
    S3ObjectRef {
        bucket: Some(location.bucket.clone()),
        name: Some(location.name.clone()),
        version: location.version.clone(),
    }
}

fn assets(locations: &[S3Location]) -> Option<Vec<Asset>> {
    Some(
        locations
            .iter()
            .map(|l| Asset { ground_truth_manifest: GroundTruthManifest { s3_object: Some(object(l)) } })
            .collect(),
    )
}

pub fn version(v: &VersionView) -> ProjectVersionDescription {
    let s = &v.state;
    let finished = s.training_end_ms.is_some() && s.status != VersionStatus::TrainingFailed;
    let inputs = s.inputs.clone().unwrap_or_default();
    let outputs = &s.outputs;
    let output_of = |file: &Option<S3Location>| assets(file.as_slice());
    ProjectVersionDescription {
        project_version_arn: v.arn.clone(),
        creation_timestamp: v.created_at,
        status: version_status(s.status).into(),
        status_message: s.status_message.clone(),
        min_inference_units: s.min_inference_units,
        max_inference_units: s.max_inference_units,
        billable_training_time_in_seconds: s.billable_seconds,
        training_end_timestamp: s.training_end_ms.map(|ms| ms as f64 / 1000.0),
        output_config: OutputConfig { s3_bucket: s.output_bucket.clone(), s3_key_prefix: s.output_prefix.clone() },
        training_data_result: finished.then(|| TrainingDataResult {
            input: TrainingData { assets: s.inputs.as_ref().and_then(|_| assets(&inputs.training)) },
            output: TrainingData { assets: output_of(&outputs.training_manifest) },
        }),
        testing_data_result: finished.then(|| TestingDataResult {
            input: TestingData {
                assets: s.inputs.as_ref().filter(|i| !i.testing.is_empty()).and_then(|_| assets(&inputs.testing)),
                auto_create: Some(inputs.auto_create_test),
            },
            output: TestingData { assets: output_of(&outputs.testing_manifest), auto_create: None },
        }),
        evaluation_result: s.f1_score.map(|f1| EvaluationResult {
            f1_score: f1,
            summary: outputs.summary.as_ref().map(|l| Summary { s3_object: object(l) }),
        }),
        version_description: s.description.clone(),
        feature: feature(v.feature).into(),
    }
}
