//! Custom Labels' model: an image's features from the ImageNet classifier's pooled penultimate layer, and a
//! linear head trained on them (softmax over the labels when every image has one label, a logistic
//! regression per label when images may have several), its confidences made honest by a temperature
//! fitted on held-out predictions.

use image::RgbImage;
use reko_inference::{InferenceError, Runtime};
use serde::{Deserialize, Serialize};

use crate::labels::{classifier_square, classifier_tensor};

/// The network whose features the heads read (EfficientNet-Lite0, the one DetectLabels' classifier uses).
pub const FEATURE_MODEL: &str = crate::labels::CLASSIFIER;
/// Length of a feature vector.
pub const FEATURE_LEN: usize = 1280;

/// An image's features: the pooled penultimate layer of the central square and of its mirror image,
/// averaged, scaled to unit length.
pub fn features(runtime: &Runtime, image: &RgbImage) -> Result<Vec<f32>, InferenceError> {
    let session = runtime.session(FEATURE_MODEL)?;
    let square = classifier_square(image);
    let mirrored = image::imageops::flip_horizontal(&square);
    let tensors = [classifier_tensor(&square), classifier_tensor(&mirrored)];
    let outputs = session.run_batch_wide(&tensors)?;
    let Some((_, pooled)) = outputs.into_iter().find(|(n, _)| n == "features") else {
        return Err(InferenceError::Ort {
            model: FEATURE_MODEL.into(),
            message: "no features output: run `reko models fetch` again to reconvert the model".into(),
        });
    };
    let pooled: Vec<f32> = pooled.iter().copied().collect();
    if pooled.len() != 2 * FEATURE_LEN {
        return Err(InferenceError::Ort {
            model: FEATURE_MODEL.into(),
            message: "features of an unexpected size".into(),
        });
    }
    let mut mean: Vec<f32> = (0..FEATURE_LEN).map(|i| (pooled[i] + pooled[FEATURE_LEN + i]) / 2.0).collect();
    normalise(&mut mean);
    Ok(mean)
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// One training example: its features and the indices of its labels.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<f32>,
    pub labels: Vec<usize>,
}

/// How the head is trained.
#[derive(Debug, Clone, Copy)]
pub struct TrainSettings {
    /// The L2 penalties tried; the one with the lowest cross-validated log-loss is kept.
    pub penalties: &'static [f32],
    /// Folds of the cross-validation that picks the penalty and fits the temperature.
    pub folds: usize,
    pub iterations: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings { penalties: &[1e-4, 1e-3, 1e-2], folds: 5, iterations: 300 }
    }
}

/// A trained head over [`features`]: `labels.len()` linear scores, turned into probabilities by a softmax
/// (one label an image) or a sigmoid each (several), after division by `temperature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub labels: Vec<String>,
    /// Whether an image may carry several labels (sigmoids) rather than exactly one (softmax).
    pub multi_label: bool,
    /// Subtracted from the features before the weights (the training set's mean).
    pub centre: Vec<f32>,
    /// Scales the centred features so that their mean squared length is 1.
    pub scale: f32,
    /// `labels.len()` rows of [`FEATURE_LEN`] weights.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub temperature: f32,
    /// The L2 penalty the cross-validation chose.
    pub penalty: f32,
}

impl Head {
    /// Trains a head on `examples` (features of [`FEATURE_LEN`], label indices below `labels.len()`).
    /// The penalty is chosen and the temperature fitted by cross-validation over the examples.
    pub fn train(labels: Vec<String>, multi_label: bool, examples: &[Example], settings: TrainSettings) -> Head {
        let k = labels.len();
        let dim = examples.first().map_or(FEATURE_LEN, |e| e.features.len());
        let mut centre = vec![0.0f32; dim];
        for e in examples {
            centre.iter_mut().zip(&e.features).for_each(|(c, x)| *c += x);
        }
        centre.iter_mut().for_each(|c| *c /= examples.len().max(1) as f32);
        let mean_sq = examples
            .iter()
            .map(|e| e.features.iter().zip(&centre).map(|(x, c)| (x - c) * (x - c)).sum::<f32>())
            .sum::<f32>()
            / examples.len().max(1) as f32;
        let scale = if mean_sq > 0.0 { 1.0 / mean_sq.sqrt() } else { 1.0 };
        let xs: Vec<Vec<f32>> =
            examples.iter().map(|e| e.features.iter().zip(&centre).map(|(x, c)| (x - c) * scale).collect()).collect();
        let ys: Vec<Vec<f32>> = examples
            .iter()
            .map(|e| {
                let mut y = vec![0.0; k];
                e.labels.iter().filter(|&&l| l < k).for_each(|&l| y[l] = 1.0);
                y
            })
            .collect();
        let folds = settings.folds.max(2).min(examples.len().max(2));
        let fold_of = |i: usize| i % folds;
        // Cross-validated scores for each penalty; the best one's also fit the temperature.
        let mut best: Option<(f32, f32, Vec<Vec<f32>>)> = None;
        for &penalty in settings.penalties {
            let mut held_out = vec![Vec::new(); examples.len()];
            for fold in 0..folds {
                let train: Vec<usize> = (0..examples.len()).filter(|&i| fold_of(i) != fold).collect();
                if train.is_empty() || train.len() == examples.len() {
                    continue;
                }
                let (w, b) = fit(&xs, &ys, &train, k, multi_label, penalty, settings.iterations);
                for i in (0..examples.len()).filter(|&i| fold_of(i) == fold) {
                    held_out[i] = scores(&w, &b, &xs[i], k);
                }
            }
            if held_out.iter().any(Vec::is_empty) {
                continue;
            }
            let loss = log_loss(&held_out, &ys, multi_label, 1.0);
            if best.as_ref().is_none_or(|(l, _, _)| loss < *l) {
                best = Some((loss, penalty, held_out));
            }
        }
        let (penalty, temperature) = match &best {
            Some((_, penalty, held_out)) => (*penalty, fit_temperature(held_out, &ys, multi_label)),
            None => (settings.penalties.first().copied().unwrap_or(1e-3), 1.0),
        };
        let all: Vec<usize> = (0..examples.len()).collect();
        let (weights, bias) = fit(&xs, &ys, &all, k, multi_label, penalty, settings.iterations);
        Head { labels, multi_label, centre, scale, weights, bias, temperature, penalty }
    }

