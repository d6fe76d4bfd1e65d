//! Dispatch: an operation's name → its handler (in [`crate::handlers`], by resource), and what every
//! handler shares: decoding the typed request, running a blocking service call (cancelled if the request
//! goes away first), encoding the response, and reading an `Image`'s bytes. Analyses wait for their turn
//! ([`crate::limits`]) first. Operations of the model that reko does not implement answer
//! `UnsupportedOperationException`.

use std::sync::Arc;

use reko_protocol::types::Image;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::{Cancel, Scope, Service, ServiceError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::handlers::{analysis, collections, custom_labels, faces, stored_faces, users, video};
use crate::limits::Ticket;
use crate::{AppState, errors};

/// The operations reko implements today (the README's table lists the same).
pub const IMPLEMENTED_OPERATIONS: &[&str] = &[
    "AssociateFaces",
    "CompareFaces",
    "CreateCollection",
    "CreateDataset",
    "CreateProject",
    "CreateProjectVersion",
    "CreateUser",
    "DeleteCollection",
    "DeleteDataset",
    "DeleteFaces",
    "DeleteProject",
    "DeleteProjectVersion",
    "DeleteUser",
    "DescribeCollection",
    "DescribeDataset",
    "DescribeProjectVersions",
    "DescribeProjects",
    "DetectCustomLabels",
    "DetectFaces",
    "DetectLabels",
    "DetectModerationLabels",
    "DetectText",
    "DisassociateFaces",
    "DistributeDatasetEntries",
    "GetContentModeration",
    "GetFaceDetection",
    "GetFaceSearch",
    "GetLabelDetection",
    "GetPersonTracking",
    "GetSegmentDetection",
    "GetTextDetection",
    "IndexFaces",
    "ListCollections",
    "ListDatasetEntries",
    "ListDatasetLabels",
    "ListFaces",
    "ListTagsForResource",
    "ListUsers",
    "SearchFaces",
    "SearchFacesByImage",
    "SearchUsers",
    "SearchUsersByImage",
    "StartContentModeration",
    "StartFaceDetection",
    "StartFaceSearch",
    "StartLabelDetection",
    "StartPersonTracking",
    "StartProjectVersion",
    "StartSegmentDetection",
    "StartTextDetection",
    "StopProjectVersion",
    "TagResource",
    "UntagResource",
    "UpdateDatasetEntries",
];

/// The operations that run the models: each waits for its turn on the node ([`crate::limits`]) before its
/// body is read.
pub const ANALYSES: &[&str] = &[
    "CompareFaces",
    "DetectCustomLabels",
    "DetectFaces",
    "DetectLabels",
    "DetectModerationLabels",
    "DetectText",
    "IndexFaces",
    "SearchFacesByImage",
    "SearchUsersByImage",
];

/// Runs `operation` (already validated against the model) for the caller in `scope`; an analysis comes
/// with its turn (`ticket`).
pub(crate) async fn dispatch(
    state: &AppState,
    scope: Scope,
    operation: &str,
    body: Value,
    request_id: &str,
    ticket: Option<Ticket>,
) -> Result<Value, ApiError> {
    let call = Call { service: &state.service, request_id, ticket: ticket.map(Arc::new) };
    match operation {
        "CreateCollection" => collections::create(&call, scope, decode(body)?).await,
        "DescribeCollection" => collections::describe(&call, scope, decode(body)?).await,
        "ListCollections" => collections::list(&call, scope, decode(body)?).await,
        "DeleteCollection" => collections::delete(&call, scope, decode(body)?).await,
        "TagResource" => collections::tag(&call, scope, decode(body)?).await,
        "UntagResource" => collections::untag(&call, scope, decode(body)?).await,
        "ListTagsForResource" => collections::list_tags(&call, scope, decode(body)?).await,
        "DetectFaces" => faces::detect(&call, decode(body)?).await,
        "CompareFaces" => faces::compare(&call, decode(body)?).await,
        "DetectLabels" => analysis::detect_labels(&call, decode(body)?).await,
        "DetectModerationLabels" => analysis::detect_moderation_labels(&call, decode(body)?).await,
        "DetectText" => analysis::detect_text(&call, decode(body)?).await,
        "IndexFaces" => stored_faces::index(&call, scope, decode(body)?).await,
        "SearchFaces" => stored_faces::search(&call, scope, decode(body)?).await,
        "SearchFacesByImage" => stored_faces::search_by_image(&call, scope, decode(body)?).await,
        "ListFaces" => stored_faces::list(&call, scope, decode(body)?).await,
        "DeleteFaces" => stored_faces::delete(&call, scope, decode(body)?).await,
        "CreateUser" => users::create(&call, scope, decode(body)?).await,
        "DeleteUser" => users::delete(&call, scope, decode(body)?).await,
        "ListUsers" => users::list(&call, scope, decode(body)?).await,
        "AssociateFaces" => users::associate(&call, scope, decode(body)?).await,
        "DisassociateFaces" => users::disassociate(&call, scope, decode(body)?).await,
        "SearchUsers" => users::search(&call, scope, decode(body)?).await,
        "SearchUsersByImage" => users::search_by_image(&call, scope, decode(body)?).await,
        "StartFaceDetection"
        | "StartFaceSearch"
        | "StartLabelDetection"
        | "StartContentModeration"
        | "StartTextDetection"
        | "StartSegmentDetection"
        | "StartPersonTracking" => video::start(&call, scope, operation, body).await,
        "GetFaceDetection"
        | "GetFaceSearch"
        | "GetLabelDetection"
        | "GetContentModeration"
        | "GetTextDetection"
        | "GetSegmentDetection"
        | "GetPersonTracking" => video::get(&call, scope, operation, body).await,
        "CreateProject" => custom_labels::create_project(&call, scope, decode(body)?).await,
        "DescribeProjects" => custom_labels::describe_projects(&call, scope, decode(body)?).await,
        "DeleteProject" => custom_labels::delete_project(&call, scope, decode(body)?).await,
        "CreateDataset" => custom_labels::create_dataset(&call, scope, decode(body)?).await,
        "DescribeDataset" => custom_labels::describe_dataset(&call, scope, decode(body)?).await,
        "ListDatasetEntries" => custom_labels::list_dataset_entries(&call, scope, decode(body)?).await,
        "ListDatasetLabels" => custom_labels::list_dataset_labels(&call, scope, decode(body)?).await,
        "UpdateDatasetEntries" => custom_labels::update_dataset_entries(&call, scope, decode(body)?).await,
        "DistributeDatasetEntries" => custom_labels::distribute_dataset_entries(&call, scope, decode(body)?).await,
        "DeleteDataset" => custom_labels::delete_dataset(&call, scope, decode(body)?).await,
        "CreateProjectVersion" => custom_labels::create_project_version(&call, scope, decode(body)?).await,
        "DescribeProjectVersions" => custom_labels::describe_project_versions(&call, scope, decode(body)?).await,
        "StartProjectVersion" => custom_labels::start_project_version(&call, scope, decode(body)?).await,
        "StopProjectVersion" => custom_labels::stop_project_version(&call, scope, decode(body)?).await,
        "DeleteProjectVersion" => custom_labels::delete_project_version(&call, scope, decode(body)?).await,
        "DetectCustomLabels" => custom_labels::detect_custom_labels(&call, scope, decode(body)?).await,
        other => Err(ApiError::new(
            ErrorCode::UnsupportedOperation,
            format!("reko does not implement {other} yet; the README lists the operations it supports."),
        )),
    }
}

/// One request's access to the service.
pub(crate) struct Call<'a> {
    service: &'a Service,
    request_id: &'a str,
    /// An analysis' turn, held until its last piece of work has ended.
    ticket: Option<Arc<Ticket>>,
}

