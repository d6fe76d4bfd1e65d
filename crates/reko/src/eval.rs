//! `reko eval …`: accuracy on the public development sets, printed as a table with the command line
//! that produced it, so every figure in the README can be rerun.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::eval::{coco, text, widerface};
use reko_vision::faces::{DetectorKind, FaceDetector};
use reko_vision::labels;
use reko_vision::moderation;
use reko_vision::text::{TextPipeline, TextProfile};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Detector {
    BlazefaceBack,
    BlazefaceFront,
    FullRange,
    FaceapiSsd,
    Centerface,
}

impl From<Detector> for DetectorKind {
    fn from(d: Detector) -> DetectorKind {
        match d {
            Detector::BlazefaceBack => DetectorKind::BlazeFaceBack,
            Detector::BlazefaceFront => DetectorKind::BlazeFaceFront,
            Detector::FullRange => DetectorKind::FullRange,
            Detector::FaceapiSsd => DetectorKind::FaceApiSsd,
            Detector::Centerface => DetectorKind::CenterFace,
        }
    }
}

/// How `reko eval widerface` runs the detector.
pub struct WiderOptions {
    pub tiling: bool,
    pub min_tile: Option<u32>,
    pub verify: bool,
    pub zoom_out: bool,
    pub min_score: f32,
    pub candidate_score: Option<f32>,
    pub limit: Option<usize>,
    pub max_pixels: u32,
    pub calibrated: bool,
}

/// Face detection AP on the WIDER FACE subset.
pub fn widerface(models_dir: &Path, eval_dir: &Path, detector: Detector, options: WiderOptions) -> anyhow::Result<()> {
    let WiderOptions { tiling, min_tile, verify, zoom_out, min_score, candidate_score, limit, max_pixels, calibrated } =
        options;
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut images = widerface::load(eval_dir).map_err(anyhow::Error::msg).context("loading WIDER FACE")?;
    if let Some(limit) = limit {
        images.truncate(limit);
    }
    let mut face_detector = FaceDetector::new(detector.into());
    face_detector.tiling = tiling;
    face_detector.min_score = min_score;
    face_detector.verify = verify;
    face_detector.zoom_out = zoom_out;
    face_detector.max_pixels = max_pixels;
    face_detector.calibrated = calibrated;
    if let Some(candidate_score) = candidate_score {
        face_detector.candidate_score = candidate_score;
    }
    if let Some(min_tile) = min_tile {
        face_detector.min_tile = min_tile;
    }
    let started = Instant::now();
    let mut predictions = Vec::with_capacity(images.len());
    for image in &images {
        let bytes = std::fs::read(&image.path).with_context(|| image.path.display().to_string())?;
        let decoded = reko_inference::image::decode(&bytes)?;
        let faces = face_detector.detect(&runtime, &decoded.rgb)?;
        predictions.push(faces.into_iter().map(|f| (f.bbox, f.score)).collect::<Vec<_>>());
    }
    let per_image = started.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64;
    let ap = widerface::average_precision(&images, &predictions);
    println!(
        "WIDER FACE dev subset ({} images, {} faces), detector {detector:?}, tiling {tiling} down to {} px, \
         O-Net verification {verify}, zoomed out {zoom_out}, min score {min_score}, CenterFace at most {max_pixels} pixels",
        images.len(),
        images.iter().map(|i| i.faces.len()).sum::<usize>(),
        face_detector.min_tile
    );
    for (name, value) in widerface::LEVELS.iter().zip(ap) {
        println!("  AP {name:<6} {:.3}", value);
    }
    // At the operating point: every detection returned, matched greedily (best score first) to an
    // unmatched annotated face of any level at IoU ≥ 0.5.
    let (mut detections, mut matched) = (0, 0);
    let mut samples = Vec::new();
    for (image, faces) in images.iter().zip(&predictions) {
        let mut taken = vec![false; image.faces.len()];
        for (bbox, score) in faces {
            detections += 1;
            let best = (0..image.faces.len())
                .filter(|&i| !taken[i])
                .max_by(|&a, &b| bbox.iou(&image.faces[a]).total_cmp(&bbox.iou(&image.faces[b])));
            let right = best.filter(|&i| bbox.iou(&image.faces[i]) >= 0.5);
            if let Some(i) = right {
                taken[i] = true;
                matched += 1;
            }
            samples.push((*score, right.is_some()));
        }
    }
    let annotated: usize = images.iter().map(|i| i.faces.len()).sum();
    println!(
        "  at min score {min_score}: {detections} detections, precision {:.3}, recall (all annotated faces) {:.3}",
        matched as f64 / detections.max(1) as f64,
        matched as f64 / annotated.max(1) as f64
    );
    println!("  {per_image:.0} ms/image (single thread, debug builds are slower)");
    use reko_vision::calibration::Platt;
    use reko_vision::eval::calibration;
    println!(
        "  detection scores: calibration error {:.3} as they are; matched share by band (detections, mean score, \
         share matched):",
        calibration::expected_calibration_error(&samples)
    );
    for band in calibration::reliability(&samples, 10).iter().filter(|b| b.count > 0) {
        println!("    {:.1}–{:.1} {:>5} {:.3} {:.3}", band.from, band.to, band.count, band.mean, band.right);
    }
    let fitted = Platt::fit(&samples);
    let calibrated: Vec<_> = samples.iter().map(|&(s, r)| (fitted.apply(s), r)).collect();
    println!(
        "  fitted {fitted:?}: calibration error {:.3} (in-sample)",
        calibration::expected_calibration_error(&calibrated)
    );
    Ok(())
}

