//! Text detection: PP-OCRv4's DB network gives a text probability map; its thresholded regions become
//! rotated boxes, scored, grown back to the text's full extent ("unclipped") and put in reading order —
//! RapidOCR's `DBPostProcess` settings (threshold 0.3, box score 0.5, unclip ratio 1.6, 2×2 dilation).

use std::time::Instant;

use image::RgbImage;
use reko_inference::preprocess::{ChannelOrder, Layout, resize_bilinear, to_tensor};
use reko_inference::{InferenceError, Runtime};

use super::geometry::{Quad, components, contains, min_area_rect, order_corners};

const MODEL: &str = "ppocr-det";
/// The shorter side is scaled up to this (RapidOCR's `limit_side_len` with `limit_type: min`)...
const MIN_SIDE: f32 = 736.0;
/// ...and the longer side kept within this (RapidOCR shrinks images above 2000 first)...
const MAX_SIDE: f32 = 2000.0;
/// ...and a small image enlarged at most this much (RapidOCR: without limit). Narrow scanned receipts
/// (460 px wide, enlarged 1.6 times by RapidOCR's rule) lose no line at 1.4 (SROIE dev: recall 0.894 at
/// 1.4 and at 1.6) and the detector's work drops by a quarter.
const MAX_ENLARGEMENT: f32 = 1.4;
const PIXEL_THRESHOLD: f32 = 0.3;
const BOX_THRESHOLD: f32 = 0.5;
const UNCLIP_RATIO: f32 = 1.6;
/// Boxes whose shorter side is below this (in map pixels) are noise; after unclipping, below this + 2.
const MIN_SIZE: f32 = 3.0;
const MAX_CANDIDATES: usize = 1000;
/// Boxes whose tops are closer than this (pixels) are on one line, ordered left to right.
const SAME_LINE: f32 = 10.0;

/// A text box in image pixels and its mean text probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    pub quad: Quad,
    pub score: f32,
}

/// The size the detector sees `width` × `height` at: scaled, then rounded to multiples of 32.
fn input_size(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (width as f32, height as f32);
    let mut ratio = if w.min(h) < MIN_SIDE { (MIN_SIDE / w.min(h)).min(MAX_ENLARGEMENT) } else { 1.0 };
    ratio = ratio.min(MAX_SIDE / w.max(h));
    let round = |v: f32| ((v * ratio / 32.0).round() as u32).max(1) * 32;
    (round(w), round(h))
}

/// The text boxes of `image`, in reading order.
pub fn detect(runtime: &Runtime, image: &RgbImage) -> Result<Vec<TextBox>, InferenceError> {
    detect_timed(runtime, image, &mut super::TextProfile::default())
}

/// [`detect`], adding its stages' times to `profile`.
pub(super) fn detect_timed(
    runtime: &Runtime,
    image: &RgbImage,
    profile: &mut super::TextProfile,
) -> Result<Vec<TextBox>, InferenceError> {
    let started = Instant::now();
    let session = runtime.session(MODEL)?;
    let (w, h) = input_size(image.width(), image.height());
    let resized = resize_bilinear(image, w, h);
    let tensor = to_tensor(&resized, Layout::Nchw, ChannelOrder::Bgr, session.normalization());
    profile.detect_prepare += started.elapsed();
    let started = Instant::now();
    // One run that cannot be split: on several threads when no other request needs them.
    let outputs = session.run_batch_wide(std::slice::from_ref(&tensor))?;
    profile.detect_model += started.elapsed();
    let started = Instant::now();
    let map = &outputs[0].1;
    let (mh, mw) = (map.shape()[2], map.shape()[3]);
    let probabilities: Vec<f32> = map.iter().copied().collect();
    let scale = (image.width() as f32 / mw as f32, image.height() as f32 / mh as f32);
    let mut boxes = boxes_from_map(&probabilities, mw, mh);
    for found in &mut boxes {
        for point in &mut found.quad {
            point.0 = (point.0 * scale.0).round().clamp(0.0, image.width() as f32);
            point.1 = (point.1 * scale.1).round().clamp(0.0, image.height() as f32);
        }
    }
    let boxes = reading_order(boxes);
    profile.detect_boxes += started.elapsed();
    Ok(boxes)
}

