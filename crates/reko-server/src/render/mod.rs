//! The service's results as Rekognition's response shapes: the one place where domain types become
//! protocol types and Rust enums become Rekognition's enum strings. Video items and job notifications
//! are rendered in [`video`], Custom Labels' projects, datasets and versions in [`custom_labels`].

pub mod custom_labels;
pub mod video;

use reko_protocol::types::*;
use reko_service::{
    AssociationFailure, Color, DeletionFailure, DetectedFace, DetectedText, Emotion as EmotionKind, FaceMatch as Match,
    FaceReason, FaceRecord, FailedDeletion, FailedFace, Gender as GenderKind, RatioBox, TextKind, UserStatus, Verdict,
};

/// Which attributes a face is reported with: DEFAULT, ALL, or DEFAULT plus the named ones
/// (`Attributes` of DetectFaces, `DetectionAttributes` of IndexFaces).
#[derive(Debug, Clone, Default)]
pub struct AttributeSelection {
    all: bool,
    named: Vec<String>,
}

impl AttributeSelection {
    pub fn parse(requested: &[String]) -> AttributeSelection {
        AttributeSelection { all: requested.iter().any(|a| a == "ALL"), named: requested.to_vec() }
    }

    /// Every attribute (video face detection with `FaceAttributes` ALL).
    pub fn all() -> AttributeSelection {
        AttributeSelection { all: true, named: Vec::new() }
    }

    fn wants(&self, name: &str) -> bool {
        self.all || self.named.iter().any(|n| n == name)
    }

    /// Whether any attribute that needs the attribute networks is asked for.
    pub fn any_attribute(&self) -> bool {
        ["AGE_RANGE", "GENDER", "EMOTIONS", "SMILE", "EYES_OPEN", "MOUTH_OPEN"].iter().any(|a| self.wants(a))
    }
}

pub fn bounding_box(b: &RatioBox) -> BoundingBox {
    BoundingBox { width: b.width, height: b.height, left: b.left, top: b.top }
}

fn landmarks(face: &DetectedFace, all: bool) -> Vec<Landmark> {
    let count = if all { face.landmarks.len() } else { DetectedFace::DEFAULT_LANDMARKS };
    face.landmarks.iter().take(count).map(|l| Landmark { kind: l.kind.to_owned(), x: l.x, y: l.y }).collect()
}

fn pose(face: &DetectedFace) -> Pose {
    Pose { roll: face.pose.roll, yaw: face.pose.yaw, pitch: face.pose.pitch }
}

fn quality(face: &DetectedFace) -> ImageQuality {
    ImageQuality { brightness: face.quality.brightness, sharpness: face.quality.sharpness }
}

fn yes_no(verdict: Verdict) -> BoolAttribute {
    BoolAttribute { value: verdict.value, confidence: verdict.confidence }
}

fn emotion(kind: EmotionKind) -> &'static str {
    match kind {
        EmotionKind::Calm => "CALM",
        EmotionKind::Happy => "HAPPY",
        EmotionKind::Sad => "SAD",
        EmotionKind::Angry => "ANGRY",
        EmotionKind::Fear => "FEAR",
        EmotionKind::Disgusted => "DISGUSTED",
        EmotionKind::Surprised => "SURPRISED",
    }
}

/// A `FaceDetail` with the attributes `selection` asks for (and the face has).
pub fn face_detail(face: &DetectedFace, selection: &AttributeSelection) -> FaceDetail {
    let mut detail = FaceDetail {
        bounding_box: bounding_box(&face.bounding_box),
        age_range: None,
        smile: None,
        gender: None,
        eyes_open: None,
        mouth_open: None,
        emotions: None,
        landmarks: landmarks(face, selection.all),
        pose: pose(face),
        quality: quality(face),
        confidence: face.confidence,
    };
    let Some(a) = &face.attributes else { return detail };
    if selection.wants("AGE_RANGE") {
        detail.age_range = Some(AgeRange { low: a.age_range.0, high: a.age_range.1 });
    }
    if selection.wants("GENDER") {
        let value = match a.gender {
            GenderKind::Male => "Male",
            GenderKind::Female => "Female",
        };
        detail.gender = Some(Gender { value: value.to_owned(), confidence: a.gender_confidence });
    }
    if selection.wants("EMOTIONS") {
        detail.emotions = Some(
            a.emotions
                .iter()
                .map(|(kind, confidence)| Emotion { kind: emotion(*kind).to_owned(), confidence: *confidence })
                .collect(),
        );
    }
    if selection.wants("SMILE") {
        detail.smile = Some(yes_no(a.smile));
    }
    if selection.wants("EYES_OPEN") {
        detail.eyes_open = Some(yes_no(a.eyes_open));
    }
    if selection.wants("MOUTH_OPEN") {
        detail.mouth_open = Some(yes_no(a.mouth_open));
    }
    detail
}

pub fn compared_face(face: &DetectedFace) -> ComparedFace {
    ComparedFace {
        bounding_box: bounding_box(&face.bounding_box),
        confidence: face.confidence,
        landmarks: landmarks(face, false),
        pose: pose(face),
        quality: quality(face),
    }
}

pub fn stored_face(record: &FaceRecord) -> Face {
    let [left, top, width, height] = record.bounding_box;
    Face {
        face_id: record.face_id.clone(),
        bounding_box: BoundingBox { width, height, left, top },
        image_id: record.image_id.clone(),
        external_image_id: record.external_image_id.clone(),
        confidence: record.confidence,
        index_faces_model_version: record.model_version.clone(),
        user_id: record.user_id.clone(),
    }
}

