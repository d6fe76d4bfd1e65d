//! `reko eval calibrate-labels`: fits DetectLabels' confidence calibration ([`labels::Calibration`]) on the
//! COCO and ImageNet development images, and measures with 8-fold cross-validation by image (each fold
//! judged by a calibration fitted on the other seven) how well a label's confidence means what it says.

use std::path::Path;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::eval::calibration::{self, Sample, expected_calibration_error, reliability};
use reko_vision::eval::coco;
use reko_vision::labels::{self, Calibration, Object, Platt};

/// Cross-validation folds.
const FOLDS: usize = 8;
/// Classifier shares (%) below this are not worth a sample.
const MIN_SHARE: f32 = 1.0;
/// The thresholds Rekognition's guide uses, and DetectLabels' default.
const THRESHOLDS: [f32; 3] = [55.0, 80.0, 95.0];

/// What DetectLabels used before (`LabelModelVersion` 2.0): a detector score mapped to the share of
/// image-level labels right at that score *or above*, and the classifier's shares as they are. Kept to
/// report the error it had.
const PREVIOUS: [(f32, f32); 9] = [
    (0.10, 50.0),
    (0.15, 58.0),
    (0.20, 70.0),
    (0.25, 79.0),
    (0.30, 86.0),
    (0.35, 91.0),
    (0.40, 95.0),
    (0.50, 98.0),
    (1.0, 100.0),
];

fn previous(score: f32) -> f32 {
    let score = score.clamp(0.0, 1.0);
    if score <= PREVIOUS[0].0 {
        return PREVIOUS[0].1 * score / PREVIOUS[0].0;
    }
    let pair = PREVIOUS.windows(2).find(|p| score <= p[1].0).unwrap_or(&PREVIOUS[7..]);
    let ((s0, c0), (s1, c1)) = (pair[0], pair[1]);
    c0 + (c1 - c0) * (score - s0) / (s1 - s0)
}

/// A COCO image: the detector's objects (and whether each is right), the classifier's probabilities,
/// and the classes present.
struct CocoEvidence {
    objects: Vec<Object>,
    right: Vec<bool>,
    probabilities: Vec<f32>,
    present: Vec<usize>,
}

impl CocoEvidence {
    /// Whether a label name is right: a class present is it or descends from it. `None` for names the
    /// COCO classes cannot judge (neither a class nor an ancestor of one).
    fn judges(&self, name: &str) -> Option<bool> {
        let mut named = (0..labels::CLASSES.len())
            .filter(|&c| labels::CLASSES[c].name == name || labels::ancestors(labels::CLASSES[c].name).contains(&name))
            .peekable();
        named.peek()?;
        Some(named.any(|c| self.present.contains(&c)))
    }

    fn has_person(&self) -> bool {
        self.present.iter().any(|&c| labels::CLASSES[c].name == "Person")
    }
}

/// An ImageNet image: the classifier's probabilities and the names that are right (its class and the
/// class's ancestors).
struct ImagenetEvidence {
    probabilities: Vec<f32>,
    right: Vec<&'static str>,
}

/// The calibration that fits the given images best: the boxes first, then the classes from the boxes'
/// calibrated probabilities, then the classifier on both sets' labels.
fn fit(coco: &[&CocoEvidence], imagenet: &[&ImagenetEvidence]) -> Calibration {
    let boxes: Vec<Sample> =
        coco.iter().flat_map(|e| e.objects.iter().zip(&e.right).map(|(o, &r)| (o.score, r))).collect();
    let boxes = Platt::fit(&boxes);
    let mut classes = Vec::new();
    for evidence in coco {
        for class in 0..labels::CLASSES.len() {
            let found: Vec<f32> =
                evidence.objects.iter().filter(|o| o.class == class).map(|o| boxes.apply(o.score)).collect();
            if !found.is_empty() {
                classes.push((labels::any_of(&found), evidence.present.contains(&class)));
            }
        }
    }
    let labels_fit = Platt::fit(&classes);
    let classifier = Platt::fit(&classifier_samples(coco, imagenet, None));
    Calibration { boxes, labels: labels_fit, classifier }
}

