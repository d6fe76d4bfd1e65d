//! DetectLabels over the object detector and the image classifier: labels with instances, their ancestors as labels of their own,
//! `MinConfidence` (55 by default), `MaxLabels`, the GeneralLabels inclusion and exclusion filters, and
//! `IMAGE_PROPERTIES` (quality and dominant colours of the image, of each instance, and of the foreground
//! (people) and background when there are people).

use reko_inference::boxes::BBox;
use reko_vision::labels;
use reko_vision::properties;

use crate::faces::decoded;
use crate::results::{Color, ImageQuality, Label};
use crate::{Service, ServiceError};

/// reko's label model version (1.0: CenterNet MobileNetV3 over the 80 COCO classes; 2.0: and the
/// EfficientNet-Lite0 ImageNet classifier with the WordNet taxonomy; 3.0: the same models with
/// confidences calibrated to the share of labels that are right, `labels::Calibration`).
pub const LABEL_MODEL_VERSION: &str = "3.0";
/// `MinConfidence` when the request gives none, as on Rekognition.
pub const DEFAULT_LABEL_CONFIDENCE: f32 = 55.0;

/// `Settings.ImageProperties.MaxDominantColors` when the request gives none, as on Rekognition.
pub const DEFAULT_MAX_DOMINANT_COLORS: usize = 10;

/// DetectLabels' `Features`, `MaxLabels`, `MinConfidence` and `Settings`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabelSettings {
    /// GENERAL_LABELS.
    pub general_labels: bool,
    /// IMAGE_PROPERTIES, with at most this many dominant colours.
    pub image_properties: Option<usize>,
    pub min_confidence: f32,
    pub max_labels: Option<usize>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub include_categories: Vec<String>,
    pub exclude_categories: Vec<String>,
}

impl LabelSettings {
    fn keeps(&self, label: &labels::Label) -> bool {
        let named = |list: &[String]| list.iter().any(|n| n == label.name);
        let in_category = |list: &[String]| label.categories.iter().any(|c| list.iter().any(|n| n == c));
        (self.include.is_empty() || named(&self.include))
            && !named(&self.exclude)
            && (self.include_categories.is_empty() || in_category(&self.include_categories))
            && !in_category(&self.exclude_categories)
    }
}

/// An image's labels (most confident first; with their instances' dominant colours when the properties
/// were asked for) and, when asked, its properties.
#[derive(Debug, Clone)]
pub struct LabeledImage {
    pub labels: Vec<Label>,
    pub properties: Option<ImageProperties>,
}

/// `ImageProperties`: the whole image's quality (with contrast) and dominant colours.
#[derive(Debug, Clone)]
pub struct ImageProperties {
    pub quality: ImageQuality,
    pub colors: Vec<Color>,
    /// The people in the image and the rest, each with its quality and colours; `None` when the person
    /// segmentation finds people on less than 5% of the image (or more than 95%).
    pub foreground: Option<[Region; 2]>,
}

/// One side of the foreground/background split (its quality has no contrast on Rekognition).
#[derive(Debug, Clone)]
pub struct Region {
    pub quality: ImageQuality,
    pub colors: Vec<Color>,
}

fn crop(image: &image::RgbImage, bbox: &BBox) -> image::RgbImage {
    let x = (bbox.x1.max(0.0) as u32).min(image.width() - 1);
    let y = (bbox.y1.max(0.0) as u32).min(image.height() - 1);
    let w = (bbox.width().round() as u32).clamp(1, image.width() - x);
    let h = (bbox.height().round() as u32).clamp(1, image.height() - y);
    image::imageops::crop_imm(image, x, y, w, h).to_image()
}

impl Service {
    /// DetectLabels (GENERAL_LABELS).
    pub fn detect_labels(&self, image: &[u8], settings: &LabelSettings) -> Result<LabeledImage, ServiceError> {
        self.labels_of(&decoded(image)?, settings)
    }

    /// The labels (and properties) of a decoded image.
    pub(crate) fn labels_of(
        &self,
        rgb: &image::RgbImage,
        settings: &LabelSettings,
    ) -> Result<LabeledImage, ServiceError> {
        let mut found = Vec::new();
        let vision = self.vision()?;
        // The detector's objects serve both features: labels, and the people that make a foreground.
        let objects = if settings.general_labels || settings.image_properties.is_some() {
            labels::detect(&vision.runtime, rgb)?
        } else {
            Vec::new()
        };
        if settings.general_labels {
            let probabilities = labels::classify(&vision.runtime, rgb)?;
            found = labels::labels(&objects, Some(&probabilities), settings.min_confidence);
            found.retain(|label| settings.keeps(label));
            if let Some(max) = settings.max_labels {
                found.truncate(max);
            }
        }
        let mut labels: Vec<Label> = found.iter().map(|label| Label::of(label, rgb.width(), rgb.height())).collect();
        let properties = match settings.image_properties {
            Some(max) => {
                let mask = properties::person_mask(&vision.runtime, rgb, &objects)?;
                let foreground = properties::is_foreground(&mask).then(|| {
                    [true, false].map(|inside| Region {
                        quality: ImageQuality::of(&properties::region_quality(rgb, &mask, inside)),
                        colors: Color::all(&properties::region_colors(rgb, &mask, inside, max)),
                    })
                });
                for (label, found) in labels.iter_mut().zip(&found) {
                    for (instance, (bbox, _)) in label.instances.iter_mut().zip(&found.instances) {
                        instance.colors = Some(Color::all(&properties::dominant_colors(&crop(rgb, bbox), max)));
                    }
                }
                Some(ImageProperties {
                    quality: ImageQuality::of(&properties::quality(rgb)),
                    colors: Color::all(&properties::dominant_colors(rgb, max)),
                    foreground,
                })
            }
            None => None,
        };
        Ok(LabeledImage { labels, properties })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &'static str, categories: &'static [&'static str]) -> labels::Label {
        labels::Label { name, confidence: 90.0, instances: Vec::new(), parents: Vec::new(), aliases: &[], categories }
    }

    #[test]
    fn filters_include_and_exclude_by_name_and_category() {
        let dog = label("Dog", &["Animals and Pets"]);
        let car = label("Car", &["Vehicles and Automotive"]);
        let all = LabelSettings::default();
        assert!(all.keeps(&dog) && all.keeps(&car));
        let only_dogs = LabelSettings { include: vec!["Dog".into()], ..Default::default() };
        assert!(only_dogs.keeps(&dog) && !only_dogs.keeps(&car));
        let no_animals = LabelSettings { exclude_categories: vec!["Animals and Pets".into()], ..Default::default() };
        assert!(!no_animals.keeps(&dog) && no_animals.keeps(&car));
        let vehicles =
            LabelSettings { include_categories: vec!["Vehicles and Automotive".into()], ..Default::default() };
        assert!(!vehicles.keeps(&dog) && vehicles.keeps(&car));
        let not_cars = LabelSettings { exclude: vec!["Car".into()], ..Default::default() };
        assert!(not_cars.keeps(&dog) && !not_cars.keeps(&car));
    }
}
