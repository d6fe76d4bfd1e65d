//! Face embeddings: each face aligned to the standard 112 × 112 five-point template by a similarity
//! transform, embedded by MobileFaceNet together with its mirror image (test-time flip), L2-normalised.

use image::RgbImage;
use reko_inference::align::{estimate_similarity, warp};
use reko_inference::preprocess::{ChannelOrder, Layout, to_tensor};
use reko_inference::{InferenceError, Runtime};

pub const EMBEDDING_MODEL: &str = "mobilefacenet";
pub const EMBEDDING_SIZE: usize = 192;

/// The five-point template for 112 × 112 crops (eyes, nose tip, mouth corners; viewer's left first).
pub const TEMPLATE_112: [(f32, f32); 5] =
    [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)];

/// The aligned 112 × 112 crop of a face given its five points.
pub fn align(image: &RgbImage, five: &[(f32, f32); 5]) -> RgbImage {
    let transform = estimate_similarity(five, &TEMPLATE_112);
    warp(image, &transform, 112, 112)
}

/// Unit-length embeddings of aligned crops, one per crop (each the sum of the crop's and its mirror's,
/// each run alone: [`reko_inference::ModelSession::run_each`]).
pub fn embed(runtime: &Runtime, aligned: &[RgbImage]) -> Result<Vec<Vec<f32>>, InferenceError> {
    if aligned.is_empty() {
        return Ok(Vec::new());
    }
    let session = runtime.session(EMBEDDING_MODEL)?;
    let norm = session.normalization();
    let mut tensors = Vec::with_capacity(aligned.len() * 2);
    for crop in aligned {
        tensors.push(to_tensor(crop, Layout::Nhwc, ChannelOrder::Rgb, norm));
        tensors.push(to_tensor(&image::imageops::flip_horizontal(crop), Layout::Nhwc, ChannelOrder::Rgb, norm));
    }
    let outputs = session.run_each(&tensors)?;
    Ok(outputs
        .chunks_exact(2)
        .map(|pair| {
            let (a, b) = (&pair[0][0].1, &pair[1][0].1);
            normalize(a.iter().zip(b.iter()).map(|(x, y)| x + y).collect())
        })
        .collect())
}

pub fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
