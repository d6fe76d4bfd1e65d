//! Similarity (0–100) from the cosine of two face embeddings: a monotone piecewise-linear map whose
//! knots were measured on LFW's development images (`reko eval lfw`), so that the thresholds mean what
//! they mean on Rekognition: 80 (the default) is a loose match, 99 a match safe for door access.

/// (cosine, similarity) knots, increasing in both.
/// Measured on LFW pairsDevTest's 1,549 images (1.15 M impostor pairs): cosine 0.45 is a false-match
/// rate of about 1e-3 (→ 80); no impostor pair reached 0.665 (→ 99 at 0.68).
const KNOTS: [(f32, f32); 5] = [(-1.0, 0.0), (0.30, 50.0), (0.45, 80.0), (0.68, 99.0), (1.0, 100.0)];

/// The similarity of two unit embeddings with this cosine.
pub fn from_cosine(cosine: f32) -> f32 {
    let c = cosine.clamp(-1.0, 1.0);
    for pair in KNOTS.windows(2) {
        let ((c0, s0), (c1, s1)) = (pair[0], pair[1]);
        if c <= c1 {
            return s0 + (c - c0) / (c1 - c0) * (s1 - s0);
        }
    }
    100.0
}

/// The cosine at which similarity reaches `similarity` (the inverse of [`from_cosine`]).
pub fn cosine_at(similarity: f32) -> f32 {
    let s = similarity.clamp(0.0, 100.0);
    for pair in KNOTS.windows(2) {
        let ((c0, s0), (c1, s1)) = (pair[0], pair[1]);
        if s <= s1 {
            return c0 + (s - s0) / (s1 - s0) * (c1 - c0);
        }
    }
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_monotone_and_inverted_by_cosine_at() {
        let mut last = -1.0;
        for i in 0..=200 {
            let c = -1.0 + i as f32 / 100.0;
            let s = from_cosine(c);
            assert!(s >= last && (0.0..=100.0).contains(&s));
            last = s;
            assert!((cosine_at(s) - c).abs() < 1e-4, "{c} → {s} → {}", cosine_at(s));
        }
    }
}
