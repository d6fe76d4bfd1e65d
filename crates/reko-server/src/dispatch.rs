//! Dispatch: the typed request of each implemented operation → one service call → the typed response.
//! Operations of the model that reko does not implement yet answer `UnsupportedOperationException`.

use reko_protocol::types::*;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::{
    DEFAULT_LABEL_CONFIDENCE, DEFAULT_MAX_DOMINANT_COLORS, DEFAULT_MODERATION_CONFIDENCE, FACE_MODEL_VERSION,
    FaceRecord, LABEL_MODEL_VERSION, LabelSettings, MODERATION_MODEL_VERSION, QualityFilter, Scope, Service,
    ServiceError, TEXT_MODEL_VERSION, TextFilters, TextKind,
};
use reko_vision::faces::{FaceAnalysis, landmarks};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors;

/// The operations reko implements today (the README's table lists the same).
pub const IMPLEMENTED_OPERATIONS: &[&str] = &[
    "AssociateFaces",
    "CompareFaces",
    "CreateCollection",
    "CreateUser",
    "DeleteCollection",
    "DeleteFaces",
    "DeleteUser",
    "DescribeCollection",
    "DetectFaces",
    "DetectLabels",
    "DetectModerationLabels",
    "DetectText",
    "DisassociateFaces",
    "GetContentModeration",
    "GetFaceDetection",
    "GetFaceSearch",
    "GetLabelDetection",
    "GetPersonTracking",
    "GetSegmentDetection",
    "GetTextDetection",
    "IndexFaces",
    "ListCollections",
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
    "StartSegmentDetection",
    "StartTextDetection",
    "TagResource",
    "UntagResource",
];

