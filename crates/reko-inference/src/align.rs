//! Face alignment: the least-squares similarity transform (rotation, uniform scale, translation) that
//! maps detected landmarks onto a template, and the bilinear warp that produces the aligned crop.

use image::RgbImage;

/// x' = a·x − b·y + tx, y' = b·x + a·y + ty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty)
    }

    pub fn inverse(&self) -> Similarity {
        let det = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / det, -self.b / det);
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    /// Scale factor of the transform.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Rotation in degrees.
    pub fn rotation_degrees(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }
}

/// The similarity transform minimising Σ|T(src) − dst|² (Umeyama, without reflection).
pub fn estimate_similarity(src: &[(f32, f32)], dst: &[(f32, f32)]) -> Similarity {
    assert!(src.len() == dst.len() && src.len() >= 2, "need at least two point pairs");
    let n = src.len() as f64;
    let mean = |pts: &[(f32, f32)]| {
        let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(ax, ay), &(x, y)| (ax + f64::from(x), ay + f64::from(y)));
        (sx / n, sy / n)
    };
    let (mx, my) = mean(src);
    let (nx, ny) = mean(dst);
    let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
    for (&(x, y), &(u, v)) in src.iter().zip(dst) {
        let (x, y) = (f64::from(x) - mx, f64::from(y) - my);
        let (u, v) = (f64::from(u) - nx, f64::from(v) - ny);
        dot += x * u + y * v;
        cross += x * v - y * u;
        norm += x * x + y * y;
    }
    let (a, b) = if norm == 0.0 { (1.0, 0.0) } else { (dot / norm, cross / norm) };
    Similarity { a: a as f32, b: b as f32, tx: (nx - (a * mx - b * my)) as f32, ty: (ny - (b * mx + a * my)) as f32 }
}

/// Warps `image` by `to_output` (image → output coordinates) into a `width` × `height` crop, sampling
/// bilinearly; pixels from outside the image are black.
pub fn warp(image: &RgbImage, to_output: &Similarity, width: u32, height: u32) -> RgbImage {
    let back = to_output.inverse();
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let (src, stride) = (image.as_raw(), image.width() as usize * 3);
    // A source pixel's three channels, black outside the image.
    let sample = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let at = y as usize * stride + x as usize * 3;
        [f32::from(src[at]), f32::from(src[at + 1]), f32::from(src[at + 2])]
    };
    let mut out = vec![0u8; width as usize * height as usize * 3];
    for (i, pixel) in out.chunks_exact_mut(3).enumerate() {
        let (ox, oy) = ((i % width as usize) as f32, (i / width as usize) as f32);
        let (sx, sy) = back.apply(ox, oy);
        let (x0, y0) = (floor(sx), floor(sy));
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let (a, b, c, d) = (sample(x0, y0), sample(x0 + 1, y0), sample(x0, y0 + 1), sample(x0 + 1, y0 + 1));
        for (ch, out) in pixel.iter_mut().enumerate() {
            let top = a[ch] * (1.0 - fx) + b[ch] * fx;
            let bottom = c[ch] * (1.0 - fx) + d[ch] * fx;
            *out = crate::preprocess::round_to_u8(top * (1.0 - fy) + bottom * fy);
        }
    }
    RgbImage::from_raw(width, height, out).expect("the buffer fits the image")
}

/// `v.floor() as i64` without `floor`, a library call on the baseline x86-64 target (exact for |v| < 2²³).
#[inline]
fn floor(v: f32) -> i64 {
    let t = v as i64;
    if (t as f32) > v { t - 1 } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// The warp as first written (pixel by pixel through `get_pixel`): the faster one must match it.
    fn warp_reference(image: &RgbImage, to_output: &Similarity, width: u32, height: u32) -> RgbImage {
        let back = to_output.inverse();
        let (w, h) = (image.width() as i64, image.height() as i64);
        let sample = |x: i64, y: i64, ch: usize| -> f32 {
            if x < 0 || y < 0 || x >= w || y >= h { 0.0 } else { f32::from(image.get_pixel(x as u32, y as u32).0[ch]) }
        };
        RgbImage::from_fn(width, height, |ox, oy| {
            let (sx, sy) = back.apply(ox as f32, oy as f32);
            let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let mut pixel = [0u8; 3];
            for (ch, out) in pixel.iter_mut().enumerate() {
                let top = sample(x0, y0, ch) * (1.0 - fx) + sample(x0 + 1, y0, ch) * fx;
                let bottom = sample(x0, y0 + 1, ch) * (1.0 - fx) + sample(x0 + 1, y0 + 1, ch) * fx;
                *out = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
            Rgb(pixel)
        })
    }

    #[test]
    fn warp_matches_the_pixel_by_pixel_reference() {
        let image =
            RgbImage::from_fn(60, 45, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, ((x * 7 + y * 3) % 256) as u8]));
        for transform in [
            Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 },
            Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -4.0 },
            Similarity { a: 2.5, b: -0.7, tx: -40.0, ty: 10.5 },
            Similarity { a: 0.4, b: 0.1, tx: 30.0, ty: 30.0 },
        ] {
            assert_eq!(warp(&image, &transform, 112, 96), warp_reference(&image, &transform, 112, 96), "{transform:?}");
        }
    }

    #[test]
    fn recovers_a_known_transform_and_inverts_it() {
        let truth = Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -4.0 };
        let src = [(10.0, 20.0), (40.0, 22.0), (25.0, 35.0), (14.0, 50.0), (37.0, 52.0)];
        let dst: Vec<(f32, f32)> = src.iter().map(|&(x, y)| truth.apply(x, y)).collect();
        let found = estimate_similarity(&src, &dst);
        for (got, want) in [(found.a, truth.a), (found.b, truth.b), (found.tx, truth.tx), (found.ty, truth.ty)] {
            assert!((got - want).abs() < 1e-4, "{found:?}");
        }
        let (x, y) = found.inverse().apply(found.apply(3.0, 7.0).0, found.apply(3.0, 7.0).1);
        assert!((x - 3.0).abs() < 1e-4 && (y - 7.0).abs() < 1e-4);
        assert!((truth.scale() - (0.73f32).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn warp_by_a_translation_moves_pixels() {
        let image = RgbImage::from_fn(8, 8, |x, y| Rgb([(x * 10) as u8, (y * 10) as u8, 0]));
        let shift = Similarity { a: 1.0, b: 0.0, tx: -2.0, ty: -3.0 };
        let out = warp(&image, &shift, 4, 4);
        assert_eq!(out.get_pixel(0, 0).0, [20, 30, 0]);
        assert_eq!(out.get_pixel(3, 3).0, [50, 60, 0]);
    }
}
