//! WIDER FACE average precision (IoU 0.5, easy/medium/hard), following the official evaluation
//! (`widerface_evaluate`): scores normalised over the whole run, faces outside a level ignored rather
//! than counted as misses, 1,000 thresholds, VOC-style area under the precision envelope.

use std::path::{Path, PathBuf};

use reko_inference::boxes::BBox;

/// One image of the set with its ground truth.
#[derive(Debug, Clone)]
pub struct WiderImage {
    /// Relative to the set's `images/` folder, e.g. `0--Parade/0_Parade_Parade_0_102.jpg`.
    pub name: String,
    pub path: PathBuf,
    /// Ground-truth boxes (x1, y1, x2 = x + w, y2 = y + h).
    pub faces: Vec<BBox>,
    /// Indices of `faces` that count at each level (easy, medium, hard).
    pub levels: [Vec<usize>; 3],
    /// Each face's occlusion label: 0 none, 1 partial (1–30% of the face), 2 heavy (more).
    pub occlusion: Vec<u8>,
    /// Each face's `invalid` flag (the annotators could not label it reliably).
    pub invalid: Vec<bool>,
}

pub const LEVELS: [&str; 3] = ["easy", "medium", "hard"];

/// Loads the images present under `dir/images` with their boxes and level indices.
pub fn load(dir: &Path) -> Result<Vec<WiderImage>, String> {
    let text = std::fs::read_to_string(dir.join("wider_face_val_bbx_gt_subset.txt")).map_err(|e| e.to_string())?;
    let levels: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("easy_medium_hard_indices_subset.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let mut images = Vec::new();
    while let Some(name) = lines.next() {
        let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or("bad count line")?;
        let (mut faces, mut occlusion, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
        // The format writes one dummy row for images without faces.
        for _ in 0..count.max(1) {
            let v: Vec<f32> =
                lines.next().ok_or("truncated")?.split_whitespace().filter_map(|t| t.parse().ok()).collect();
            if count > 0 {
                faces.push(BBox { x1: v[0], y1: v[1], x2: v[0] + v[2], y2: v[1] + v[3] });
                // x1 y1 w h blur expression illumination invalid occlusion pose
                invalid.push(v.get(7).is_some_and(|&f| f != 0.0));
                occlusion.push(v.get(8).map_or(0, |&o| o as u8));
            }
        }
        let path = dir.join("images").join(name);
        if !path.exists() {
            continue;
        }
        let level = |key: &str| -> Vec<usize> {
            levels[name][key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_u64()).map(|v| v as usize).collect())
                .unwrap_or_default()
        };
        images.push(WiderImage {
            name: name.to_owned(),
            path,
            faces,
            levels: [level("easy_idx"), level("medium_idx"), level("hard_idx")],
            occlusion,
            invalid,
        });
    }
    Ok(images)
}

/// IoU with the official +1 pixel convention.
fn overlap(a: &BBox, b: &BBox) -> f32 {
    let iw = a.x2.min(b.x2) - a.x1.max(b.x1) + 1.0;
    let ih = a.y2.min(b.y2) - a.y1.max(b.y1) + 1.0;
    if iw <= 0.0 || ih <= 0.0 {
        return 0.0;
    }
    let area = |r: &BBox| (r.x2 - r.x1 + 1.0) * (r.y2 - r.y1 + 1.0);
    let inter = iw * ih;
    inter / (area(a) + area(b) - inter)
}

/// AP per level for `predictions[i]` = (box, score) on `images[i]`.
pub fn average_precision(images: &[WiderImage], predictions: &[Vec<(BBox, f32)>]) -> [f64; 3] {
    const THRESHOLDS: usize = 1000;
    let all: Vec<f32> = predictions.iter().flatten().map(|p| p.1).collect();
    let (lo, hi) = all.iter().fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
    let norm = |s: f32| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
    let mut result = [0.0; 3];
    for (level, ap) in result.iter_mut().enumerate() {
        let mut curve = vec![(0.0f64, 0.0f64); THRESHOLDS];
        let mut count_faces = 0usize;
        for (image, preds) in images.iter().zip(predictions) {
            let keep = &image.levels[level];
            count_faces += keep.len();
            if image.faces.is_empty() || preds.is_empty() {
                continue;
            }
            let mut preds: Vec<(BBox, f32)> = preds.iter().map(|&(b, s)| (b, norm(s))).collect();
            preds.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut counts = vec![false; image.faces.len()];
            for &k in keep {
                counts[k] = true;
            }
            let mut recalled = vec![0i8; image.faces.len()];
            let mut proposal = vec![true; preds.len()];
            let mut pred_recall = vec![0usize; preds.len()];
            for (h, (pbox, _)) in preds.iter().enumerate() {
                let (best, max) = image
                    .faces
                    .iter()
                    .enumerate()
                    .map(|(g, gbox)| (g, overlap(pbox, gbox)))
                    .fold((0, -1.0f32), |acc, x| if x.1 > acc.1 { x } else { acc });
                if max >= 0.5 {
                    if !counts[best] {
                        recalled[best] = -1;
                        proposal[h] = false;
                    } else if recalled[best] == 0 {
                        recalled[best] = 1;
                    }
                }
                pred_recall[h] = recalled.iter().filter(|&&r| r == 1).count();
            }
            for (t, point) in curve.iter_mut().enumerate() {
                let threshold = 1.0 - (t as f32 + 1.0) / THRESHOLDS as f32;
                if let Some(last) = preds.iter().rposition(|p| p.1 >= threshold) {
                    point.0 += proposal[..=last].iter().filter(|&&p| p).count() as f64;
                    point.1 += pred_recall[last] as f64;
                }
            }
        }
        let precision: Vec<f64> = curve.iter().map(|&(p, tp)| if p > 0.0 { tp / p } else { 0.0 }).collect();
        let recall: Vec<f64> = curve.iter().map(|&(_, tp)| tp / count_faces.max(1) as f64).collect();
        *ap = voc_ap(&recall, &precision);
    }
    result
}

fn voc_ap(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = vec![0.0];
    mrec.extend_from_slice(recall);
    mrec.push(1.0);
    let mut mpre = vec![0.0];
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    (0..mrec.len() - 1).filter(|&i| mrec[i + 1] != mrec[i]).map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1]).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(faces: Vec<BBox>, keep: Vec<usize>) -> WiderImage {
        let n = faces.len();
        WiderImage {
            name: "x".into(),
            path: PathBuf::new(),
            faces,
            levels: [keep.clone(), keep.clone(), keep],
            occlusion: vec![0; n],
            invalid: vec![false; n],
        }
    }

    #[test]
    fn perfect_detections_score_one_and_misses_lower_it() {
        let gt = vec![BBox { x1: 0.0, y1: 0.0, x2: 20.0, y2: 20.0 }, BBox { x1: 50.0, y1: 50.0, x2: 70.0, y2: 70.0 }];
        let images = vec![image(gt.clone(), vec![0, 1])];
        let perfect = vec![vec![(gt[0], 0.9), (gt[1], 0.8)]];
        assert!((average_precision(&images, &perfect)[0] - 1.0).abs() < 1e-9);
        let half = vec![vec![(gt[0], 0.9), (BBox { x1: 200.0, y1: 200.0, x2: 220.0, y2: 220.0 }, 0.5)]];
        let ap = average_precision(&images, &half)[0];
        assert!((ap - 0.5).abs() < 1e-9, "{ap}");
    }

    #[test]
    fn faces_outside_the_level_are_ignored_not_missed() {
        let gt = vec![BBox { x1: 0.0, y1: 0.0, x2: 20.0, y2: 20.0 }, BBox { x1: 50.0, y1: 50.0, x2: 52.0, y2: 52.0 }];
        let images = vec![image(gt.clone(), vec![0])];
        // Detecting the ignored face neither helps nor hurts; missing it is fine.
        let both = vec![vec![(gt[0], 0.9), (gt[1], 0.95)]];
        assert!((average_precision(&images, &both)[0] - 1.0).abs() < 1e-9);
        let one = vec![vec![(gt[0], 0.9)]];
        assert!((average_precision(&images, &one)[0] - 1.0).abs() < 1e-9);
    }
}
