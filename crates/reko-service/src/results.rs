//! What the image analyses return, in the service's own terms: boxes and points as ratios of the image,
//! every confidence in percent (0–100, Rekognition's unit), and the rules that turn the networks' raw
//! outputs into Rekognition's face attributes (the age range's spread, open eyes and mouth, smile,
//! emotions). The front end only maps these types onto the wire; nothing here knows the JSON.

use reko_inference::boxes::BBox;
use reko_vision::faces::{Attributes, FaceAnalysis, landmarks};
use reko_vision::properties::{DominantColor, Quality};

/// A score in 0..1 as a percentage.
pub(crate) fn percent(score: f32) -> f32 {
    (score * 100.0).clamp(0.0, 100.0)
}

/// A box as ratios of the image's width and height.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RatioBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl RatioBox {
    /// The box of `b` (pixels) in a `width` × `height` image.
    pub(crate) fn of(b: &BBox, width: u32, height: u32) -> RatioBox {
        let (w, h) = (width as f32, height as f32);
        RatioBox { left: b.x1 / w, top: b.y1 / h, width: b.width() / w, height: b.height() / h }
    }
}

/// A named facial landmark (Rekognition's landmark types), as ratios of the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Landmark {
    pub kind: &'static str,
    pub x: f32,
    pub y: f32,
}

/// Head pose in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub roll: f32,
    pub yaw: f32,
    pub pitch: f32,
}

/// Brightness and sharpness of a face, 0–100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceQuality {
    pub brightness: f32,
    pub sharpness: f32,
}

/// A yes-or-no attribute with the confidence of the answer (50–100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub value: bool,
    pub confidence: f32,
}

impl Verdict {
    fn new(value: bool, confidence: f32) -> Verdict {
        Verdict { value, confidence: confidence.clamp(50.0, 100.0) }
    }

    /// `ratio ≥ threshold`, surer the farther the ratio is from the threshold (certain at `span` away).
    fn from_ratio(ratio: f32, threshold: f32, span: f32) -> Verdict {
        let margin = ((ratio - threshold).abs() / span).min(1.0);
        Verdict::new(ratio >= threshold, 50.0 + 50.0 * margin)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
}

/// Rekognition's emotion types that the expression classifier has (it has no CONFUSED class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emotion {
    Calm,
    Happy,
    Sad,
    Angry,
    Fear,
    Disgusted,
    Surprised,
}

/// The expression classifier's classes, in its output order, as emotions.
const EXPRESSIONS: [Emotion; 7] = [
    Emotion::Calm,
    Emotion::Happy,
    Emotion::Sad,
    Emotion::Angry,
    Emotion::Fear,
    Emotion::Disgusted,
    Emotion::Surprised,
];

/// A face's attributes, each with its confidence in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceAttributes {
    /// (low, high) in years.
    pub age_range: (u32, u32),
    pub gender: Gender,
    pub gender_confidence: f32,
    /// Every emotion, most likely first.
    pub emotions: Vec<(Emotion, f32)>,
    pub smile: Verdict,
    pub eyes_open: Verdict,
    pub mouth_open: Verdict,
}

impl FaceAttributes {
    fn of(a: &Attributes) -> FaceAttributes {
        // The range is the estimate ± 15% (at least ± 3 years).
        let spread = (a.age * 0.15).max(3.0);
        let age_range = ((a.age - spread).max(0.0).floor() as u32, (a.age + spread).ceil() as u32);
        let mut emotions: Vec<(Emotion, f32)> =
            EXPRESSIONS.iter().zip(a.expressions).map(|(e, p)| (*e, percent(p))).collect();
        emotions.sort_by(|x, y| y.1.total_cmp(&x.1));
        let happy = a.expressions[1];
        FaceAttributes {
            age_range,
            gender: if a.male >= 0.5 { Gender::Male } else { Gender::Female },
            gender_confidence: percent(a.male.max(1.0 - a.male)),
            emotions,
            smile: Verdict::new(happy >= 0.5, percent(happy.max(1.0 - happy))),
            // Open eyes have an eye aspect ratio of about 0.25–0.35, closed ones under 0.15.
            eyes_open: Verdict::from_ratio(a.eye_aspect_ratio, 0.2, 0.1),
            // The inner lips' gap over the mouth's width: about 0 closed, over 0.1 open.
            mouth_open: Verdict::from_ratio(a.mouth_open_ratio, 0.1, 0.1),
        }
    }
}

/// A face found in an image: Rekognition's `FaceDetail` in the service's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedFace {
    pub bounding_box: RatioBox,
    /// Detection confidence, 0–100.
    pub confidence: f32,
    /// All of Rekognition's landmark types; the first five are the ones it returns by default.
    pub landmarks: Vec<Landmark>,
    pub pose: Pose,
    pub quality: FaceQuality,
    /// Present when the attributes were asked for.
    pub attributes: Option<FaceAttributes>,
}

impl DetectedFace {
    /// The landmarks Rekognition returns unless every attribute is asked for.
    pub const DEFAULT_LANDMARKS: usize = 5;