/// DetectText's pipeline on a text set: lines against SROIE's lines, words against ICDAR's words.
pub fn text(
    models_dir: &Path,
    eval_dir: &Path,
    limit: Option<usize>,
    rotate: f32,
    parallel: Option<usize>,
) -> anyhow::Result<()> {
    let mut options = RuntimeOptions::default();
    if let Some(threads) = parallel {
        options.max_sessions = threads.max(1);
    }
    let runtime = Runtime::load(models_dir, options)?;
    let mut images = text::load(eval_dir).map_err(anyhow::Error::msg).context("loading the text set")?;
    if let Some(limit) = limit {
        images.truncate(limit);
    }
    let lines = eval_dir.join("box").is_dir();
    let pipeline = TextPipeline::default();
    let mut score = text::TextScore::default();
    let mut elapsed = std::time::Duration::ZERO;
    let mut profile = TextProfile::default();
    for image in &images {
        let bytes = std::fs::read(&image.path).with_context(|| image.path.display().to_string())?;
        let decoded = reko_inference::image::decode(&bytes)?;
        let (rgb, truth) = if rotate == 0.0 {
            (decoded.rgb, image.truth.clone())
        } else {
            text::rotated(&decoded.rgb, &image.truth, rotate, [255, 255, 255])
        };
        let started = Instant::now();
        let read = pipeline.read_timed(&runtime, &rgb, &mut profile)?;
        elapsed += started.elapsed();
        let predictions: Vec<_> = if lines {
            read.into_iter().map(|l| (l.polygon, l.text)).collect()
        } else {
            read.into_iter().flat_map(|l| l.words).map(|w| (w.polygon, w.text)).collect()
        };
        score.add(&truth, &predictions);
    }
    let level = if lines { "lines" } else { "words" };
    println!(
        "{} ({} images turned {rotate}°, {} {level} to find), PP-OCRv4 det + cls + rec; matched at axis-aligned \
         IoU >= 0.5",
        eval_dir.display(),
        images.len(),
        score.truth
    );
    println!(
        "  detection: {} predicted, {} matched: precision {:.3}, recall {:.3}",
        score.predicted,
        score.matched,
        score.precision(),
        score.recall()
    );
    println!(
        "  recognition of the matched: exact {:.3}, ignoring case {:.3}, ignoring case and spaces {:.3}, \
         character error rate (case-folded) {:.3}",
        score.exact as f64 / score.matched.max(1) as f64,
        score.uncased as f64 / score.matched.max(1) as f64,
        score.loose as f64 / score.matched.max(1) as f64,
        score.character_error_rate()
    );
    println!("  end to end: {:.3} of the {level} found and read exactly", score.end_to_end_recall());
    let n = images.len().max(1) as f64;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / n;
    println!(
        "  {:.0} ms/image (decode excluded; debug builds are slower), {} threads for an image's batches",
        elapsed.as_secs_f64() * 1000.0 / n,
        runtime.parallelism()
    );
    println!(
        "  per image: detector resize {:.0} ms, detector {:.0} ms, boxes {:.0} ms, cut {:.0} ms, classifier {:.0} ms, \
         recogniser {:.0} ms ({:.1} lines, {:.1} runs)",
        ms(profile.detect_prepare),
        ms(profile.detect_model),
        ms(profile.detect_boxes),
        ms(profile.cut),
        ms(profile.classify),
        ms(profile.recognize),
        profile.crops as f64 / n,
        profile.recognizer_runs as f64 / n
    );
    Ok(())
}