/// DB post-processing of a `width` × `height` probability map: boxes in map pixels.
pub fn boxes_from_map(probabilities: &[f32], width: usize, height: usize) -> Vec<TextBox> {
    // Threshold, then dilate with a 2 × 2 kernel anchored at its centre (each pixel takes the maximum of
    // itself and its up/left neighbours), as OpenCV's `dilate` does.
    let above: Vec<bool> = probabilities.iter().map(|&p| p > PIXEL_THRESHOLD).collect();
    let mut mask = above.clone();
    for y in 0..height {
        for x in 0..width {
            if above[y * width + x] {
                continue;
            }
            let neighbour = |dx: usize, dy: usize| x >= dx && y >= dy && above[(y - dy) * width + x - dx];
            mask[y * width + x] = neighbour(1, 0) || neighbour(0, 1) || neighbour(1, 1);
        }
    }
    let mut boxes = Vec::new();
    for points in components(&mask, width, height).into_iter().take(MAX_CANDIDATES) {
        let rect = min_area_rect(&points);
        if rect.short_side() < MIN_SIZE {
            continue;
        }
        let quad = order_corners(rect.corners());
        let score = mean_inside(probabilities, width, height, &quad);
        if score < BOX_THRESHOLD {
            continue;
        }
        // DB shrank each text region by area × (1 - 0.4²) / perimeter when training; grow it back.
        let area = rect.length * rect.breadth;
        let perimeter = 2.0 * (rect.length + rect.breadth);
        let grown = rect.grown(area * UNCLIP_RATIO / perimeter);
        if grown.short_side() < MIN_SIZE + 2.0 {
            continue;
        }
        boxes.push(TextBox { quad: order_corners(grown.corners()), score });
    }
    boxes
}

/// The mean probability over the pixels inside `quad` (RapidOCR's "fast" box score).
fn mean_inside(probabilities: &[f32], width: usize, height: usize, quad: &Quad) -> f32 {
    let clampx = |v: f32| (v.max(0.0) as usize).min(width - 1);
    let clampy = |v: f32| (v.max(0.0) as usize).min(height - 1);
    let x0 = clampx(quad.iter().map(|p| p.0).fold(f32::MAX, f32::min).floor());
    let x1 = clampx(quad.iter().map(|p| p.0).fold(f32::MIN, f32::max).ceil());
    let y0 = clampy(quad.iter().map(|p| p.1).fold(f32::MAX, f32::min).floor());
    let y1 = clampy(quad.iter().map(|p| p.1).fold(f32::MIN, f32::max).ceil());
    let (mut sum, mut count) = (0.0f64, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if contains(quad, (x as f32, y as f32)) {
                sum += f64::from(probabilities[y * width + x]);
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { (sum / count as f64) as f32 }
}

/// Top to bottom by the top-left corner; boxes whose tops are within [`SAME_LINE`] left to right.
fn reading_order(mut boxes: Vec<TextBox>) -> Vec<TextBox> {
    boxes.sort_by(|a, b| a.quad[0].1.total_cmp(&b.quad[0].1).then(a.quad[0].0.total_cmp(&b.quad[0].0)));
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (next, current) = (boxes[j + 1].quad[0], boxes[j].quad[0]);
            if (next.1 - current.1).abs() < SAME_LINE && next.0 < current.0 {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sizes_follow_rapidocr_but_enlarge_less() {
        // Small images are scaled up towards 736 on the short side, at most 1.4 times (a receipt);
        // full HD stays; long strips are capped.
        assert_eq!(input_size(463, 1000), (640, 1408));
        assert_eq!(input_size(1280, 720), (1312, 736));
        assert_eq!(input_size(1920, 1080), (1920, 1088));
        assert_eq!(input_size(4000, 300), (2016, 160));
    }

    #[test]
    fn a_text_blob_becomes_one_grown_box() {
        // A 40 × 6 band of probability 0.9 in a 64 × 32 map.
        let (width, height) = (64, 32);
        let mut map = vec![0.05f32; width * height];
        for y in 13..19 {
            for x in 10..50 {
                map[y * width + x] = 0.9;
            }
        }
        let boxes = boxes_from_map(&map, width, height);
        assert_eq!(boxes.len(), 1);
        let [tl, tr, br, bl] = boxes[0].quad;
        assert!(tl.0 < 10.0 && tl.1 < 13.0 && br.0 > 49.0 && br.1 > 18.0, "{:?}", boxes[0].quad);
        assert!((tr.1 - tl.1).abs() < 1e-3 && (bl.0 - tl.0).abs() < 1e-3, "axis-aligned: {:?}", boxes[0].quad);
        assert!(boxes[0].score > 0.8);
        // Faint regions are dropped.
        let faint: Vec<f32> = map.iter().map(|&p| if p > 0.5 { 0.4 } else { p }).collect();
        assert!(boxes_from_map(&faint, width, height).is_empty());
    }

    #[test]
    fn boxes_read_top_down_then_left_to_right() {
        let at =
            |x: f32, y: f32| TextBox { quad: [(x, y), (x + 5.0, y), (x + 5.0, y + 5.0), (x, y + 5.0)], score: 1.0 };
        let ordered = reading_order(vec![at(50.0, 3.0), at(0.0, 40.0), at(10.0, 0.0), at(0.0, 8.0)]);
        let tops: Vec<(f32, f32)> = ordered.iter().map(|b| b.quad[0]).collect();
        assert_eq!(tops, [(0.0, 8.0), (10.0, 0.0), (50.0, 3.0), (0.0, 40.0)]);
    }
}
