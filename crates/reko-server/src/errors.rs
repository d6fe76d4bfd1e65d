//! The boundary's error table: each service and authentication error as the Rekognition error a client
//! expects. reko's own faults are logged here and reach the client only as a request id.

use reko_auth::AuthError;
use reko_protocol::{ApiError, ErrorCode};
use reko_service::ServiceError;

pub fn from_service(err: ServiceError, request_id: &str) -> ApiError {
    let code = match &err {
        ServiceError::CollectionAlreadyExists(_) => ErrorCode::ResourceAlreadyExists,
        ServiceError::CollectionNotFound(_) | ServiceError::ResourceNotFound(_) => ErrorCode::ResourceNotFound,
        ServiceError::InvalidArn(_) => ErrorCode::InvalidParameter,
        ServiceError::TooManyTags(_) => ErrorCode::ServiceQuotaExceeded,
        ServiceError::InvalidPaginationToken => ErrorCode::InvalidPaginationToken,
        ServiceError::InvalidImage(_) => ErrorCode::InvalidImageFormat,
        ServiceError::ImageTooLarge(_) => ErrorCode::ImageTooLarge,
        ServiceError::InvalidS3Object(_) => ErrorCode::InvalidS3Object,
        ServiceError::VideoTooLarge(_) => ErrorCode::VideoTooLarge,
        ServiceError::LimitExceeded(_) => ErrorCode::LimitExceeded,
        ServiceError::JobNotFound(_) => ErrorCode::ResourceNotFound,
        ServiceError::ResourceInUse(_) => ErrorCode::ResourceInUse,
        ServiceError::ResourceAlreadyExists(_) => ErrorCode::ResourceAlreadyExists,
        ServiceError::ResourceNotReady(_) => ErrorCode::ResourceNotReady,
        ServiceError::NoFace(_)
        | ServiceError::NoFaceInImage
        | ServiceError::FaceNotFound(_)
        | ServiceError::ModelVersionMismatch { .. }
        | ServiceError::InvalidRequest(_) => ErrorCode::InvalidParameter,
        ServiceError::UserNotFound(_) => ErrorCode::ResourceNotFound,
        ServiceError::UserAlreadyExists(_) => ErrorCode::Conflict,
        ServiceError::TooManyUserFaces(_) => ErrorCode::ServiceQuotaExceeded,
        ServiceError::IdempotencyMismatch => ErrorCode::IdempotentParameterMismatch,
        _ if err.is_cancelled() => {
            return ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The analysis was cancelled: it did not finish within the request's deadline.",
            );
        }
        ServiceError::ObjectStoreUnavailable(why) => {
            tracing::warn!(request_id, why, "the object store cannot be read");
            return ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The object store cannot be read right now; retry later.",
            );
        }
        ServiceError::ModelsUnavailable | ServiceError::Inference(_) => {
            tracing::error!(request_id, error = %err, "analysis failure");
            return internal(request_id);
        }
        ServiceError::Store(reko_service::StoreError::Unavailable(why)) => {
            tracing::warn!(request_id, why, "the store cannot write now");
            return ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The service cannot store data right now (its disk may be full); retry later.",
            );
        }
        ServiceError::Store(store) => {
            tracing::error!(request_id, error = %store, "storage failure");
            return internal(request_id);
        }
    };
    ApiError::new(code, err.to_string())
}

pub fn from_auth(err: AuthError) -> ApiError {
    let code = match &err {
        AuthError::Missing => ErrorCode::MissingAuthenticationToken,
        AuthError::Incomplete(_) => ErrorCode::IncompleteSignature,
        AuthError::UnknownKey => ErrorCode::UnrecognizedClient,
        AuthError::InvalidSignature(_) => ErrorCode::InvalidSignature,
        AuthError::DuplicateAuthorization => ErrorCode::InvalidParameter,
    };
    ApiError::new(code, err.to_string())
}

/// What the client sees of a fault of reko's own.
pub fn internal(request_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InternalServerError,
        format!("An internal error occurred; the server log has the details under request id {request_id}."),
    )
}
