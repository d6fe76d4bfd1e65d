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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexFacesRequest {
    pub collection_id: String,
    pub image: Image,
    pub external_image_id: Option<String>,
    #[serde(default)]
    pub detection_attributes: Vec<String>,
    pub max_faces: Option<u32>,
    pub quality_filter: Option<String>,
}

/// A stored face.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Face {
    pub face_id: String,
    pub bounding_box: BoundingBox,
    pub image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    pub confidence: f32,
    pub index_faces_model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceRecordOut {
    pub face: Face,
    pub face_detail: FaceDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnindexedFace {
    pub reasons: Vec<String>,
    pub face_detail: FaceDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexFacesResponse {
    pub face_records: Vec<FaceRecordOut>,
    pub face_model_version: String,
    pub unindexed_faces: Vec<UnindexedFace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesRequest {
    pub collection_id: String,
    pub face_id: String,
    pub max_faces: Option<u32>,
    pub face_match_threshold: Option<f32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceMatch {
    pub similarity: f32,
    pub face: Face,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesResponse {
    pub searched_face_id: String,
    pub face_matches: Vec<FaceMatch>,
    pub face_model_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesByImageRequest {
    pub collection_id: String,
    pub image: Image,
    pub max_faces: Option<u32>,
    pub face_match_threshold: Option<f32>,
    pub quality_filter: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesByImageResponse {
    pub searched_face_bounding_box: BoundingBox,
    pub searched_face_confidence: f32,
    pub face_matches: Vec<FaceMatch>,
    pub face_model_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFacesRequest {
    pub collection_id: String,
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
    pub user_id: Option<String>,
    #[serde(default)]
    pub face_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFacesResponse {
    pub faces: Vec<Face>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub face_model_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteFacesRequest {
    pub collection_id: String,
    pub face_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnsuccessfulFaceDeletion {
    pub face_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteFacesResponse {
    /// A `FaceIdList` has at least one member, so none deleted is no member at all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_faces: Vec<String>,
    pub unsuccessful_face_deletions: Vec<UnsuccessfulFaceDeletion>,
}

/// CreateUser and DeleteUser.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRequest {
    pub collection_id: String,
    pub user_id: String,
    pub client_request_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersRequest {
    pub collection_id: String,
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub user_id: String,
    pub user_status: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersResponse {
    pub users: Vec<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// AssociateFaces and DisassociateFaces.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserFacesRequest {
    pub collection_id: String,
    pub user_id: String,
    pub face_ids: Vec<String>,
    pub user_match_threshold: Option<f32>,
    pub client_request_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceIdOnly {
    pub face_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnsuccessfulUserFace {
    pub face_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateFacesResponse {
    pub associated_faces: Vec<FaceIdOnly>,
    pub unsuccessful_face_associations: Vec<UnsuccessfulUserFace>,
    pub user_status: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisassociateFacesResponse {
    pub disassociated_faces: Vec<FaceIdOnly>,
    pub unsuccessful_face_disassociations: Vec<UnsuccessfulUserFace>,
    pub user_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchUsersRequest {
    pub collection_id: String,
    pub face_id: Option<String>,
    pub user_id: Option<String>,
    pub max_users: Option<u32>,
    pub user_match_threshold: Option<f32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserMatch {
    pub similarity: f32,
    pub user: User,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchUsersResponse {
    pub user_matches: Vec<UserMatch>,
    pub face_model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub searched_face: Option<FaceIdOnly>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub searched_user: Option<SearchedUser>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchedUser {
    pub user_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchUsersByImageRequest {
    pub collection_id: String,
    pub image: Image,
    pub max_users: Option<u32>,
    pub user_match_threshold: Option<f32>,
    pub quality_filter: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchedFaceDetails {
    pub face_detail: FaceDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnsearchedFace {
    pub face_details: FaceDetail,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchUsersByImageResponse {
    pub user_matches: Vec<UserMatch>,
    pub face_model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub searched_face: Option<SearchedFaceDetails>,
    pub unsearched_faces: Vec<UnsearchedFace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectTextRequest {
    pub image: Image,
    pub filters: Option<DetectTextFilters>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectTextFilters {
    pub word_filter: Option<DetectionFilter>,
    #[serde(default)]
    pub regions_of_interest: Vec<RegionOfInterest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectionFilter {
    pub min_confidence: Option<f32>,
    pub min_bounding_box_height: Option<f32>,
    pub min_bounding_box_width: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionOfInterest {
    pub bounding_box: Option<RequestBoundingBox>,
    pub polygon: Option<Vec<Point>>,
}

/// A `BoundingBox` in a request: every member optional in the model.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestBoundingBox {
    pub width: Option<f32>,
    pub height: Option<f32>,
    pub left: Option<f32>,
    pub top: Option<f32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Point {
    #[serde(rename = "X")]
    pub x: f32,
    #[serde(rename = "Y")]
    pub y: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectTextResponse {
    pub text_detections: Vec<TextDetection>,
    pub text_model_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TextDetection {
    pub detected_text: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u32>,
    pub confidence: f32,
    pub geometry: Geometry,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Geometry {
    pub bounding_box: BoundingBox,
    pub polygon: Vec<Point>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectModerationLabelsRequest {
    pub image: Image,
    pub min_confidence: Option<f32>,
    pub human_loop_config: Option<serde_json::Value>,
    pub project_version: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectModerationLabelsResponse {
    pub moderation_labels: Vec<ModerationLabel>,
    pub moderation_model_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModerationLabel {
    pub confidence: f32,
    pub name: String,
    pub parent_name: String,
    pub taxonomy_level: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectLabelsRequest {
    pub image: Image,
    pub max_labels: Option<u32>,
    pub min_confidence: Option<f32>,
    #[serde(default)]
    pub features: Vec<String>,
    pub settings: Option<DetectLabelsSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectLabelsSettings {
    pub general_labels: Option<GeneralLabelsSettings>,
    pub image_properties: Option<ImagePropertiesSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePropertiesSettings {
    pub max_dominant_colors: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GeneralLabelsSettings {
    #[serde(default)]
    pub label_inclusion_filters: Vec<String>,
    #[serde(default)]
    pub label_exclusion_filters: Vec<String>,
    #[serde(default)]
    pub label_category_inclusion_filters: Vec<String>,
    #[serde(default)]
    pub label_category_exclusion_filters: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectLabelsResponse {
    pub labels: Vec<Label>,
    pub label_model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_properties: Option<DetectLabelsImageProperties>,
}

/// `Foreground` and `Background` are there only when the image has people (reko's foreground).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectLabelsImageProperties {
    pub quality: DetectLabelsImageQuality,
    pub dominant_colors: Vec<DominantColor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreground: Option<DetectLabelsImageRegion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<DetectLabelsImageRegion>,
}

/// `DetectLabelsImageForeground` and `DetectLabelsImageBackground` (the same members).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectLabelsImageRegion {
    pub quality: DetectLabelsImageQuality,
    pub dominant_colors: Vec<DominantColor>,
}

/// `Contrast` is reported for the whole image only, as on Rekognition.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectLabelsImageQuality {
    pub brightness: f32,
    pub sharpness: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contrast: Option<f32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DominantColor {
    pub red: u32,
    pub blue: u32,
    pub green: u32,
    pub hex_code: String,
    #[serde(rename = "CSSColor")]
    pub css_color: String,
    pub simplified_color: String,
    pub pixel_percent: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Label {
    pub name: String,
    pub confidence: f32,
    pub instances: Vec<Instance>,
    pub parents: Vec<NamedItem>,
    pub aliases: Vec<NamedItem>,
    pub categories: Vec<NamedItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    pub bounding_box: BoundingBox,
    pub confidence: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dominant_colors: Option<Vec<DominantColor>>,
}

/// `Parent`, `LabelAlias` and `LabelCategory`: each just a name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedItem {
    pub name: String,
}

// ---- Video: asynchronous jobs ----

/// `Video`: a stored video.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Video {
    pub s3_object: Option<S3ObjectRef>,
}

/// `S3Object` (every member optional in the model).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3ObjectRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `Video` in a `Get*` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VideoOut {
    pub s3_object: S3ObjectRef,
}

#[derive(Debug, Deserialize)]
pub struct NotificationChannel {
    #[serde(rename = "SNSTopicArn")]
    pub sns_topic_arn: String,
    #[serde(rename = "RoleArn")]
    pub role_arn: String,
}

/// The members every `Start*` request has.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartJobCommon {
    pub video: Video,
    pub client_request_token: Option<String>,
    pub job_tag: Option<String>,
    pub notification_channel: Option<NotificationChannel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartFaceDetectionRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
    pub face_attributes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartFaceSearchRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
    pub collection_id: String,
    pub face_match_threshold: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartLabelDetectionRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
    pub min_confidence: Option<f32>,
    #[serde(default)]
    pub features: Vec<String>,
    pub settings: Option<LabelDetectionSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LabelDetectionSettings {
    pub general_labels: Option<GeneralLabelsSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartContentModerationRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
    pub min_confidence: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartTextDetectionRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
    pub filters: Option<DetectTextFilters>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartSegmentDetectionRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
    pub segment_types: Vec<String>,
    pub filters: Option<StartSegmentDetectionFilters>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartSegmentDetectionFilters {
    pub technical_cue_filter: Option<StartTechnicalCueDetectionFilter>,
    pub shot_filter: Option<StartShotDetectionFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartTechnicalCueDetectionFilter {
    pub min_segment_confidence: Option<f32>,
    pub black_frame: Option<BlackFrame>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlackFrame {
    pub max_pixel_threshold: Option<f32>,
    pub min_coverage_percentage: Option<f32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartShotDetectionFilter {
    pub min_segment_confidence: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartPersonTrackingRequest {
    #[serde(flatten)]
    pub common: StartJobCommon,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartJobResponse {
    pub job_id: String,
}

/// Every `Get*` request (the members an operation lacks are refused by validation).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetJobRequest {
    pub job_id: String,
    pub max_results: Option<u32>,
    pub next_token: Option<String>,
    pub sort_by: Option<String>,
    pub aggregate_by: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VideoMetadataOut {
    pub codec: String,
    pub duration_millis: u64,
    pub format: String,
    pub frame_rate: f32,
    pub frame_height: u32,
    pub frame_width: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color_range: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AudioMetadataOut {
    pub codec: String,
    pub duration_millis: u64,
    pub sample_rate: u64,
    pub number_of_channels: u64,
}

/// The members every `Get*` answer has.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetJobCommon {
    pub job_id: String,
    pub job_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub video: VideoOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_tag: Option<String>,
}

/// GetFaceDetection, GetFaceSearch, GetPersonTracking, GetTextDetection: items under one name, with
/// `VideoMetadata` and, for text, `TextModelVersion`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetJobResponse {
    #[serde(flatten)]
    pub common: GetJobCommon,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_metadata: Option<VideoMetadataOut>,
    #[serde(flatten)]
    pub items: BTreeMap<String, serde_json::Value>,
}

/// `GetRequestMetadata` of GetLabelDetection and GetContentModeration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRequestMetadata {
    pub sort_by: String,
    pub aggregate_by: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSegmentDetectionResponse {
    #[serde(flatten)]
    pub common: GetJobCommon,
    pub video_metadata: Vec<VideoMetadataOut>,
    pub audio_metadata: Vec<AudioMetadataOut>,
    pub segments: Vec<serde_json::Value>,
    pub selected_segment_types: Vec<SegmentTypeInfo>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentTypeInfo {
    #[serde(rename = "Type")]
    pub kind: String,
    pub model_version: String,
}

/// `FaceDetection`: a face at a time.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceDetectionItem {
    pub timestamp: u64,
    pub face: FaceDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersonDetail {
    pub index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounding_box: Option<BoundingBox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face: Option<FaceDetail>,
}

/// `PersonMatch` (GetFaceSearch).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersonMatch {
    pub timestamp: u64,
    pub person: PersonDetail,
    pub face_matches: Vec<FaceMatch>,
}

/// `PersonDetection` (GetPersonTracking).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersonDetection {
    pub timestamp: u64,
    pub person: PersonDetail,
}

/// `LabelDetection`: a label at a time, or over a segment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LabelDetectionItem {
    pub timestamp: u64,
    pub label: Label,
    /// With `AggregateBy` SEGMENTS.
    #[serde(flatten)]
    pub span: Option<SegmentSpan>,
}

/// The stretch of video a SEGMENTS result covers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentSpan {
    pub start_timestamp_millis: u64,
    pub end_timestamp_millis: u64,
    pub duration_millis: u64,
}

/// `ContentModerationDetection`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContentModerationItem {
    pub timestamp: u64,
    pub moderation_label: ModerationLabel,
    /// With `AggregateBy` SEGMENTS.
    #[serde(flatten)]
    pub span: Option<SegmentSpan>,
}

/// `TextDetectionResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TextDetectionItem {
    pub timestamp: u64,
    pub text_detection: TextDetection,
}

/// `SegmentDetection`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentDetectionItem {
    #[serde(rename = "Type")]
    pub kind: String,
    pub start_timestamp_millis: u64,
    pub end_timestamp_millis: u64,
    pub duration_millis: u64,
    #[serde(rename = "StartTimecodeSMPTE")]
    pub start_timecode_smpte: String,
    #[serde(rename = "EndTimecodeSMPTE")]
    pub end_timecode_smpte: String,
    #[serde(rename = "DurationSMPTE")]
    pub duration_smpte: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technical_cue_segment: Option<TechnicalCueSegment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shot_segment: Option<ShotSegment>,
    pub start_frame_number: u64,
    pub end_frame_number: u64,
    pub duration_frames: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TechnicalCueSegment {
    #[serde(rename = "Type")]
    pub kind: String,
    pub confidence: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShotSegment {
    pub index: u64,
    pub confidence: f32,
}

// Custom Labels.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProjectRequest {
    pub project_name: String,
    pub feature: Option<String>,
    pub auto_update: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProjectResponse {
    pub project_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeProjectsRequest {
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
    pub project_names: Option<Vec<String>>,
    pub features: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetMetadata {
    pub creation_timestamp: f64,
    pub dataset_type: String,
    pub dataset_arn: String,
    pub status: String,
    pub status_message: String,
    pub status_message_code: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectDescription {
    pub project_arn: String,
    pub creation_timestamp: f64,
    pub status: String,
    pub datasets: Vec<DatasetMetadata>,
    pub feature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_update: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeProjectsResponse {
    pub project_descriptions: Vec<ProjectDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectArnRequest {
    pub project_arn: String,
}

pub type DeleteProjectRequest = ProjectArnRequest;

/// The answer of DeleteProject (a project status) and of Start/Stop/DeleteProjectVersion (a version
/// status).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusResponse {
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetSource {
    pub ground_truth_manifest: Option<GroundTruthManifest>,
    pub dataset_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatasetRequest {
    pub dataset_source: Option<DatasetSource>,
    pub dataset_type: String,
    pub project_arn: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatasetResponse {
    pub dataset_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetArnRequest {
    pub dataset_arn: String,
}

pub type DescribeDatasetRequest = DatasetArnRequest;
pub type DeleteDatasetRequest = DatasetArnRequest;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetStats {
    pub labeled_entries: u32,
    pub total_entries: u32,
    pub total_labels: u32,
    pub error_entries: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetDescription {
    pub creation_timestamp: f64,
    pub last_updated_timestamp: f64,
    pub status: String,
    pub status_message: String,
    pub status_message_code: String,
    pub dataset_stats: DatasetStats,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDatasetResponse {
    pub dataset_description: DatasetDescription,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatasetEntriesRequest {
    pub dataset_arn: String,
    #[serde(default)]
    pub contains_labels: Vec<String>,
    pub labeled: Option<bool>,
    pub source_ref_contains: Option<String>,
    pub has_errors: Option<bool>,
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatasetEntriesResponse {
    pub dataset_entries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatasetLabelsRequest {
    pub dataset_arn: String,
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetLabelStats {
    pub entry_count: u32,
    pub bounding_box_count: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetLabelDescription {
    pub label_name: String,
    pub label_stats: DatasetLabelStats,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatasetLabelsResponse {
    pub dataset_label_descriptions: Vec<DatasetLabelDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatasetChanges {
    /// Base64 of the JSON lines.
    pub ground_truth: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDatasetEntriesRequest {
    pub dataset_arn: String,
    pub changes: DatasetChanges,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributeDataset {
    pub arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributeDatasetEntriesRequest {
    pub datasets: Vec<DistributeDataset>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_key_prefix: Option<String>,
}

/// `Asset`: a Ground Truth manifest.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Asset {
    pub ground_truth_manifest: GroundTruthManifest,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroundTruthManifest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_object: Option<S3ObjectRef>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrainingData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets: Option<Vec<Asset>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestingData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets: Option<Vec<Asset>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_create: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProjectVersionRequest {
    pub project_arn: String,
    pub version_name: String,
    pub output_config: OutputConfig,
    pub training_data: Option<TrainingData>,
    pub testing_data: Option<TestingData>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub kms_key_id: Option<String>,
    pub version_description: Option<String>,
    pub feature_config: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProjectVersionResponse {
    pub project_version_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeProjectVersionsRequest {
    pub project_arn: String,
    pub version_names: Option<Vec<String>>,
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub s3_object: S3ObjectRef,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EvaluationResult {
    #[serde(rename = "F1Score")]
    pub f1_score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrainingDataResult {
    pub input: TrainingData,
    pub output: TrainingData,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestingDataResult {
    pub input: TestingData,
    pub output: TestingData,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectVersionDescription {
    pub project_version_arn: String,
    pub creation_timestamp: f64,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_inference_units: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inference_units: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billable_training_time_in_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_end_timestamp: Option<f64>,
    pub output_config: OutputConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_data_result: Option<TrainingDataResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub testing_data_result: Option<TestingDataResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_result: Option<EvaluationResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_description: Option<String>,
    pub feature: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeProjectVersionsResponse {
    pub project_version_descriptions: Vec<ProjectVersionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartProjectVersionRequest {
    pub project_version_arn: String,
    pub min_inference_units: u32,
    pub max_inference_units: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectVersionArnRequest {
    pub project_version_arn: String,
}

pub type StopProjectVersionRequest = ProjectVersionArnRequest;
pub type DeleteProjectVersionRequest = ProjectVersionArnRequest;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectCustomLabelsRequest {
    pub project_version_arn: String,
    pub image: Image,
    pub max_results: Option<u32>,
    pub min_confidence: Option<f32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomLabel {
    pub name: String,
    pub confidence: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectCustomLabelsResponse {
    pub custom_labels: Vec<CustomLabel>,
}
