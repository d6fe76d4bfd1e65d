//! Custom Labels: CreateProject, DescribeProjects, DeleteProject, CreateDataset, DescribeDataset,
//! ListDatasetEntries, ListDatasetLabels, UpdateDatasetEntries, DistributeDatasetEntries, DeleteDataset,
//! CreateProjectVersion, DescribeProjectVersions, Start/Stop/DeleteProjectVersion, DetectCustomLabels.

use reko_protocol::types::*;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::Scope;
use reko_service::custom_labels::{
    self as cl, DatasetKind, DatasetSource as Source, EntryFilter, Feature, NewVersion, S3Location,
};
use serde_json::Value;

use crate::dispatch::{Call, encode, image_bytes};
use crate::render::custom_labels as render;

fn feature(text: &str) -> Feature {
    match text {
        "CONTENT_MODERATION" => Feature::ContentModeration,
        // CUSTOM_LABELS; the model's validation refuses anything else.
        _ => Feature::CustomLabels,
    }
}

fn location(object: Option<S3ObjectRef>, what: &str) -> Result<S3Location, ApiError> {
    match object {
        Some(S3ObjectRef { bucket: Some(bucket), name: Some(name), version }) => {
            Ok(S3Location { bucket, name, version })
        }
        _ => Err(ApiError::new(ErrorCode::InvalidParameter, format!("{what} needs an S3Object with Bucket and Name"))),
    }
}

fn assets(assets: Option<Vec<Asset>>, what: &str) -> Result<Vec<S3Location>, ApiError> {
    assets.unwrap_or_default().into_iter().map(|a| location(a.ground_truth_manifest.s3_object, what)).collect()
}

pub(crate) async fn create_project(
    call: &Call<'_>,
    scope: Scope,
    req: CreateProjectRequest,
) -> Result<Value, ApiError> {
    let feature = req.feature.as_deref().map(feature);
    let auto_update = req.auto_update.as_deref().map(|a| a == "ENABLED");
    let arn = call.run(move |s| s.create_project(&scope, &req.project_name, feature, auto_update, req.tags)).await?;
    encode(CreateProjectResponse { project_arn: arn })
}

pub(crate) async fn describe_projects(
    call: &Call<'_>,
    scope: Scope,
    req: DescribeProjectsRequest,
) -> Result<Value, ApiError> {
    let features: Option<Vec<Feature>> = req.features.map(|f| f.iter().map(|f| feature(f)).collect());
    let (projects, next_token) = call
        .run(move |s| {
            s.describe_projects(
                &scope,
                req.project_names.as_deref(),
                features.as_deref(),
                req.next_token.as_deref(),
                req.max_results,
            )
        })
        .await?;
    encode(DescribeProjectsResponse {
        project_descriptions: projects.iter().map(render::project).collect(),
        next_token,
    })
}

pub(crate) async fn delete_project(
    call: &Call<'_>,
    scope: Scope,
    req: DeleteProjectRequest,
) -> Result<Value, ApiError> {
    call.run(move |s| s.delete_project(&scope, &req.project_arn)).await?;
    encode(StatusResponse { status: "DELETING".into() })
}

pub(crate) async fn create_dataset(
    call: &Call<'_>,
    scope: Scope,
    req: CreateDatasetRequest,
) -> Result<Value, ApiError> {
    let kind = if req.dataset_type == "TEST" { DatasetKind::Test } else { DatasetKind::Train };
    let source = match req.dataset_source {
        None => Source::Empty,
        Some(DatasetSource { ground_truth_manifest: Some(_), dataset_arn: Some(_) }) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "DatasetSource must have one of GroundTruthManifest and DatasetArn",
            ));
        }
        Some(DatasetSource { ground_truth_manifest: Some(manifest), .. }) => {
            Source::Manifest(location(manifest.s3_object, "GroundTruthManifest")?)
        }
        Some(DatasetSource { dataset_arn: Some(arn), .. }) => Source::Dataset(arn),
        Some(_) => Source::Empty,
    };
    let arn = call.run(move |s| s.create_dataset(&scope, &req.project_arn, kind, source, req.tags)).await?;
    encode(CreateDatasetResponse { dataset_arn: arn })
}

pub(crate) async fn describe_dataset(
    call: &Call<'_>,
    scope: Scope,
    req: DescribeDatasetRequest,
) -> Result<Value, ApiError> {
    let dataset = call.run(move |s| s.describe_dataset(&scope, &req.dataset_arn)).await?;
    encode(DescribeDatasetResponse { dataset_description: render::dataset_description(&dataset) })
}

pub(crate) async fn list_dataset_entries(
    call: &Call<'_>,
    scope: Scope,
    req: ListDatasetEntriesRequest,
) -> Result<Value, ApiError> {
    let filter = EntryFilter {
        contains_labels: req.contains_labels,
        labeled: req.labeled,
        source_ref_contains: req.source_ref_contains,
        has_errors: req.has_errors,
    };
    let (entries, next_token) = call
        .run(move |s| {
            s.list_dataset_entries(&scope, &req.dataset_arn, &filter, req.next_token.as_deref(), req.max_results)
        })
        .await?;
    encode(ListDatasetEntriesResponse { dataset_entries: entries, next_token })
}