/// The classifier's labels (share ≥ 1%) with whether they are right, on ImageNet (all labels) and COCO
/// (the labels its classes judge); calibrated by `calibration` when given, raw shares otherwise.
fn classifier_samples(
    coco: &[&CocoEvidence],
    imagenet: &[&ImagenetEvidence],
    calibration: Option<&Calibration>,
) -> Vec<Sample> {
    let value = |share: f32| match calibration {
        Some(c) => c.classifier.apply(share / 100.0),
        None => share / 100.0,
    };
    let on_imagenet = imagenet.iter().flat_map(|e| {
        labels::classifier_shares(&e.probabilities)
            .into_iter()
            .filter(|s| s.1 >= MIN_SHARE)
            .map(|(name, share)| (value(share), e.right.contains(&name)))
    });
    let on_coco = coco.iter().flat_map(|e| {
        labels::classifier_shares(&e.probabilities)
            .into_iter()
            .filter(|s| s.1 >= MIN_SHARE)
            .filter_map(|(name, share)| e.judges(name).map(|right| (value(share), right)))
    });
    on_imagenet.chain(on_coco).collect()
}

/// How a calibration does on some images.
#[derive(Default)]
struct Judged {
    /// COCO class names among the labels (confidence 0..1, right).
    classes: Vec<Sample>,
    /// Instances (confidence 0..1, right).
    instances: Vec<Sample>,
    /// The classifier's labels (confidence 0..1, right).
    classifier: Vec<Sample>,
    /// Person-free COCO images, and those of them labelled `Person` at each threshold (50 and 55).
    person_free: usize,
    person_said: [usize; 2],
    /// ImageNet images, and those whose class or one of its ancestors is a label at 55.
    imagenet: usize,
    imagenet_named: usize,
    /// Image/class pairs present in the COCO images.
    present: usize,
}

impl Judged {
    fn add(&mut self, other: Judged) {
        self.classes.extend(other.classes);
        self.instances.extend(other.instances);
        self.classifier.extend(other.classifier);
        self.person_free += other.person_free;
        self.person_said[0] += other.person_said[0];
        self.person_said[1] += other.person_said[1];
        self.imagenet += other.imagenet;
        self.imagenet_named += other.imagenet_named;
        self.present += other.present;
    }
}

/// DetectLabels' labels of the given images under `calibration` (or the previous mapping), judged.
fn judge(coco: &[&CocoEvidence], imagenet: &[&ImagenetEvidence], calibration: Option<&Calibration>) -> Judged {
    let mut judged = Judged::default();
    for evidence in coco {
        judged.present += evidence.present.len();
        let found: Vec<(&str, f32)> = match calibration {
            Some(c) => labels::labels_with(c, &evidence.objects, Some(&evidence.probabilities), 0.0)
                .into_iter()
                .map(|l| (l.name, l.confidence))
                .collect(),
            None => previous_labels(evidence),
        };
        for class in 0..labels::CLASSES.len() {
            let name = labels::CLASSES[class].name;
            if let Some(&(_, confidence)) = found.iter().find(|l| l.0 == name) {
                judged.classes.push((confidence / 100.0, evidence.present.contains(&class)));
            }
        }
        for (object, &right) in evidence.objects.iter().zip(&evidence.right) {
            let confidence = match calibration {
                Some(c) => c.instance(object.score),
                None => previous(object.score),
            };
            judged.instances.push((confidence / 100.0, right));
        }
        if !evidence.has_person() {
            judged.person_free += 1;
            let person = found.iter().find(|l| l.0 == "Person").map_or(0.0, |l| l.1);
            judged.person_said[0] += usize::from(person >= 50.0);
            judged.person_said[1] += usize::from(person >= 55.0);
        }
    }
    for evidence in imagenet {
        judged.imagenet += 1;
        let named = match calibration {
            Some(c) => labels::labels_with(c, &[], Some(&evidence.probabilities), 55.0)
                .iter()
                .any(|l| evidence.right.contains(&l.name)),
            None => labels::classifier_shares(&evidence.probabilities)
                .iter()
                .any(|(name, share)| *share >= 55.0 && evidence.right.contains(name)),
        };
        judged.imagenet_named += usize::from(named);
    }
    judged.classifier = classifier_samples(coco, imagenet, calibration);
    judged
}

