//! Calibrated confidences: a logistic (Platt) map from a model's score to the probability that what it
//! scored is right, fitted by maximum likelihood on samples whose truth is known.

/// A score (0..1) and whether what it scored was right.
pub type Sample = (f32, bool);

/// A logistic (Platt) calibration of a probability-like score: `σ(slope · logit(p) + intercept)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platt {
    pub slope: f32,
    pub intercept: f32,
}

impl Platt {
    /// The calibrated probability (0..1) of `p` (0..1).
    pub fn apply(self, p: f32) -> f32 {
        let p = p.clamp(1e-4, 1.0 - 1e-4);
        let z = self.slope * (p / (1.0 - p)).ln() + self.intercept;
        1.0 / (1.0 + (-z).exp())
    }

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
}
