//! Moderation: NudeNet 3.4.2's YOLOv8n detector (18 classes of exposed and covered body parts and faces),
//! decoded as the NudeNet package decodes it, and mapped onto the part of Rekognition's moderation taxonomy
//! it can honestly support: explicit nudity, non-explicit nudity (an exposed male nipple) and swimwear or
//! underwear. Violence, drugs, alcohol, gestures, gambling, hate symbols and the rest are never reported:
//! no model here detects them.

use std::time::{Duration, Instant};

use image::RgbImage;
use ndarray::Array4;
use reko_inference::boxes::{BBox, nms};
use reko_inference::preprocess::{ChannelOrder, Layout, Normalization, Placement, resize_canvas_corner, to_tensor};
use reko_inference::{InferenceError, Runtime};

const MODEL: &str = "nudenet-320n";
/// NudeNet's own thresholds: boxes from 0.25 (its NMS call's score threshold), overlapping boxes
/// (IoU > 0.45) merged.
const CANDIDATE_SCORE: f32 = 0.25;
const NMS_IOU: f32 = 0.45;

/// NudeNet's classes, in its output order.
pub const CLASSES: [&str; 18] = [
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
];

/// One NudeNet detection in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyPart {
    pub class: &'static str,
    pub score: f32,
    pub bbox: BBox,
}

/// A Rekognition moderation label: its name, its parent's (empty at the top level), its level (1-3) and
/// confidence 0..1.
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationLabel {
    pub name: &'static str,
    pub parent: &'static str,
    pub level: u8,
    pub confidence: f32,
}

/// The taxonomy path (level 1, level 2, level 3 or "") a NudeNet class stands for; `None` for the classes
/// with no moderation meaning (faces, feet, belly, armpits) or too vague a one (covered buttocks, anus and
/// breasts: any clothed person).
pub fn taxonomy(class: &str) -> Option<[&'static str; 3]> {
    const EXPLICIT: [&str; 2] = ["Explicit", "Explicit Nudity"];
    const NON_EXPLICIT: [&str; 2] = ["Non-Explicit Nudity of Intimate parts and Kissing", "Non-Explicit Nudity"];
    Some(match class {
        "FEMALE_GENITALIA_EXPOSED" => [EXPLICIT[0], EXPLICIT[1], "Exposed Female Genitalia"],
        "MALE_GENITALIA_EXPOSED" => [EXPLICIT[0], EXPLICIT[1], "Exposed Male Genitalia"],
        "BUTTOCKS_EXPOSED" | "ANUS_EXPOSED" => [EXPLICIT[0], EXPLICIT[1], "Exposed Buttocks or Anus"],
        "FEMALE_BREAST_EXPOSED" => [EXPLICIT[0], EXPLICIT[1], "Exposed Female Nipple"],
        "MALE_BREAST_EXPOSED" => [NON_EXPLICIT[0], NON_EXPLICIT[1], "Exposed Male Nipple"],
        // Covered genitalia: underwear or swimwear bottoms. (NudeNet's covered female breast also fires on
        // clothed women — 59 to 85 on five ordinary portraits of deepface's test set — so it is not used.)
        "FEMALE_GENITALIA_COVERED" => ["Swimwear or Underwear", "Female Swimwear or Underwear", ""],
        _ => return None,
    })
}

/// Where one detection's time went.
#[derive(Debug, Clone, Default)]
pub struct ModerationProfile {
    /// Padding, resizing and the tensor.
    pub prepare: Duration,
    pub model: Duration,
    /// Decoding the output and NMS.
    pub boxes: Duration,
}

/// NudeNet's detections in `image`.
pub fn detect(runtime: &Runtime, image: &RgbImage) -> Result<Vec<BodyPart>, InferenceError> {
    detect_timed(runtime, image, &mut ModerationProfile::default())
}

