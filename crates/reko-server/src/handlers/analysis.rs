//! Image analyses that store nothing besides faces: DetectLabels, DetectModerationLabels, DetectText.

use reko_protocol::types::*;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::{
    DEFAULT_LABEL_CONFIDENCE, DEFAULT_MAX_DOMINANT_COLORS, DEFAULT_MODERATION_CONFIDENCE, LABEL_MODEL_VERSION,
    LabelSettings, MODERATION_MODEL_VERSION, TEXT_MODEL_VERSION, TextFilters,
};
use serde_json::Value;

use crate::dispatch::{Call, encode, image_bytes};
use crate::render::{image_properties, label, moderation_label, text_detection};

pub(crate) async fn detect_labels(call: &Call<'_>, req: DetectLabelsRequest) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
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
    encode(DetectLabelsResponse {
        labels: found.labels.iter().map(|l| label(l, true)).collect(),
        label_model_version: LABEL_MODEL_VERSION.to_owned(),
        image_properties: found.properties.as_ref().map(image_properties),
    })
}

pub(crate) async fn detect_moderation_labels(
    call: &Call<'_>,
    req: DetectModerationLabelsRequest,
) -> Result<Value, ApiError> {
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
    let bytes = image_bytes(call, &req.image).await?;
    let min_confidence = req.min_confidence.unwrap_or(DEFAULT_MODERATION_CONFIDENCE);
    let labels = call.run(move |s| s.detect_moderation_labels(&bytes, min_confidence)).await?;
    encode(DetectModerationLabelsResponse {
        moderation_labels: labels.iter().map(moderation_label).collect(),
        moderation_model_version: MODERATION_MODEL_VERSION.to_owned(),
    })
}

pub(crate) async fn detect_text(call: &Call<'_>, req: DetectTextRequest) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
    let filters = text_filters(req.filters.unwrap_or_default())?;
    let found = call.run(move |s| s.detect_text(&bytes, &filters)).await?;
    encode(DetectTextResponse {
        text_detections: found.iter().map(text_detection).collect(),
        text_model_version: TEXT_MODEL_VERSION.to_owned(),
    })
}

/// DetectText's (and StartTextDetection's) `Filters`; a region must be a complete `BoundingBox` or a
/// polygon of at least 3 points.
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
