//! Inference: ONNX Runtime sessions over the installed models ([`runtime`]), and the shared image
//! processing every pipeline uses: decoding with EXIF orientation and a pixel budget ([`image`]),
//! resizing and normalisation into tensors ([`preprocess`]), boxes and NMS ([`boxes`]), and face
//! alignment by a similarity transform ([`align`]).

pub mod align;
pub mod boxes;
pub mod cancel;
pub mod image;
pub mod parallel;
pub mod preprocess;
pub mod runtime;

pub use runtime::{InferenceError, ModelSession, Outputs, Runtime, RuntimeOptions};
