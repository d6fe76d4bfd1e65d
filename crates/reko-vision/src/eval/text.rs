//! Text detection and recognition against ground-truth quadrilaterals with transcripts — SROIE receipts
//! (`img/NNN.jpg`, `box/NNN.csv`, one line per row) and ICDAR 2015 (`images/img_N.jpg`,
//! `gt/gt_img_N.txt`, one word per row, `###` for illegible text that is neither required nor penalised).
//!
//! Predictions match ground truth one to one, greedily by the IoU of their axis-aligned boxes (≥ 0.5).
//! Detection precision and recall count boxes; recognition compares the matched texts (exact, ignoring
//! case, ignoring case and spaces, and the character error rate = case-folded edit distance /
//! ground-truth length); end-to-end recall counts ground-truth items both found and read exactly.

use std::path::{Path, PathBuf};

use crate::text::geometry::{Quad, bounds};

/// One image and its ground truth.
#[derive(Debug, Clone)]
pub struct TextImage {
    pub path: PathBuf,
    pub truth: Vec<TruthItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TruthItem {
    pub quad: Quad,
    pub text: String,
    /// ICDAR's `###`: matching it is neither required nor a false positive.
    pub ignored: bool,
}

/// Loads a set laid out as SROIE or as ICDAR 2015 (see the module documentation).
pub fn load(dir: &Path) -> Result<Vec<TextImage>, String> {
    let (images, truth, truth_name): (&str, &str, fn(&str) -> String) = if dir.join("box").is_dir() {
        ("img", "box", |stem| format!("{stem}.csv"))
    } else {
        ("images", "gt", |stem| format!("gt_{stem}.txt"))
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(images))
        .map_err(|e| format!("{}: {e}", dir.join(images).display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let file = dir.join(truth).join(truth_name(stem));
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            Ok(TextImage { truth: parse_truth(&String::from_utf8_lossy(&bytes)), path })
        })
        .collect()
}

/// Rows of `x1,y1,…,x4,y4,transcript` (the transcript may itself hold commas).
pub fn parse_truth(text: &str) -> Vec<TruthItem> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .filter_map(|row| {
            let fields: Vec<&str> = row.trim_end_matches('\r').splitn(9, ',').collect();
            if fields.len() < 9 {
                return None;
            }
            let v: Vec<f32> = fields[..8].iter().filter_map(|f| f.trim().parse().ok()).collect();
            if v.len() < 8 {
                return None;
            }
            let text = fields[8].to_owned();
            Some(TruthItem {
                quad: [(v[0], v[1]), (v[2], v[3]), (v[4], v[5]), (v[6], v[7])],
                ignored: text == "###",
                text,
            })
        })
        .collect()
}

/// `image` turned `degrees` counter-clockwise about its centre on a canvas large enough to hold it (the
/// corners filled with `fill`), with its ground truth turned alike — for measuring rotated text.
pub fn rotated(
    image: &image::RgbImage,
    truth: &[TruthItem],
    degrees: f32,
    fill: [u8; 3],
) -> (image::RgbImage, Vec<TruthItem>) {
    let (sin, cos) = (-degrees).to_radians().sin_cos();
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (nw, nh) = ((w * cos.abs() + h * sin.abs() - 1e-3).ceil(), (w * sin.abs() + h * cos.abs() - 1e-3).ceil());
    // Forward: image point → canvas point (y grows downwards, so a negative angle turns it anticlockwise).
    let forward = |(x, y): (f32, f32)| {
        let (dx, dy) = (x - w / 2.0, y - h / 2.0);
        (dx * cos - dy * sin + nw / 2.0, dx * sin + dy * cos + nh / 2.0)
    };
    let mut out = image::RgbImage::from_pixel(nw as u32, nh as u32, image::Rgb(fill));
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (dx, dy) = (x as f32 - nw / 2.0, y as f32 - nh / 2.0);
        let (sx, sy) = (dx * cos + dy * sin + w / 2.0, -dx * sin + dy * cos + h / 2.0);
        if sx >= 0.0 && sy >= 0.0 && sx < w - 1.0 && sy < h - 1.0 {
            *pixel = crate::text::sample(image, sx, sy);
        }
    }
    let truth = truth.iter().map(|item| TruthItem { quad: item.quad.map(forward), ..item.clone() }).collect();
    (out, truth)
}

/// Totals over a run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TextScore {
    /// Ground-truth items that count (not `###`).
    pub truth: usize,
    /// Predictions, less those matched to `###` items.
    pub predicted: usize,
    pub matched: usize,
    /// Matched items read exactly, alike ignoring case, and alike ignoring case and spaces.
    pub exact: usize,
    pub uncased: usize,
    pub loose: usize,
    /// Edit distance (case-folded: SROIE's ground truth is upper case) and ground-truth characters over the
    /// matched items.
    pub edits: usize,
    pub characters: usize,
}