/// [`detect`], adding its stages' times to `profile`.
pub fn detect_timed(
    runtime: &Runtime,
    image: &RgbImage,
    profile: &mut ModerationProfile,
) -> Result<Vec<BodyPart>, InferenceError> {
    let started = Instant::now();
    let session = runtime.session(MODEL)?;
    let spec = session.info.preprocessing.clone().ok_or_else(|| InferenceError::Ort {
        model: MODEL.into(),
        message: "no preprocessing in the manifest".into(),
    })?;
    let normalization = Normalization { mean: spec.mean, std: spec.std };
    let (tensor, placement) = prepare(image, spec.width, normalization);
    profile.prepare += started.elapsed();
    let started = Instant::now();
    let outputs = session.run_batch_wide(std::slice::from_ref(&tensor))?;
    profile.model += started.elapsed();
    let started = Instant::now();
    let output = &outputs[0].1;
    // (1, 4 + classes, anchors): centre x, centre y, width, height in input pixels, then class scores.
    let (rows, anchors) = (output.shape()[1], output.shape()[2]);
    let mut candidates = Vec::new();
    for a in 0..anchors {
        let (class, score) = (4..rows)
            .map(|r| (r - 4, output[[0, r, a]]))
            .fold((0, f32::MIN), |best, (c, s)| if s > best.1 { (c, s) } else { best });
        if score < CANDIDATE_SCORE || class >= CLASSES.len() {
            continue;
        }
        let (cx, cy, w, h) = (output[[0, 0, a]], output[[0, 1, a]], output[[0, 2, a]], output[[0, 3, a]]);
        let (x1, y1) = placement.to_image(cx - w / 2.0, cy - h / 2.0);
        let (x2, y2) = placement.to_image(cx + w / 2.0, cy + h / 2.0);
        let (iw, ih) = (image.width() as f32, image.height() as f32);
        let bbox = BBox { x1: x1.clamp(0.0, iw), y1: y1.clamp(0.0, ih), x2: x2.clamp(0.0, iw), y2: y2.clamp(0.0, ih) };
        candidates.push(BodyPart { class: CLASSES[class], score, bbox });
    }
    // Class-agnostic, as NudeNet's `cv2.dnn.NMSBoxes` call.
    let boxes: Vec<BBox> = candidates.iter().map(|c| c.bbox).collect();
    let scores: Vec<f32> = candidates.iter().map(|c| c.score).collect();
    let kept = nms(&boxes, &scores, NMS_IOU).into_iter().map(|i| candidates[i].clone()).collect();
    profile.boxes += started.elapsed();
    Ok(kept)
}

/// NudeNet's input: the photo padded with black at the bottom and right to a square, scaled to the
/// manifest's 320 × 320, as the `nudenet` package does it, but only as far as the next multiple of 32
/// (YOLOv8's largest stride) past the photo, since the network takes any such size: a 4:3 photo runs at
/// 320 × 256 and a 16:9 one at 320 × 192, the pixels of the square's top-left corner, as ultralytics' own
/// predictor pads (`LetterBox(auto=True)`). Measured on 2026-12-04 on the 64 COCO dev photos: 24 of the
/// square's 25 detections at 0.5 or more found at 0.5 or more (the other just below), none new, scores
/// within 0.012 on average (0.043 at most); NudeNet at two threads 12.2 → 10.2 ms (4:3) and 8.1 ms (16:9).
fn prepare(image: &RgbImage, out: u32, normalization: Normalization) -> (Array4<f32>, Placement) {
    let (w, h) = image.dimensions();
    let side = w.max(h);
    let scale = out as f32 / side as f32;
    // The columns and rows that reach the photo, rounded up to the stride.
    let extent = |v: u32| ((u64::from(v) * u64::from(out)).div_ceil(u64::from(side)) as u32).div_ceil(STRIDE) * STRIDE;
    let corner = (extent(w).min(out), extent(h).min(out));
    let resized = resize_canvas_corner(image, (side, side), (0, 0), (out, out), corner);
    let tensor = to_tensor(&resized, Layout::Nchw, ChannelOrder::Rgb, normalization);
    (tensor, Placement { scale_x: scale, scale_y: scale, pad_x: 0.0, pad_y: 0.0 })
}

/// YOLOv8's largest stride: the network's input sides are multiples of it.
const STRIDE: u32 = 32;