/// SearchFaces' and SearchFacesByImage's `FaceMatchThreshold` default, as on Rekognition.
const DEFAULT_FACE_MATCH_THRESHOLD: f32 = 80.0;
/// SearchUsers' and SearchUsersByImage's `UserMatchThreshold` default, as on Rekognition.
const DEFAULT_USER_SEARCH_THRESHOLD: f32 = 80.0;
/// `MaxFaces` of the search operations when the request gives none: every match above the threshold.
const DEFAULT_MAX_FACES: u32 = 4096;
/// `MaxUsers` of the user searches when the request gives none.
const DEFAULT_MAX_USERS: u32 = 500;

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
        "DetectFaces" => {
            let req: DetectFacesRequest = decode(body)?;
            let bytes = image_bytes(&call, &req.image).await?;
            let selection = AttributeSelection::parse(&req.attributes);
            let attributes = selection.any_attribute();
            let analyzed = call.run(move |s| s.detect_faces(&bytes, attributes)).await?;
            let face_details =
                analyzed.faces.iter().map(|f| face_detail(f, analyzed.width, analyzed.height, &selection)).collect();
            encode(DetectFacesResponse { face_details })
        }
        "DetectLabels" => {
            let req: DetectLabelsRequest = decode(body)?;
            let bytes = image_bytes(&call, &req.image).await?;
            let settings_in = req.settings.unwrap_or_default();
            let general = settings_in.general_labels.unwrap_or_default();
            let max_colors = settings_in
                .image_properties
                .and_then(|p| p.max_dominant_colors)
                .map_or(DEFAULT_MAX_DOMINANT_COLORS, |m| m as usize);
            let settings = LabelSettings {
                general_labels: req.features.is_empty() || req.features.iter().any(|f| f == "GENERAL_LABELS"),
                image_properties: req.features.iter().any(|f| f == "IMAGE_PROPERTIES").then_some(max_colors),
                min_confidence: req.min_confidence.unwrap_or(DEFAULT_LABEL_CONFIDENCE),
                max_labels: req.max_labels.map(|m| m as usize),
                include: general.label_inclusion_filters,
                exclude: general.label_exclusion_filters,
                include_categories: general.label_category_inclusion_filters,
                exclude_categories: general.label_category_exclusion_filters,
            };
            let found = call.run(move |s| s.detect_labels(&bytes, &settings)).await?;
            let named = |names: &[&str]| names.iter().map(|n| NamedItem { name: (*n).to_owned() }).collect();
            let colors = |colors: &[reko_vision::properties::DominantColor]| -> Vec<DominantColor> {
                colors
                    .iter()
                    .map(|c| DominantColor {
                        red: u32::from(c.rgb[0]),
                        blue: u32::from(c.rgb[2]),
                        green: u32::from(c.rgb[1]),
                        hex_code: c.hex(),
                        css_color: c.css.to_owned(),
                        simplified_color: c.simplified.to_owned(),
                        pixel_percent: c.percent,
                    })
                    .collect()
            };
            let properties = found.properties.as_ref();
            encode(DetectLabelsResponse {
                labels: found
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(n, l)| Label {
                        name: l.name.to_owned(),
                        confidence: l.confidence,
                        instances: l
                            .instances
                            .iter()
                            .enumerate()
                            .map(|(i, (bbox, confidence))| Instance {
                                bounding_box: bounding_box(bbox, found.width, found.height),
                                confidence: *confidence,
                                dominant_colors: properties.map(|p| colors(&p.instance_colors[n][i])),
                            })
                            .collect(),
                        parents: named(&l.parents),
                        aliases: named(l.aliases),
                        categories: named(l.categories),
                    })
                    .collect(),
                label_model_version: LABEL_MODEL_VERSION.to_owned(),
                image_properties: properties.map(|p| {
                    let region = |r: &reko_service::Region| DetectLabelsImageRegion {
                        quality: DetectLabelsImageQuality {
                            brightness: r.quality.brightness,
                            sharpness: r.quality.sharpness,
                            contrast: None,
                        },
                        dominant_colors: colors(&r.colors),
                    };
                    DetectLabelsImageProperties {
                        quality: DetectLabelsImageQuality {
                            brightness: p.quality.brightness,
                            sharpness: p.quality.sharpness,
                            contrast: Some(p.quality.contrast),
                        },
                        dominant_colors: colors(&p.colors),
                        foreground: p.foreground.as_ref().map(|[f, _]| region(f)),
                        background: p.foreground.as_ref().map(|[_, b]| region(b)),
                    }
                }),
            })
        }
        "DetectModerationLabels" => {
            let req: DetectModerationLabelsRequest = decode(body)?;
            if req.project_version.is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    "Custom moderation adapters (ProjectVersion) are not supported by reko".to_owned(),
                ));
            }
            if req.human_loop_config.is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    "Human review (HumanLoopConfig) is not supported by reko".to_owned(),
                ));
            }
            let bytes = image_bytes(&call, &req.image).await?;
            let min_confidence = req.min_confidence.unwrap_or(DEFAULT_MODERATION_CONFIDENCE);
            let labels = call.run(move |s| s.detect_moderation_labels(&bytes, min_confidence)).await?;
            encode(DetectModerationLabelsResponse {
                moderation_labels: labels.iter().map(moderation_label).collect(),
                moderation_model_version: MODERATION_MODEL_VERSION.to_owned(),
            })
        }
        "DetectText" => {
            let req: DetectTextRequest = decode(body)?;
            let bytes = image_bytes(&call, &req.image).await?;
            let filters = text_filters(req.filters.unwrap_or_default())?;
            let found = call.run(move |s| s.detect_text(&bytes, &filters)).await?;
            let text_detections = found.iter().map(text_detection).collect();
            encode(DetectTextResponse { text_detections, text_model_version: TEXT_MODEL_VERSION.to_owned() })
        }
        "CompareFaces" => {
            let req: CompareFacesRequest = decode(body)?;
            let (source, target) =
                (image_bytes(&call, &req.source_image).await?, image_bytes(&call, &req.target_image).await?);
            let threshold = req.similarity_threshold.unwrap_or(80.0);
            let filter = QualityFilter::parse(req.quality_filter.as_deref());
            let result = call.run(move |s| s.compare_faces(&source, &target, threshold, filter)).await?;
            let (sw, sh) = (result.source.width, result.source.height);
            let (tw, th) = (result.target.width, result.target.height);
            let source_face = &result.source.faces[0];
            encode(CompareFacesResponse {
                source_image_face: ComparedSourceImageFace {
                    bounding_box: bounding_box(&source_face.bbox, sw, sh),
                    confidence: percent(source_face.score),
                },
                face_matches: result
                    .matches
                    .iter()
                    .map(|(face, similarity)| CompareFacesMatch {
                        similarity: *similarity,
                        face: compared_face(face, tw, th),
                    })
                    .collect(),
                unmatched_faces: result.unmatched.iter().map(|f| compared_face(f, tw, th)).collect(),
            })
        }
        "IndexFaces" => {
            let req: IndexFacesRequest = decode(body)?;
            let bytes = image_bytes(&call, &req.image).await?;
            let selection = AttributeSelection::parse(&req.detection_attributes);
            let attributes = selection.any_attribute();
            // IndexFaces filters with AUTO unless told otherwise.
            let filter = QualityFilter::parse(Some(req.quality_filter.as_deref().unwrap_or("AUTO")));
            let outcome = call
                .run(move |s| {
                    s.index_faces(
                        &scope,
                        &req.collection_id,
                        &bytes,
                        req.external_image_id.as_deref(),
                        req.max_faces,
                        filter,
                        attributes,
                    )
                })
                .await?;
            let (w, h) = (outcome.image.width, outcome.image.height);
            encode(IndexFacesResponse {
                face_records: outcome
                    .indexed
                    .iter()
                    .map(|(record, analysis)| FaceRecordOut {
                        face: stored_face(record),
                        face_detail: face_detail(analysis, w, h, &selection),
                    })
                    .collect(),
                face_model_version: FACE_MODEL_VERSION.to_owned(),
                unindexed_faces: outcome
                    .unindexed
                    .iter()
                    .map(|(analysis, reasons)| UnindexedFace {
                        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
                        face_detail: face_detail(analysis, w, h, &selection),
                    })
                    .collect(),
            })
        }
        "SearchFaces" => {
            let req: SearchFacesRequest = decode(body)?;
            let threshold = req.face_match_threshold.unwrap_or(DEFAULT_FACE_MATCH_THRESHOLD);
            let max = req.max_faces.unwrap_or(DEFAULT_MAX_FACES) as usize;
            let face_id = req.face_id.clone();
            let matches =
                call.run(move |s| s.search_faces(&scope, &req.collection_id, &req.face_id, max, threshold)).await?;
            encode(SearchFacesResponse {
                searched_face_id: face_id,
                face_matches: face_matches(&matches),
                face_model_version: FACE_MODEL_VERSION.to_owned(),
            })
        }
        "SearchFacesByImage" => {
            let req: SearchFacesByImageRequest = decode(body)?;
            let bytes = image_bytes(&call, &req.image).await?;
            let threshold = req.face_match_threshold.unwrap_or(DEFAULT_FACE_MATCH_THRESHOLD);
            let max = req.max_faces.unwrap_or(DEFAULT_MAX_FACES) as usize;
            let filter = QualityFilter::parse(req.quality_filter.as_deref());
            let found = call
                .run(move |s| s.search_faces_by_image(&scope, &req.collection_id, &bytes, max, threshold, filter))
                .await?;
            encode(SearchFacesByImageResponse {
                searched_face_bounding_box: bounding_box(&found.searched.bbox, found.image.width, found.image.height),
                searched_face_confidence: percent(found.searched.score),
                face_matches: face_matches(&found.matches),
                face_model_version: FACE_MODEL_VERSION.to_owned(),
            })
        }
        "ListFaces" => {
            let req: ListFacesRequest = decode(body)?;
            let page = call
                .run(move |s| {
                    s.list_faces(
                        &scope,
                        &req.collection_id,
                        req.next_token.as_deref(),
                        req.max_results,
                        req.user_id.as_deref(),
                        &req.face_ids,
                    )
                })
                .await?;
            encode(ListFacesResponse {
                faces: page.faces.iter().map(stored_face).collect(),
                next_token: page.next_token,
                face_model_version: FACE_MODEL_VERSION.to_owned(),
            })
        }
        "DeleteFaces" => {
            let req: DeleteFacesRequest = decode(body)?;
            let deletion = call.run(move |s| s.delete_faces(&scope, &req.collection_id, &req.face_ids)).await?;
            encode(DeleteFacesResponse {
                deleted_faces: deletion.deleted,
                unsuccessful_face_deletions: deletion
                    .failed
                    .into_iter()
                    .map(|(face_id, reason, user_id)| UnsuccessfulFaceDeletion {
                        face_id,
                        user_id,
                        reasons: vec![reason.to_owned()],
                    })
                    .collect(),
            })
        }
        "CreateUser" => {
            let req: UserRequest = decode(body)?;
            call.run(move |s| {
                s.create_user(&scope, &req.collection_id, &req.user_id, req.client_request_token.as_deref())
            })
            .await?;
            encode(EmptyResponse {})
        }
        "DeleteUser" => {
            let req: UserRequest = decode(body)?;
            call.run(move |s| {
                s.delete_user(&scope, &req.collection_id, &req.user_id, req.client_request_token.as_deref())
            })
            .await?;
            encode(EmptyResponse {})
        }
        "ListUsers" => {
            let req: ListUsersRequest = decode(body)?;
            let page = call
                .run(move |s| s.list_users(&scope, &req.collection_id, req.next_token.as_deref(), req.max_results))
                .await?;
            encode(ListUsersResponse { users: page.users.into_iter().map(user).collect(), next_token: page.next_token })
        }
        "AssociateFaces" => {
            let req: UserFacesRequest = decode(body)?;
            let threshold = req.user_match_threshold.unwrap_or(reko_service::DEFAULT_USER_MATCH_THRESHOLD);
            let done = call
                .run(move |s| {
                    s.associate_faces(
                        &scope,
                        &req.collection_id,
                        &req.user_id,
                        &req.face_ids,
                        threshold,
                        req.client_request_token.as_deref(),
                    )
                })
                .await?;
            encode(AssociateFacesResponse {
                associated_faces: done.done.into_iter().map(|face_id| FaceIdOnly { face_id }).collect(),
                unsuccessful_face_associations: done.failed.into_iter().map(unsuccessful).collect(),
                user_status: done.user_status,
            })
        }
        "DisassociateFaces" => {
            let req: UserFacesRequest = decode(body)?;
            let done = call
                .run(move |s| {
                    s.disassociate_faces(
                        &scope,
                        &req.collection_id,
                        &req.user_id,
                        &req.face_ids,
                        req.client_request_token.as_deref(),
                    )
                })
                .await?;
            encode(DisassociateFacesResponse {
                disassociated_faces: done.done.into_iter().map(|face_id| FaceIdOnly { face_id }).collect(),
                unsuccessful_face_disassociations: done.failed.into_iter().map(unsuccessful).collect(),
                user_status: done.user_status,
            })
        }
        "SearchUsers" => {
            let req: SearchUsersRequest = decode(body)?;
            let threshold = req.user_match_threshold.unwrap_or(DEFAULT_USER_SEARCH_THRESHOLD);
            let max = req.max_users.unwrap_or(DEFAULT_MAX_USERS) as usize;
            let (face_id, user_id) = (req.face_id.clone(), req.user_id.clone());
            let matches = call
                .run(move |s| {
                    s.search_users(
                        &scope,
                        &req.collection_id,
                        req.face_id.as_deref(),
                        req.user_id.as_deref(),
                        max,
                        threshold,
                    )
                })
                .await?;
            encode(SearchUsersResponse {
                user_matches: user_matches(matches),
                face_model_version: FACE_MODEL_VERSION.to_owned(),
                searched_face: face_id.map(|face_id| FaceIdOnly { face_id }),
                searched_user: user_id.map(|user_id| SearchedUser { user_id }),
            })
        }
        "SearchUsersByImage" => {
            let req: SearchUsersByImageRequest = decode(body)?;
            let bytes = image_bytes(&call, &req.image).await?;
            let threshold = req.user_match_threshold.unwrap_or(DEFAULT_USER_SEARCH_THRESHOLD);
            let max = req.max_users.unwrap_or(DEFAULT_MAX_USERS) as usize;
            let filter = QualityFilter::parse(req.quality_filter.as_deref());
            let found = call
                .run(move |s| s.search_users_by_image(&scope, &req.collection_id, &bytes, max, threshold, filter))
                .await?;
            let (w, h) = (found.image.width, found.image.height);
            let default = AttributeSelection::parse(&[]);
            encode(SearchUsersByImageResponse {
                user_matches: user_matches(found.matches),
                face_model_version: FACE_MODEL_VERSION.to_owned(),
                searched_face: found
                    .searched
                    .as_ref()
                    .map(|f| SearchedFaceDetails { face_detail: face_detail(f, w, h, &default) }),
                unsearched_faces: found
                    .unsearched
                    .iter()
                    .map(|(f, reasons)| UnsearchedFace {
                        face_details: face_detail(f, w, h, &default),
                        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
                    })
                    .collect(),
            })
        }
        "StartFaceDetection"
        | "StartFaceSearch"
        | "StartLabelDetection"
        | "StartContentModeration"
        | "StartTextDetection"
        | "StartSegmentDetection"
        | "StartPersonTracking" => crate::video::start(&call, scope, operation, body).await,
        "GetFaceDetection"
        | "GetFaceSearch"
        | "GetLabelDetection"
        | "GetContentModeration"
        | "GetTextDetection"
        | "GetSegmentDetection"
        | "GetPersonTracking" => crate::video::get(&call, scope, operation, body).await,
        other => Err(ApiError::new(
            ErrorCode::UnsupportedOperation,
            format!("reko does not implement {other} yet; the README lists the operations it supports."),
        )),
    }
}

