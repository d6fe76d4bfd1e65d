//! Measuring calibrated confidences: cross-validation folds by image, and how well a confidence means what
//! it says (a reliability table and the expected calibration error).

#[cfg(test)]
use crate::calibration::Platt;

pub use crate::calibration::Sample;

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
        let fitted = Platt::fit(&samples);
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