/// The moderation labels body parts stand for, each at the highest score among them, with every
/// ancestor of a label also listed (at its best descendant's confidence); highest confidence first, a
/// parent before its children at equal confidence.
pub fn labels(parts: &[BodyPart]) -> Vec<ModerationLabel> {
    let mut out: Vec<ModerationLabel> = Vec::new();
    for part in parts {
        let Some(path) = taxonomy(part.class) else { continue };
        for level in 0..3 {
            let name = path[level];
            if name.is_empty() {
                break;
            }
            let parent = if level == 0 { "" } else { path[level - 1] };
            match out.iter_mut().find(|l| l.name == name) {
                Some(label) => label.confidence = label.confidence.max(part.score),
                None => out.push(ModerationLabel { name, parent, level: level as u8 + 1, confidence: part.score }),
            }
        }
    }
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.level.cmp(&b.level)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_is_the_square_s_corner_that_reaches_the_photo() {
        let unit = Normalization { mean: [0.0; 3], std: [255.0; 3] };
        let photo = |w, h| RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
        for ((w, h), (tw, th)) in [
            ((640, 480), (320, 256)),
            ((1920, 1080), (320, 192)),
            ((480, 640), (256, 320)),
            ((640, 427), (320, 224)),
            ((500, 500), (320, 320)),
            ((10, 1000), (32, 320)),
            ((100, 60), (320, 192)),
        ] {
            let (tensor, placement) = prepare(&photo(w, h), 320, unit);
            assert_eq!(tensor.shape(), [1, 3, th as usize, tw as usize], "{w}x{h}");
            let scale = 320.0 / w.max(h) as f32;
            assert_eq!(placement, Placement { scale_x: scale, scale_y: scale, pad_x: 0.0, pad_y: 0.0 });
            // The photo where it was scaled to, black padding past it.
            let (x, y) = ((w as f32 * scale) as usize, (h as f32 * scale) as usize);
            assert_eq!(tensor[[0, 0, y / 2, x / 2]], 1.0, "{w}x{h}");
            if y + 1 < th as usize {
                assert_eq!(tensor[[0, 0, y + 1, 0]], 0.0, "{w}x{h}");
            }
            if x + 1 < tw as usize {
                assert_eq!(tensor[[0, 2, 0, x + 1]], 0.0, "{w}x{h}");
            }
        }
    }

    fn part(class: &'static str, score: f32) -> BodyPart {
        BodyPart { class, score, bbox: BBox { x1: 0.0, y1: 0.0, x2: 1.0, y2: 1.0 } }
    }

    #[test]
    fn labels_carry_their_ancestors_at_the_best_descendant_confidence() {
        let found = labels(&[
            part("FACE_FEMALE", 0.95),
            part("FEMALE_BREAST_EXPOSED", 0.7),
            part("BUTTOCKS_EXPOSED", 0.9),
            part("ANUS_EXPOSED", 0.3),
            part("MALE_BREAST_EXPOSED", 0.6),
        ]);
        let summary: Vec<(&str, &str, u8, f32)> =
            found.iter().map(|l| (l.name, l.parent, l.level, l.confidence)).collect();
        assert_eq!(
            summary,
            [
                ("Explicit", "", 1, 0.9),
                ("Explicit Nudity", "Explicit", 2, 0.9),
                ("Exposed Buttocks or Anus", "Explicit Nudity", 3, 0.9),
                ("Exposed Female Nipple", "Explicit Nudity", 3, 0.7),
                ("Non-Explicit Nudity of Intimate parts and Kissing", "", 1, 0.6),
                ("Non-Explicit Nudity", "Non-Explicit Nudity of Intimate parts and Kissing", 2, 0.6),
                ("Exposed Male Nipple", "Non-Explicit Nudity", 3, 0.6),
            ]
        );
    }

    #[test]
    fn faces_feet_and_clothes_are_not_moderation_labels() {
        let ordinary =
            ["FACE_MALE", "FACE_FEMALE", "FEET_EXPOSED", "BELLY_COVERED", "ARMPITS_EXPOSED", "BUTTOCKS_COVERED"];
        assert!(labels(&ordinary.map(|c| part(c, 0.99))).is_empty());
        assert!(labels(&[part("FEMALE_BREAST_COVERED", 0.9)]).is_empty());
        let swimwear = labels(&[part("FEMALE_GENITALIA_COVERED", 0.8)]);
        assert_eq!(swimwear.len(), 2);
        assert_eq!(
            (swimwear[1].name, swimwear[1].parent, swimwear[1].level),
            ("Female Swimwear or Underwear", "Swimwear or Underwear", 2)
        );
    }
}
