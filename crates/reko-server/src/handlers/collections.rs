//! Collections and their tags: CreateCollection, DescribeCollection, ListCollections, DeleteCollection,
//! TagResource, UntagResource, ListTagsForResource.

use reko_protocol::ApiError;
use reko_protocol::types::*;
use reko_service::Scope;
use serde_json::Value;

use crate::dispatch::{Call, encode};

pub(crate) async fn create(call: &Call<'_>, scope: Scope, req: CreateCollectionRequest) -> Result<Value, ApiError> {
    let created = call.run(move |s| s.create_collection(&scope, &req.collection_id, req.tags)).await?;
    encode(CreateCollectionResponse {
        status_code: 200,
        collection_arn: created.arn,
        face_model_version: created.face_model_version,
    })
}

pub(crate) async fn describe(call: &Call<'_>, scope: Scope, req: DescribeCollectionRequest) -> Result<Value, ApiError> {
    let found = call.run(move |s| s.describe_collection(&scope, &req.collection_id)).await?;
    encode(DescribeCollectionResponse {
        face_count: found.face_count,
        face_model_version: found.face_model_version,
        collection_arn: found.arn,
        creation_timestamp: found.created_at,
        user_count: found.user_count,
    })
}

pub(crate) async fn list(call: &Call<'_>, scope: Scope, req: ListCollectionsRequest) -> Result<Value, ApiError> {
    let page = call.run(move |s| s.list_collections(&scope, req.next_token.as_deref(), req.max_results)).await?;
    let (collection_ids, face_model_versions) = page.collections.into_iter().unzip();
    encode(ListCollectionsResponse { collection_ids, next_token: page.next_token, face_model_versions })
}

pub(crate) async fn delete(call: &Call<'_>, scope: Scope, req: DeleteCollectionRequest) -> Result<Value, ApiError> {
    call.run(move |s| s.delete_collection(&scope, &req.collection_id)).await?;
    encode(DeleteCollectionResponse { status_code: 200 })
}

pub(crate) async fn tag(call: &Call<'_>, scope: Scope, req: TagResourceRequest) -> Result<Value, ApiError> {
    call.run(move |s| s.tag_resource(&scope, &req.resource_arn, req.tags)).await?;
    encode(EmptyResponse {})
}

pub(crate) async fn untag(call: &Call<'_>, scope: Scope, req: UntagResourceRequest) -> Result<Value, ApiError> {
    call.run(move |s| s.untag_resource(&scope, &req.resource_arn, &req.tag_keys)).await?;
    encode(EmptyResponse {})
}

pub(crate) async fn list_tags(
    call: &Call<'_>,
    scope: Scope,
    req: ListTagsForResourceRequest,
) -> Result<Value, ApiError> {
    let tags = call.run(move |s| s.list_tags_for_resource(&scope, &req.resource_arn)).await?;
    encode(ListTagsForResourceResponse { tags })
}
