//! Request and response bodies of the operations reko implements, named exactly as the service model
//! names them (a test checks every response against the model).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCollectionRequest {
    pub collection_id: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCollectionResponse {
    pub status_code: u32,
    pub collection_arn: String,
    pub face_model_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CollectionIdRequest {
    pub collection_id: String,
}

pub type DescribeCollectionRequest = CollectionIdRequest;
pub type DeleteCollectionRequest = CollectionIdRequest;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCollectionResponse {
    pub face_count: u64,
    pub face_model_version: String,
    /// The service model spells this one `CollectionARN` (CreateCollection says `CollectionArn`).
    #[serde(rename = "CollectionARN")]
    pub collection_arn: String,
    /// Seconds since the Unix epoch.
    pub creation_timestamp: f64,
    pub user_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCollectionsRequest {
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCollectionsResponse {
    pub collection_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub face_model_versions: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteCollectionResponse {
    pub status_code: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    pub resource_arn: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceRequest {
    pub resource_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceResponse {
    pub tags: BTreeMap<String, String>,
}

/// The empty response of TagResource and UntagResource.
#[derive(Debug, Serialize)]
pub struct EmptyResponse {}
