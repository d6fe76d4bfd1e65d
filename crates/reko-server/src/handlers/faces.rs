//! Face operations that store nothing: DetectFaces and CompareFaces.

use reko_protocol::ApiError;
use reko_protocol::types::*;
use reko_service::{DEFAULT_SIMILARITY_THRESHOLD, QualityFilter};
use serde_json::Value;

use super::quality_filter;
use crate::dispatch::{Call, encode, image_bytes};
use crate::render::{AttributeSelection, bounding_box, compared_face, face_detail};

pub(crate) async fn detect(call: &Call<'_>, req: DetectFacesRequest) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
    let selection = AttributeSelection::parse(&req.attributes);
    let attributes = selection.any_attribute();
    let faces = call.run(move |s| s.detect_faces(&bytes, attributes)).await?;
    encode(DetectFacesResponse { face_details: faces.iter().map(|f| face_detail(f, &selection)).collect() })
}

pub(crate) async fn compare(call: &Call<'_>, req: CompareFacesRequest) -> Result<Value, ApiError> {
    let (source, target) = (image_bytes(call, &req.source_image).await?, image_bytes(call, &req.target_image).await?);
    let threshold = req.similarity_threshold.unwrap_or(DEFAULT_SIMILARITY_THRESHOLD);
    let filter = quality_filter(req.quality_filter.as_deref(), QualityFilter::None);
    let result = call.run(move |s| s.compare_faces(&source, &target, threshold, filter)).await?;
    encode(CompareFacesResponse {
        source_image_face: ComparedSourceImageFace {
            bounding_box: bounding_box(&result.source.bounding_box),
            confidence: result.source.confidence,
        },
        face_matches: result
            .matches
            .iter()
            .map(|(face, similarity)| CompareFacesMatch { similarity: *similarity, face: compared_face(face) })
            .collect(),
        unmatched_faces: result.unmatched.iter().map(compared_face).collect(),
    })
}
