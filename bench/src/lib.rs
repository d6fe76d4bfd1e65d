//! Shared set-up for reko's benchmarks: where the models and images are, one single-threaded ONNX
//! Runtime, model inputs made from real photos, tract plans, criterion's settings, and notes that
//! the report (`src/bin/report.rs`) prints beside the figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;
use image::RgbImage;
use ndarray::{Array4, Axis};
use reko_inference::{Runtime, RuntimeOptions};
use tract_onnx::prelude::*;

/// The installed models: `REKO_BENCH_MODELS_DIR`, else `../target/test-models` (from `bench/`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("REKO_BENCH_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-models"))
}

/// The public evaluation images: `REKO_BENCH_EVAL_DIR`, else `../../shared/eval` (from `bench/`).
pub fn eval_dir() -> PathBuf {
    std::env::var_os("REKO_BENCH_EVAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval"))
}

/// A large group photo (2280 × 1588, two faces).
pub const COUPLE: &str = "deepface_unit/couple.jpg";
/// A crowded WIDER FACE validation image (1024 × 819).
pub const WIDER_PARADE: &str = "widerface_val_subset/images/0--Parade/0_Parade_Parade_0_102.jpg";
/// A COCO val2017 photo (640 × 426), the kind of scene the detectors see.
pub const COCO: &str = "coco_val2017_first128/images/000000000139.jpg";

/// The bytes of an evaluation image, `path` relative to [`eval_dir`].
pub fn image_bytes(path: &str) -> Vec<u8> {
    let full = eval_dir().join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// An evaluation image decoded as reko decodes requests (EXIF orientation applied).
pub fn load_image(path: &str) -> RgbImage {
    reko_inference::image::decode(&image_bytes(path)).unwrap_or_else(|e| panic!("decoding {path}: {e}")).rgb
}

/// Faces for the batched face models: the first `n` images of LFW (deep-funneled, 250 × 250, one
/// centred face each), in name order.
pub fn lfw_faces(n: usize) -> Vec<RgbImage> {
    let root = eval_dir().join("lfw/lfw-deepfunneled");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut files = Vec::new();
    for person in people {
        let mut jpgs: Vec<PathBuf> = std::fs::read_dir(&person)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        jpgs.sort();
        files.extend(jpgs);
        if files.len() >= n {
            break;
        }
    }
    assert!(files.len() >= n, "LFW has fewer than {n} images under {}", root.display());
    files[..n]
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            reko_inference::image::decode(&bytes).unwrap_or_else(|e| panic!("decoding {}: {e}", p.display())).rgb
        })
        .collect()
}

/// ONNX Runtime over the installed models, one intra-op thread (reko's default).
pub fn runtime() -> Runtime {
    let dir = models_dir();
    Runtime::load(&dir, RuntimeOptions { intra_threads: 1, ..RuntimeOptions::default() })
        .unwrap_or_else(|e| panic!("loading ONNX Runtime from {}: {e}", dir.display()))
}

/// The path of a model's ONNX file.
pub fn model_path(id: &str) -> PathBuf {
    models_dir().join(id).join("model.onnx")
}

/// `image` as model `id`'s input at `width` × `height`, with the model's own channel order, layout
/// and normalisation. Sizes that follow the image (`multiple-of-32`, `keep`, `height`) are stretched
/// to the fixed size so that every runtime sees the same shape.
pub fn model_input(runtime: &Runtime, id: &str, image: &RgbImage, width: u32, height: u32) -> Array4<f32> {
    let info = runtime.installed().models.get(id).unwrap_or_else(|| panic!("model {id} is not installed"));
    let mut spec = info.preprocessing.clone().unwrap_or_else(|| panic!("model {id} has no preprocessing"));
    spec.width = width;
    spec.height = height;
    if matches!(spec.resize.as_str(), "multiple-of-32" | "keep" | "height") {
        spec.resize = "stretch".into();
    }
    reko_inference::preprocess::prepare(image, &spec, width.max(height)).0
}

/// A batch of the inputs of `images`, stacked on the first axis.
pub fn model_batch(runtime: &Runtime, id: &str, images: &[RgbImage], width: u32, height: u32) -> Array4<f32> {
    let items: Vec<Array4<f32>> = images.iter().map(|image| model_input(runtime, id, image, width, height)).collect();
    let views: Vec<_> = items.iter().map(|a| a.view()).collect();
    ndarray::concatenate(Axis(0), &views).expect("inputs of one model have one shape")
}

/// The name of a model's first input.
pub fn input_name(runtime: &Runtime, id: &str) -> String {
    let info = runtime.installed().models.get(id).unwrap_or_else(|| panic!("model {id} is not installed"));
    info.inputs.first().unwrap_or_else(|| panic!("model {id} has no inputs")).name.clone()
}

/// A tract plan for `path` with its first input fixed to `shape` (f32), optimised; single-threaded,
/// tract's default. `ignore_value_info` drops the shapes the file declares for intermediate tensors
/// (tract's way round symbolic dimensions it cannot unify with a fixed input).
pub fn tract_plan(path: &Path, shape: &[usize], ignore_value_info: bool) -> TractResult<Arc<TypedRunnableModel>> {
    tract_onnx::onnx()
        .with_ignore_value_info(ignore_value_info)
        .model_for_path(path)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()
}

/// Runs a tract plan on one f32 input and returns its first output, flattened.
pub fn tract_first_output(plan: &Arc<TypedRunnableModel>, input: &Array4<f32>) -> TractResult<Vec<f32>> {
    let outputs = plan.run(tvec!(tract_tensor(input).into_tvalue()))?;
    let first = outputs.first().ok_or_else(|| TractError::msg("tract returned no output"))?;
    Ok(first.to_plain_array_view::<f32>()?.iter().copied().collect())
}

/// An f32 tensor for tract holding `input`.
pub fn tract_tensor(input: &Array4<f32>) -> Tensor {
    let data: Vec<f32> = input.iter().copied().collect();
    Tensor::from_shape(input.shape(), &data).expect("the shape matches the data")
}

/// Criterion as the benchmarks use it: short runs on a shared machine (1 s warm-up, 3 s of
/// measurement, 10 samples); `REKO_BENCH_SAMPLES` and `REKO_BENCH_SECONDS` override.
pub fn criterion() -> Criterion {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Criterion::default()
        .sample_size(env("REKO_BENCH_SAMPLES", 10) as usize)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(env("REKO_BENCH_SECONDS", 3)))
        .configure_from_args()
}

/// Records a fact for the report (a model tract could not load, how far two runtimes' outputs are
/// apart, how many faces were found): printed, and written to `REKO_BENCH_NOTES/<key>.txt` when that
/// variable is set.
pub fn note(key: &str, text: &str) {
    eprintln!("note {key}: {text}");
    if let Some(dir) = std::env::var_os("REKO_BENCH_NOTES") {
        let dir = PathBuf::from(dir);
        let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(format!("{key}.txt")), text));
        if let Err(e) = written {
            eprintln!("writing note {key} to {}: {e}", dir.display());
        }
    }
}

/// The largest absolute difference between two outputs, or `None` when their sizes differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> Option<f32> {
    (a.len() == b.len()).then(|| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max))
}
