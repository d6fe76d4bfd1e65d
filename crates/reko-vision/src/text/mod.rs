//! Text: PP-OCRv4 detection (a DB probability map, cut into rotated boxes in [`detect`]), the PP-OCR
//! direction classifier (0° / 180°) and PP-OCRv4 recognition (CTC over the character set the model
//! carries), run as RapidOCR 1.4.4 runs them, plus word boxes from where each character's CTC step falls.
//! [`TextPipeline::read`] returns lines in reading order, each with its words.

pub mod detect;
pub mod geometry;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use image::RgbImage;
use ndarray::Array4;
use reko_inference::preprocess::{ChannelOrder, Layout, Normalization, resize_bilinear, to_tensor};
use reko_inference::{InferenceError, Runtime, parallel};

use geometry::{Point, Quad, distance, lerp};

const CLASSIFIER: &str = "ppocr-cls";
const RECOGNIZER: &str = "ppocr-rec";

/// Recognition input height, and the narrowest width a crop is padded to. RapidOCR pads batches of 6 to
/// at least 320 (3 × 48 × 320); one crop a run at its own width reads the same (SROIE dev receipts:
/// line recall 0.894 against 0.895, character error rate 0.062 against 0.061) in half the time.
const REC_HEIGHT: u32 = 48;
const REC_MIN_WIDTH: u32 = 48;
/// Classifier input: 48 high, padded to 192 wide; a crop is turned when "180°" scores above this.
const CLS_WIDTH: u32 = 192;
const CLS_THRESHOLD: f32 = 0.9;
/// Lines recognised with a lower mean character probability are dropped (RapidOCR's `text_score`).
const MIN_LINE_SCORE: f32 = 0.5;
/// Characters further apart than this (in line heights), and than [`WORD_GAP_TO_MEDIAN`] times the
/// line's median gap, are two words even where the recogniser, which drops about half the spaces of Latin
/// text, read none. On 40 SROIE receipts this finds 79% of the missing spaces (the recogniser's own: 53%)
/// and adds 60 false ones among 11,855 gaps within words.
const WORD_GAP: f32 = 0.5;
const WORD_GAP_TO_MEDIAN: f32 = 1.5;
/// Crops this much taller than wide are read as vertical text, turned a quarter.
const VERTICAL_RATIO: f32 = 1.5;

/// A recognised word: its text, mean character probability (0..1) and box in image pixels (corners
/// clockwise from the top-left of the text as read).
#[derive(Debug, Clone, PartialEq)]
pub struct TextWord {
    pub text: String,
    pub confidence: f32,
    pub polygon: Quad,
}

/// A recognised line with its words.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    pub confidence: f32,
    pub polygon: Quad,
    pub words: Vec<TextWord>,
}

/// Where one reading's time went, stage by stage (wall-clock; the classifier's and the recogniser's
/// batches run on several threads at once).
#[derive(Debug, Clone, Default)]
pub struct TextProfile {
    /// Resizing the image for the detector and making its tensor.
    pub detect_prepare: Duration,
    pub detect_model: Duration,
    /// The probability map's boxes, scored, grown and ordered.
    pub detect_boxes: Duration,
    /// Cutting each box out of the image.
    pub cut: Duration,
    /// The direction classifier, its tensors included.
    pub classify: Duration,
    /// The recogniser, its tensors and CTC decoding included.
    pub recognize: Duration,
    /// Lines cut out, and recogniser runs.
    pub crops: usize,
    pub recognizer_runs: usize,
}

impl std::ops::AddAssign<&TextProfile> for TextProfile {
    fn add_assign(&mut self, other: &TextProfile) {
        self.detect_prepare += other.detect_prepare;
        self.detect_model += other.detect_model;
        self.detect_boxes += other.detect_boxes;
        self.cut += other.cut;
        self.classify += other.classify;
        self.recognize += other.recognize;
        self.crops += other.crops;
        self.recognizer_runs += other.recognizer_runs;
    }
}

/// The text pipeline; the recogniser's character set is read from the model once.
#[derive(Debug, Default)]
pub struct TextPipeline {
    characters: OnceLock<Vec<String>>,
}

/// A crop ready for recognition, and how its pixels map back to the line's quad.
struct Crop {
    image: RgbImage,
    /// The line's box in the image, corners as found by the detector.
    quad: Quad,
    /// Quarter turns (counter-clockwise) applied to the crop after cutting it out: 0, 1, 2 or 3.
    turns: u8,
}

impl Crop {
    /// Maps a point of the crop as recognised (`s` across, `t` down, both 0..1) onto the image.
    fn to_image(&self, s: f32, t: f32) -> Point {
        // Undo the turns: a counter-clockwise quarter turn maps the cut-out's (u, v) to (v, 1 - u).
        let (mut u, mut v) = (s, t);
        for _ in 0..self.turns {
            (u, v) = (1.0 - v, u);
        }
        let [tl, tr, br, bl] = self.quad;
        lerp(lerp(tl, tr, u), lerp(bl, br, u), v)
    }

