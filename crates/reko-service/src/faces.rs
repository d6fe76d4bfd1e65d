//! Face operations that store nothing: DetectFaces and CompareFaces, over the face pipeline.

use std::sync::Arc;

use reko_inference::Runtime;
use reko_inference::image::{ImageError, decode};
use reko_vision::faces::{FaceAnalysis, FacePipeline, embed, similarity};

use crate::{Service, ServiceError};

/// The loaded models and the pipelines over them.
pub struct Vision {
    pub runtime: Runtime,
    pub faces: FacePipeline,
}

impl Vision {
    pub fn new(runtime: Runtime) -> Arc<Vision> {
        Arc::new(Vision { runtime, faces: FacePipeline::default() })
    }
}

/// An image's size and the faces found in it, largest first.
#[derive(Debug, Clone)]
pub struct AnalyzedImage {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceAnalysis>,
}

/// CompareFaces' `QualityFilter`: which faces are too poor to compare. reko's levels (documented in
/// the README): LOW drops faces under 20 px or with sharpness under 5; MEDIUM under 40 px, sharpness
/// under 15 or more than 60° of yaw; HIGH under 60 px, sharpness under 30 or more than 45° of yaw.
/// AUTO is LOW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityFilter {
    None,
    Auto,
    Low,
    Medium,
    High,
}

impl QualityFilter {
    pub fn parse(value: Option<&str>) -> QualityFilter {
        match value {
            Some("AUTO") => QualityFilter::Auto,
            Some("LOW") => QualityFilter::Low,
            Some("MEDIUM") => QualityFilter::Medium,
            Some("HIGH") => QualityFilter::High,
            _ => QualityFilter::None,
        }
    }

    /// Whether `face` passes this filter.
    pub fn passes(self, face: &FaceAnalysis) -> bool {
        let side = face.bbox.width().min(face.bbox.height());
        let (sharpness, yaw) = (face.quality.1, face.pose.yaw.abs());
        match self {
            QualityFilter::None => true,
            QualityFilter::Auto | QualityFilter::Low => side >= 20.0 && sharpness >= 5.0,
            QualityFilter::Medium => side >= 40.0 && sharpness >= 15.0 && yaw <= 60.0,
            QualityFilter::High => side >= 60.0 && sharpness >= 30.0 && yaw <= 45.0,
        }
    }
}

/// CompareFaces' answer: the source face, and every target face with its similarity.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub source: AnalyzedImage,
    pub target: AnalyzedImage,
    /// Target faces at or above the threshold, most similar first, with their similarity.
    pub matches: Vec<(FaceAnalysis, f32)>,
    pub unmatched: Vec<FaceAnalysis>,
}

fn decoded(bytes: &[u8]) -> Result<image::RgbImage, ServiceError> {
    decode(bytes).map(|d| d.rgb).map_err(|e| match e {
        ImageError::InvalidFormat(m) => ServiceError::InvalidImage(m),
        too_large @ ImageError::TooManyPixels { .. } => ServiceError::ImageTooLarge(too_large.to_string()),
    })
}

impl Service {
    fn vision(&self) -> Result<&Vision, ServiceError> {
        self.vision.as_deref().ok_or(ServiceError::ModelsUnavailable)
    }

    /// DetectFaces: up to 100 faces, largest first, with attributes when asked.
    pub fn detect_faces(&self, image: &[u8], attributes: bool) -> Result<AnalyzedImage, ServiceError> {
        let rgb = decoded(image)?;
        let vision = self.vision()?;
        let faces = vision.faces.analyze(&vision.runtime, &rgb, attributes, reko_vision::faces::MAX_FACES)?;
        Ok(AnalyzedImage { width: rgb.width(), height: rgb.height(), faces })
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
        let mut matches = Vec::new();
        let mut unmatched = Vec::new();
        for (face, embedding) in target_faces.into_iter().zip(&gallery) {
            let similarity = similarity::from_cosine(embed::cosine(&probe[0], embedding));
            if similarity >= threshold {
                matches.push((face, similarity));
            } else {
                unmatched.push(face);
            }
        }
        matches.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(Comparison {
            source: AnalyzedImage { width: source_rgb.width(), height: source_rgb.height(), faces: vec![source_face] },
            target: AnalyzedImage { width: target_rgb.width(), height: target_rgb.height(), faces: Vec::new() },
            matches,
            unmatched,
        })
    }
}