pub(crate) struct Call<'a> {
    service: &'a Service,
    request_id: &'a str,
}

impl Call<'_> {
    /// Runs a (blocking) service function on the blocking pool.
    pub(crate) async fn run<T: Send + 'static>(
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

pub(crate) fn decode<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::new(ErrorCode::Serialization, e.to_string()))
}

pub(crate) fn encode<T: Serialize>(response: T) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(response).expect("responses serialise"))
}

/// The bytes of an `Image`: reko reads inline bytes; S3 objects come with object storage support.
/// An image's bytes: decoded from `Bytes`, or read from the server's object storage for `S3Object`.
pub(crate) async fn image_bytes(call: &Call<'_>, image: &Image) -> Result<Vec<u8>, ApiError> {
    match (&image.bytes, &image.s3_object) {
        (Some(encoded), _) => {
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

/// Which attributes DetectFaces returns: DEFAULT, ALL, or DEFAULT plus the named ones.
#[derive(Debug, Clone)]
pub(crate) struct AttributeSelection {
    all: bool,
    named: Vec<String>,
}

impl AttributeSelection {
    pub(crate) fn parse(requested: &[String]) -> AttributeSelection {
        AttributeSelection { all: requested.iter().any(|a| a == "ALL"), named: requested.to_vec() }
    }

    fn wants(&self, name: &str) -> bool {
        self.all || self.named.iter().any(|n| n == name)
    }

    /// Whether any attribute that needs the attribute networks is asked for.
    fn any_attribute(&self) -> bool {
        ["AGE_RANGE", "GENDER", "EMOTIONS", "SMILE", "EYES_OPEN", "MOUTH_OPEN"].iter().any(|a| self.wants(a))
    }
}

/// DetectText's `Filters`; a region must be a complete `BoundingBox` or a polygon of at least 3 points.
pub(crate) fn text_filters(filters: DetectTextFilters) -> Result<TextFilters, ApiError> {
    let invalid = |message: &str| ApiError::new(ErrorCode::InvalidParameter, message.to_owned());
    let word = filters.word_filter.unwrap_or_default();
    let mut regions = Vec::new();
    for region in filters.regions_of_interest {
        match (region.bounding_box, region.polygon) {
            (Some(b), None) => {
                let (Some(left), Some(top), Some(width), Some(height)) = (b.left, b.top, b.width, b.height) else {
                    return Err(invalid("A region's BoundingBox needs Left, Top, Width and Height"));
                };
                regions.push(vec![
                    (left, top),
                    (left + width, top),
                    (left + width, top + height),
                    (left, top + height),
                ]);
            }
            (None, Some(polygon)) if polygon.len() >= 3 => regions.push(polygon.iter().map(|p| (p.x, p.y)).collect()),
            (None, Some(_)) => return Err(invalid("A region's Polygon needs at least 3 points")),
            _ => return Err(invalid("A region of interest needs exactly one of BoundingBox and Polygon")),
        }
    }
    let defaults = TextFilters::default();
    Ok(TextFilters {
        min_confidence: word.min_confidence.unwrap_or(defaults.min_confidence),
        min_height: word.min_bounding_box_height.unwrap_or(0.0),
        min_width: word.min_bounding_box_width.unwrap_or(0.0),
        regions,
    })
}

pub(crate) fn moderation_label(l: &reko_vision::moderation::ModerationLabel) -> ModerationLabel {
    ModerationLabel {
        confidence: percent(l.confidence),
        name: l.name.to_owned(),
        parent_name: l.parent.to_owned(),
        taxonomy_level: u32::from(l.level),
    }
}

pub(crate) fn text_detection(d: &reko_service::DetectedText) -> TextDetection {
    let (left, top, width, height) = d.bounding_box();
    TextDetection {
        kind: match d.kind {
            TextKind::Line => "LINE",
            TextKind::Word => "WORD",
        }
        .to_owned(),
        detected_text: d.text.clone(),
        id: d.id,
        parent_id: d.parent_id,
        confidence: d.confidence,
        geometry: Geometry {
            bounding_box: BoundingBox { width, height, left, top },
            polygon: d.polygon.iter().map(|&(x, y)| Point { x, y }).collect(),
        },
    }
}

pub(crate) fn percent(score: f32) -> f32 {
    (score * 100.0).clamp(0.0, 100.0)
}

pub(crate) fn bounding_box(b: &reko_inference::boxes::BBox, width: u32, height: u32) -> BoundingBox {
    let (w, h) = (width as f32, height as f32);
    BoundingBox { width: b.width() / w, height: b.height() / h, left: b.x1 / w, top: b.y1 / h }
}

fn landmark_list(face: &FaceAnalysis, width: u32, height: u32, all: bool) -> Vec<Landmark> {
    let mut points = landmarks::rekognition_landmarks(&face.points);
    if !all {
        points.truncate(5);
    }
    points
        .into_iter()
        .map(|(kind, (x, y))| Landmark { kind: kind.to_owned(), x: x / width as f32, y: y / height as f32 })
        .collect()
}

fn yes_no(value: bool, confidence: f32) -> BoolAttribute {
    BoolAttribute { value, confidence: confidence.clamp(50.0, 100.0) }
}

pub(crate) fn face_detail(face: &FaceAnalysis, width: u32, height: u32, selection: &AttributeSelection) -> FaceDetail {
    let mut detail = FaceDetail {
        bounding_box: bounding_box(&face.bbox, width, height),
        age_range: None,
        smile: None,
        gender: None,
        eyes_open: None,
        mouth_open: None,
        emotions: None,
        landmarks: landmark_list(face, width, height, selection.all),
        pose: Pose { roll: face.pose.roll, yaw: face.pose.yaw, pitch: face.pose.pitch },
        quality: ImageQuality { brightness: face.quality.0, sharpness: face.quality.1 },
        confidence: percent(face.score),
    };
    let Some(a) = &face.attributes else { return detail };
    if selection.wants("AGE_RANGE") {
        let spread = (a.age * 0.15).max(3.0);
        detail.age_range =
            Some(AgeRange { low: (a.age - spread).max(0.0).floor() as u32, high: (a.age + spread).ceil() as u32 });
    }
    if selection.wants("GENDER") {
        let male = a.male >= 0.5;
        let value = if male { "Male" } else { "Female" }.to_owned();
        detail.gender = Some(Gender { value, confidence: percent(a.male.max(1.0 - a.male)) });
    }
    // face-api's expression classes as Rekognition's emotion types (it has no CONFUSED class).
    const EMOTIONS: [&str; 7] = ["CALM", "HAPPY", "SAD", "ANGRY", "FEAR", "DISGUSTED", "SURPRISED"];
    if selection.wants("EMOTIONS") {
        let mut emotions: Vec<Emotion> = EMOTIONS
            .iter()
            .zip(a.expressions)
            .map(|(kind, p)| Emotion { kind: (*kind).to_owned(), confidence: percent(p) })
            .collect();
        emotions.sort_by(|x, y| y.confidence.total_cmp(&x.confidence));
        detail.emotions = Some(emotions);
    }
    if selection.wants("SMILE") {
        let happy = a.expressions[1];
        detail.smile = Some(yes_no(happy >= 0.5, percent(happy.max(1.0 - happy))));
    }
    if selection.wants("EYES_OPEN") {
        let margin = ((a.eye_aspect_ratio - 0.2).abs() / 0.1).min(1.0);
        detail.eyes_open = Some(yes_no(a.eye_aspect_ratio >= 0.2, 50.0 + 50.0 * margin));
    }
    if selection.wants("MOUTH_OPEN") {
        let margin = ((a.mouth_open_ratio - 0.1).abs() / 0.1).min(1.0);
        detail.mouth_open = Some(yes_no(a.mouth_open_ratio >= 0.1, 50.0 + 50.0 * margin));
    }
    detail
}

fn compared_face(face: &FaceAnalysis, width: u32, height: u32) -> ComparedFace {
    ComparedFace {
        bounding_box: bounding_box(&face.bbox, width, height),
        confidence: percent(face.score),
        landmarks: landmark_list(face, width, height, false),
        pose: Pose { roll: face.pose.roll, yaw: face.pose.yaw, pitch: face.pose.pitch },
        quality: ImageQuality { brightness: face.quality.0, sharpness: face.quality.1 },
    }
}

fn stored_face(record: &FaceRecord) -> Face {
    let [left, top, width, height] = record.bounding_box;
    Face {
        face_id: record.face_id.clone(),
        bounding_box: BoundingBox { width, height, left, top },
        image_id: record.image_id.clone(),
        external_image_id: record.external_image_id.clone(),
        confidence: record.confidence,
        index_faces_model_version: record.model_version.clone(),
        user_id: record.user_id.clone(),
    }
}

pub(crate) fn face_matches(matches: &[reko_service::FaceMatch]) -> Vec<FaceMatch> {
    matches.iter().map(|m| FaceMatch { similarity: m.similarity, face: stored_face(&m.face) }).collect()
}

fn user(user: reko_service::User) -> User {
    User { user_id: user.user_id, user_status: user.status.to_owned() }
}

fn user_matches(matches: Vec<(reko_service::User, f32)>) -> Vec<UserMatch> {
    matches.into_iter().map(|(u, similarity)| UserMatch { similarity, user: user(u) }).collect()
}

fn unsuccessful(failed: reko_service::FailedFace) -> UnsuccessfulUserFace {
    UnsuccessfulUserFace {
        face_id: failed.face_id,
        user_id: failed.user_id,
        confidence: failed.confidence,
        reasons: failed.reasons,
    }
}
