//! `reko eval occlusion`: whether a face is occluded, learnt from WIDER FACE's occlusion labels (none,
//! partial, heavy) on the development images: DetectFaces' faces matched to the annotated ones, a logistic
//! head over what the pipeline already computes for a face, cross-validated with folds by image.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::custom::{Example, Head, TrainSettings};
use reko_vision::eval::widerface;
use reko_vision::faces::{FaceAnalysis, FacePipeline};

use crate::eval::cross_validated;

/// Area under the ROC curve of `scores` for `truth` (the chance that an occluded face scores above a clear one).
fn auc(scores: &[f32], truth: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0.0, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if truth[k] {
                rank_sum += mean_rank;
                positives += 1;
            }
        }
        i = j + 1;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    (rank_sum - (positives * (positives + 1)) as f64 / 2.0) / (positives * negatives) as f64
}

/// The features of one face: which of them a variant uses.
fn features(face: &FaceAnalysis, embedding: &[f32], with_embedding: bool, with_signals: bool) -> Vec<f32> {
    let mut out = Vec::new();
    if with_embedding {
        out.extend_from_slice(embedding);
    }
    if with_signals {
        let p = face.score.clamp(1e-4, 1.0 - 1e-4);
        out.push((p / (1.0 - p)).ln() / 8.0);
        out.push(face.quality.0 / 100.0);
        out.push(face.quality.1 / 100.0);
        if let Some(a) = &face.attributes {
            out.push(a.eye_aspect_ratio);
            out.push(a.mouth_open_ratio);
            out.extend_from_slice(&a.expressions);
        } else {
            out.extend([0.0; 9]);
        }
    }
    out
}

pub fn occlusion(
    models_dir: &Path,
    wider: &Path,
    min_height: f32,
    heavy_only: bool,
    folds: usize,
    write: Option<&Path>,
) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let pipeline = FacePipeline::default();
    let images = widerface::load(wider).map_err(|e| anyhow::anyhow!("{}: {e}", wider.display()))?;
    let started = Instant::now();
    // (image, occluded, face, embedding) of each detected face matched to an annotated one.
    let mut rows: Vec<(String, bool, FaceAnalysis, Vec<f32>)> = Vec::new();
    let (mut annotated, mut missed) = (0, 0);
    for image in &images {
        let decoded = reko_inference::image::decode(&std::fs::read(&image.path).context("reading a WIDER image")?)?;
        let faces = pipeline.analyze(&runtime, &decoded.rgb, true, reko_vision::faces::MAX_FACES)?;
        let embeddings = pipeline.embed(&runtime, &decoded.rgb, &faces)?;
        let mut taken = vec![false; faces.len()];
        for (i, truth) in image.faces.iter().enumerate() {
            let skip_partial = heavy_only && image.occlusion[i] == 1;
            if image.invalid[i] || truth.y2 - truth.y1 < min_height || skip_partial {
                continue;
            }
            annotated += 1;
            let best = (0..faces.len())
                .filter(|&f| !taken[f])
                .map(|f| (f, faces[f].bbox.iou(truth)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|&(_, iou)| iou >= 0.5);
            let Some((f, _)) = best else {
                missed += 1;
                continue;
            };
            taken[f] = true;
            rows.push((image.name.clone(), image.occlusion[i] > 0, faces[f].clone(), embeddings[f].clone()));
        }
    }
    let n = rows.len();
    let occluded = rows.iter().filter(|r| r.1).count();
    println!(
        "{} images; {annotated} valid annotated faces at least {min_height} px tall{}, {missed} not detected; \
         {n} matched, {occluded} of them occluded; {:.0} ms an image",
        images.len(),
        if heavy_only { " (partial occlusions left out)" } else { "" },
        started.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64
    );
    let truth: Vec<bool> = rows.iter().map(|r| r.1).collect();
    let report = |name: &str, p: &[f32]| {
        let predicted: Vec<bool> = p.iter().map(|&p| p >= 0.5).collect();
        let right = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
        let hit = predicted.iter().zip(&truth).filter(|(p, t)| **p && **t).count();
        let clear_right = predicted.iter().zip(&truth).filter(|(p, t)| !**p && !**t).count();
        let said = predicted.iter().filter(|p| **p).count();
        println!(
            "{name}: AUC {:.3}; at 0.5 accuracy {:.1}% (never occluded: {:.1}%), occluded found {hit} of {occluded} \
             ({:.1}%), clear kept {:.1}%, precision {:.1}% ({said} said occluded)",
            auc(p, &truth),
            100.0 * right as f64 / n.max(1) as f64,
            100.0 * (n - occluded) as f64 / n.max(1) as f64,
            100.0 * hit as f64 / occluded.max(1) as f64,
            100.0 * clear_right as f64 / (n - occluded).max(1) as f64,
            100.0 * hit as f64 / said.max(1) as f64,
        );
    };
    let labels = ["clear".to_owned(), "occluded".to_owned()];
    let variants = [
        ("embedding", true, false),
        ("detector score, quality, eyes, mouth, expressions", false, true),
        ("both", true, true),
    ];
    for (name, with_embedding, with_signals) in variants {
        let example = |r: &(String, bool, FaceAnalysis, Vec<f32>)| Example {
            features: features(&r.2, &r.3, with_embedding, with_signals),
            labels: vec![usize::from(r.1)],
        };
        let p = cross_validated(&rows, folds, |r| &r.0, &labels, example);
        report(&format!("a head on the {name}, {folds}-fold by image"), &p);
        if let (Some(path), true, true) = (write, with_embedding, with_signals) {
            let all: Vec<Example> = rows.iter().map(example).collect();
            let head = Head::train(labels.to_vec(), false, &all, TrainSettings::default());
            std::fs::write(path, serde_json::to_string(&head)? + "\n").with_context(|| path.display().to_string())?;
            println!("the head on both, fitted on all {n} faces, written to {}", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_the_pairs_in_order() {
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), 0.0);
        // Ties count half: one positive above one negative, one tied.
        assert_eq!(auc(&[0.5, 0.5, 0.9, 0.1], &[false, true, true, false]), 0.875);
        assert!(auc(&[0.5], &[true]).is_nan());
    }
}
