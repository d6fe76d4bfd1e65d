//! Face operations that store nothing: DetectFaces and CompareFaces, over the face pipeline.

use std::sync::Arc;

use reko_inference::Runtime;
use reko_inference::image::{ImageError, decode};
use reko_vision::faces::{FaceAnalysis, FacePipeline, embed, similarity};
use reko_vision::text::TextPipeline;

use crate::results::{DetectedFace, FaceReason};
use crate::{Service, ServiceError};

/// CompareFaces' `SimilarityThreshold` when the request gives none, as on Rekognition.
pub const DEFAULT_SIMILARITY_THRESHOLD: f32 = 80.0;

/// The loaded models and the pipelines over them.
pub struct Vision {
    pub runtime: Runtime,
    pub faces: FacePipeline,
    pub text: TextPipeline,
}

impl Vision {
    pub fn new(runtime: Runtime) -> Arc<Vision> {
        Arc::new(Vision { runtime, faces: FacePipeline::default(), text: TextPipeline::default() })
    }
}

/// `QualityFilter`: which faces are too poor to compare, index or search. reko's levels (documented
/// in the README), each failed test named by its reason:
///
/// | level  | SMALL_BOUNDING_BOX | LOW_SHARPNESS | LOW_BRIGHTNESS | EXTREME_POSE (yaw) | LOW_CONFIDENCE |
/// |--------|--------------------|---------------|----------------|--------------------|----------------|
/// | LOW    | side < 20 px       | < 5           | < 5            | —                  | —              |
/// | MEDIUM | side < 40 px       | < 15          | < 10           | > 60°              | < 0.5          |
/// | HIGH   | side < 60 px       | < 30          | < 15           | > 45°              | < 0.8          |
///
/// AUTO is LOW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QualityFilter {
    #[default]
    None,
    Auto,
    Low,
    Medium,
    High,
}

impl QualityFilter {
    /// Whether `face` passes this filter.
    pub(crate) fn passes(self, face: &FaceAnalysis) -> bool {
        self.reasons(face).is_empty()
    }

    /// The reasons `face` fails this filter for (none: it passes).
    pub(crate) fn reasons(self, face: &FaceAnalysis) -> Vec<FaceReason> {
        // (min side, min sharpness, min brightness, max |yaw|, min score)
        let (side, sharpness, brightness, yaw, score) = match self {
            QualityFilter::None => return Vec::new(),
            QualityFilter::Auto | QualityFilter::Low => (20.0, 5.0, 5.0, 180.0, 0.0),
            QualityFilter::Medium => (40.0, 15.0, 10.0, 60.0, 0.5),
            QualityFilter::High => (60.0, 30.0, 15.0, 45.0, 0.8),
        };
        let mut reasons = Vec::new();
        if face.bbox.width().min(face.bbox.height()) < side {
            reasons.push(FaceReason::SmallBoundingBox);
        }
        if face.quality.1 < sharpness {
            reasons.push(FaceReason::LowSharpness);
        }
        if face.quality.0 < brightness {
            reasons.push(FaceReason::LowBrightness);
        }
        if face.pose.yaw.abs() > yaw {
            reasons.push(FaceReason::ExtremePose);
        }
        if face.score < score {
            reasons.push(FaceReason::LowConfidence);
        }
        reasons
    }
}

/// CompareFaces' answer: the source face, and every target face with its similarity.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The compared (largest) face of the source image.
    pub source: DetectedFace,
    /// Target faces at or above the threshold, most similar first, with their similarity.
    pub matches: Vec<(DetectedFace, f32)>,
    pub unmatched: Vec<DetectedFace>,
}

pub(crate) fn decoded(bytes: &[u8]) -> Result<image::RgbImage, ServiceError> {
    decode(bytes).map(|d| d.rgb).map_err(|e| match e {
        ImageError::InvalidFormat(m) => ServiceError::InvalidImage(m),
        too_large @ ImageError::TooManyPixels { .. } => ServiceError::ImageTooLarge(too_large.to_string()),
    })
}

impl Service {
    pub(crate) fn vision(&self) -> Result<&Vision, ServiceError> {
        self.vision.as_deref().ok_or(ServiceError::ModelsUnavailable)
    }

    /// DetectFaces: up to 100 faces, largest first, with attributes when asked.
    pub fn detect_faces(&self, image: &[u8], attributes: bool) -> Result<Vec<DetectedFace>, ServiceError> {
        let rgb = decoded(image)?;
        let vision = self.vision()?;
        let faces = vision.faces.analyze(&vision.runtime, &rgb, attributes, reko_vision::faces::MAX_FACES)?;
        Ok(faces.iter().map(|face| DetectedFace::of(face, rgb.width(), rgb.height())).collect())
    }

    /// CompareFaces: the largest source face against up to 100 target faces.
    pub fn compare_faces(
        &self,
        source: &[u8],
        target: &[u8],
        threshold: f32,
        filter: QualityFilter,
    ) -> Result<Comparison, ServiceError> {
        let (source_rgb, target_rgb) = (decoded(source)?, decoded(target)?);
        let vision = self.vision()?;
        let mut source_faces = vision.faces.analyze(&vision.runtime, &source_rgb, false, 1)?;
        source_faces.retain(|f| filter.passes(f));
        let source_face = source_faces.into_iter().next().ok_or(ServiceError::NoFace("source"))?;
        let mut target_faces =
            vision.faces.analyze(&vision.runtime, &target_rgb, false, reko_vision::faces::MAX_FACES)?;
        target_faces.retain(|f| filter.passes(f));
        if target_faces.is_empty() {
            return Err(ServiceError::NoFace("target"));
        }
        let probe = vision.faces.embed(&vision.runtime, &source_rgb, std::slice::from_ref(&source_face))?;
        let gallery = vision.faces.embed(&vision.runtime, &target_rgb, &target_faces)?;
        let target = |face: &FaceAnalysis| DetectedFace::of(face, target_rgb.width(), target_rgb.height());
        let mut matches = Vec::new();
        let mut unmatched = Vec::new();
        for (face, embedding) in target_faces.iter().zip(&gallery) {
            let similarity = similarity::from_cosine(embed::cosine(&probe[0], embedding));
            if similarity >= threshold {
                matches.push((target(face), similarity));
            } else {
                unmatched.push(target(face));
            }
        }
        matches.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(Comparison {
            source: DetectedFace::of(&source_face, source_rgb.width(), source_rgb.height()),
            matches,
            unmatched,
        })
    }
}
