//! Fuzzes image decoding (`reko_inference::image::decode`) with arbitrary bytes and with small valid JPEG
//! (with and without an EXIF orientation) and PNG files, mutated: bit flips, byte writes, insertions,
//! deletions, truncations, repeated chunks, corrupted segment/chunk lengths and corrupted dimensions. Property:
//! no panic; an image within `MAX_SIDE` and `MAX_PIXELS`, or an `ImageError`. A longer campaign:
//! `REKO_FUZZ_CASES=100000 cargo test --profile fuzz -p reko-inference --test fuzz_images` (or `scripts/fuzz`);
//! the default is 256 cases per property.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use reko_inference::image::{ImageError, MAX_PIXELS, MAX_SIDE, decode};

/// Cases per property: `REKO_FUZZ_CASES`, 256 when unset.
fn cases() -> u32 {
    std::env::var("REKO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// `cases()` per property; failures are recorded (and replayed first) in the crate's
/// `proptest-regressions/fuzz_images.txt` (the default location needs a `lib.rs` beside the test).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz_images.txt"))),
        ..ProptestConfig::default()
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn pattern(width: u32, height: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8 ^ seed, (y * 3) as u8, (x ^ y) as u8].map(|v| v.wrapping_add(seed)))
    })
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// An APP1 EXIF segment (big- or little-endian TIFF) holding one Orientation entry.
fn exif_segment(orientation: u16, big_endian: bool) -> Vec<u8> {
    let u16b = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(if big_endian { b"MM" } else { b"II" });
    exif.extend_from_slice(&u16b(42));
    exif.extend_from_slice(&u32b(8)); // IFD 0 at 8
    exif.extend_from_slice(&u16b(1)); // one entry
    exif.extend_from_slice(&u16b(0x0112)); // Orientation
    exif.extend_from_slice(&u16b(3)); // SHORT
    exif.extend_from_slice(&u32b(1)); // count 1
    exif.extend_from_slice(&u16b(orientation));
    exif.extend_from_slice(&[0, 0]);
    exif.extend_from_slice(&u32b(0)); // no next IFD
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&exif);
    segment
}

/// A small valid image file and its decoded size (after orientation).
#[derive(Debug, Clone)]
struct Sample {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

fn sample() -> impl Strategy<Value = Sample> {
    (1u32..48, 1u32..48, any::<u8>(), 0u8..9, any::<bool>(), 0u8..6).prop_map(
        |(width, height, seed, orientation, big_endian, kind)| {
            let rgb = pattern(width, height, seed);
            let (bytes, swapped) = match kind {
                0 => (encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Jpeg), false),
                1 => {
                    // JPEG with EXIF: orientation 0 (invalid) is ignored; 5 to 8 swap the sides
                    let jpeg = encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Jpeg);
                    let mut bytes = jpeg[..2].to_vec();
                    bytes.extend_from_slice(&exif_segment(u16::from(orientation), big_endian));
                    bytes.extend_from_slice(&jpeg[2..]);
                    (bytes, orientation >= 5)
                }
                2 => (
                    encode(DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8()), ImageFormat::Jpeg),
                    false,
                ),
                3 => (encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Png), false),
                4 => {
                    (encode(DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb).to_rgba8()), ImageFormat::Png), false)
                }
                _ => (
                    encode(DynamicImage::ImageLuma16(DynamicImage::ImageRgb8(rgb).to_luma16()), ImageFormat::Png),
                    false,
                ),
            };
            let (width, height) = if swapped { (height, width) } else { (width, height) };
            Sample { bytes, width, height }
        },
    )
}

/// One mutation of a file.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// Copies a range of the file to another place (repeated segments or chunks).
    Repeat(Index, usize, Index),
    /// Sets the length field of the n-th JPEG segment or PNG chunk.
    Length(Index, LengthEdit),
    /// Sets the image's width and height in the JPEG frame header or the PNG IHDR (CRC fixed).
    Dimensions(u32, u32),
}

#[derive(Debug, Clone)]
enum LengthEdit {
    Set(u32),
    Add(i32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let dimension = prop_oneof![
        4 => 0u32..64,
        1 => Just(0u32),
        1 => select_u32(&[MAX_SIDE - 1, MAX_SIDE, MAX_SIDE + 1, 7072, 7071, 65535, u32::MAX, 1 << 31]),
        1 => any::<u32>(),
    ];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..64, any::<Index>()).prop_map(|(a, n, b)| Mutation::Repeat(a, n, b)),
        (
            any::<Index>(),
            prop_oneof![
                any::<u32>().prop_map(LengthEdit::Set),
                select_u32(&[0, 1, 2, 3, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF]).prop_map(LengthEdit::Set),
                (-8i32..8).prop_map(LengthEdit::Add),
            ]
        )
            .prop_map(|(i, e)| Mutation::Length(i, e)),
        (dimension.clone(), dimension).prop_map(|(w, h)| Mutation::Dimensions(w, h)),
    ]
}

fn select_u32(values: &[u32]) -> proptest::sample::Select<u32> {
    proptest::sample::select(values.to_vec())
}