    /// The crop's region `s0..s1` (across) as an image quad, clockwise from the top-left as read.
    fn span(&self, s0: f32, s1: f32) -> Quad {
        [self.to_image(s0, 0.0), self.to_image(s1, 0.0), self.to_image(s1, 1.0), self.to_image(s0, 1.0)]
    }
}

impl TextPipeline {
    /// Every line of text in `image`, in reading order (top to bottom, then left to right).
    pub fn read(&self, runtime: &Runtime, image: &RgbImage) -> Result<Vec<TextLine>, InferenceError> {
        self.read_timed(runtime, image, &mut TextProfile::default())
    }

    /// [`TextPipeline::read`], adding its stages' times to `profile`.
    pub fn read_timed(
        &self,
        runtime: &Runtime,
        image: &RgbImage,
        profile: &mut TextProfile,
    ) -> Result<Vec<TextLine>, InferenceError> {
        let boxes = detect::detect_timed(runtime, image, profile)?;
        let started = Instant::now();
        let mut crops: Vec<Crop> = boxes.into_iter().filter_map(|found| cut(image, found.quad)).collect();
        profile.cut += started.elapsed();
        profile.crops += crops.len();
        let started = Instant::now();
        self.orient(runtime, &mut crops)?;
        profile.classify += started.elapsed();
        let started = Instant::now();
        let read = self.recognize(runtime, &crops, profile)?;
        profile.recognize += started.elapsed();
        Ok(crops
            .iter()
            .zip(read)
            .filter_map(|(crop, decoded)| {
                let decoded = decoded?;
                (decoded.confidence >= MIN_LINE_SCORE).then(|| line(crop, decoded))
            })
            .collect())
    }

    /// Turns the crops the classifier reads as upside down.
    fn orient(&self, runtime: &Runtime, crops: &mut [Crop]) -> Result<(), InferenceError> {
        let session = runtime.session(CLASSIFIER)?;
        let norm = session.normalization();
        // One crop a run (the fastest per crop here), on several threads.
        let tensors: Vec<Array4<f32>> =
            crops.iter().map(|c| padded_tensor(&c.image, CLS_WIDTH, CLS_WIDTH, norm)).collect();
        let turned_flags: Vec<bool> = session
            .run_each(&tensors)?
            .iter()
            .map(|outputs| {
                let probabilities = &outputs[0].1;
                probabilities[[0, 1]] > probabilities[[0, 0]] && probabilities[[0, 1]] > CLS_THRESHOLD
            })
            .collect();
        for (crop, turn) in crops.iter_mut().zip(turned_flags) {
            if turn {
                crop.image = image::imageops::rotate180(&crop.image);
                crop.turns = (crop.turns + 2) % 4;
            }
        }
        Ok(())
    }

    fn characters(&self, runtime: &Runtime) -> Result<&[String], InferenceError> {
        if let Some(characters) = self.characters.get() {
            return Ok(characters);
        }
        let session = runtime.session(RECOGNIZER)?;
        let listed = session.custom_metadata("character")?.ok_or_else(|| InferenceError::Ort {
            model: RECOGNIZER.into(),
            message: "the model carries no `character` metadata".into(),
        })?;
        // CTC blank first, then the model's characters, then the space RapidOCR appends.
        let characters = std::iter::once(String::new())
            .chain(listed.lines().map(str::to_owned))
            .chain(std::iter::once(" ".to_owned()))
            .collect();
        Ok(self.characters.get_or_init(|| characters))
    }

    /// Reads each crop; `None` where nothing was read.
    fn recognize(
        &self,
        runtime: &Runtime,
        crops: &[Crop],
        profile: &mut TextProfile,
    ) -> Result<Vec<Option<Decoded>>, InferenceError> {
        let characters = self.characters(runtime)?;
        let session = runtime.session(RECOGNIZER)?;
        let norm = session.normalization();
        let ratio = |c: &Crop| c.image.width() as f32 / c.image.height() as f32;
        // One crop a run, at its own width: batches (RapidOCR's are of 6, padded to the widest) spend
        // their time on padding. The widest first, so that the threads finish together.
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by(|&a, &b| ratio(&crops[b]).total_cmp(&ratio(&crops[a])));
        profile.recognizer_runs += order.len();
        let read = parallel::map(&order, runtime.parallelism(), |&i| -> Result<Option<Decoded>, InferenceError> {
            let crop = &crops[i].image;
            let width = ((REC_HEIGHT as f32 * ratio(&crops[i])) as u32).max(REC_MIN_WIDTH);
            let outputs = session.run_batch(&[padded_tensor(crop, width, width, norm)])?;
            let probabilities = &outputs[0].1;
            let (steps, classes) = (probabilities.shape()[1], probabilities.shape()[2]);
            let filled = rec_width(crop, width) as f32;
            let step_width = width as f32 / steps as f32 / filled;
            let steps: Vec<(usize, f32)> = (0..steps)
                .map(|t| {
                    (0..classes).fold((0, f32::MIN), |best, c| {
                        let p = probabilities[[0, t, c]];
                        if p > best.1 { (c, p) } else { best }
                    })
                })
                .collect();
            Ok(decode(&steps, characters, step_width)
                .map(|decoded| Decoded { height: REC_HEIGHT as f32 / filled, ..decoded }))
        });
        let mut results: Vec<Option<Decoded>> = (0..crops.len()).map(|_| None).collect();
        for (&i, decoded) in order.iter().zip(read) {
            results[i] = decoded?;
        }
        Ok(results)
    }
}