impl TextScore {
    pub fn precision(&self) -> f64 {
        self.matched as f64 / self.predicted.max(1) as f64
    }

    pub fn recall(&self) -> f64 {
        self.matched as f64 / self.truth.max(1) as f64
    }

    pub fn character_error_rate(&self) -> f64 {
        self.edits as f64 / self.characters.max(1) as f64
    }

    /// Ground-truth items found and read exactly.
    pub fn end_to_end_recall(&self) -> f64 {
        self.exact as f64 / self.truth.max(1) as f64
    }

    /// Adds one image: predictions as (quad, text).
    pub fn add(&mut self, truth: &[TruthItem], predictions: &[(Quad, String)]) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, item) in truth.iter().enumerate() {
            for (p, (quad, _)) in predictions.iter().enumerate() {
                let iou = bounds(&item.quad).iou(&bounds(quad));
                if iou >= 0.5 {
                    pairs.push((iou, t, p));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut truth_used, mut predicted_used) = (vec![false; truth.len()], vec![false; predictions.len()]);
        let mut ignored_predictions = 0;
        for (_, t, p) in pairs {
            if truth_used[t] || predicted_used[p] {
                continue;
            }
            truth_used[t] = true;
            predicted_used[p] = true;
            let item = &truth[t];
            if item.ignored {
                ignored_predictions += 1;
                continue;
            }
            self.matched += 1;
            let read = &predictions[p].1;
            self.exact += usize::from(*read == item.text);
            let squash =
                |s: &str| s.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect::<String>();
            self.loose += usize::from(squash(read) == squash(&item.text));
            self.uncased += usize::from(read.to_lowercase() == item.text.to_lowercase());
            self.edits += edit_distance(&read.to_lowercase(), &item.text.to_lowercase());
            self.characters += item.text.chars().count();
        }
        self.truth += truth.iter().filter(|t| !t.ignored).count();
        self.predicted += predictions.len() - ignored_predictions;
    }
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f32, y: f32, side: f32) -> Quad {
        [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]
    }

    #[test]
    fn ground_truth_rows_keep_commas_and_mark_illegible_text() {
        let rows = "\u{feff}1,2,3,2,3,4,1,4,NO.53 55,57 & 59\r\n5,5,6,5,6,6,5,6,###\r\nbad row\n";
        let items = parse_truth(rows);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text, "NO.53 55,57 & 59");
        assert_eq!(items[0].quad[2], (3.0, 4.0));
        assert!(items[1].ignored && !items[0].ignored);
    }

    #[test]
    fn rotation_turns_pixels_and_truth_alike() {
        let mut image = image::RgbImage::from_pixel(40, 20, image::Rgb([255, 255, 255]));
        image.put_pixel(30, 5, image::Rgb([0, 0, 0]));
        let item = TruthItem { quad: square(30.0, 5.0, 0.0), text: "x".into(), ignored: false };
        let (turned, truth) = rotated(&image, &[item], 90.0, [255, 255, 255]);
        assert_eq!(turned.dimensions(), (20, 40));
        // A quarter turn anticlockwise takes (30, 5) of a 40 × 20 image to (5, 40 - 30) = (5, 10).
        let (x, y) = truth[0].quad[0];
        assert!((x - 5.0).abs() < 1e-3 && (y - 10.0).abs() < 1e-3, "{:?}", truth[0].quad);
        assert!(turned.get_pixel(5, 10)[0] < 128);
    }

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("TOTAL", "TOTAL"), 0);
    }

    #[test]
    fn scores_match_one_to_one_and_ignore_illegible_items() {
        let truth = vec![
            TruthItem { quad: square(0.0, 0.0, 10.0), text: "TOTAL".into(), ignored: false },
            TruthItem { quad: square(50.0, 0.0, 10.0), text: "9.00".into(), ignored: false },
            TruthItem { quad: square(100.0, 0.0, 10.0), text: "###".into(), ignored: true },
        ];
        let predictions = vec![
            (square(1.0, 0.0, 10.0), "Total".to_owned()),
            (square(0.0, 1.0, 10.0), "TOTAL".to_owned()),
            (square(100.0, 0.0, 10.0), "x".to_owned()),
            (square(200.0, 0.0, 10.0), "noise".to_owned()),
        ];
        let mut score = TextScore::default();
        score.add(&truth, &predictions);
        assert_eq!((score.truth, score.predicted, score.matched), (2, 3, 1));
        // The better-overlapping prediction wins the match; it reads "Total" or "TOTAL".
        assert_eq!(score.loose, 1);
        assert_eq!(score.characters, 5);
        assert!((score.recall() - 0.5).abs() < 1e-9 && (score.precision() - 1.0 / 3.0).abs() < 1e-9);
    }
}
