//! `reko models fetch` and `reko models list`, and the fetch that `reko serve` runs when a model is
//! missing. The toolchain wires conversion and inspection from the other crates into the fetcher.

use std::path::{Path, PathBuf};

use anyhow::Context;
use reko_models::{Clients, Installed, Manifest, ModelKind, ModelSpec, TensorInfo, Toolchain};

/// The converters' version as far as installed models are concerned: reko's own version.
const CONVERTER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Conversion and inspection for the fetcher, over ONNX Runtime loaded from the models directory.
struct RekoToolchain {
    models_dir: PathBuf,
    dylib: Option<PathBuf>,
}

impl Toolchain for RekoToolchain {
    fn convert(&self, model: &ModelSpec, model_dir: &Path) -> Result<Vec<u8>, String> {
        use reko_convert::FaceApiNet;
        let spec = model.convert.as_ref().ok_or("the manifest gives no conversion")?;
        let source = model_dir.join(&spec.source);
        let converted = match model.kind {
            ModelKind::TfjsGraph => {
                let options = reko_convert::ConvertOptions { outputs: spec.outputs.clone() };
                reko_convert::convert_tfjs_graph_with(&source, &options)
            }
            ModelKind::FaceapiWeights => {
                let net = match spec.net.as_deref() {
                    Some("FaceRecognition") => FaceApiNet::FaceRecognition,
                    Some("SsdMobilenetV1") => FaceApiNet::SsdMobilenetV1,
                    Some("FaceLandmark68") => FaceApiNet::FaceLandmark68,
                    Some("FaceLandmark68Tiny") => FaceApiNet::FaceLandmark68Tiny,
                    Some("AgeGender") => FaceApiNet::AgeGender,
                    Some("FaceExpression") => FaceApiNet::FaceExpression,
                    other => return Err(format!("unknown face-api network {other:?}")),
                };
                reko_convert::convert_faceapi(&source, net)
            }
            ModelKind::Tflite => {
                let options = reko_convert::TfliteOptions {
                    dynamic_batch: spec.dynamic_batch,
                    dynamic_spatial: spec.dynamic_spatial,
                };
                reko_convert::convert_tflite(&source, &options)
            }
            ModelKind::PytorchStateDict => match spec.net.as_deref() {
                Some("EfficientNetLite0") => reko_convert::convert_efficientnet_lite0(&source),
                other => return Err(format!("unknown PyTorch network {other:?}")),
            },
            ModelKind::Onnx => {
                let options = reko_convert::OnnxOptions {
                    dynamic_batch: spec.dynamic_batch,
                    dynamic_spatial: spec.dynamic_spatial,
                    fold: spec.fold,
                };
                reko_convert::convert_onnx(&source, &options)
            }
            ModelKind::Runtime => return Err("nothing to convert".into()),
        };
        converted.map(|c| c.onnx).map_err(|e| e.to_string())
    }

    fn converter_version(&self) -> &str {
        CONVERTER_VERSION
    }

    fn inspect(&self, onnx: &Path) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), String> {
        let installed = Installed::load(&self.models_dir).map_err(|e| e.to_string())?;
        let dylib = reko_inference::runtime::runtime_library(&self.models_dir, &installed, self.dylib.as_deref())
            .map_err(|e| e.to_string())?;
        reko_inference::runtime::init_runtime(&dylib).map_err(|e| e.to_string())?;
        reko_inference::runtime::inspect(onnx).map_err(|e| e.to_string())
    }
}

/// Fetches every model of the manifest (or `only`) that is missing or changed, with progress on stderr.
pub fn fetch(models_dir: &Path, only: &[String], dylib: Option<PathBuf>) -> anyhow::Result<()> {
    let toolchain = RekoToolchain { models_dir: models_dir.to_path_buf(), dylib };
    let total = if only.is_empty() { Manifest::embedded().models.len() } else { only.len() + 1 };
    eprintln!("fetching {total} models into {}", models_dir.display());
    let report = reko_models::fetch(models_dir, only, &Clients::from_env(), &toolchain, &mut |line| {
        eprintln!("{}", progress_line(line, total));
    })
    .context("fetching models")?;
    eprintln!("{} installed, {} already up to date", report.installed.len(), report.up_to_date.len());
    Ok(())
}

/// `[3/6] model: step` with a bar drawn from the step counter.
fn progress_line(line: &str, total: usize) -> String {
    let done = line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(n, _)| n.parse::<usize>().ok())
        .unwrap_or(0);
    let width = 20;
    let filled = (done * width).checked_div(total).unwrap_or(0).min(width);
    format!("[{}{}] {line}", "#".repeat(filled), "-".repeat(width - filled))
}

/// Whether every model of the manifest is installed and intact.
pub fn all_current(models_dir: &Path) -> anyhow::Result<bool> {
    let installed = Installed::load(models_dir)?;
    let manifest = Manifest::embedded();
    for model in &manifest.models {
        let package = manifest.package(&model.package).context("manifest package")?;
        let fingerprint = reko_models::fingerprint(model, package, CONVERTER_VERSION);
        if !installed.is_current(models_dir, &model.id, &fingerprint)? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn list(models_dir: &Path) -> anyhow::Result<()> {
    let installed = Installed::load(models_dir)?;
    let manifest = Manifest::embedded();
    println!("models directory: {}", models_dir.display());
    println!("{:<26} {:<10} {:<34} {:<10} io", "model", "state", "source", "kind");
    for model in &manifest.models {
        let package = manifest.package(&model.package).context("manifest package")?;
        let state = match installed.models.get(&model.id) {
            Some(entry) if entry.source.sha256 == package.sha256 => "installed",
            Some(_) => "outdated",
            None => "missing",
        };
        let io = installed
            .models
            .get(&model.id)
            .map(|m| {
                let show = |ts: &[TensorInfo]| {
                    ts.iter().map(|t| format!("{}{:?}", t.name, t.shape)).collect::<Vec<_>>().join(", ")
                };
                if m.inputs.is_empty() { String::new() } else { format!("{} -> {}", show(&m.inputs), show(&m.outputs)) }
            })
            .unwrap_or_default();
        println!(
            "{:<26} {:<10} {:<34} {:<10} {io}",
            model.id,
            state,
            format!("{}@{}", package.name, package.version),
            format!("{:?}", model.kind).to_lowercase()
        );
    }
    Ok(())
}