/// The face pipeline's, DetectText's and DetectModerationLabels' time per stage on one JPEG, the mean of
/// `runs` runs after a warm-up.
fn stages(models_dir: &Path, jpeg: &[u8], runs: usize) -> anyhow::Result<()> {
    use reko_vision::faces::{FacePipeline, FaceProfile, MAX_FACES};
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let pipeline = TextPipeline::default();
    let faces = FacePipeline::default();
    let rgb = reko_inference::image::decode(jpeg)?.rgb;
    pipeline.read(&runtime, &rgb)?;
    moderation::detect(&runtime, &rgb)?;
    faces.analyze(&runtime, &rgb, true, MAX_FACES)?;
    let (mut decode, mut text, mut nudity) = (std::time::Duration::ZERO, TextProfile::default(), Default::default());
    // DetectFaces without and with attributes, and IndexFaces' detection and embeddings.
    let mut face_profiles: [FaceProfile; 3] = Default::default();
    for _ in 0..runs {
        let started = Instant::now();
        let rgb = reko_inference::image::decode(jpeg)?.rgb;
        decode += started.elapsed();
        pipeline.read_timed(&runtime, &rgb, &mut text)?;
        moderation::detect_timed(&runtime, &rgb, &mut nudity)?;
        faces.analyze_timed(&runtime, &rgb, false, MAX_FACES, &mut face_profiles[0])?;
        faces.analyze_timed(&runtime, &rgb, true, MAX_FACES, &mut face_profiles[1])?;
        let found = faces.analyze_timed(&runtime, &rgb, false, MAX_FACES, &mut face_profiles[2])?;
        faces.embed_timed(&runtime, &rgb, &found, &mut face_profiles[2])?;
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / runs as f64;
    println!(
        "  stages, mean of {runs} (threads for an image's batches: {}): JPEG decode {:.1} ms",
        runtime.parallelism(),
        ms(decode)
    );
    println!(
        "    DetectText: detector resize {:.1} ms, detector {:.1} ms, boxes {:.1} ms, cut {:.1} ms, classifier {:.1} ms, \
         recogniser {:.1} ms ({:.0} lines)",
        ms(text.detect_prepare),
        ms(text.detect_model),
        ms(text.detect_boxes),
        ms(text.cut),
        ms(text.classify),
        ms(text.recognize),
        text.crops as f64 / runs as f64
    );
    println!(
        "    DetectModerationLabels: pad, resize and tensor {:.1} ms, detector {:.1} ms, boxes {:.1} ms",
        ms(nudity.prepare),
        ms(nudity.model),
        ms(nudity.boxes)
    );
    for (name, p) in ["DetectFaces (DEFAULT)", "DetectFaces (ALL)", "IndexFaces"].iter().zip(&face_profiles) {
        println!(
            "    {name}: detector {:.1} ms, 68 points {:.1} ms, crops, quality and pose {:.1} ms, attributes {:.1} ms, \
             pupils {:.1} ms, alignment {:.1} ms, embeddings {:.1} ms ({:.0} faces)",
            ms(p.detect),
            ms(p.landmarks),
            ms(p.pose_quality),
            ms(p.attributes),
            ms(p.pupils),
            ms(p.align),
            ms(p.embed),
            p.faces as f64 / runs as f64
        );
    }
    Ok(())
}

/// The account and region the evaluations act as on their throw-away stores.
pub fn eval_scope() -> reko_service::Scope {
    reko_service::Scope { account_id: "000000000000".into(), region: "us-east-1".into() }
}

/// Median time of each image operation on one photo at `width` × `height`, one inference thread, and
/// with `concurrency` > 1 DetectFaces' throughput with that many requests at once.
pub fn speed(
    models_dir: &Path,
    image: &Path,
    (width, height): (u32, u32),
    runs: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let data = tempfile::tempdir()?;
    let store = reko_store::EmbeddedStore::open(data.path())?;
    let service =
        reko_service::Service::new(std::sync::Arc::new(store)).with_vision(reko_service::Vision::new(runtime));
    let original = reko_inference::image::decode(&std::fs::read(image).with_context(|| image.display().to_string())?)?;
    let resized = reko_inference::preprocess::resize_bilinear(&original.rgb, width, height);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&resized)?;
    let labels_settings =
        reko_service::LabelSettings { general_labels: true, min_confidence: 55.0, ..Default::default() };
    let properties = reko_service::LabelSettings { image_properties: Some(10), ..Default::default() };
    let text_filters = reko_service::TextFilters::default();
    // IndexFaces stores every face found under a new ExternalImageId each run, so that no run is
    // skipped as a duplicate: detection, landmarks and an embedding of every face, and a commit.
    let scope = eval_scope();
    service.create_collection(&scope, "speed", Default::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let index_runs = std::cell::Cell::new(0u32);
    let index_faces = || {
        index_runs.set(index_runs.get() + 1);
        let external_id = format!("run-{}", index_runs.get());
        let filter = reko_service::QualityFilter::None;
        service.index_faces(&scope, "speed", &jpeg, Some(&external_id), None, filter, false).map(drop)
    };
    type Operation<'a> = (&'a str, Box<dyn Fn() -> Result<(), reko_service::ServiceError> + 'a>);
    let operations: Vec<Operation> = vec![
        ("DetectFaces (DEFAULT)", Box::new(|| service.detect_faces(&jpeg, false).map(drop))),
        ("DetectFaces (ALL)", Box::new(|| service.detect_faces(&jpeg, true).map(drop))),
        ("IndexFaces (every face, NONE)", Box::new(index_faces)),
        ("DetectLabels (GENERAL_LABELS)", Box::new(|| service.detect_labels(&jpeg, &labels_settings).map(drop))),
        ("DetectLabels (IMAGE_PROPERTIES)", Box::new(|| service.detect_labels(&jpeg, &properties).map(drop))),
        ("DetectText", Box::new(|| service.detect_text(&jpeg, &text_filters).map(drop))),
        ("DetectModerationLabels", Box::new(|| service.detect_moderation_labels(&jpeg, 50.0).map(drop))),
    ];
    println!(
        "{} resized to {width} × {height} (JPEG, {} KB), one inference thread, median of {runs} runs:",
        image.display(),
        jpeg.len() / 1024
    );
    let faces = service.detect_faces(&jpeg, false)?.len();
    println!("  {faces} faces found");
    for (name, operation) in &operations {
        operation()?;
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let started = Instant::now();
                operation().map(|()| started.elapsed().as_secs_f64() * 1000.0)
            })
            .collect::<Result<_, _>>()?;
        times.sort_by(f64::total_cmp);
        println!("  {name:<32} {:7.1} ms", times[times.len() / 2]);
    }
    stages(models_dir, &jpeg, runs.max(1))?;
    if concurrency > 1 {
        let detect = || service.detect_faces(&jpeg, false).map(drop);
        // `concurrency` threads, each sending `runs` requests one after another; the first round warms
        // the extra model sessions that requests at once need.
        let at_once = |runs: usize| -> Result<f64, reko_service::ServiceError> {
            let started = Instant::now();
            std::thread::scope(|scope| {
                let threads: Vec<_> =
                    (0..concurrency).map(|_| scope.spawn(|| (0..runs).try_for_each(|_| detect()))).collect();
                threads.into_iter().try_for_each(|t| t.join().expect("a DetectFaces thread panicked"))
            })?;
            Ok((runs * concurrency) as f64 / started.elapsed().as_secs_f64())
        };
        at_once(1)?;
        let requests = runs.max(1) * concurrency;
        let started = Instant::now();
        (0..requests).try_for_each(|_| detect())?;
        let one_at_a_time = requests as f64 / started.elapsed().as_secs_f64();
        let concurrent = at_once(runs.max(1))?;
        println!(
            "  DetectFaces (DEFAULT), {requests} requests: {one_at_a_time:.2}/s one at a time, {concurrent:.2}/s with \
             {concurrency} at once ({:.2}×)",
            concurrent / one_at_a_time
        );
    }
    Ok(())
}