/// A CTC reading: the characters kept, each with its probability and span across the crop (0..1).
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    characters: Vec<(String, f32, f32, f32)>,
    confidence: f32,
    /// The line's height in the same units as the spans (crop widths).
    height: f32,
}

/// Greedy CTC decoding of per-step (class, probability): repeats merged, blanks dropped. Each kept
/// character spans from its first step to the end of its last.
fn decode(steps: &[(usize, f32)], characters: &[String], step_width: f32) -> Option<Decoded> {
    let mut kept: Vec<(String, f32, f32, f32)> = Vec::new();
    let mut previous = 0;
    for (t, &(class, probability)) in steps.iter().enumerate() {
        let end = ((t + 1) as f32 * step_width).min(1.0);
        if class != 0 && class == previous {
            if let Some(last) = kept.last_mut() {
                last.3 = end;
            }
        } else if class != 0 {
            let text = characters.get(class).cloned().unwrap_or_default();
            kept.push((text, probability, (t as f32 * step_width).min(1.0), end));
        }
        previous = class;
    }
    if kept.iter().all(|(text, ..)| text.trim().is_empty()) {
        return None;
    }
    let confidence = kept.iter().map(|c| c.1).sum::<f32>() / kept.len() as f32;
    Some(Decoded { characters: kept, confidence, height: f32::INFINITY })
}

/// A line from its crop and reading: words are the runs of non-space characters.
fn line(crop: &Crop, decoded: Decoded) -> TextLine {
    let mut words = Vec::new();
    let mut current: Vec<&(String, f32, f32, f32)> = Vec::new();
    let mut flush = |current: &mut Vec<&(String, f32, f32, f32)>| {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            words.push(TextWord {
                text: current.iter().map(|c| c.0.as_str()).collect(),
                confidence: current.iter().map(|c| c.1).sum::<f32>() / current.len() as f32,
                polygon: crop.span(first.2, last.3),
            });
        }
        current.clear();
    };
    // The gap a word break needs: wider than half the line's height and than 1.5 times the line's median
    // gap between characters (gaps are counted in CTC steps, a sixth of the height each).
    let gaps: Vec<f32> = decoded
        .characters
        .windows(2)
        .filter(|pair| !pair[0].0.trim().is_empty() && !pair[1].0.trim().is_empty())
        .map(|pair| pair[1].2 - pair[0].3)
        .collect();
    let word_gap = (WORD_GAP * decoded.height).max(WORD_GAP_TO_MEDIAN * median(gaps));
    for character in &decoded.characters {
        if character.0.trim().is_empty() {
            flush(&mut current);
        } else {
            if current.last().is_some_and(|last| character.2 - last.3 > word_gap) {
                flush(&mut current);
            }
            current.push(character);
        }
    }
    flush(&mut current);
    let text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
    TextLine { text, confidence: decoded.confidence, polygon: crop.span(0.0, 1.0), words }
}

fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// Cuts the quad out of the image (bilinear, edges replicated), upright as PP-OCR cuts it: as wide as its
/// longer top/bottom edge, as high as its longer side, turned a quarter when much taller than wide.
fn cut(image: &RgbImage, quad: Quad) -> Option<Crop> {
    let [tl, tr, br, bl] = quad;
    let width = distance(tl, tr).max(distance(bl, br)) as u32;
    let height = distance(tl, bl).max(distance(tr, br)) as u32;
    if width == 0 || height == 0 {
        return None;
    }
    let mut out = RgbImage::new(width, height);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let (sx, sy) = lerp(lerp(tl, tr, u), lerp(bl, br, u), v);
        *pixel = sample(image, sx, sy);
    }
    if height as f32 / width as f32 >= VERTICAL_RATIO {
        return Some(Crop { image: image::imageops::rotate270(&out), quad, turns: 1 });
    }
    Some(Crop { image: out, quad, turns: 0 })
}

