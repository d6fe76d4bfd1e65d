//! `reko eval face-photos`: the face pipeline on the small photo sets with ground truth — dlib's
//! hand-made face boxes, face counts the sets' READMEs state, deepface's labelled pairs and
//! face_recognition's identification examples — scored as DetectFaces and CompareFaces answer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use image::RgbImage;
use reko_inference::boxes::BBox;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::faces::{FaceAnalysis, FacePipeline, embed, similarity};

/// Face counts stated by the READMEs of `face_photos_smoke`, `deepface_unit` and
/// `face_recognition_examples` (people in the photo; 0 for the negative). The README calls the four
/// `mask_*` images masked faces: they are pictures of surgical masks alone, with no face, and count
/// as negatives here.
const STATED_COUNTS: [(&str, usize); 13] = [
    ("face_photos_smoke/insightface/t1.jpg", 6),
    ("face_photos_smoke/facenet_pytorch/multiface.jpg", 6),
    ("face_photos_smoke/dlib_faces/dogs.jpg", 0),
    ("face_photos_smoke/insightface/Tom_Hanks_54745.png", 1),
    ("face_photos_smoke/insightface/mask_black.jpg", 0),
    ("face_photos_smoke/insightface/mask_blue.jpg", 0),
    ("face_photos_smoke/insightface/mask_green.jpg", 0),
    ("face_photos_smoke/insightface/mask_white.jpg", 0),
    ("face_photos_smoke/retinaface/img11.jpg", 1),
    ("deepface_unit/couple.jpg", 2),
    ("face_recognition_examples/examples/two_people.jpg", 2),
    ("face_recognition_examples/tests/test_images/obama_partial_face.jpg", 1),
    ("face_recognition_examples/tests/test_images/32bit.png", 1),
];

/// Faces found in one photo at the service's operating point, largest first, with their embeddings
/// (none for a photo in a format Rekognition does not take, such as WebP).
struct Analysed {
    readable: bool,
    faces: Vec<FaceAnalysis>,
    embeddings: Vec<Vec<f32>>,
}

struct Photos {
    runtime: Runtime,
    pipeline: FacePipeline,
    cache: BTreeMap<PathBuf, Analysed>,
}

impl Photos {
    fn analyse(&mut self, path: &Path) -> anyhow::Result<&Analysed> {
        if !self.cache.contains_key(path) {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            let analysed = match reko_inference::image::decode(&bytes) {
                Ok(decoded) => {
                    let rgb: RgbImage = decoded.rgb;
                    let faces = self.pipeline.analyze(&self.runtime, &rgb, false, reko_vision::faces::MAX_FACES)?;
                    let embeddings = self.pipeline.embed(&self.runtime, &rgb, &faces)?;
                    Analysed { readable: true, faces, embeddings }
                }
                Err(_) => Analysed { readable: false, faces: Vec::new(), embeddings: Vec::new() },
            };
            self.cache.insert(path.to_path_buf(), analysed);
        }
        Ok(&self.cache[path])
    }

    /// CompareFaces' best match: the largest face of `source` against every face of `target`; `None`
    /// when either has no face (CompareFaces' InvalidParameterException).
    fn similarity(&mut self, source: &Path, target: &Path) -> anyhow::Result<Option<f32>> {
        let Some(probe) = self.analyse(source)?.embeddings.first().cloned() else { return Ok(None) };
        let target = self.analyse(target)?;
        let best = target.embeddings.iter().map(|e| embed::cosine(&probe, e)).max_by(f32::total_cmp);
        Ok(best.map(similarity::from_cosine))
    }
}

/// Runs every measurement on the sets under `eval_root` (`../shared/eval`).
pub fn face_photos(models_dir: &Path, eval_root: &Path) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut photos = Photos { runtime, pipeline: FacePipeline::default(), cache: BTreeMap::new() };
    dlib_boxes(&mut photos, &eval_root.join("face_photos_smoke/dlib_faces"))?;
    stated_counts(&mut photos, eval_root)?;
    deepface_pairs(&mut photos, &eval_root.join("deepface_unit"))?;
    identification(&mut photos, &eval_root.join("face_recognition_examples"))?;
    Ok(())
}