/// DetectLabels' objects on COCO: AP at IoU 0.5 per class present, mAP, and image-level labels at
/// Confidence 55 (DetectLabels' default).
pub fn labels(models_dir: &Path, eval_dir: &Path) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let images = coco::load(eval_dir, |name| labels::CLASSES.iter().position(|c| c.coco == name))
        .map_err(anyhow::Error::msg)
        .context("loading COCO")?;
    let mut predictions = Vec::with_capacity(images.len());
    let mut elapsed = std::time::Duration::ZERO;
    let thresholds = [55.0f32, 95.0];
    // [detector alone, detector and classifier] × thresholds × [present, found, reported, right]
    let mut counts = [[[0usize; 4]; 2]; 2];
    // Foreground (people) reported: [images whose person boxes cover ≥ 5%, images without a person] ×
    // [images, reported], and the person boxes' share of the pixels the mask calls foreground
    let mut foreground = [[0usize; 2]; 2];
    let (mut in_boxes, mut masked) = (0usize, 0usize);
    for image in &images {
        let bytes = std::fs::read(&image.path).with_context(|| image.path.display().to_string())?;
        let decoded = reko_inference::image::decode(&bytes)?;
        let started = Instant::now();
        let objects = labels::detect(&runtime, &decoded.rgb)?;
        let probabilities = labels::classify(&runtime, &decoded.rgb)?;
        elapsed += started.elapsed();
        let mask = reko_vision::properties::person_mask(&runtime, &decoded.rgb, &objects)?;
        let (w, h) = (decoded.rgb.width() as f32, decoded.rgb.height() as f32);
        let people: Vec<_> = image.objects.iter().filter(|o| labels::CLASSES[o.0].name == "Person").collect();
        let in_person = |cx: usize, cy: usize| {
            let (x, y) = ((cx as f32 + 0.5) / mask.width as f32 * w, (cy as f32 + 0.5) / mask.height as f32 * h);
            people.iter().any(|(_, b)| b.contains(x, y))
        };
        let cells: Vec<(usize, usize)> = (0..mask.height).flat_map(|y| (0..mask.width).map(move |x| (x, y))).collect();
        let covered = cells.iter().filter(|&&(x, y)| in_person(x, y)).count() as f32 / cells.len() as f32;
        for &(x, y) in cells.iter().filter(|&&(x, y)| mask.inside[y * mask.width + x]) {
            masked += 1;
            in_boxes += usize::from(in_person(x, y));
        }
        let group = if people.is_empty() { Some(1) } else { (covered >= 0.05).then_some(0) };
        if let Some(group) = group {
            foreground[group][0] += 1;
            foreground[group][1] += usize::from(reko_vision::properties::is_foreground(&mask));
        }
        let mut truth: Vec<usize> = image.objects.iter().map(|o| o.0).collect();
        truth.sort_unstable();
        truth.dedup();
        for (with_classifier, counts) in counts.iter_mut().enumerate() {
            for (count, threshold) in counts.iter_mut().zip(thresholds) {
                let found = labels::labels(&objects, (with_classifier == 1).then_some(&probabilities[..]), threshold);
                // the COCO classes among the labels
                let said: Vec<usize> = (0..labels::CLASSES.len())
                    .filter(|&c| found.iter().any(|l| l.name == labels::CLASSES[c].name))
                    .collect();
                count[0] += truth.len();
                count[1] += truth.iter().filter(|c| said.contains(c)).count();
                count[2] += said.len();
                count[3] += said.iter().filter(|c| truth.contains(c)).count();
            }
        }
        predictions.push(objects.into_iter().map(|o| (o.class, o.score, o.bbox)).collect::<Vec<_>>());
    }
    let ap = coco::average_precision(&images, &predictions);
    println!(
        "{} ({} images, {} objects, {} classes present), CenterNet MobileNetV3 512 × 512",
        eval_dir.display(),
        images.len(),
        images.iter().map(|i| i.objects.len()).sum::<usize>(),
        ap.len()
    );
    let map = ap.iter().map(|a| a.1).sum::<f64>() / ap.len().max(1) as f64;
    let weighted =
        ap.iter().map(|a| a.1 * a.2 as f64).sum::<f64>() / ap.iter().map(|a| a.2).sum::<usize>().max(1) as f64;
    println!("  mAP@0.5 {map:.3} (mean over classes present), weighted by objects {weighted:.3}");
    let mut by_count = ap.clone();
    by_count.sort_by_key(|b| std::cmp::Reverse(b.2));
    let top: Vec<String> =
        by_count.iter().take(10).map(|(c, ap, n)| format!("{} {ap:.2} ({n})", labels::CLASSES[*c].coco)).collect();
    println!("  AP of the most frequent classes: {}", top.join(", "));
    for (counts, source) in counts.into_iter().zip(["detector alone", "detector and classifier (DetectLabels)"]) {
        for ([present, found, reported, right], threshold) in counts.into_iter().zip(thresholds) {
            println!(
                "  COCO classes as image-level labels, {source}, Confidence {threshold}: recall {:.3} ({found} of \
                 {present} image/class pairs), precision {:.3} ({right} of {reported})",
                found as f64 / present.max(1) as f64,
                right as f64 / reported.max(1) as f64
            );
        }
    }
    println!(
        "  Foreground (people, selfie segmentation) reported for {} of {} images whose person boxes cover 5% or \
         more, {} of {} images without a person; {:.1}% of the pixels it calls foreground are inside a person box",
        foreground[0][1],
        foreground[0][0],
        foreground[1][1],
        foreground[1][0],
        100.0 * in_boxes as f64 / masked.max(1) as f64
    );
    println!(
        "  {:.0} ms/image for both models (decode excluded)",
        elapsed.as_secs_f64() * 1000.0 / images.len().max(1) as f64
    );
    Ok(())
}

