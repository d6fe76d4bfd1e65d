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
    if format == "JPEG" && !jpeg_is_complete(bytes) {
        return Err(ImageError::InvalidFormat(
            "Request has invalid image format: the JPEG data ends before its end-of-image marker (truncated)".into(),
        ));
    }
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

/// Whether JPEG bytes run to their end-of-image marker. The decoder fills a truncated scan in (with
/// grey), and Rekognition refuses such an image, so reko checks: the segments before the first scan are
/// skipped by their lengths (an EXIF thumbnail's own end marker lies inside one), then the end marker must
/// follow (entropy-coded data never holds `FF D9`: a data `FF` is followed by `00`).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2;
    loop {
        while bytes.get(i) == Some(&0xFF) && bytes.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else { return false };
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            i += 2;
            continue;
        }
        if marker == 0xD9 {
            return true;
        }
        let (Some(&high), Some(&low)) = (bytes.get(i + 2), bytes.get(i + 3)) else { return false };
        i += 2 + usize::from(u16::from_be_bytes([high, low]));
        if marker == 0xDA {
            break;
        }
    }
    bytes.get(i..).is_some_and(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]))
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

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7) as u8, (y * 3) as u8, (x ^ y) as u8]));
        let mut out = Vec::new();
        image.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg).unwrap();
        out
    }

    #[test]
    fn truncated_images_are_invalid() {
        let whole = jpeg(320, 240);
        assert!(decode(&whole).is_ok());
        // Bytes after the end marker (some cameras append data) are fine.
        assert!(decode(&[whole.as_slice(), b"trailer"].concat()).is_ok());
        for cut in [whole.len() / 2, whole.len() - 2, whole.len() - 1, 700] {
            let refused = decode(&whole[..cut]);
            assert!(
                matches!(&refused, Err(ImageError::InvalidFormat(m)) if m.contains("truncated")),
                "{cut}: {:?}",
                refused.as_ref().map(|d| d.rgb.dimensions())
            );
        }
        let whole = png(320, 240);
        for cut in [whole.len() / 2, whole.len() - 12] {
            assert!(matches!(decode(&whole[..cut]), Err(ImageError::InvalidFormat(_))), "PNG cut at {cut}");
        }
    }

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
