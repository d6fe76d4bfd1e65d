//! Distance kernels: the dot product of two vectors (the cosine of unit vectors), in a vectorised form and
//! the scalar twin it must agree with.
//!
//! The vectorised kernel is safe Rust written so that the compiler emits SIMD for it: sixteen independent
//! accumulators (four 128-bit registers on the x86-64 baseline, two 256-bit ones where AVX is enabled)
//! hide the latency of the adds, and the fixed-width chunks drop the bounds checks. A plain
//! `iter().sum()` cannot be vectorised, because that would reassociate the floating-point additions.
//! `bench/src/bin/index_scale.rs --kernels` measures both.

/// Accumulator lanes of [`dot`].
const LANES: usize = 16;

/// The dot product of `a` and `b` (equal lengths; the shorter one decides otherwise).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    // Pairwise reduction, in the same shape whatever the target.
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc[0] + tail
}

/// The plain loop [`dot`] must agree with.
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(seed: u64, len: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn vectorised_dot_agrees_with_the_scalar_twin() {
        for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 128, 191, 192, 193, 512, 1000] {
            for seed in 0..20 {
                let (a, b) = (values(seed, len), values(seed + 1000, len));
                let (fast, plain) = (dot(&a, &b), dot_scalar(&a, &b));
                // Both sum the same products in different orders: allow a few ulps of the magnitudes summed.
                let magnitude: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
                let tolerance = 1e-5 * magnitude.max(f32::MIN_POSITIVE);
                assert!((fast - plain).abs() <= tolerance, "len {len} seed {seed}: {fast} vs {plain}");
            }
        }
    }

    #[test]
    fn dot_of_a_unit_vector_with_itself_is_one() {
        let v = values(7, 192);
        let norm = dot_scalar(&v, &v).sqrt();
        let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
        assert!((dot(&unit, &unit) - 1.0).abs() < 1e-5);
    }
}
