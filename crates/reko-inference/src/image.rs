//! Image decoding for every operation: JPEG and PNG only (as Rekognition), EXIF orientation applied,
//! and a pixel budget so that a small file cannot decode into gigabytes (decompression bombs).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// The most pixels reko decodes (about 50 megapixels, e.g. 8660 × 5773).
pub const MAX_PIXELS: u64 = 50_000_000;
/// The longest side reko decodes.
pub const MAX_SIDE: u32 = 16_384;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Not JPEG or PNG, or not decodable (truncated, corrupt).
    #[error("{0}")]
    InvalidFormat(String),
    /// Decodes to more pixels than the budget allows.
    #[error("image is {width}x{height} pixels; reko decodes at most {MAX_PIXELS} pixels and {MAX_SIDE} per side")]
    TooManyPixels { width: u32, height: u32 },
}

/// A decoded image in RGB, upright.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub rgb: RgbImage,
    /// The EXIF orientation that was applied (1 = none).
    pub orientation: u8,
    pub format: &'static str,
}

/// Decodes JPEG or PNG bytes, applying the EXIF orientation.
pub fn decode(bytes: &[u8]) -> Result<Decoded, ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::InvalidFormat(e.to_string()))?;
    let format = match reader.format() {
        Some(ImageFormat::Jpeg) => "JPEG",
        Some(ImageFormat::Png) => "PNG",
        _ => {
            return Err(ImageError::InvalidFormat(
                "Request has unsupported image format: only JPEG and PNG are supported".into(),
            ));
        }
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    let mut reader = reader;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| classify(e, bytes))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels { width, height });
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, bytes))?;
    image.apply_orientation(orientation);
    Ok(Decoded { rgb: image.into_rgb8(), orientation: orientation_code(orientation), format })
}

fn classify(err: image::ImageError, bytes: &[u8]) -> ImageError {
    match err {
        image::ImageError::Limits(_) => {
            let (width, height) = ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .unwrap_or((0, 0));
            ImageError::TooManyPixels { width, height }
        }
        other => ImageError::InvalidFormat(format!("Request has invalid image format: {other}")),
    }
}

fn orientation_code(orientation: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match orientation {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn decodes_png_and_rejects_other_formats_and_garbage() {
        let decoded = decode(&png(5, 3)).unwrap();
        assert_eq!((decoded.rgb.width(), decoded.rgb.height(), decoded.format), (5, 3, "PNG"));
        assert_eq!(decoded.rgb.get_pixel(4, 2).0, [4, 2, 7]);
        assert!(matches!(decode(b"GIF89a......"), Err(ImageError::InvalidFormat(_))));
        assert!(matches!(decode(b"hello"), Err(ImageError::InvalidFormat(_))));
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(decode(&truncated), Err(ImageError::InvalidFormat(_))));
    }

    #[test]
    fn refuses_decompression_bombs_before_allocating() {
        // A valid PNG header claiming 20000 x 20000 pixels, with no pixel data behind it.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        assert!(matches!(decode(&bomb), Err(ImageError::TooManyPixels { .. }) | Err(ImageError::InvalidFormat(_))));
        let mut wide = png(1, 1);
        wide[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        wide[20..24].copy_from_slice(&10_000u32.to_be_bytes());
        assert!(decode(&wide).is_err());
    }

    #[test]
    fn applies_exif_orientation() {
        // A 2x1 JPEG with an EXIF APP1 segment saying "rotate 90° clockwise" (orientation 6).
        let image =
            RgbImage::from_fn(40, 20, |x, _| if x < 20 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) });
        let mut jpeg = Vec::new();
        image.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
        let exif: Vec<u8> = [
            b"Exif\0\0".as_slice(),
            b"MM\0\x2a\0\0\0\x08",                 // big-endian TIFF header, IFD at 8
            b"\0\x01",                             // one entry
            b"\x01\x12\0\x03\0\0\0\x01\0\x06\0\0", // Orientation, SHORT, 1, value 6
            b"\0\0\0\0",                           // no next IFD
        ]
        .concat();
        let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
        with_exif.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        with_exif.extend_from_slice(&exif);
        with_exif.extend_from_slice(&jpeg[2..]);
        let decoded = decode(&with_exif).unwrap();
        assert_eq!(decoded.orientation, 6);
        assert_eq!((decoded.rgb.width(), decoded.rgb.height()), (20, 40));
        // Rotated clockwise: the left (red) half is now on top.
        let top = decoded.rgb.get_pixel(10, 5).0;
        assert!(top[0] > 200 && top[2] < 60, "{top:?}");
    }
}
