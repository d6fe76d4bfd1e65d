//! Offline model conversion for reko: TensorFlow.js graph models ([`convert_tfjs_graph`]), face-api
//! weights, TFLite flatbuffers and legacy PyTorch state dicts ([`convert_efficientnet_lite0`]) to ONNX, ONNX
//! models with a fixed interface re-declared for any size and exported graphs folded ([`convert_onnx`],
//! [`fold`]),
//! on top of a general ONNX writer ([`onnx`]) that other converters reuse.

pub mod faceapi;
pub mod fold;
pub mod onnx;
pub mod pytorch;
pub mod redeclare;
pub mod tfjs;
pub mod tflite;

use std::path::PathBuf;

pub use faceapi::{FaceApiNet, convert_faceapi};
pub use pytorch::{convert_efficientnet_lite0, read_legacy_state_dict};
pub use redeclare::{OnnxOptions, convert_onnx, convert_onnx_bytes};
pub use tfjs::{ConvertOptions, convert_tfjs_graph, convert_tfjs_graph_with};
pub use tflite::{TfliteOptions, convert_tflite, convert_tflite_bytes};

/// A converted model: the ONNX bytes and its external interface.
#[derive(Clone, Debug)]
pub struct Converted {
    /// The serialized ONNX `ModelProto` (IR 8, opset 17).
    pub onnx: Vec<u8>,
    /// Graph inputs, in order, with the source model's names and layout (NHWC).
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs, in order, with the source model's names.
    pub outputs: Vec<TensorInfo>,
    /// Human-readable summary: op counts, weights, dequantization.
    pub report: String,
}

/// Name and shape of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions; `-1` is dynamic (e.g. the batch). Empty when the rank is unknown.
    pub shape: Vec<i64>,
}

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The model uses an op (or an op variant) the converter does not translate.
    #[error("unsupported op {op} at node {node}")]
    UnsupportedOp { op: String, node: String },
    /// The model files are inconsistent or malformed.
    #[error("bad model: {0}")]
    BadModel(String),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}