    /// A face of the face pipeline in a `width` × `height` image.
    pub(crate) fn of(face: &FaceAnalysis, width: u32, height: u32) -> DetectedFace {
        let (w, h) = (width as f32, height as f32);
        DetectedFace {
            bounding_box: RatioBox::of(&face.bbox, width, height),
            confidence: percent(face.score),
            landmarks: landmarks::rekognition_landmarks(&face.five, face.points.as_ref(), face.pupils)
                .into_iter()
                .map(|(kind, (x, y))| Landmark { kind, x: x / w, y: y / h })
                .collect(),
            pose: Pose { roll: face.pose.roll, yaw: face.pose.yaw, pitch: face.pose.pitch },
            quality: FaceQuality { brightness: face.quality.0, sharpness: face.quality.1 },
            attributes: face.attributes.as_ref().map(FaceAttributes::of),
        }
    }
}

/// Why a face was not compared, indexed or searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceReason {
    SmallBoundingBox,
    LowSharpness,
    LowBrightness,
    ExtremePose,
    LowConfidence,
    /// IndexFaces kept `MaxFaces` larger faces.
    ExceedsMaxFaces,
    /// SearchUsersByImage searches the largest face only.
    FaceNotLargest,
}

/// A dominant colour of an image or a region of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Color {
    pub rgb: [u8; 3],
    /// `#rrggbb`.
    pub hex: String,
    pub css: &'static str,
    pub simplified: &'static str,
    /// Share of the pixels, 0–100.
    pub percent: f32,
}

impl Color {
    pub(crate) fn of(c: &DominantColor) -> Color {
        Color { rgb: c.rgb, hex: c.hex(), css: c.css, simplified: c.simplified, percent: c.percent }
    }

    pub(crate) fn all(colors: &[DominantColor]) -> Vec<Color> {
        colors.iter().map(Color::of).collect()
    }
}

/// Brightness, sharpness and contrast of an image or region, 0–100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageQuality {
    pub brightness: f32,
    pub sharpness: f32,
    pub contrast: f32,
}

impl ImageQuality {
    pub(crate) fn of(q: &Quality) -> ImageQuality {
        ImageQuality { brightness: q.brightness, sharpness: q.sharpness, contrast: q.contrast }
    }
}

/// One instance of a label: its box and confidence (0–100), and its dominant colours when the image's
/// properties were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelInstance {
    pub bounding_box: RatioBox,
    pub confidence: f32,
    pub colors: Option<Vec<Color>>,
}

/// A label with its instances and its place in the taxonomy; confidence 0–100.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub name: &'static str,
    pub confidence: f32,
    pub instances: Vec<LabelInstance>,
    /// Every ancestor, nearest first.
    pub parents: Vec<&'static str>,
    pub aliases: &'static [&'static str],
    pub categories: &'static [&'static str],
}

impl Label {
    /// A label of the label pipeline in a `width` × `height` image, without instance colours.
    pub(crate) fn of(label: &reko_vision::labels::Label, width: u32, height: u32) -> Label {
        Label {
            name: label.name,
            confidence: label.confidence,
            instances: label
                .instances
                .iter()
                .map(|(bbox, confidence)| LabelInstance {
                    bounding_box: RatioBox::of(bbox, width, height),
                    confidence: *confidence,
                    colors: None,
                })
                .collect(),
            parents: label.parents.clone(),
            aliases: label.aliases,
            categories: label.categories,
        }
    }
}

/// A label of Rekognition's moderation taxonomy; confidence 0–100.
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationLabel {
    pub name: &'static str,
    /// "" at the top level.
    pub parent: &'static str,
    pub level: u8,
    pub confidence: f32,
}

impl ModerationLabel {
    pub(crate) fn of(label: &reko_vision::moderation::ModerationLabel) -> ModerationLabel {
        ModerationLabel {
            name: label.name,
            parent: label.parent,
            level: label.level,
            confidence: percent(label.confidence),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(age: f32, eye_aspect_ratio: f32) -> FaceAttributes {
        FaceAttributes::of(&Attributes {
            age,
            male: 0.2,
            male_network: 0.3,
            expressions: [0.1, 0.7, 0.05, 0.05, 0.04, 0.03, 0.03],
            eye_aspect_ratio,
            mouth_open_ratio: 0.0,
        })
    }

    #[test]
    fn attributes_follow_the_documented_rules() {
        let a = attributes(40.0, 0.3);
        assert_eq!(a.age_range, (34, 46));
        assert_eq!(attributes(10.0, 0.3).age_range, (7, 13), "at least ± 3 years");
        assert_eq!((a.gender, a.gender_confidence), (Gender::Female, 80.0));
        assert_eq!(a.emotions[0], (Emotion::Happy, 70.0));
        assert!(a.emotions.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(a.smile, Verdict { value: true, confidence: 70.0 });
        assert_eq!(a.eyes_open, Verdict { value: true, confidence: 100.0 });
        assert_eq!(attributes(40.0, 0.15).eyes_open, Verdict { value: false, confidence: 75.0 });
        assert_eq!(a.mouth_open, Verdict { value: false, confidence: 100.0 });
    }
}
