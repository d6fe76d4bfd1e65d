//! Faces: detection ([`detect`]), 68 landmarks and the 30 Rekognition landmark types ([`landmarks`]),
//! head pose ([`pose`]), quality ([`quality`]), attributes from face-api's networks, and embeddings for
//! comparison and search ([`embed`]). [`FacePipeline`] runs them in that order.

pub mod detect;
pub mod embed;
pub mod landmarks;
pub mod pose;
pub mod quality;
pub mod similarity;

use image::RgbImage;
use reko_inference::boxes::BBox;
use reko_inference::preprocess::{ChannelOrder, Layout, to_tensor};
use reko_inference::{InferenceError, Runtime};

pub use detect::{DetectedFace, DetectorKind, FaceDetector};
pub use pose::Pose;

/// Rekognition returns at most this many faces, largest first.
pub const MAX_FACES: usize = 100;

const AGE_GENDER_MODEL: &str = "faceapi-age-gender";
const EXPRESSION_MODEL: &str = "faceapi-expression";

/// face-api's expression classes, in its output order.
pub const EXPRESSIONS: [&str; 7] = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"];

/// One analysed face, in image pixels.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub bbox: BBox,
    /// Detection confidence, 0..1.
    pub score: f32,
    pub points: landmarks::Points68,
    pub pose: Pose,
    /// (brightness, sharpness), 0..100.
    pub quality: (f32, f32),
    pub attributes: Option<Attributes>,
}

/// What the attribute networks and landmark geometry say about a face.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes {
    /// Estimated age in years.
    pub age: f32,
    /// Probability that the face is male (face-api's gender classifier).
    pub male: f32,
    /// Probabilities in [`EXPRESSIONS`] order.
    pub expressions: [f32; 7],
    /// Eye aspect ratio (open eyes ≈ 0.25–0.35, closed < 0.15).
    pub eye_aspect_ratio: f32,
    /// Inner-lip gap over mouth width (closed ≈ 0, open > 0.1).
    pub mouth_open_ratio: f32,
}

/// The face pipeline: which detector, and the shared steps after it.
#[derive(Debug, Clone)]
pub struct FacePipeline {
    pub detector: FaceDetector,
}

impl Default for FacePipeline {
    fn default() -> Self {
        FacePipeline { detector: FaceDetector::new(DetectorKind::CenterFace) }
    }
}

impl FacePipeline {
    /// Detects and analyses up to `max_faces` faces, largest first; attributes only when asked.
    pub fn analyze(
        &self,
        runtime: &Runtime,
        image: &RgbImage,
        attributes: bool,
        max_faces: usize,
    ) -> Result<Vec<FaceAnalysis>, InferenceError> {
        let mut faces = self.detector.detect(runtime, image)?;
        faces.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
        faces.truncate(max_faces.min(MAX_FACES));
        let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let points = landmarks::landmarks68(runtime, image, &boxes)?;
        let crops: Vec<RgbImage> =
            boxes.iter().map(|b| landmarks::square_crop(image, &landmarks::landmark_crop(b), 112)).collect();
        let attrs = if attributes { Some(self.attributes(runtime, &crops, &points)?) } else { None };
        Ok(faces
            .iter()
            .zip(points)
            .zip(&crops)
            .enumerate()
            .map(|(i, ((face, points), crop))| FaceAnalysis {
                bbox: face.bbox,
                score: face.score,
                pose: pose::estimate(&points),
                quality: quality::measure(crop),
                attributes: attrs.as_ref().map(|a| a[i].clone()),
                points,
            })
            .collect())
    }

    /// Unit embeddings of analysed faces.
    pub fn embed(
        &self,
        runtime: &Runtime,
        image: &RgbImage,
        faces: &[FaceAnalysis],
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        let aligned: Vec<RgbImage> =
            faces.iter().map(|f| embed::align(image, &landmarks::five_points(&f.points))).collect();
        embed::embed(runtime, &aligned)
    }

    fn attributes(
        &self,
        runtime: &Runtime,
        crops: &[RgbImage],
        points: &[landmarks::Points68],
    ) -> Result<Vec<Attributes>, InferenceError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let run = |model: &str| -> Result<Vec<(String, ndarray::ArrayD<f32>)>, InferenceError> {
            let session = runtime.session(model)?;
            let norm = session.normalization();
            let tensors: Vec<_> = crops.iter().map(|c| to_tensor(c, Layout::Nhwc, ChannelOrder::Rgb, norm)).collect();
            session.run_batch(&tensors)
        };
        let age_gender = run(AGE_GENDER_MODEL)?;
        let expression = run(EXPRESSION_MODEL)?;
        let output = |outputs: &[(String, ndarray::ArrayD<f32>)], name: &str| -> Vec<f32> {
            outputs.iter().find(|(n, _)| n == name).map(|(_, a)| a.iter().copied().collect()).unwrap_or_default()
        };
        let (ages, genders, expressions) =
            (output(&age_gender, "age"), output(&age_gender, "gender"), output(&expression, "expressions"));
        Ok((0..crops.len())
            .map(|i| Attributes {
                age: ages[i],
                male: genders[2 * i],
                expressions: std::array::from_fn(|k| expressions[7 * i + k]),
                eye_aspect_ratio: landmarks::eye_aspect_ratio(&points[i]),
                mouth_open_ratio: landmarks::mouth_open_ratio(&points[i]),
            })
            .collect())
    }
}
