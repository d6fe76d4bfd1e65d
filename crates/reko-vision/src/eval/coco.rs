//! Object detection on the COCO val2017 development images (`gt_boxes_abs.json`): VOC-style average
//! precision at IoU 0.5 per class present (all points of the precision envelope), its mean, and the
//! image-level recall and precision of class labels above a confidence.

use std::path::{Path, PathBuf};

use reko_inference::boxes::BBox;

/// One image and its boxes (class index into the detector's 80 COCO classes).
#[derive(Debug, Clone)]
pub struct CocoImage {
    pub path: PathBuf,
    pub objects: Vec<(usize, BBox)>,
}

/// Loads `gt_boxes_abs.json`; `class_of` maps a COCO class name to the detector's index.
pub fn load(dir: &Path, class_of: impl Fn(&str) -> Option<usize>) -> Result<Vec<CocoImage>, String> {
    let text = std::fs::read_to_string(dir.join("gt_boxes_abs.json")).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut images = Vec::new();
    for image in json["images"].as_array().ok_or("no images")? {
        let path = dir.join("images").join(image["file"].as_str().ok_or("no file")?);
        if !path.exists() {
            continue;
        }
        let mut objects = Vec::new();
        for object in image["objects"].as_array().into_iter().flatten() {
            let name = object["class"].as_str().unwrap_or_default();
            let b: Vec<f32> = object["bbox_xywh"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_f64())
                .map(|v| v as f32)
                .collect();
            let class = class_of(name).ok_or_else(|| format!("unknown class {name}"))?;
            objects.push((class, BBox { x1: b[0], y1: b[1], x2: b[0] + b[2], y2: b[1] + b[3] }));
        }
        images.push(CocoImage { path, objects });
    }
    Ok(images)
}

/// Whether each of an image's detections (class, score, box) is right: it overlaps an object of its class
/// with IoU 0.5 or more that no better-scored detection has taken (greedily by score, as in
/// [`average_precision`]).
pub fn matches(image: &CocoImage, detections: &[(usize, f32, BBox)]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..detections.len()).collect();
    order.sort_by(|&a, &b| detections[b].1.total_cmp(&detections[a].1));
    let mut taken = vec![false; image.objects.len()];
    let mut right = vec![false; detections.len()];
    for d in order {
        let (class, _, bbox) = detections[d];
        let best = image
            .objects
            .iter()
            .enumerate()
            .filter(|(k, o)| o.0 == class && !taken[*k])
            .map(|(k, o)| (k, bbox.iou(&o.1)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((k, _)) = best.filter(|b| b.1 >= 0.5) {
            taken[k] = true;
            right[d] = true;
        }
    }
    right
}

/// Per-class AP at IoU 0.5 over the classes present in the ground truth: `predictions[i]` holds image
/// `i`'s (class, score, box). Returns (class, AP, ground-truth count) sorted by class.
pub fn average_precision(images: &[CocoImage], predictions: &[Vec<(usize, f32, BBox)>]) -> Vec<(usize, f64, usize)> {
    let mut classes: Vec<usize> = images.iter().flat_map(|i| i.objects.iter().map(|o| o.0)).collect();
    classes.sort_unstable();
    classes.dedup();
    classes
        .into_iter()
        .map(|class| {
            let total = images.iter().map(|i| i.objects.iter().filter(|o| o.0 == class).count()).sum::<usize>();
            let mut scored: Vec<(f32, usize, BBox)> = predictions
                .iter()
                .enumerate()
                .flat_map(|(i, p)| p.iter().filter(|d| d.0 == class).map(move |d| (d.1, i, d.2)))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut taken: Vec<Vec<bool>> = images.iter().map(|i| vec![false; i.objects.len()]).collect();
            let (mut tp, mut fp) = (0usize, 0usize);
            let mut curve = Vec::with_capacity(scored.len());
            for (_, i, bbox) in scored {
                let best = images[i]
                    .objects
                    .iter()
                    .enumerate()
                    .filter(|(k, o)| o.0 == class && !taken[i][*k])
                    .map(|(k, o)| (k, bbox.iou(&o.1)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                match best {
                    Some((k, iou)) if iou >= 0.5 => {
                        taken[i][k] = true;
                        tp += 1;
                    }
                    _ => fp += 1,
                }
                curve.push((tp as f64 / total as f64, tp as f64 / (tp + fp) as f64));
            }
            // Area under the precision envelope.
            let mut ap = 0.0;
            let mut previous_recall = 0.0;
            for (at, &(recall, _)) in curve.iter().enumerate() {
                let envelope = curve[at..].iter().map(|c| c.1).fold(0.0, f64::max);
                ap += (recall - previous_recall) * envelope;
                previous_recall = recall;
            }
            (class, ap, total)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_detector_scores_one_and_a_false_positive_first_halves_the_precision() {
        let b = |x: f32| BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 };
        let images = vec![CocoImage { path: PathBuf::new(), objects: vec![(0, b(0.0)), (0, b(50.0))] }];
        let perfect = vec![vec![(0, 0.9, b(0.0)), (0, 0.8, b(50.0))]];
        assert_eq!(average_precision(&images, &perfect), [(0, 1.0, 2)]);
        let noisy = vec![vec![(0, 0.95, b(200.0)), (0, 0.9, b(0.0)), (0, 0.8, b(50.0))]];
        let ap = average_precision(&images, &noisy)[0].1;
        assert_eq!(matches(&images[0], &noisy[0]), [false, true, true]);
        // Recall 0.5 at precision 1/2, recall 1 at precision 2/3: the envelope is 2/3 throughout.
        assert!((ap - 2.0 / 3.0).abs() < 1e-9, "{ap}");
    }
}