pub(crate) async fn list_dataset_labels(
    call: &Call<'_>,
    scope: Scope,
    req: ListDatasetLabelsRequest,
) -> Result<Value, ApiError> {
    let (labels, next_token) = call
        .run(move |s| s.list_dataset_labels(&scope, &req.dataset_arn, req.next_token.as_deref(), req.max_results))
        .await?;
    encode(ListDatasetLabelsResponse {
        dataset_label_descriptions: labels
            .into_iter()
            .map(|l| DatasetLabelDescription {
                label_name: l.name,
                label_stats: DatasetLabelStats { entry_count: l.entries, bounding_box_count: l.boxed_entries },
            })
            .collect(),
        next_token,
    })
}

pub(crate) async fn update_dataset_entries(
    call: &Call<'_>,
    scope: Scope,
    req: UpdateDatasetEntriesRequest,
) -> Result<Value, ApiError> {
    use base64::Engine as _;
    let lines = reko_protocol::validate::BASE64
        .decode(&req.changes.ground_truth)
        .map_err(|_| ApiError::new(ErrorCode::Serialization, "Changes.GroundTruth is not valid base64"))?;
    call.run(move |s| s.update_dataset_entries(&scope, &req.dataset_arn, &lines)).await?;
    encode(EmptyResponse {})
}

pub(crate) async fn distribute_dataset_entries(
    call: &Call<'_>,
    scope: Scope,
    req: DistributeDatasetEntriesRequest,
) -> Result<Value, ApiError> {
    let arns: Vec<String> = req.datasets.into_iter().map(|d| d.arn).collect();
    call.run(move |s| s.distribute_dataset_entries(&scope, &arns)).await?;
    encode(EmptyResponse {})
}

pub(crate) async fn delete_dataset(
    call: &Call<'_>,
    scope: Scope,
    req: DeleteDatasetRequest,
) -> Result<Value, ApiError> {
    call.run(move |s| s.delete_dataset(&scope, &req.dataset_arn)).await?;
    encode(EmptyResponse {})
}

pub(crate) async fn create_project_version(
    call: &Call<'_>,
    scope: Scope,
    req: CreateProjectVersionRequest,
) -> Result<Value, ApiError> {
    if req.feature_config.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "FeatureConfig configures CONTENT_MODERATION adapters, which reko does not train",
        ));
    }
    let training = req.training_data.map(|t| assets(t.assets, "TrainingData.Assets")).transpose()?;
    let testing = match req.testing_data {
        None => None,
        Some(t) => Some((assets(t.assets, "TestingData.Assets")?, t.auto_create.unwrap_or(false))),
    };
    let new = NewVersion {
        project_arn: req.project_arn,
        name: req.version_name,
        output_bucket: req.output_config.s3_bucket,
        output_prefix: req.output_config.s3_key_prefix,
        training,
        testing,
        description: req.version_description,
        tags: req.tags,
    };
    let arn = call.run(move |s| s.create_project_version(&scope, new)).await?;
    encode(CreateProjectVersionResponse { project_version_arn: arn })
}

pub(crate) async fn describe_project_versions(
    call: &Call<'_>,
    scope: Scope,
    req: DescribeProjectVersionsRequest,
) -> Result<Value, ApiError> {
    let (versions, next_token) = call
        .run(move |s| {
            s.describe_project_versions(
                &scope,
                &req.project_arn,
                req.version_names.as_deref(),
                req.next_token.as_deref(),
                req.max_results,
            )
        })
        .await?;
    encode(DescribeProjectVersionsResponse {
        project_version_descriptions: versions.iter().map(render::version).collect(),
        next_token,
    })
}

pub(crate) async fn start_project_version(
    call: &Call<'_>,
    scope: Scope,
    req: StartProjectVersionRequest,
) -> Result<Value, ApiError> {
    let status = call
        .run(move |s| {
            s.start_project_version(&scope, &req.project_version_arn, req.min_inference_units, req.max_inference_units)
        })
        .await?;
    encode(StatusResponse { status: render::version_status(status).into() })
}

pub(crate) async fn stop_project_version(
    call: &Call<'_>,
    scope: Scope,
    req: StopProjectVersionRequest,
) -> Result<Value, ApiError> {
    let status = call.run(move |s| s.stop_project_version(&scope, &req.project_version_arn)).await?;
    encode(StatusResponse { status: render::version_status(status).into() })
}

pub(crate) async fn delete_project_version(
    call: &Call<'_>,
    scope: Scope,
    req: DeleteProjectVersionRequest,
) -> Result<Value, ApiError> {
    let status = call.run(move |s| s.delete_project_version(&scope, &req.project_version_arn)).await?;
    encode(StatusResponse { status: render::version_status(status).into() })
}

pub(crate) async fn detect_custom_labels(
    call: &Call<'_>,
    scope: Scope,
    req: DetectCustomLabelsRequest,
) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
    let labels: Vec<cl::CustomLabel> = call
        .run(move |s| {
            s.detect_custom_labels(&scope, &req.project_version_arn, &bytes, req.max_results, req.min_confidence)
        })
        .await?;
    encode(DetectCustomLabelsResponse {
        custom_labels: labels.into_iter().map(|l| CustomLabel { name: l.name, confidence: l.confidence }).collect(),
    })
}