/// Positions of the JPEG segments' length fields (up to the first scan) or the PNG chunks' length fields.
fn length_fields(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut fields = Vec::new();
    if bytes.starts_with(PNG_SIGNATURE) {
        let mut at = PNG_SIGNATURE.len();
        while at + 8 <= bytes.len() {
            fields.push((at, 4));
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at = at.saturating_add(12).saturating_add(len);
        }
    } else {
        let mut at = 2;
        while at + 4 <= bytes.len() && bytes[at] == 0xFF {
            let marker = bytes[at + 1];
            fields.push((at + 2, 2));
            if marker == 0xDA {
                break;
            }
            at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        }
    }
    fields
}

/// CRC-32 (ISO-HDLC), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn set_dimensions(bytes: &mut [u8], width: u32, height: u32) {
    if bytes.starts_with(PNG_SIGNATURE) {
        // IHDR is the first chunk: length, "IHDR", width, height, ..., CRC over type and data
        if bytes.len() >= 33 && &bytes[12..16] == b"IHDR" {
            bytes[16..20].copy_from_slice(&width.to_be_bytes());
            bytes[20..24].copy_from_slice(&height.to_be_bytes());
            let crc = crc32(&bytes[12..29]);
            bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        }
        return;
    }
    // the first start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC): FF Cx len P height width
    let mut at = 2;
    while at + 9 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            bytes[at + 5..at + 7].copy_from_slice(&(height as u16).to_be_bytes());
            bytes[at + 7..at + 9].copy_from_slice(&(width as u16).to_be_bytes());
            return;
        }
        if marker == 0xDA {
            return;
        }
        at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
    }
}

/// Recomputes the CRC of every whole PNG chunk, so that corrupt contents reach the decoder's later stages.
fn fix_png_crcs(bytes: &mut [u8]) {
    if !bytes.starts_with(PNG_SIGNATURE) {
        return;
    }
    let mut at = PNG_SIGNATURE.len();
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&end| end + 4 <= bytes.len()) else { return };
        let crc = crc32(&bytes[at + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::FlipBit(i, bit) => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::SetByte(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Mutation::Insert(i, b) => {
            let i = i.index(bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = i.index(bytes.len());
            bytes.drain(i..(i + n).min(bytes.len()));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Repeat(a, n, b) => {
            let a = a.index(bytes.len());
            let piece = bytes[a..(a + n).min(bytes.len())].to_vec();
            let b = b.index(bytes.len() + 1);
            bytes.splice(b..b, piece);
        }
        Mutation::Length(i, edit) => {
            let fields = length_fields(bytes);
            if fields.is_empty() {
                return;
            }
            let (at, width) = fields[i.index(fields.len())];
            if at + width > bytes.len() {
                return;
            }
            if width == 2 {
                let old = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
                let new = match edit {
                    LengthEdit::Set(v) => *v as u16,
                    LengthEdit::Add(d) => old.wrapping_add(*d as u16),
                };
                bytes[at..at + 2].copy_from_slice(&new.to_be_bytes());
            } else {
                let old = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
                let new = match edit {
                    LengthEdit::Set(v) => *v,
                    LengthEdit::Add(d) => old.wrapping_add(*d as u32),
                };
                bytes[at..at + 4].copy_from_slice(&new.to_be_bytes());
            }
        }
        Mutation::Dimensions(w, h) => set_dimensions(bytes, *w, *h),
    }
}

/// The property every input must satisfy.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode(bytes) {
        Ok(decoded) => {
            let (w, h) = decoded.rgb.dimensions();
            prop_assert!(w <= MAX_SIDE && h <= MAX_SIDE, "{w}x{h}");
            prop_assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS, "{w}x{h}");
            prop_assert!((1..=8).contains(&decoded.orientation), "orientation {}", decoded.orientation);
            prop_assert!(matches!(decoded.format, "JPEG" | "PNG"), "{}", decoded.format);
            prop_assert_eq!(decoded.rgb.as_raw().len(), w as usize * h as usize * 3);
        }
        Err(ImageError::TooManyPixels { width, height }) => {
            // the sizes reported are the ones claimed (0 where they could not be read)
            let _ = (width, height);
        }
        Err(ImageError::InvalidFormat(message)) => prop_assert!(!message.is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, bare or behind a JPEG or PNG signature (so that they reach the decoders).
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop_oneof![Just(Vec::new()), Just(vec![0xFF, 0xD8, 0xFF]), Just(PNG_SIGNATURE.to_vec())],
        rest in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        check(&[prefix, rest].concat())?;
    }

    /// Valid small images decode to their size (sides swapped by EXIF orientations 5 to 8).
    #[test]
    fn valid_images_decode(sample in sample()) {
        let decoded = decode(&sample.bytes);
        prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
        let decoded = decoded.unwrap();
        prop_assert_eq!(decoded.rgb.dimensions(), (sample.width, sample.height));
    }

    /// Valid images with one to three mutations (PNG chunk CRCs recomputed or not): an image within the limits
    /// or an error, never a panic.
    #[test]
    fn mutated_images_never_panic(
        sample in sample(),
        mutations in prop::collection::vec(mutation(), 1..4),
        fix_crcs in any::<bool>(),
    ) {
        let mut bytes = sample.bytes;
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        if fix_crcs {
            fix_png_crcs(&mut bytes);
        }
        check(&bytes)?;
    }
}