/// The ImageNet development images (`labels.csv`: class index, file): class and path of each.
pub fn imagenet_images(eval_dir: &Path) -> anyhow::Result<Vec<(usize, PathBuf)>> {
    let csv = std::fs::read_to_string(eval_dir.join("labels.csv")).context("reading labels.csv")?;
    csv.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            match (fields.first().map(|c| c.parse::<usize>()), fields.last()) {
                (Some(Ok(class)), Some(file)) => Ok((class, eval_dir.join("images").join(file))),
                _ => anyhow::bail!("bad labels.csv line {line:?}"),
            }
        })
        .collect()
}

/// The ImageNet classifier on one image per class (`labels.csv`: class index, file): top-1 and top-5,
/// how well its probability predicts a right top-1 (by probability band), and whether DetectLabels (the
/// detector and the classifier, Confidence 55) names the class, or the class or one of its parents.
pub fn imagenet(models_dir: &Path, eval_dir: &Path) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let classes = labels::imagenet_classes();
    let bands = [0.0f32, 0.3, 0.5, 0.7, 0.9, 1.01];
    let mut band_counts = vec![(0usize, 0usize, 0.0f64); bands.len() - 1];
    let (mut n, mut top1, mut top5, mut named, mut named_or_parent) = (0usize, 0, 0, 0, 0);
    let mut elapsed = std::time::Duration::ZERO;
    for (class, path) in imagenet_images(eval_dir)? {
        let decoded =
            reko_inference::image::decode(&std::fs::read(&path).with_context(|| path.display().to_string())?)?;
        let started = Instant::now();
        let p = labels::classify(&runtime, &decoded.rgb)?;
        elapsed += started.elapsed();
        let objects = labels::detect(&runtime, &decoded.rgb)?;
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        n += 1;
        top1 += usize::from(order[0] == class);
        top5 += usize::from(order[..5].contains(&class));
        let band = bands.windows(2).position(|w| p[order[0]] >= w[0] && p[order[0]] < w[1]).unwrap_or(0);
        band_counts[band].0 += 1;
        band_counts[band].1 += usize::from(order[0] == class);
        band_counts[band].2 += f64::from(p[order[0]]);
        let found = labels::labels(&objects, Some(&p), 55.0);
        let expected = classes[class].name;
        named += usize::from(found.iter().any(|l| l.name == expected));
        let acceptable: Vec<&str> = std::iter::once(expected).chain(labels::ancestors(expected)).collect();
        named_or_parent += usize::from(found.iter().any(|l| acceptable.contains(&l.name)));
    }
    let pct = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
    println!("{} ({n} images, one per class), EfficientNet-Lite0 224 × 224, central 87.5% crop", eval_dir.display());
    println!("  top-1 {:.1}%, top-5 {:.1}%", pct(top1), pct(top5));
    println!(
        "  DetectLabels at Confidence 55 names the class in {:.1}% of images, the class or one of its parents in {:.1}%",
        pct(named),
        pct(named_or_parent)
    );
    for (w, (count, right, sum)) in bands.windows(2).zip(band_counts) {
        if count > 0 {
            println!(
                "  top-1 probability {:.1}–{:.1}: {count} images, mean probability {:.2}, right {:.2}",
                w[0],
                w[1].min(1.0),
                sum / count as f64,
                right as f64 / count as f64
            );
        }
    }
    println!("  classifier {:.0} ms/image (decode excluded)", elapsed.as_secs_f64() * 1000.0 / n.max(1) as f64);
    Ok(())
}

