//! reko's analysis pipelines over the inference runtime — faces, labels, text and moderation — and their evaluation on the
//! public development sets (`eval`), so that every model choice is backed by a number anyone can rerun.

pub mod calibration;
pub mod custom;
pub mod eval;
pub mod faces;
pub mod labels;
pub mod moderation;
pub mod properties;
pub mod text;

pub use reko_inference::InferenceError;
