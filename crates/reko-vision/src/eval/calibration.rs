//! Calibration of confidences: fitting a logistic (Platt) map from a score to the probability of being
//! right, cross-validation folds by image, and the measures of how well a confidence means what it says
//! (a reliability table and the expected calibration error).

use crate::labels::Platt;

/// A score (0..1) and whether what it scored was right.
pub type Sample = (f32, bool);

/// The Platt map that maximises the likelihood of `samples` (Newton's method on logit(score)), with an
/// L2 penalty of ½·slope² (scikit-learn's default `C = 1`), so that a handful of samples cannot make it
/// a step.
pub fn fit(samples: &[Sample]) -> Platt {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .map(|&(p, right)| {
            let p = f64::from(p).clamp(1e-4, 1.0 - 1e-4);
            ((p / (1.0 - p)).ln(), if right { 1.0 } else { 0.0 })
        })
        .collect();
    let (mut slope, mut intercept) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        // Gradient and Hessian of the penalised negative log-likelihood.
        let (mut g0, mut g1, mut h00, mut h01, mut h11) = (slope, 0.0, 1.0, 0.0, 0.0);
        for &(x, y) in &points {
            let p = 1.0 / (1.0 + (-(slope * x + intercept)).exp());
            let w = (p * (1.0 - p)).max(1e-12);
            g0 += (p - y) * x;
            g1 += p - y;
            h00 += w * x * x;
            h01 += w * x;
            h11 += w;
        }
        let det = h00 * h11 - h01 * h01;
        if det.abs() < 1e-12 {
            break;
        }
        let (d0, d1) = ((h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det);
        slope -= d0;
        intercept -= d1;
        if d0.abs().max(d1.abs()) < 1e-9 {
            break;
        }
    }
    Platt { slope: slope as f32, intercept: intercept as f32 }
}

/// The fold (0..k) of the `i`-th of the images sorted by name: every k-th image, so that the folds do
/// not depend on a random seed.
pub fn fold(i: usize, k: usize) -> usize {
    i % k
}

/// One band of confidence: how many predictions fell in it, their mean confidence and the share right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub from: f32,
    pub to: f32,
    pub count: usize,
    pub mean: f64,
    pub right: f64,
}

/// The reliability table of `predictions` (probability 0..1, right) in `bands` equal bands.
pub fn reliability(predictions: &[Sample], bands: usize) -> Vec<Band> {
    (0..bands)
        .map(|b| {
            let (from, to) = (b as f32 / bands as f32, (b + 1) as f32 / bands as f32);
            let last = b + 1 == bands;
            let inside: Vec<&Sample> =
                predictions.iter().filter(|(p, _)| *p >= from && (*p < to || (last && *p <= to))).collect();
            let count = inside.len();
            let mean = inside.iter().map(|(p, _)| f64::from(*p)).sum::<f64>() / count.max(1) as f64;
            let right = inside.iter().filter(|(_, r)| *r).count() as f64 / count.max(1) as f64;
            Band { from, to, count, mean, right }
        })
        .collect()
}

/// The expected calibration error: the gap between confidence and the share right, averaged over ten
/// bands weighted by their counts.
pub fn expected_calibration_error(predictions: &[Sample]) -> f64 {
    let total = predictions.len().max(1) as f64;
    reliability(predictions, 10).iter().map(|b| b.count as f64 / total * (b.mean - b.right).abs()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_map_and_calibrated_samples_have_a_small_error() {
        // Samples drawn (deterministically) from a known Platt map: P(right | s) = σ(2·logit(s) + 1).
        let truth = Platt { slope: 2.0, intercept: 1.0 };
        let mut samples = Vec::new();
        for i in 1..200 {
            let s = i as f32 / 200.0;
            let p = truth.apply(s);
            // 20 samples at each score, right in proportion to p.
            let right = (p * 20.0).round() as usize;
            samples.extend((0..20).map(|k| (s, k < right)));
        }
        let fitted = fit(&samples);
        assert!((fitted.slope - 2.0).abs() < 0.1 && (fitted.intercept - 1.0).abs() < 0.1, "{fitted:?}");
        let calibrated: Vec<Sample> = samples.iter().map(|&(s, r)| (fitted.apply(s), r)).collect();
        let raw_error = expected_calibration_error(&samples);
        let calibrated_error = expected_calibration_error(&calibrated);
        assert!(calibrated_error < 0.02 && raw_error > 0.1, "{raw_error} → {calibrated_error}");
    }

    #[test]
    fn reliability_bands_count_every_prediction_once() {
        let predictions = [(0.0, false), (0.05, true), (0.1, true), (0.95, true), (1.0, true)];
        let bands = reliability(&predictions, 10);
        assert_eq!(bands.iter().map(|b| b.count).sum::<usize>(), predictions.len());
        assert_eq!((bands[0].count, bands[1].count, bands[9].count), (2, 1, 2));
        assert!((bands[0].right - 0.5).abs() < 1e-9);
    }
}
