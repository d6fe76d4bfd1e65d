//! DetectModerationLabels over NudeNet: the labels of Rekognition's moderation taxonomy it supports, each
//! with its ancestors, above `MinConfidence` (50 by default).

use reko_vision::moderation;

use crate::faces::decoded;
use crate::results::ModerationLabel;
use crate::{Service, ServiceError};

/// reko's moderation model version (1.0: NudeNet 3.4.2's 320n detector).
pub const MODERATION_MODEL_VERSION: &str = "1.0";
/// `MinConfidence` when the request gives none, as on Rekognition.
pub const DEFAULT_MODERATION_CONFIDENCE: f32 = 50.0;

impl Service {
    /// DetectModerationLabels: labels with confidence (0..100) at least `min_confidence`.
    pub fn detect_moderation_labels(
        &self,
        image: &[u8],
        min_confidence: f32,
    ) -> Result<Vec<ModerationLabel>, ServiceError> {
        self.moderation_of(&decoded(image)?, min_confidence)
    }

    /// The moderation labels of a decoded image, at or above `min_confidence` (0–100).
    pub(crate) fn moderation_of(
        &self,
        rgb: &image::RgbImage,
        min_confidence: f32,
    ) -> Result<Vec<ModerationLabel>, ServiceError> {
        let vision = self.vision()?;
        let parts = moderation::detect(&vision.runtime, rgb)?;
        let labels = moderation::labels(&parts);
        Ok(labels.iter().map(ModerationLabel::of).filter(|label| label.confidence >= min_confidence).collect())
    }
}