/// Bilinear sample at (x, y), clamped to the image.
pub(crate) fn sample(image: &RgbImage, x: f32, y: f32) -> image::Rgb<u8> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (x, y) = (x.clamp(0.0, w - 1.0), y.clamp(0.0, h - 1.0));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let (x1, y1) = ((x0 + 1).min(image.width() - 1), (y0 + 1).min(image.height() - 1));
    let (a, b, c, d) =
        (image.get_pixel(x0, y0), image.get_pixel(x1, y0), image.get_pixel(x0, y1), image.get_pixel(x1, y1));
    image::Rgb(std::array::from_fn(|k| {
        let top = f32::from(a[k]) * (1.0 - fx) + f32::from(b[k]) * fx;
        let bottom = f32::from(c[k]) * (1.0 - fx) + f32::from(d[k]) * fx;
        (top * (1.0 - fy) + bottom * fy).round() as u8
    }))
}

/// The width a crop is resized to at the recognition height, at most `max_width`.
fn rec_width(crop: &RgbImage, max_width: u32) -> u32 {
    let ratio = crop.width() as f32 / crop.height() as f32;
    ((REC_HEIGHT as f32 * ratio).ceil() as u32).clamp(1, max_width)
}

/// A crop resized to 48 high (at most `max_width` wide), normalised, then padded with zeros to `width`.
fn padded_tensor(crop: &RgbImage, max_width: u32, width: u32, norm: Normalization) -> Array4<f32> {
    let resized = resize_bilinear(crop, rec_width(crop, max_width), REC_HEIGHT);
    let tensor = to_tensor(&resized, Layout::Nchw, ChannelOrder::Bgr, norm);
    let mut padded = Array4::<f32>::zeros((1, 3, REC_HEIGHT as usize, width as usize));
    padded.slice_axis_mut(ndarray::Axis(3), ndarray::Slice::from(..resized.width() as usize)).assign(&tensor);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn characters() -> Vec<String> {
        ["", "A", "B", "C", " "].map(String::from).to_vec()
    }

    #[test]
    fn ctc_merges_repeats_drops_blanks_and_keeps_spans() {
        // A A _ B _ B (space) C C: repeats merge, but not across a blank.
        let steps = [(1, 0.9), (1, 0.7), (0, 0.99), (2, 0.8), (0, 0.9), (2, 0.6), (4, 0.9), (3, 0.5), (3, 0.5)];
        let decoded = decode(&steps, &characters(), 0.1).unwrap();
        let text: String = decoded.characters.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(text, "ABB C");
        let a = &decoded.characters[0];
        assert_eq!((a.1, a.2, a.3), (0.9, 0.0, 0.2));
        let c = &decoded.characters[4];
        assert!((c.2 - 0.7).abs() < 1e-6 && (c.3 - 0.9).abs() < 1e-6);
        assert!((decoded.confidence - (0.9 + 0.8 + 0.6 + 0.9 + 0.5) / 5.0).abs() < 1e-6);
        assert_eq!(decode(&[(0, 0.9), (4, 0.8)], &characters(), 0.1), None);
    }

    #[test]
    fn words_split_on_spaces_and_map_back_through_the_turns() {
        let crop = Crop {
            image: RgbImage::new(10, 100),
            // A vertical box 10 wide, 100 tall, read top to bottom after a quarter turn.
            quad: [(0.0, 0.0), (10.0, 0.0), (10.0, 100.0), (0.0, 100.0)],
            turns: 1,
        };
        let decoded = Decoded {
            characters: vec![
                ("A".into(), 0.9, 0.0, 0.2),
                (" ".into(), 0.9, 0.2, 0.3),
                ("B".into(), 0.7, 0.3, 0.5),
                ("C".into(), 0.5, 0.5, 0.6),
            ],
            confidence: 0.75,
            height: 1.0,
        };
        let line = line(&crop, decoded);
        assert_eq!(line.text, "A BC");
        assert_eq!(line.words.len(), 2);
        assert_eq!(line.words[1].text, "BC");
        assert!((line.words[1].confidence - 0.6).abs() < 1e-6);
        // A counter-clockwise quarter turn puts the box's top row at the crop's left: "A" is the top fifth.
        let ys: Vec<f32> = line.words[0].polygon.iter().map(|p| p.1).collect();
        assert!(ys.iter().all(|&y| y <= 20.0 + 1e-3), "{:?}", line.words[0].polygon);
        let ys: Vec<f32> = line.words[1].polygon.iter().map(|p| p.1).collect();
        assert!(ys.iter().all(|&y| (30.0 - 1e-3..=60.0 + 1e-3).contains(&y)), "{:?}", line.words[1].polygon);
        // Read left to right, the word's first corner is where the text starts: at the box's top right.
        assert!(distance(line.words[0].polygon[0], (10.0, 0.0)) < 1e-3, "{:?}", line.words[0].polygon);
    }
}