/// Cancels a service call's work if the request is dropped before the work answered: its client went
/// away, or its deadline passed.
struct CancelOnDrop<'a> {
    cancel: Cancel,
    request_id: &'a str,
    answered: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.cancel.cancel();
            tracing::warn!(
                request_id = self.request_id,
                "request dropped before its work answered (client gone or deadline passed): work cancelled"
            );
        }
    }
}

impl Call<'_> {
    /// Runs a (blocking) service function on the blocking pool; if the request is dropped meanwhile, the
    /// work is cancelled at its next model run.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let service = self.service.clone();
        let ticket = self.ticket.clone();
        let mut guard = CancelOnDrop { cancel: Cancel::new(), request_id: self.request_id, answered: false };
        let cancel = guard.cancel.clone();
        let work = tokio::task::spawn_blocking(move || {
            let _turn = ticket;
            reko_service::cancellable(&cancel, || f(&service))
        });
        let joined = work.await;
        guard.answered = true;
        match joined {
            Ok(result) => result.map_err(|e| errors::from_service(e, self.request_id)),
            Err(join) => {
                tracing::error!(request_id = self.request_id, error = %join, "service task failed");
                Err(errors::internal(self.request_id))
            }
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::new(ErrorCode::Serialization, e.to_string()))
}

pub(crate) fn encode<T: Serialize>(response: T) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(response).expect("responses serialise"))
}

/// An image's bytes: decoded from `Bytes`, or read from the server's object storage for `S3Object`.
pub(crate) async fn image_bytes(call: &Call<'_>, image: &Image) -> Result<Vec<u8>, ApiError> {
    match (&image.bytes, &image.s3_object) {
        (Some(_), Some(_)) => {
            Err(ApiError::new(ErrorCode::InvalidParameter, "Image must have exactly one of Bytes and S3Object"))
        }
        (Some(encoded), None) => {
            use base64::Engine as _;
            reko_protocol::validate::BASE64
                .decode(encoded)
                .map_err(|_| ApiError::new(ErrorCode::Serialization, "Image.Bytes is not valid base64"))
        }
        (None, Some(object)) => {
            let text = |key: &str| object.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            let (Some(bucket), Some(name)) = (text("Bucket"), text("Name")) else {
                return Err(ApiError::new(ErrorCode::InvalidParameter, "Image.S3Object needs Bucket and Name"));
            };
            let version = text("Version");
            call.run(move |s| s.read_image_object(&bucket, &name, version.as_deref())).await
        }
        (None, None) => Err(ApiError::new(ErrorCode::InvalidParameter, "Image must have Bytes or S3Object")),
    }
}
