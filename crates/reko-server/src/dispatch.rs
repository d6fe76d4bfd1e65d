//! Dispatch: the typed request of each implemented operation → one service call → the typed response.
//! Operations of the model that reko does not implement yet answer `UnsupportedOperationException`.

use reko_protocol::types::*;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::{Scope, Service, ServiceError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors;

/// The operations reko implements today (the README's table lists the same).
pub const IMPLEMENTED_OPERATIONS: &[&str] = &[
    "CreateCollection",
    "DeleteCollection",
    "DescribeCollection",
    "ListCollections",
    "ListTagsForResource",
    "TagResource",
    "UntagResource",
];

/// Runs `operation` (already validated against the model) for the caller in `scope`.
pub async fn dispatch(
    service: &Service,
    scope: Scope,
    operation: &str,
    body: Value,
    request_id: &str,
) -> Result<Value, ApiError> {
    let call = Call { service, request_id };
    match operation {
        "CreateCollection" => {
            let req: CreateCollectionRequest = decode(body)?;
            let created = call.run(move |s| s.create_collection(&scope, &req.collection_id, req.tags)).await?;
            encode(CreateCollectionResponse {
                status_code: 200,
                collection_arn: created.arn,
                face_model_version: created.face_model_version,
            })
        }
        "DescribeCollection" => {
            let req: DescribeCollectionRequest = decode(body)?;
            let found = call.run(move |s| s.describe_collection(&scope, &req.collection_id)).await?;
            encode(DescribeCollectionResponse {
                face_count: found.face_count,
                face_model_version: found.face_model_version,
                collection_arn: found.arn,
                creation_timestamp: found.created_at,
                user_count: found.user_count,
            })
        }
        "ListCollections" => {
            let req: ListCollectionsRequest = decode(body)?;
            let page =
                call.run(move |s| s.list_collections(&scope, req.next_token.as_deref(), req.max_results)).await?;
            let (collection_ids, face_model_versions) = page.collections.into_iter().unzip();
            encode(ListCollectionsResponse { collection_ids, next_token: page.next_token, face_model_versions })
        }
        "DeleteCollection" => {
            let req: DeleteCollectionRequest = decode(body)?;
            call.run(move |s| s.delete_collection(&scope, &req.collection_id)).await?;
            encode(DeleteCollectionResponse { status_code: 200 })
        }
        "TagResource" => {
            let req: TagResourceRequest = decode(body)?;
            call.run(move |s| s.tag_resource(&scope, &req.resource_arn, req.tags)).await?;
            encode(EmptyResponse {})
        }
        "UntagResource" => {
            let req: UntagResourceRequest = decode(body)?;
            call.run(move |s| s.untag_resource(&scope, &req.resource_arn, &req.tag_keys)).await?;
            encode(EmptyResponse {})
        }
        "ListTagsForResource" => {
            let req: ListTagsForResourceRequest = decode(body)?;
            let tags = call.run(move |s| s.list_tags_for_resource(&scope, &req.resource_arn)).await?;
            encode(ListTagsForResourceResponse { tags })
        }
        other => Err(ApiError::new(
            ErrorCode::UnsupportedOperation,
            format!("reko does not implement {other} yet; the README lists the operations it supports."),
        )),
    }
}

struct Call<'a> {
    service: &'a Service,
    request_id: &'a str,
}

impl Call<'_> {
    /// Runs a (blocking) service function on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let service = self.service.clone();
        match tokio::task::spawn_blocking(move || f(&service)).await {
            Ok(result) => result.map_err(|e| errors::from_service(e, self.request_id)),
            Err(join) => {
                tracing::error!(request_id = self.request_id, error = %join, "service task failed");
                Err(errors::internal(self.request_id))
            }
        }
    }
}

fn decode<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::new(ErrorCode::Serialization, e.to_string()))
}

fn encode<T: Serialize>(response: T) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(response).expect("responses serialise"))
}