/// The labels LabelModelVersion 2.0 gave an image (name, confidence), as DetectLabels computed them: the
/// previous mapping of each class's best score, the classifier's raw shares, the higher of the two.
fn previous_labels(evidence: &CocoEvidence) -> Vec<(&'static str, f32)> {
    let mut out: Vec<(&'static str, f32)> = Vec::new();
    let mut support = |name: &'static str, confidence: f32| match out.iter_mut().find(|l| l.0 == name) {
        Some(label) => label.1 = label.1.max(confidence),
        None => out.push((name, confidence)),
    };
    for object in &evidence.objects {
        let name = labels::CLASSES[object.class].name;
        support(name, previous(object.score));
        for ancestor in labels::ancestors(name) {
            support(ancestor, previous(object.score));
        }
    }
    for (name, share) in labels::classifier_shares(&evidence.probabilities) {
        support(name, share);
    }
    out
}

fn print_judged(title: &str, judged: &Judged) {
    println!("  {title}:");
    let at = |samples: &[Sample], threshold: f32| {
        let kept: Vec<&Sample> = samples.iter().filter(|s| s.0 * 100.0 >= threshold).collect();
        let right = kept.iter().filter(|s| s.1).count();
        (kept.len(), right)
    };
    let classes: Vec<String> = THRESHOLDS
        .iter()
        .map(|&t| {
            let (kept, right) = at(&judged.classes, t);
            format!(
                "at {t}: precision {:.3}, recall {:.3}",
                right as f64 / kept.max(1) as f64,
                right as f64 / judged.present.max(1) as f64
            )
        })
        .collect();
    println!(
        "    COCO classes as labels: calibration error {:.3}; {}",
        expected_calibration_error(&judged.classes),
        classes.join("; ")
    );
    let instances: Vec<String> = THRESHOLDS
        .iter()
        .map(|&t| {
            let (kept, right) = at(&judged.instances, t);
            format!("at {t}: {kept} boxes, {:.3} right", right as f64 / kept.max(1) as f64)
        })
        .collect();
    println!(
        "    instances: calibration error {:.3}; {}",
        expected_calibration_error(&judged.instances),
        instances.join("; ")
    );
    println!(
        "    classifier labels (ImageNet, and COCO where its classes judge): calibration error {:.3} ({} labels)",
        expected_calibration_error(&judged.classifier),
        judged.classifier.len()
    );
    println!(
        "    Person on {} person-free COCO images: {} at Confidence 50, {} at 55; ImageNet: the class or a parent \
         named at 55 in {:.1}% of {} images",
        judged.person_free,
        judged.person_said[0],
        judged.person_said[1],
        100.0 * judged.imagenet_named as f64 / judged.imagenet.max(1) as f64,
        judged.imagenet
    );
}

fn print_reliability(title: &str, samples: &[Sample]) {
    println!("  reliability of {title} (band: labels, mean confidence, share right):");
    for band in reliability(samples, 10).iter().filter(|b| b.count > 0) {
        println!(
            "    {:>3.0}–{:<3.0} {:>4} {:>5.1} {:>5.1}",
            band.from * 100.0,
            band.to * 100.0,
            band.count,
            band.mean * 100.0,
            band.right * 100.0
        );
    }
}

