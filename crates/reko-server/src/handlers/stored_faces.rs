//! Faces in collections: IndexFaces, SearchFaces, SearchFacesByImage, ListFaces, DeleteFaces.

use reko_protocol::ApiError;
use reko_protocol::types::*;
use reko_service::{
    DEFAULT_FACE_MATCH_THRESHOLD, DEFAULT_INDEX_QUALITY_FILTER, DEFAULT_MAX_FACE_MATCHES, FACE_MODEL_VERSION,
    QualityFilter, Scope,
};
use serde_json::Value;

use super::quality_filter;
use crate::dispatch::{Call, encode, image_bytes};
use crate::render::{
    AttributeSelection, bounding_box, face_detail, face_matches, face_reasons, failed_deletion, stored_face,
};

pub(crate) async fn index(call: &Call<'_>, scope: Scope, req: IndexFacesRequest) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
    let selection = AttributeSelection::parse(&req.detection_attributes);
    let attributes = selection.any_attribute();
    let filter = quality_filter(req.quality_filter.as_deref(), DEFAULT_INDEX_QUALITY_FILTER);
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
    encode(IndexFacesResponse {
        face_records: outcome
            .indexed
            .iter()
            .map(|(record, face)| FaceRecordOut {
                face: stored_face(record),
                face_detail: face_detail(face, &selection),
            })
            .collect(),
        face_model_version: FACE_MODEL_VERSION.to_owned(),
        unindexed_faces: outcome
            .unindexed
            .iter()
            .map(|(face, reasons)| UnindexedFace {
                reasons: face_reasons(reasons),
                face_detail: face_detail(face, &selection),
            })
            .collect(),
    })
}

pub(crate) async fn search(call: &Call<'_>, scope: Scope, req: SearchFacesRequest) -> Result<Value, ApiError> {
    let threshold = req.face_match_threshold.unwrap_or(DEFAULT_FACE_MATCH_THRESHOLD);
    let max = req.max_faces.unwrap_or(DEFAULT_MAX_FACE_MATCHES) as usize;
    let face_id = req.face_id.clone();
    let matches = call.run(move |s| s.search_faces(&scope, &req.collection_id, &req.face_id, max, threshold)).await?;
    encode(SearchFacesResponse {
        searched_face_id: face_id,
        face_matches: face_matches(&matches),
        face_model_version: FACE_MODEL_VERSION.to_owned(),
    })
}

pub(crate) async fn search_by_image(
    call: &Call<'_>,
    scope: Scope,
    req: SearchFacesByImageRequest,
) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
    let threshold = req.face_match_threshold.unwrap_or(DEFAULT_FACE_MATCH_THRESHOLD);
    let max = req.max_faces.unwrap_or(DEFAULT_MAX_FACE_MATCHES) as usize;
    let filter = quality_filter(req.quality_filter.as_deref(), QualityFilter::None);
    let found =
        call.run(move |s| s.search_faces_by_image(&scope, &req.collection_id, &bytes, max, threshold, filter)).await?;
    encode(SearchFacesByImageResponse {
        searched_face_bounding_box: bounding_box(&found.searched.bounding_box),
        searched_face_confidence: found.searched.confidence,
        face_matches: face_matches(&found.matches),
        face_model_version: FACE_MODEL_VERSION.to_owned(),
    })
}

pub(crate) async fn list(call: &Call<'_>, scope: Scope, req: ListFacesRequest) -> Result<Value, ApiError> {
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

pub(crate) async fn delete(call: &Call<'_>, scope: Scope, req: DeleteFacesRequest) -> Result<Value, ApiError> {
    let deletion = call.run(move |s| s.delete_faces(&scope, &req.collection_id, &req.face_ids)).await?;
    encode(DeleteFacesResponse {
        deleted_faces: deletion.deleted,
        unsuccessful_face_deletions: deletion.failed.iter().map(failed_deletion).collect(),
    })
}