pub fn face_matches(matches: &[Match]) -> Vec<FaceMatch> {
    matches.iter().map(|m| FaceMatch { similarity: m.similarity, face: stored_face(&m.face) }).collect()
}

pub fn face_reasons(reasons: &[FaceReason]) -> Vec<String> {
    reasons
        .iter()
        .map(|reason| {
            match reason {
                FaceReason::SmallBoundingBox => "SMALL_BOUNDING_BOX",
                FaceReason::LowSharpness => "LOW_SHARPNESS",
                FaceReason::LowBrightness => "LOW_BRIGHTNESS",
                FaceReason::ExtremePose => "EXTREME_POSE",
                FaceReason::LowConfidence => "LOW_CONFIDENCE",
                FaceReason::ExceedsMaxFaces => "EXCEEDS_MAX_FACES",
                FaceReason::FaceNotLargest => "FACE_NOT_LARGEST",
            }
            .to_owned()
        })
        .collect()
}

pub fn failed_deletion(failed: &FailedDeletion) -> UnsuccessfulFaceDeletion {
    let reason = match failed.reason {
        DeletionFailure::FaceNotFound => "FACE_NOT_FOUND",
        DeletionFailure::AssociatedToAnExistingUser => "ASSOCIATED_TO_AN_EXISTING_USER",
    };
    UnsuccessfulFaceDeletion {
        face_id: failed.face_id.clone(),
        user_id: failed.user_id.clone(),
        reasons: vec![reason.to_owned()],
    }
}

pub fn user_status(status: UserStatus) -> String {
    match status {
        UserStatus::Created => "CREATED",
        UserStatus::Active => "ACTIVE",
    }
    .to_owned()
}

pub fn user(user: reko_service::User) -> User {
    User { user_id: user.user_id, user_status: user_status(user.status) }
}

pub fn user_matches(matches: Vec<(reko_service::User, f32)>) -> Vec<UserMatch> {
    matches.into_iter().map(|(u, similarity)| UserMatch { similarity, user: user(u) }).collect()
}

pub fn unsuccessful(failed: FailedFace) -> UnsuccessfulUserFace {
    UnsuccessfulUserFace {
        face_id: failed.face_id,
        user_id: failed.user_id,
        confidence: failed.confidence,
        reasons: failed
            .reasons
            .iter()
            .map(|reason| {
                match reason {
                    AssociationFailure::FaceNotFound => "FACE_NOT_FOUND",
                    AssociationFailure::AssociatedToADifferentUser => "ASSOCIATED_TO_A_DIFFERENT_USER",
                    AssociationFailure::LowMatchConfidence => "LOW_MATCH_CONFIDENCE",
                }
                .to_owned()
            })
            .collect(),
    }
}

pub fn colors(colors: &[Color]) -> Vec<DominantColor> {
    colors
        .iter()
        .map(|c| DominantColor {
            red: u32::from(c.rgb[0]),
            blue: u32::from(c.rgb[2]),
            green: u32::from(c.rgb[1]),
            hex_code: c.hex.clone(),
            css_color: c.css.to_owned(),
            simplified_color: c.simplified.to_owned(),
            pixel_percent: c.percent,
        })
        .collect()
}

fn named(names: &[&str]) -> Vec<NamedItem> {
    names.iter().map(|n| NamedItem { name: (*n).to_owned() }).collect()
}

/// A label; `with_instances: false` leaves its boxes out (a video segment names the label, its boxes
/// belong to single frames).
pub fn label(l: &reko_service::Label, with_instances: bool) -> Label {
    let instances = if with_instances { &l.instances[..] } else { &[] };
    Label {
        name: l.name.to_owned(),
        confidence: l.confidence,
        instances: instances
            .iter()
            .map(|i| Instance {
                bounding_box: bounding_box(&i.bounding_box),
                confidence: i.confidence,
                dominant_colors: i.colors.as_deref().map(colors),
            })
            .collect(),
        parents: named(&l.parents),
        aliases: named(l.aliases),
        categories: named(l.categories),
    }
}

pub fn image_properties(p: &reko_service::ImageProperties) -> DetectLabelsImageProperties {
    let region = |r: &reko_service::Region| DetectLabelsImageRegion {
        quality: DetectLabelsImageQuality {
            brightness: r.quality.brightness,
            sharpness: r.quality.sharpness,
            contrast: None,
        },
        dominant_colors: colors(&r.colors),
    };
    DetectLabelsImageProperties {
        quality: DetectLabelsImageQuality {
            brightness: p.quality.brightness,
            sharpness: p.quality.sharpness,
            contrast: Some(p.quality.contrast),
        },
        dominant_colors: colors(&p.colors),
        foreground: p.foreground.as_ref().map(|[f, _]| region(f)),
        background: p.foreground.as_ref().map(|[_, b]| region(b)),
    }
}

pub fn moderation_label(l: &reko_service::ModerationLabel) -> ModerationLabel {
    ModerationLabel {
        confidence: l.confidence,
        name: l.name.to_owned(),
        parent_name: l.parent.to_owned(),
        taxonomy_level: u32::from(l.level),
    }
}

pub fn text_detection(d: &DetectedText) -> TextDetection {
    let (left, top, width, height) = d.bounding_box();
    TextDetection {
        kind: match d.kind {
            TextKind::Line => "LINE",
            TextKind::Word => "WORD",
        }
        .to_owned(),
        detected_text: d.text.clone(),
        id: d.id,
        parent_id: d.parent_id,
        confidence: d.confidence,
        geometry: Geometry {
            bounding_box: BoundingBox { width, height, left, top },
            polygon: d.polygon.iter().map(|&(x, y)| Point { x, y }).collect(),
        },
    }
}