/// DetectModerationLabels' pipeline over a folder of ordinary photos: every label it returns there is a
/// false positive.
pub fn moderation(models_dir: &Path, eval_dir: &Path, show_parts: bool) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let paths = crate::label_index::photos(eval_dir)?;
    let thresholds = [50.0f32, 80.0];
    let mut flagged = [0usize; 2];
    let mut elapsed = std::time::Duration::ZERO;
    let mut photos = 0;
    for path in &paths {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        let Ok(decoded) = reko_inference::image::decode(&bytes) else {
            println!("  skipped {} (not an image DetectModerationLabels accepts)", path.display());
            continue;
        };
        photos += 1;
        let started = Instant::now();
        let parts = moderation::detect(&runtime, &decoded.rgb)?;
        elapsed += started.elapsed();
        let labels = moderation::labels(&parts);
        if show_parts {
            let shown: Vec<String> = parts
                .iter()
                .map(|p| {
                    format!(
                        "{} {:.3} [{:.0} {:.0} {:.0} {:.0}]",
                        p.class,
                        p.score,
                        p.bbox.x1,
                        p.bbox.y1,
                        p.bbox.width(),
                        p.bbox.height()
                    )
                })
                .collect();
            println!("  {}: {}", path.display(), shown.join(", "));
        }
        for (count, threshold) in flagged.iter_mut().zip(thresholds) {
            let above: Vec<String> = labels
                .iter()
                .filter(|l| l.confidence * 100.0 >= threshold)
                .map(|l| format!("{} {:.0}", l.name, l.confidence * 100.0))
                .collect();
            if !above.is_empty() {
                *count += 1;
                if threshold == thresholds[0] {
                    println!("  flagged {}: {}", path.display(), above.join(", "));
                }
            }
        }
    }
    println!("{} ({photos} ordinary photos), NudeNet 320n → Rekognition moderation labels", eval_dir.display());
    for (count, threshold) in flagged.iter().zip(thresholds) {
        println!(
            "  flagged at MinConfidence {threshold:.0}: {count} images ({:.1}%)",
            100.0 * *count as f64 / photos.max(1) as f64
        );
    }
    println!("  {:.0} ms/image (decode excluded)", elapsed.as_secs_f64() * 1000.0 / photos.max(1) as f64);
    Ok(())
}

/// A stable cross-validation fold for a key (FNV-1a of it), so that one person or one image is never in two
/// folds.
fn fold_of(key: &str, folds: usize) -> usize {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % folds as u64) as usize
}

/// Each row's cross-validated probability of `labels[1]`: a two-label head trained on the rows of the other
/// folds (rows fall into folds by `key`, so rows sharing a key never train their own prediction).
pub fn cross_validated<R>(
    rows: &[R],
    folds: usize,
    key: impl Fn(&R) -> &str,
    labels: &[String; 2],
    example: impl Fn(&R) -> reko_vision::custom::Example,
) -> Vec<f32> {
    use reko_vision::custom::{Head, TrainSettings};
    let fold: Vec<usize> = rows.iter().map(|r| fold_of(key(r), folds)).collect();
    let mut p = vec![0.5f32; rows.len()];
    for held_out in 0..folds {
        let train: Vec<_> = rows.iter().zip(&fold).filter(|(_, f)| **f != held_out).map(|(r, _)| example(r)).collect();
        let head = Head::train(labels.to_vec(), false, &train, TrainSettings::default());
        for (i, row) in rows.iter().enumerate().filter(|(i, _)| fold[*i] == held_out) {
            p[i] = head.probabilities(&example(row).features)[1];
        }
    }
    p
}

pub fn default_eval_dir(name: &str) -> PathBuf {
    PathBuf::from("../shared/eval").join(name)
}

/// One LFW pair: two image paths and whether they show the same person.
struct Pair {
    a: PathBuf,
    b: PathBuf,
    same: bool,
}

fn lfw_pairs(dir: &Path, file: &str) -> anyhow::Result<Vec<Pair>> {
    let image = |name: &str, n: &str| -> anyhow::Result<PathBuf> {
        let n: u32 = n.trim().parse()?;
        Ok(dir.join("lfw-deepfunneled").join(name).join(format!("{name}_{n:04}.jpg")))
    };
    let text = std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {file}"))?;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.len() {
            3 => pairs.push(Pair { a: image(f[0], f[1])?, b: image(f[0], f[2])?, same: true }),
            4 => pairs.push(Pair { a: image(f[0], f[1])?, b: image(f[2], f[3])?, same: false }),
            _ => {}
        }
    }
    Ok(pairs)
}

