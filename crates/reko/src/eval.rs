//! `reko eval …`: accuracy on the public development sets, printed as a table with the command line
//! that produced it, so every figure in the README can be rerun.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::eval::widerface;
use reko_vision::faces::{DetectorKind, FaceDetector};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Detector {
    BlazefaceBack,
    BlazefaceFront,
    FullRange,
    FaceapiSsd,
}

impl From<Detector> for DetectorKind {
    fn from(d: Detector) -> DetectorKind {
        match d {
            Detector::BlazefaceBack => DetectorKind::BlazeFaceBack,
            Detector::BlazefaceFront => DetectorKind::BlazeFaceFront,
            Detector::FullRange => DetectorKind::FullRange,
            Detector::FaceapiSsd => DetectorKind::FaceApiSsd,
        }
    }
}

/// Face detection AP on the WIDER FACE subset.
pub fn widerface(
    models_dir: &Path,
    eval_dir: &Path,
    detector: Detector,
    tiling: bool,
    min_score: f32,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut images = widerface::load(eval_dir).map_err(anyhow::Error::msg).context("loading WIDER FACE")?;
    if let Some(limit) = limit {
        images.truncate(limit);
    }
    let mut face_detector = FaceDetector::new(detector.into());
    face_detector.tiling = tiling;
    face_detector.min_score = min_score;
    let started = Instant::now();
    let mut predictions = Vec::with_capacity(images.len());
    for image in &images {
        let bytes = std::fs::read(&image.path).with_context(|| image.path.display().to_string())?;
        let decoded = reko_inference::image::decode(&bytes)?;
        let faces = face_detector.detect(&runtime, &decoded.rgb)?;
        predictions.push(faces.into_iter().map(|f| (f.bbox, f.score)).collect::<Vec<_>>());
    }
    let per_image = started.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64;
    let ap = widerface::average_precision(&images, &predictions);
    println!(
        "WIDER FACE dev subset ({} images, {} faces), detector {detector:?}, tiling {tiling}, min score {min_score}",
        images.len(),
        images.iter().map(|i| i.faces.len()).sum::<usize>()
    );
    for (name, value) in widerface::LEVELS.iter().zip(ap) {
        println!("  AP {name:<6} {:.3}", value);
    }
    println!("  {per_image:.0} ms/image (single thread, debug builds are slower)");
    Ok(())
}

pub fn default_eval_dir(name: &str) -> PathBuf {
    PathBuf::from("../shared/eval").join(name)
}