/// dlib's hand-made boxes (`testing.xml` and `training.xml`): recall and precision at IoU 0.5.
fn dlib_boxes(photos: &mut Photos, dir: &Path) -> anyhow::Result<()> {
    let (mut annotated, mut detected, mut matched) = (0, 0, 0);
    for file in ["training.xml", "testing.xml"] {
        let xml = std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {file}"))?;
        for (image, truth) in imglab_boxes(&xml) {
            let found: Vec<BBox> = photos.analyse(&dir.join(&image))?.faces.iter().map(|f| f.bbox).collect();
            let mut taken = vec![false; found.len()];
            for t in &truth {
                let best = (0..found.len())
                    .filter(|&i| !taken[i])
                    .max_by(|&a, &b| found[a].iou(t).total_cmp(&found[b].iou(t)));
                if let Some(i) = best.filter(|&i| found[i].iou(t) >= 0.5) {
                    taken[i] = true;
                    matched += 1;
                }
            }
            println!(
                "  {image}: {} of {} annotated faces found, {} detections",
                taken.iter().filter(|t| **t).count(),
                truth.len(),
                found.len()
            );
            annotated += truth.len();
            detected += found.len();
        }
    }
    println!(
        "dlib face boxes (IoU 0.5): recall {matched}/{annotated} = {:.3}, precision {matched}/{detected} = {:.3}",
        matched as f64 / annotated.max(1) as f64,
        matched as f64 / detected.max(1) as f64
    );
    Ok(())
}

/// (image file, boxes) of an imglab XML file: `<image file='…'>` followed by `<box top left width height>`.
fn imglab_boxes(xml: &str) -> Vec<(String, Vec<BBox>)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}='"))? + name.len() + 2;
        Some(tag[start..].split('\'').next()?.to_string())
    };
    let mut images: Vec<(String, Vec<BBox>)> = Vec::new();
    for tag in xml.split('<').map(|t| t.split('>').next().unwrap_or_default()) {
        if tag.starts_with("image ") {
            if let Some(file) = attribute(tag, "file") {
                images.push((file, Vec::new()));
            }
        } else if tag.starts_with("box ") {
            let number = |name: &str| attribute(tag, name).and_then(|v| v.parse::<f32>().ok()).unwrap_or_default();
            let (top, left, width, height) = (number("top"), number("left"), number("width"), number("height"));
            if let Some((_, boxes)) = images.last_mut() {
                boxes.push(BBox { x1: left, y1: top, x2: left + width, y2: top + height });
            }
        }
    }
    images
}

/// The face counts the sets' READMEs state.
fn stated_counts(photos: &mut Photos, eval_root: &Path) -> anyhow::Result<()> {
    let mut right = 0;
    for (file, expected) in STATED_COUNTS {
        let found = photos.analyse(&eval_root.join(file))?.faces.len();
        right += usize::from(found == expected);
        println!("  {file}: {found} faces (stated: {expected})");
    }
    println!("stated face counts: {right} of {} photos right", STATED_COUNTS.len());
    Ok(())
}