/// Face verification on LFW's development pairs: 10-fold accuracy, TAR at FAR 1e-3, and the
/// false-match rate over every cross-identity pair of the images used.
pub fn lfw(
    models_dir: &Path,
    eval_dir: &Path,
    pairs_file: &str,
    show_errors: bool,
    dump_embeddings: Option<&Path>,
    detector: Option<Detector>,
) -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut pipeline = reko_vision::faces::FacePipeline::default();
    if let Some(detector) = detector {
        pipeline.detector = FaceDetector::new(detector.into());
    }
    // Every LFW image shows its person: take the most central candidate even at a low score.
    pipeline.detector.min_score = 0.1;
    let pairs = lfw_pairs(eval_dir, pairs_file)?;
    let mut embeddings: BTreeMap<PathBuf, Option<Vec<f32>>> = BTreeMap::new();
    for p in &pairs {
        embeddings.insert(p.a.clone(), None);
        embeddings.insert(p.b.clone(), None);
    }
    let started = Instant::now();
    let mut missed = 0;
    for (path, slot) in embeddings.iter_mut() {
        let decoded = reko_inference::image::decode(&std::fs::read(path)?)?;
        let faces = pipeline.analyze(&runtime, &decoded.rgb, false, 100)?;
        // LFW centres the named person: take the face nearest the centre among the large ones.
        let (cx, cy) = (decoded.rgb.width() as f32 / 2.0, decoded.rgb.height() as f32 / 2.0);
        let best = faces.into_iter().min_by(|a, b| {
            let d = |f: &reko_vision::faces::FaceAnalysis| {
                ((f.bbox.x1 + f.bbox.x2) / 2.0 - cx).hypot((f.bbox.y1 + f.bbox.y2) / 2.0 - cy)
            };
            d(a).total_cmp(&d(b))
        });
        match best {
            Some(face) => *slot = pipeline.embed(&runtime, &decoded.rgb, &[face])?.pop(),
            None => {
                missed += 1;
                if show_errors {
                    println!("  no face: {}", path.display());
                }
            }
        }
    }
    let per_image = started.elapsed().as_secs_f64() * 1000.0 / embeddings.len() as f64;
    if let Some(dump) = dump_embeddings {
        let mut text = String::new();
        for (path, embedding) in &embeddings {
            let (Some(embedding), Some(person)) = (embedding, path.parent().and_then(|p| p.file_name())) else {
                continue;
            };
            let values: Vec<String> = embedding.iter().map(|v| format!("{v:.6}")).collect();
            text.push_str(&format!("{}\t{}\n", person.to_string_lossy(), values.join(",")));
        }
        std::fs::write(dump, text).with_context(|| dump.display().to_string())?;
    }
    let score = |p: &Pair| match (&embeddings[&p.a], &embeddings[&p.b]) {
        (Some(a), Some(b)) => reko_vision::faces::embed::cosine(a, b),
        _ => -1.0,
    };
    let scores: Vec<(f32, bool)> = pairs.iter().map(|p| (score(p), p.same)).collect();
    // 10-fold: the threshold is chosen on nine folds and applied to the tenth.
    let accuracy_at = |items: &[(f32, bool)], t: f32| {
        items.iter().filter(|(s, same)| (*s >= t) == *same).count() as f64 / items.len().max(1) as f64
    };
    let mut fold_accuracy = Vec::new();
    for fold in 0..10 {
        let (test, train): (Vec<_>, Vec<_>) = scores.iter().enumerate().partition(|(i, _)| i % 10 == fold);
        let train: Vec<(f32, bool)> = train.into_iter().map(|(_, s)| *s).collect();
        let test: Vec<(f32, bool)> = test.into_iter().map(|(_, s)| *s).collect();
        let best = train
            .iter()
            .map(|(t, _)| *t)
            .max_by(|a, b| accuracy_at(&train, *a).total_cmp(&accuracy_at(&train, *b)))
            .unwrap_or(0.5);
        fold_accuracy.push(accuracy_at(&test, best));
    }
    if show_errors {
        let best =
            scores.iter().map(|(t, _)| *t).max_by(|a, b| accuracy_at(&scores, *a).total_cmp(&accuracy_at(&scores, *b)));
        let best = best.unwrap_or(0.5);
        for (p, (s, same)) in pairs.iter().zip(&scores) {
            if (*s >= best) != *same {
                let kind = if *same { "same person, rejected" } else { "different people, accepted" };
                println!("  {kind} (cosine {s:.3}, threshold {best:.3}): {} {}", p.a.display(), p.b.display());
            }
        }
    }
    let mean = fold_accuracy.iter().sum::<f64>() / 10.0;
    let std = (fold_accuracy.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 10.0).sqrt();
    // Impostors: every pair of embedded images of different people.
    let identity = |p: &Path| p.parent().and_then(|d| d.file_name()).map(|n| n.to_owned());
    let items: Vec<(&PathBuf, &Vec<f32>)> = embeddings.iter().filter_map(|(p, e)| e.as_ref().map(|e| (p, e))).collect();
    let mut impostors = Vec::new();
    let mut genuines = Vec::new();
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            let s = reko_vision::faces::embed::cosine(items[i].1, items[j].1);
            if identity(items[i].0) == identity(items[j].0) {
                genuines.push(s);
            } else {
                impostors.push(s);
            }
        }
    }
    impostors.sort_by(|a, b| b.total_cmp(a));
    let at_fmr = |fmr: f64| impostors[((impostors.len() as f64 * fmr) as usize).min(impostors.len() - 1)];
    let tar = |t: f32| genuines.iter().filter(|&&s| s >= t).count() as f64 / genuines.len().max(1) as f64;
    println!(
        "LFW {pairs_file}: {} pairs, {} images ({missed} without a detected face), {per_image:.0} ms/image",
        pairs.len(),
        embeddings.len()
    );
    println!("  10-fold accuracy {:.2}% ± {:.2}", mean * 100.0, std * 100.0);
    println!("  {} impostor pairs, {} genuine pairs among the images", impostors.len(), genuines.len());
    for fmr in [1e-2, 1e-3, 1e-4, 1e-5] {
        let t = at_fmr(fmr);
        println!("  FMR {fmr:.0e}: cosine ≥ {t:.4}, TAR {:.2}%", tar(t) * 100.0);
    }
    println!("  highest impostor cosine {:.4}", impostors[0]);
    for similarity in [80.0, 99.0] {
        let t = reko_vision::faces::similarity::cosine_at(similarity);
        let false_matches = impostors.iter().filter(|&&s| s >= t).count();
        println!(
            "  Similarity ≥ {similarity}: cosine ≥ {t:.4}, FMR {:.2e} ({false_matches} of {}), TAR {:.2}%",
            false_matches as f64 / impostors.len() as f64,
            impostors.len(),
            tar(t) * 100.0
        );
    }
    Ok(())
}

