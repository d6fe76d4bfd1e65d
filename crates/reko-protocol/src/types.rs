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

/// An image: inline bytes (base64 on the wire) or an S3 object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub bytes: Option<String>,
    pub s3_object: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectFacesRequest {
    pub image: Image,
    #[serde(default)]
    pub attributes: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectFacesResponse {
    pub face_details: Vec<FaceDetail>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BoundingBox {
    pub width: f32,
    pub height: f32,
    pub left: f32,
    pub top: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Landmark {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "X")]
    pub x: f32,
    #[serde(rename = "Y")]
    pub y: f32,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pose {
    pub roll: f32,
    pub yaw: f32,
    pub pitch: f32,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageQuality {
    pub brightness: f32,
    pub sharpness: f32,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgeRange {
    pub low: u32,
    pub high: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Gender {
    pub value: String,
    pub confidence: f32,
}

/// Smile, EyesOpen, MouthOpen, ...: a yes/no answer with its confidence.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BoolAttribute {
    pub value: bool,
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Emotion {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Confidence")]
    pub confidence: f32,
}

/// A face as DetectFaces reports it; attributes reko does not compute are left out, never invented.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceDetail {
    pub bounding_box: BoundingBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_range: Option<AgeRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smile: Option<BoolAttribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eyes_open: Option<BoolAttribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mouth_open: Option<BoolAttribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emotions: Option<Vec<Emotion>>,
    pub landmarks: Vec<Landmark>,
    pub pose: Pose,
    pub quality: ImageQuality,
    pub confidence: f32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompareFacesRequest {
    pub source_image: Image,
    pub target_image: Image,
    pub similarity_threshold: Option<f32>,
    pub quality_filter: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComparedSourceImageFace {
    pub bounding_box: BoundingBox,
    pub confidence: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComparedFace {
    pub bounding_box: BoundingBox,
    pub confidence: f32,
    pub landmarks: Vec<Landmark>,
    pub pose: Pose,
    pub quality: ImageQuality,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompareFacesMatch {
    pub similarity: f32,
    pub face: ComparedFace,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompareFacesResponse {
    pub source_image_face: ComparedSourceImageFace,
    pub face_matches: Vec<CompareFacesMatch>,
    pub unmatched_faces: Vec<ComparedFace>,
}