    /// The probability of each label (in [`Head::labels`] order) for an image's features.
    pub fn probabilities(&self, features: &[f32]) -> Vec<f32> {
        let x: Vec<f32> = features.iter().zip(&self.centre).map(|(x, c)| (x - c) * self.scale).collect();
        let z = scores(&self.weights, &self.bias, &x, self.labels.len());
        probabilities(&z, self.multi_label, self.temperature)
    }
}

/// Linear scores `W x + b`.
fn scores(w: &[f32], b: &[f32], x: &[f32], k: usize) -> Vec<f32> {
    (0..k).map(|j| b[j] + w[j * x.len()..(j + 1) * x.len()].iter().zip(x).map(|(a, b)| a * b).sum::<f32>()).collect()
}

fn probabilities(z: &[f32], multi_label: bool, temperature: f32) -> Vec<f32> {
    if multi_label {
        z.iter().map(|&s| 1.0 / (1.0 + (-s / temperature).exp())).collect()
    } else {
        let top = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = z.iter().map(|&s| ((s - top) / temperature).exp()).collect();
        let sum: f32 = e.iter().sum();
        e.into_iter().map(|v| v / sum).collect()
    }
}

/// Mean negative log-likelihood of `ys` under the scores at `temperature`.
fn log_loss(z: &[Vec<f32>], ys: &[Vec<f32>], multi_label: bool, temperature: f32) -> f32 {
    let mut total = 0.0f64;
    for (z, y) in z.iter().zip(ys) {
        let p = probabilities(z, multi_label, temperature);
        for (p, y) in p.iter().zip(y) {
            let p = p.clamp(1e-7, 1.0 - 1e-7) as f64;
            total -= if *y > 0.5 {
                p.ln()
            } else if multi_label {
                (1.0 - p).ln()
            } else {
                0.0
            };
        }
    }
    (total / z.len().max(1) as f64) as f32
}

