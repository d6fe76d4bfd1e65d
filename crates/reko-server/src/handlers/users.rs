//! Users of a collection: CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces,
//! SearchUsers, SearchUsersByImage.

use reko_protocol::ApiError;
use reko_protocol::types::*;
use reko_service::{
    DEFAULT_MAX_USERS, DEFAULT_USER_MATCH_THRESHOLD, DEFAULT_USER_SEARCH_THRESHOLD, FACE_MODEL_VERSION, QualityFilter,
    Scope,
};
use serde_json::Value;

use super::quality_filter;
use crate::dispatch::{Call, encode, image_bytes};
use crate::render::{AttributeSelection, face_detail, face_reasons, unsuccessful, user, user_matches, user_status};

pub(crate) async fn create(call: &Call<'_>, scope: Scope, req: UserRequest) -> Result<Value, ApiError> {
    call.run(move |s| s.create_user(&scope, &req.collection_id, &req.user_id, req.client_request_token.as_deref()))
        .await?;
    encode(EmptyResponse {})
}

pub(crate) async fn delete(call: &Call<'_>, scope: Scope, req: UserRequest) -> Result<Value, ApiError> {
    call.run(move |s| s.delete_user(&scope, &req.collection_id, &req.user_id, req.client_request_token.as_deref()))
        .await?;
    encode(EmptyResponse {})
}

pub(crate) async fn list(call: &Call<'_>, scope: Scope, req: ListUsersRequest) -> Result<Value, ApiError> {
    let page =
        call.run(move |s| s.list_users(&scope, &req.collection_id, req.next_token.as_deref(), req.max_results)).await?;
    encode(ListUsersResponse { users: page.users.into_iter().map(user).collect(), next_token: page.next_token })
}

pub(crate) async fn associate(call: &Call<'_>, scope: Scope, req: UserFacesRequest) -> Result<Value, ApiError> {
    let threshold = req.user_match_threshold.unwrap_or(DEFAULT_USER_MATCH_THRESHOLD);
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
        user_status: user_status(done.user_status),
    })
}

pub(crate) async fn disassociate(call: &Call<'_>, scope: Scope, req: UserFacesRequest) -> Result<Value, ApiError> {
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
        user_status: user_status(done.user_status),
    })
}

pub(crate) async fn search(call: &Call<'_>, scope: Scope, req: SearchUsersRequest) -> Result<Value, ApiError> {
    let threshold = req.user_match_threshold.unwrap_or(DEFAULT_USER_SEARCH_THRESHOLD);
    let max = req.max_users.unwrap_or(DEFAULT_MAX_USERS) as usize;
    let (face_id, user_id) = (req.face_id.clone(), req.user_id.clone());
    let matches = call
        .run(move |s| {
            s.search_users(&scope, &req.collection_id, req.face_id.as_deref(), req.user_id.as_deref(), max, threshold)
        })
        .await?;
    encode(SearchUsersResponse {
        user_matches: user_matches(matches),
        face_model_version: FACE_MODEL_VERSION.to_owned(),
        searched_face: face_id.map(|face_id| FaceIdOnly { face_id }),
        searched_user: user_id.map(|user_id| SearchedUser { user_id }),
    })
}

pub(crate) async fn search_by_image(
    call: &Call<'_>,
    scope: Scope,
    req: SearchUsersByImageRequest,
) -> Result<Value, ApiError> {
    let bytes = image_bytes(call, &req.image).await?;
    let threshold = req.user_match_threshold.unwrap_or(DEFAULT_USER_SEARCH_THRESHOLD);
    let max = req.max_users.unwrap_or(DEFAULT_MAX_USERS) as usize;
    let filter = quality_filter(req.quality_filter.as_deref(), QualityFilter::None);
    let found =
        call.run(move |s| s.search_users_by_image(&scope, &req.collection_id, &bytes, max, threshold, filter)).await?;
    let default = AttributeSelection::default();
    encode(SearchUsersByImageResponse {
        user_matches: user_matches(found.matches),
        face_model_version: FACE_MODEL_VERSION.to_owned(),
        searched_face: found.searched.as_ref().map(|f| SearchedFaceDetails { face_detail: face_detail(f, &default) }),
        unsearched_faces: found
            .unsearched
            .iter()
            .map(|(f, reasons)| UnsearchedFace {
                face_details: face_detail(f, &default),
                reasons: face_reasons(reasons),
            })
            .collect(),
    })
}
