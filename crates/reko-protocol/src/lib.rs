//! The Rekognition wire protocol (AWS JSON 1.1): the only crate that knows Rekognition's JSON shapes.
//!
//! - [`model`] loads the facts of the official service model (operations, shapes, constraints), extracted
//!   from botocore by `tools/extract_service_model.py` into `model/rekognition.json`.
//! - [`validate`] checks any request body against its operation's input shape, so every one of the 75
//!   operations gets the model's constraints without hand-written checks.
//! - [`error`] is the one table of error codes: Rekognition `__type`, HTTP status and whose fault it is.
//! - [`types`] holds the serde request/response structs of the operations reko implements.
//! - [`notification`] holds a video job's completion message and the SNS notification around it.

pub mod error;
pub mod model;
pub mod notification;
pub mod types;
pub mod validate;

pub use error::{ApiError, ErrorCode};
pub use model::ServiceModel;

/// The `X-Amz-Target` prefix of every operation, e.g. `RekognitionService.CreateCollection`.
pub const TARGET_PREFIX: &str = "RekognitionService";

/// The content type of every request and response body.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
