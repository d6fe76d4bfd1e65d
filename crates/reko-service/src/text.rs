//! DetectText over the text pipeline: Rekognition's LINE and WORD detections with their ids, its word
//! filter (confidence 80 by default, box height and width) and regions of interest, and its limit of 100
//! words an image.

use reko_vision::text::TextLine;
use reko_vision::text::geometry::{Point, Quad, bounds, contains, lerp};

use crate::faces::decoded;
use crate::{Service, ServiceError};

/// reko's text model version (1.0: PP-OCRv4 detection and recognition from RapidOCR 1.4.4).
pub const TEXT_MODEL_VERSION: &str = "1.0";
/// DetectText returns at most this many words (and the lines holding them).
pub const MAX_WORDS: usize = 100;
/// `WordFilter.MinConfidence` when the request gives none, as on Rekognition.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 80.0;

/// DetectText's `Filters`, coordinates as ratios of the image.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextFilters {
    /// 0..100.
    pub min_confidence: f32,
    pub min_height: f32,
    pub min_width: f32,
    /// Polygons (a `BoundingBox` region as its four corners); empty: the whole image.
    pub regions: Vec<Vec<Point>>,
}

impl Default for TextFilters {
    fn default() -> Self {
        TextFilters { min_confidence: DEFAULT_MIN_CONFIDENCE, min_height: 0.0, min_width: 0.0, regions: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Line,
    Word,
}

/// One `TextDetection`: coordinates as ratios of the image, confidence 0..100.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedText {
    pub kind: TextKind,
    pub text: String,
    pub id: u32,
    pub parent_id: Option<u32>,
    pub confidence: f32,
    pub polygon: Quad,
}

impl DetectedText {
    /// The axis-aligned box around the polygon: (left, top, width, height).
    pub fn bounding_box(&self) -> (f32, f32, f32, f32) {
        let b = bounds(&self.polygon);
        (b.x1, b.y1, b.width(), b.height())
    }
}

impl Service {
    /// DetectText: lines in reading order (ids 0..), then their words (ids after the lines', each with
    /// its line's id as `ParentId`).
    pub fn detect_text(&self, image: &[u8], filters: &TextFilters) -> Result<Vec<DetectedText>, ServiceError> {
        self.text_of(&decoded(image)?, filters)
    }

    /// The text of a decoded image.
    pub(crate) fn text_of(
        &self,
        rgb: &image::RgbImage,
        filters: &TextFilters,
    ) -> Result<Vec<DetectedText>, ServiceError> {
        let vision = self.vision()?;
        let lines = vision.text.read(&vision.runtime, rgb)?;
        Ok(detections(&lines, rgb.width() as f32, rgb.height() as f32, filters))
    }
}

/// Rekognition's detections from the pipeline's lines (in pixels of a `width` × `height` image).
fn detections(lines: &[TextLine], width: f32, height: f32, filters: &TextFilters) -> Vec<DetectedText> {
    let relative = |quad: &Quad| quad.map(|(x, y)| (x / width, y / height));
    let mut kept_lines: Vec<(&TextLine, Vec<DetectedText>)> = Vec::new();
    let mut words_left = MAX_WORDS;
    for line in lines {
        let words: Vec<DetectedText> = line
            .words
            .iter()
            .map(|word| DetectedText {
                kind: TextKind::Word,
                text: word.text.clone(),
                id: 0,
                parent_id: None,
                confidence: (word.confidence * 100.0).clamp(0.0, 100.0),
                polygon: relative(&word.polygon),
            })
            .filter(|word| passes(word, filters))
            .take(words_left)
            .collect();
        if words.is_empty() {
            continue;
        }
        words_left -= words.len();
        kept_lines.push((line, words));
        if words_left == 0 {
            break;
        }
    }
    let mut out: Vec<DetectedText> = kept_lines
        .iter()
        .enumerate()
        .map(|(id, (line, _))| DetectedText {
            kind: TextKind::Line,
            text: line.text.clone(),
            id: id as u32,
            parent_id: None,
            confidence: (line.confidence * 100.0).clamp(0.0, 100.0),
            polygon: relative(&line.polygon),
        })
        .collect();
    let mut next_id = out.len() as u32;
    for (parent, (_, words)) in kept_lines.into_iter().enumerate() {
        for word in words {
            out.push(DetectedText { id: next_id, parent_id: Some(parent as u32), ..word });
            next_id += 1;
        }
    }
    out
}

/// Whether a word passes the word filter and lies more than half inside one of the regions.
fn passes(word: &DetectedText, filters: &TextFilters) -> bool {
    let (_, _, w, h) = word.bounding_box();
    if word.confidence < filters.min_confidence || h < filters.min_height || w < filters.min_width {
        return false;
    }
    filters.regions.is_empty() || filters.regions.iter().any(|region| inside_fraction(&word.polygon, region) > 0.5)
}

/// The share of `quad` inside `region`, sampled on a 10 × 10 grid over the quad.
fn inside_fraction(quad: &Quad, region: &[Point]) -> f32 {
    const N: usize = 10;
    let [tl, tr, br, bl] = *quad;
    let mut inside = 0;
    for i in 0..N {
        for j in 0..N {
            let (u, v) = ((i as f32 + 0.5) / N as f32, (j as f32 + 0.5) / N as f32);
            inside += usize::from(contains(region, lerp(lerp(tl, tr, u), lerp(bl, br, u), v)));
        }
    }
    inside as f32 / (N * N) as f32
}

#[cfg(test)]
mod tests {
    use reko_vision::text::TextWord;

