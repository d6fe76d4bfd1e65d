//! Face image quality from pixels: brightness (mean luma) and sharpness (variance of the Laplacian of
//! the face crop at a fixed size), both on 0–100 where higher is brighter or sharper.

use image::RgbImage;

/// Side of the grey crop both measures are taken on, so that they do not depend on the face's size.
pub const QUALITY_SIZE: u32 = 96;

/// Laplacian variance at which sharpness reads 50.
const SHARPNESS_HALF: f32 = 150.0;

/// (brightness, sharpness) of an RGB face crop.
pub fn measure(face: &RgbImage) -> (f32, f32) {
    let crop = reko_inference::preprocess::resize_bilinear(face, QUALITY_SIZE, QUALITY_SIZE);
    let luma = luma(&crop);
    let brightness = luma.iter().sum::<f32>() / luma.len() as f32 / 255.0 * 100.0;
    (brightness, sharpness(&luma, QUALITY_SIZE as usize))
}

/// The luma (0–255) of each pixel, row by row.
pub(crate) fn luma(image: &RgbImage) -> Vec<f32> {
    image.pixels().map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).collect()
}

/// Sharpness 0–100 of a luma image `width` pixels wide: the variance of its Laplacian, mapped so that
/// [`SHARPNESS_HALF`] reads 50 (0 for images too small to have an inside).
pub(crate) fn sharpness(luma: &[f32], width: usize) -> f32 {
    sharpness_where(luma, width, |_, _| true)
}

/// [`sharpness`] over the pixels `(x, y)` for which `keep` holds (0 when none does).
pub(crate) fn sharpness_where(luma: &[f32], width: usize, keep: impl Fn(usize, usize) -> bool) -> f32 {
    let height = luma.len() / width.max(1);
    if width < 3 || height < 3 {
        return 0.0;
    }
    let mut laplacian = Vec::with_capacity((width - 2) * (height - 2));
    for y in 1..height - 1 {
        for x in (1..width - 1).filter(|&x| keep(x, y)) {
            let c = luma[y * width + x];
            laplacian.push(
                luma[(y - 1) * width + x]
                    + luma[(y + 1) * width + x]
                    + luma[y * width + x - 1]
                    + luma[y * width + x + 1]
                    - 4.0 * c,
            );
        }
    }
    if laplacian.is_empty() {
        return 0.0;
    }
    let mean = laplacian.iter().sum::<f32>() / laplacian.len() as f32;
    let variance = laplacian.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / laplacian.len() as f32;
    100.0 * variance / (variance + SHARPNESS_HALF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brightness_and_sharpness_order_images_as_expected() {
        let flat_dark = RgbImage::from_pixel(50, 50, image::Rgb([20, 20, 20]));
        let flat_bright = RgbImage::from_pixel(50, 50, image::Rgb([230, 230, 230]));
        let checker = RgbImage::from_fn(96, 96, |x, y| {
            if (x / 2 + y / 2) % 2 == 0 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) }
        });
        let (b_dark, s_flat) = measure(&flat_dark);
        let (b_bright, _) = measure(&flat_bright);
        let (_, s_checker) = measure(&checker);
        assert!(b_dark < 10.0 && b_bright > 85.0);
        assert!(s_flat < 1.0 && s_checker > 90.0, "{s_flat} {s_checker}");
    }
}