/// deepface's labelled pairs (`master.csv` and `face-recognition-pivot.csv`, deduplicated), judged as
/// CompareFaces judges them at Similarity 80 (the default) and 99.
fn deepface_pairs(photos: &mut Photos, dir: &Path) -> anyhow::Result<()> {
    let mut pairs: BTreeMap<(String, String), bool> = BTreeMap::new();
    for file in ["master.csv", "face-recognition-pivot.csv"] {
        let text = std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {file}"))?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
            let [x, y, decision, ..] = fields[..] else { continue };
            let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
            let (a, b) = (base(x), base(y));
            let key = if a <= b { (a, b) } else { (b, a) };
            pairs.insert(key, decision == "Yes");
        }
    }
    let mut scored = Vec::new();
    let mut unreadable = BTreeSet::new();
    for ((a, b), same) in &pairs {
        let (a, b) = (dir.join(a), dir.join(b));
        let readable = [&a, &b].into_iter().try_fold(true, |all, p| -> anyhow::Result<bool> {
            let ok = photos.analyse(p)?.readable;
            if !ok {
                unreadable.insert(p.clone());
            }
            Ok(all && ok)
        })?;
        if readable {
            scored.push((photos.similarity(&a, &b)?, *same));
        }
    }
    println!(
        "deepface pairs: {} left out for an image in a format Rekognition does not take ({unreadable:?})",
        pairs.len() - scored.len()
    );
    let no_face = scored.iter().filter(|(s, _)| s.is_none()).count();
    let same_total = scored.iter().filter(|(_, same)| *same).count();
    println!(
        "deepface pairs: {} ({same_total} same person, {} different), {no_face} with an image without a face",
        scored.len(),
        scored.len() - same_total
    );
    for threshold in [80.0, 99.0] {
        let accepted =
            |same: bool| scored.iter().filter(|(s, y)| *y == same && s.is_some_and(|s| s >= threshold)).count();
        let (true_accepts, false_accepts) = (accepted(true), accepted(false));
        let right = true_accepts + (scored.len() - same_total - false_accepts);
        println!(
            "  Similarity ≥ {threshold}: accuracy {:.1}%, same-person pairs matched {true_accepts}/{same_total}, \
             different-person pairs matched {false_accepts}/{}",
            right as f64 * 100.0 / scored.len().max(1) as f64,
            scored.len() - same_total
        );
    }
    Ok(())
}

/// face_recognition's examples: its tests' verification pairs and the k-NN example's probes, every
/// face of a probe matched against a gallery of the named people's photos at Similarity 80.
fn identification(photos: &mut Photos, dir: &Path) -> anyhow::Result<()> {
    let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json"))?)?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    for (kind, same) in [("same", true), ("different", false)] {
        for pair in truth["verification_from_tests"][kind].as_array().into_iter().flatten() {
            let files = strings(pair);
            let s = photos.similarity(&dir.join(&files[0]), &dir.join(&files[1]))?;
            let verdict = if s.is_some_and(|s| s >= 80.0) == same { "right" } else { "WRONG" };
            let s = s.map_or("- (no face)".to_string(), |s| format!("{s:.1}"));
            println!("  {} vs {}: Similarity {s} ({kind} person: {verdict})", files[0], files[1]);
        }
    }
    let mut gallery: Vec<(String, Vec<f32>)> = Vec::new();
    for (name, files) in truth["identity_gallery"].as_object().into_iter().flatten() {
        for file in strings(files) {
            if let Some(e) = photos.analyse(&dir.join(&file))?.embeddings.first() {
                gallery.push((name.clone(), e.clone()));
            }
        }
    }
    let (mut right, mut total) = (0, 0);
    for (probe, expected) in truth["probe_expected_identities"].as_object().into_iter().flatten() {
        let expected: BTreeSet<String> = strings(expected).into_iter().collect();
        let found: BTreeSet<String> = photos
            .analyse(&dir.join(probe))?
            .embeddings
            .iter()
            .filter_map(|e| {
                let best = gallery
                    .iter()
                    .map(|(n, g)| (n, similarity::from_cosine(embed::cosine(e, g))))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                best.filter(|(_, s)| *s >= 80.0).map(|(n, _)| n.clone())
            })
            .collect();
        total += 1;
        right += usize::from(found == expected);
        println!("  {probe}: found {found:?}, expected {expected:?}");
    }
    println!("face_recognition k-NN probes: {right} of {total} with exactly the expected people at Similarity ≥ 80");
    Ok(())
}