/// 1:N identification on LFW through the service itself (a throw-away store): the first image of each
/// enrolled person is indexed (largest face), every other image of theirs searched; people with a
/// single image are searched without being enrolled.
pub fn lfw_search(
    models_dir: &Path,
    eval_dir: &Path,
    people: usize,
    strangers: usize,
    min_score: Option<f32>,
    candidate_score: Option<f32>,
) -> anyhow::Result<()> {
    use reko_service::{QualityFilter, Service, ServiceError};
    let root = eval_dir.join("lfw-deepfunneled");
    let mut identities: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for entry in std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
        let dir = entry?.path();
        let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        images.sort();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        identities.push((name, images));
    }
    identities.sort();
    let enrolled: Vec<&(String, Vec<PathBuf>)> = identities.iter().filter(|(_, i)| i.len() >= 2).take(people).collect();
    let unknown: Vec<&(String, Vec<PathBuf>)> =
        identities.iter().filter(|(_, i)| i.len() == 1).take(strangers).collect();

    let data = tempfile::tempdir()?;
    let store = reko_store::EmbeddedStore::open(data.path())?;
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut faces = reko_vision::faces::FacePipeline::default();
    if let Some(min_score) = min_score {
        faces.detector.min_score = min_score;
    }
    if let Some(candidate_score) = candidate_score {
        faces.detector.candidate_score = candidate_score;
    }
    let vision = std::sync::Arc::new(reko_service::Vision { runtime, faces, text: TextPipeline::default() });
    let service = Service::new(std::sync::Arc::new(store)).with_vision(vision);
    let scope = eval_scope();
    service.create_collection(&scope, "lfw", Default::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut not_enrolled = 0;
    for (name, images) in &enrolled {
        let bytes = std::fs::read(&images[0])?;
        let outcome = service
            .index_faces(&scope, "lfw", &bytes, Some(name), Some(1), QualityFilter::None, false)
            .map_err(|e| anyhow::anyhow!("{}: {e}", images[0].display()))?;
        if outcome.indexed.is_empty() {
            not_enrolled += 1;
        }
    }
    // (true name or None for a stranger, best match's external id and similarity, if any face)
    let search = |path: &PathBuf| -> anyhow::Result<Option<(String, f32)>> {
        let bytes = std::fs::read(path)?;
        match service.search_faces_by_image(&scope, "lfw", &bytes, 1, 0.0, QualityFilter::None) {
            Ok(found) => Ok(found
                .matches
                .into_iter()
                .next()
                .map(|m| (m.face.external_image_id.unwrap_or_default(), m.similarity))),
            Err(ServiceError::NoFaceInImage) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    };
    let (mut probes, mut no_face, mut rank1, mut at80, mut at99) = (0, 0, 0, 0, 0);
    for (name, images) in &enrolled {
        for path in &images[1..] {
            probes += 1;
            match search(path)? {
                None => no_face += 1,
                Some((found, similarity)) if found == *name => {
                    rank1 += 1;
                    at80 += usize::from(similarity >= 80.0);
                    at99 += usize::from(similarity >= 99.0);
                }
                Some(_) => {}
            }
        }
    }
    let (mut stranger_faces, mut false80, mut false99) = (0, 0, 0);
    for (_, images) in &unknown {
        if let Some((_, similarity)) = search(&images[0])? {
            stranger_faces += 1;
            false80 += usize::from(similarity >= 80.0);
            false99 += usize::from(similarity >= 99.0);
        }
    }
    let images = enrolled.len() + probes + unknown.len();
    let pct = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    println!(
        "LFW 1:N: {} people enrolled ({not_enrolled} without a face), {probes} probes, {} strangers; {:.0} ms/image",
        enrolled.len(),
        unknown.len(),
        started.elapsed().as_secs_f64() * 1000.0 / images as f64
    );
    println!(
        "  rank-1 {:.2}% ({rank1} of {probes}; {no_face} probes without a face count as misses)",
        pct(rank1, probes)
    );
    println!("  correct and Similarity ≥ 80: {:.2}%; ≥ 99: {:.2}%", pct(at80, probes), pct(at99, probes));
    println!(
        "  strangers with a face: {stranger_faces}; best match ≥ 80: {false80} ({:.2}%), ≥ 99: {false99} ({:.2}%)",
        pct(false80, stranger_faces),
        pct(false99, stranger_faces)
    );
    Ok(())
}