    use super::*;

    fn rect(x: f32, y: f32, w: f32, h: f32) -> Quad {
        [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    }

    fn line(y: f32, words: &[(&str, f32, f32)]) -> TextLine {
        let words: Vec<TextWord> = words
            .iter()
            .map(|&(text, x, confidence)| TextWord { text: text.into(), confidence, polygon: rect(x, y, 40.0, 10.0) })
            .collect();
        TextLine {
            text: words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "),
            confidence: 0.9,
            polygon: rect(0.0, y, 200.0, 10.0),
            words,
        }
    }

    #[test]
    fn lines_come_first_then_words_with_their_parents() {
        let lines = [line(0.0, &[("HELLO", 0.0, 0.99), ("WORLD", 50.0, 0.95)]), line(20.0, &[("BYE", 0.0, 0.9)])];
        let found = detections(&lines, 200.0, 100.0, &TextFilters::default());
        let summary: Vec<(TextKind, &str, u32, Option<u32>)> =
            found.iter().map(|d| (d.kind, d.text.as_str(), d.id, d.parent_id)).collect();
        assert_eq!(
            summary,
            [
                (TextKind::Line, "HELLO WORLD", 0, None),
                (TextKind::Line, "BYE", 1, None),
                (TextKind::Word, "HELLO", 2, Some(0)),
                (TextKind::Word, "WORLD", 3, Some(0)),
                (TextKind::Word, "BYE", 4, Some(1)),
            ]
        );
        let (left, top, width, height) = found[3].bounding_box();
        assert!((left - 0.25).abs() < 1e-6 && top == 0.0 && (width - 0.2).abs() < 1e-6 && (height - 0.1).abs() < 1e-6);
        assert!((found[2].confidence - 99.0).abs() < 1e-3);
    }

    #[test]
    fn the_word_filter_and_regions_drop_words_and_empty_lines() {
        let lines = [line(0.0, &[("HELLO", 0.0, 0.99), ("world", 50.0, 0.7)]), line(50.0, &[("BYE", 0.0, 0.9)])];
        // Default confidence 80 drops "world".
        let found = detections(&lines, 200.0, 100.0, &TextFilters::default());
        assert!(found.iter().all(|d| d.text != "world"));
        // A region over the top-left quarter keeps only HELLO and its line.
        let region = vec![(0.0, 0.0), (0.5, 0.0), (0.5, 0.3), (0.0, 0.3)];
        let filters = TextFilters { min_confidence: 0.0, regions: vec![region], ..Default::default() };
        let texts: Vec<String> = detections(&lines, 200.0, 100.0, &filters).into_iter().map(|d| d.text).collect();
        assert_eq!(texts, ["HELLO world", "HELLO", "world"]);
        // Words narrower than a quarter of the image go.
        let filters = TextFilters { min_confidence: 0.0, min_width: 0.25, ..Default::default() };
        assert!(detections(&lines, 200.0, 100.0, &filters).is_empty());
    }

    #[test]
    fn at_most_a_hundred_words() {
        let many: Vec<TextLine> = (0..30)
            .map(|i| line(i as f32 * 20.0, &[("A", 0.0, 0.9), ("B", 50.0, 0.9), ("C", 100.0, 0.9), ("D", 150.0, 0.9)]))
            .collect();
        let found = detections(&many, 200.0, 1000.0, &TextFilters::default());
        assert_eq!(found.iter().filter(|d| d.kind == TextKind::Word).count(), MAX_WORDS);
        assert_eq!(found.iter().filter(|d| d.kind == TextKind::Line).count(), 25);
    }
}