/// The temperature that minimises the held-out log-loss (a golden-section search over log T).
fn fit_temperature(z: &[Vec<f32>], ys: &[Vec<f32>], multi_label: bool) -> f32 {
    let loss = |log_t: f32| log_loss(z, ys, multi_label, log_t.exp());
    let (mut lo, mut hi) = ((0.05f32).ln(), (20.0f32).ln());
    let ratio = (5.0f32.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let a = hi - ratio * (hi - lo);
        let b = lo + ratio * (hi - lo);
        if loss(a) < loss(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// Fits weights and biases on the rows `rows` by Nesterov-accelerated gradient descent on the mean
/// log-loss plus `penalty`/2 ‖W‖² (the loss is convex and, with features of mean squared length 1, its
/// gradient is 1-Lipschitz at most, so the step is fixed).
fn fit(
    xs: &[Vec<f32>],
    ys: &[Vec<f32>],
    rows: &[usize],
    k: usize,
    multi_label: bool,
    penalty: f32,
    iterations: usize,
) -> (Vec<f32>, Vec<f32>) {
    let dim = xs.first().map_or(0, Vec::len);
    let mut w = vec![0.0f32; k * dim];
    let mut b = vec![0.0f32; k];
    if rows.is_empty() {
        return (w, b);
    }
    let (mut w_prev, mut b_prev) = (w.clone(), b.clone());
    let step = 1.0 / (1.0 + penalty);
    let n = rows.len() as f32;
    for t in 0..iterations {
        let momentum = t as f32 / (t as f32 + 3.0);
        let look_w: Vec<f32> = w.iter().zip(&w_prev).map(|(a, p)| a + momentum * (a - p)).collect();
        let look_b: Vec<f32> = b.iter().zip(&b_prev).map(|(a, p)| a + momentum * (a - p)).collect();
        let mut grad_w: Vec<f32> = look_w.iter().map(|v| penalty * v).collect();
        let mut grad_b = vec![0.0f32; k];
        for &i in rows {
            let z = scores(&look_w, &look_b, &xs[i], k);
            let p = probabilities(&z, multi_label, 1.0);
            for j in 0..k {
                let r = (p[j] - ys[i][j]) / n;
                grad_b[j] += r;
                grad_w[j * dim..(j + 1) * dim].iter_mut().zip(&xs[i]).for_each(|(g, x)| *g += r * x);
            }
        }
        w_prev = std::mem::replace(&mut w, look_w.iter().zip(&grad_w).map(|(v, g)| v - step * g).collect());
        b_prev = std::mem::replace(&mut b, look_b.iter().zip(&grad_b).map(|(v, g)| v - step * g).collect());
    }
    (w, b)
}

/// Precision, recall and F1 of one label at a threshold, over (probability, truth) pairs.
pub fn precision_recall_f1(scored: &[(f32, bool)], threshold: f32) -> (f32, f32, f32) {
    let tp = scored.iter().filter(|(p, t)| *p >= threshold && *t).count() as f32;
    let fp = scored.iter().filter(|(p, t)| *p >= threshold && !*t).count() as f32;
    let positives = scored.iter().filter(|(_, t)| *t).count() as f32;
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if positives > 0.0 { tp / positives } else { 0.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    (precision, recall, f1)
}

/// The "assumed threshold" of one label: the probability at which its F1 score over the test images is
/// highest (the midpoint between that image's score and the next lower one, so that a slightly lower score
/// of a new image counts too); 0.5 when the test images have none of the label.
pub fn assumed_threshold(scored: &[(f32, bool)]) -> f32 {
    if !scored.iter().any(|(_, t)| *t) {
        return 0.5;
    }
    let mut candidates: Vec<f32> = scored.iter().map(|(p, _)| *p).collect();
    candidates.sort_by(|a, b| b.total_cmp(a));
    candidates.dedup();
    let mut best = (f32::NEG_INFINITY, 0.5);
    for (i, &c) in candidates.iter().enumerate() {
        let f1 = precision_recall_f1(scored, c).2;
        if f1 > best.0 {
            let below = candidates.get(i + 1).copied().unwrap_or(0.0);
            best = (f1, (c + below) / 2.0);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two separable clusters with noise: the head learns them, its held-out probabilities are calibrated
    /// enough to put the right label above 0.5, and the threshold separates them.
    #[test]
    fn a_head_learns_two_clusters_and_its_threshold_separates_them() {
        let mut seed = 7u64;
        let mut noise = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let dim = 16;
        let example = |label: usize, noise: &mut dyn FnMut() -> f32| {
            let mut f: Vec<f32> = (0..dim).map(|_| noise()).collect();
            f[label] += 2.0;
            Example { features: f, labels: vec![label] }
        };
        let train: Vec<Example> = (0..80).map(|i| example(i % 2, &mut noise)).collect();
        let test: Vec<Example> = (0..40).map(|i| example(i % 2, &mut noise)).collect();
        let head = Head::train(vec!["a".into(), "b".into()], false, &train, TrainSettings::default());
        let right = test.iter().filter(|e| head.probabilities(&e.features)[e.labels[0]] > 0.5).count();
        assert!(right >= 38, "{right} of 40 right");
        let scored: Vec<(f32, bool)> =
            test.iter().map(|e| (head.probabilities(&e.features)[0], e.labels[0] == 0)).collect();
        let threshold = assumed_threshold(&scored);
        assert!(precision_recall_f1(&scored, threshold).2 >= 0.95);
        assert!(head.temperature > 0.05 && head.temperature < 20.0);
        let p = head.probabilities(&test[0].features);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    /// Images with several labels: one sigmoid per label, each learning its own label, not a share of one.
    #[test]
    fn a_multi_label_head_scores_each_label_on_its_own() {
        let dim = 8;
        let example = |labels: Vec<usize>, jitter: f32| {
            let mut features = vec![jitter; dim];
            labels.iter().for_each(|&l| features[l] += 1.0);
            Example { features, labels }
        };
        let train: Vec<Example> = (0..60)
            .map(|i| match i % 3 {
                0 => example(vec![0], (i as f32 * 0.37).sin() * 0.1),
                1 => example(vec![1], (i as f32 * 0.53).cos() * 0.1),
                _ => example(vec![0, 1], (i as f32 * 0.71).sin() * 0.1),
            })
            .collect();
        let head = Head::train(vec!["a".into(), "b".into()], true, &train, TrainSettings::default());
        let both = head.probabilities(&example(vec![0, 1], 0.0).features);
        assert!(both.iter().all(|&p| p > 0.8), "{both:?}");
        let only_a = head.probabilities(&example(vec![0], 0.0).features);
        assert!(only_a[0] > 0.8 && only_a[1] < 0.2, "{only_a:?}");
    }

    #[test]
    fn the_threshold_with_no_positives_is_a_half() {
        assert_eq!(assumed_threshold(&[(0.9, false), (0.1, false)]), 0.5);
    }
}