pub fn calibrate_labels(models_dir: &Path, coco_dir: &Path, imagenet_dir: &Path) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut images = coco::load(coco_dir, |name| labels::CLASSES.iter().position(|c| c.coco == name))
        .map_err(anyhow::Error::msg)
        .context("loading COCO")?;
    images.sort_by(|a, b| a.path.cmp(&b.path));
    let mut coco_evidence = Vec::with_capacity(images.len());
    for image in &images {
        let bytes = std::fs::read(&image.path).with_context(|| image.path.display().to_string())?;
        let rgb = reko_inference::image::decode(&bytes)?.rgb;
        let objects = labels::detect(&runtime, &rgb)?;
        let detections: Vec<_> = objects.iter().map(|o| (o.class, o.score, o.bbox)).collect();
        let mut present: Vec<usize> = image.objects.iter().map(|o| o.0).collect();
        present.sort_unstable();
        present.dedup();
        coco_evidence.push(CocoEvidence {
            right: coco::matches(image, &detections),
            objects,
            probabilities: labels::classify(&runtime, &rgb)?,
            present,
        });
    }
    let mut imagenet_images = crate::eval::imagenet_images(imagenet_dir)?;
    imagenet_images.sort_by(|a, b| a.1.cmp(&b.1));
    let classes = labels::imagenet_classes();
    let mut imagenet_evidence = Vec::with_capacity(imagenet_images.len());
    for (class, path) in &imagenet_images {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        let rgb = reko_inference::image::decode(&bytes)?.rgb;
        let name = classes[*class].name;
        imagenet_evidence.push(ImagenetEvidence {
            probabilities: labels::classify(&runtime, &rgb)?,
            right: std::iter::once(name).chain(labels::ancestors(name)).collect(),
        });
    }
    let all_coco: Vec<&CocoEvidence> = coco_evidence.iter().collect();
    let all_imagenet: Vec<&ImagenetEvidence> = imagenet_evidence.iter().collect();
    println!(
        "{} ({} images) and {} ({} images); {FOLDS}-fold cross-validation by image",
        coco_dir.display(),
        all_coco.len(),
        imagenet_dir.display(),
        all_imagenet.len()
    );
    let mut cross_validated = Judged::default();
    for fold in 0..FOLDS {
        let split = |i: usize| calibration::fold(i, FOLDS) == fold;
        let pick = |held: bool| {
            let coco: Vec<&CocoEvidence> =
                coco_evidence.iter().enumerate().filter(|(i, _)| split(*i) == held).map(|e| e.1).collect();
            let imagenet: Vec<&ImagenetEvidence> =
                imagenet_evidence.iter().enumerate().filter(|(i, _)| split(*i) == held).map(|e| e.1).collect();
            (coco, imagenet)
        };
        let (train_coco, train_imagenet) = pick(false);
        let (test_coco, test_imagenet) = pick(true);
        let fitted = fit(&train_coco, &train_imagenet);
        cross_validated.add(judge(&test_coco, &test_imagenet, Some(&fitted)));
    }
    print_judged("before (LabelModelVersion 2.0's mapping)", &judge(&all_coco, &all_imagenet, None));
    print_judged("cross-validated (each fold calibrated on the others)", &cross_validated);
    print_judged(
        "shipped calibration, on the images it was fitted on",
        &judge(&all_coco, &all_imagenet, Some(&Calibration::FITTED)),
    );
    print_reliability("the COCO classes, cross-validated", &cross_validated.classes);
    let fitted = fit(&all_coco, &all_imagenet);
    println!("  fitted on all the images: {fitted:?}");
    let differs = [
        (fitted.boxes, Calibration::FITTED.boxes),
        (fitted.labels, Calibration::FITTED.labels),
        (fitted.classifier, Calibration::FITTED.classifier),
    ]
    .iter()
    .any(|(a, b)| (a.slope - b.slope).abs() > 0.01 || (a.intercept - b.intercept).abs() > 0.01);
    if differs {
        println!("  NOTE: this differs from the shipped Calibration::FITTED; update it in reko-vision's labels.rs");
    }
    Ok(())
}
