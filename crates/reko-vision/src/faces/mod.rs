//! Faces: detection with five points per face ([`detect`]); head pose from those points ([`pose`]);
//! quality ([`quality`]); with the attributes, 68 landmarks, pupils and the 30 Rekognition landmark types
//! ([`landmarks`]) and attributes from face-api's networks (gender from a head over the embedding and
//! face-api's gender network, [`GENDER_HEAD`]); embeddings for comparison and search, aligned on the five
//! points ([`embed`]). [`FacePipeline`] runs them in that order.

pub mod detect;
pub mod embed;
pub mod landmarks;
pub mod pose;
pub mod quality;
pub mod similarity;

use std::time::{Duration, Instant};

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

/// The gender head (`reko eval gender --write`): a logistic regression over the face embedding and face-api's
/// gender log-odds, fitted on LFW's dev gender labels (98.3% cross-validated by identity, against 96.9%
/// for face-api's network alone).
pub static GENDER_HEAD: std::sync::LazyLock<crate::custom::Head> = std::sync::LazyLock::new(|| {
    serde_json::from_str(include_str!("../../data/gender_head.json")).expect("data/gender_head.json is a head")
});

/// The gender head's features: the embedding and face-api's log-odds of male, scaled.
pub fn gender_features(embedding: &[f32], male_network: f32) -> Vec<f32> {
    let p = male_network.clamp(1e-4, 1.0 - 1e-4);
    embedding.iter().copied().chain(std::iter::once((p / (1.0 - p)).ln() / 8.0)).collect()
}

/// face-api's expression classes, in its output order.
pub const EXPRESSIONS: [&str; 7] = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"];

/// One analysed face, in image pixels.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub bbox: BBox,
    /// Detection confidence, 0..1.
    pub score: f32,
    /// Eyes, nose tip and mouth corners (the viewer's left of each pair first): the detector's five
    /// points, or those of the 68 when the detector gives none. Alignment and pose use them.
    pub five: [(f32, f32); 5],
    /// The 68 points, when the attributes were asked for or the detector gives no five points.
    pub points: Option<landmarks::Points68>,
    /// The viewer's left and right pupils from the iris network, when the attributes were asked for
    /// (they are among the landmarks only `ALL` returns).
    pub pupils: Option<[(f32, f32); 2]>,
    pub pose: Pose,
    /// (brightness, sharpness), 0..100.
    pub quality: (f32, f32),
    pub attributes: Option<Attributes>,
    /// The unit embedding, when the attributes needed it (reused by [`FacePipeline::embed`]).
    pub embedding: Option<Vec<f32>>,
}

/// What the attribute networks and landmark geometry say about a face.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes {
    /// Estimated age in years.
    pub age: f32,
    /// Probability that the face is male: [`GENDER_HEAD`] over the embedding and `male_network`.
    pub male: f32,
    /// face-api's gender network's probability that the face is male.
    pub male_network: f32,
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

/// Time spent in each stage of [`FacePipeline::analyze_timed`] and [`FacePipeline::embed_timed`], summed
/// over calls.
#[derive(Debug, Clone, Default)]
pub struct FaceProfile {
    /// Faces analysed.
    pub faces: usize,
    /// The detector, with its resizing and decoding.
    pub detect: Duration,
    /// The 68-point network (with attributes only, or for a detector without five points).
    pub landmarks: Duration,
    /// Crops, quality and pose.
    pub pose_quality: Duration,
    /// The age/gender and expression networks.
    pub attributes: Duration,
    /// The iris network on both eyes.
    pub pupils: Duration,
    /// Alignment to the 112 × 112 template.
    pub align: Duration,
    /// MobileFaceNet on each aligned face and its mirror.
    pub embed: Duration,
}

/// Aligns each face on its five points and embeds it, timing both.
fn embed_timed(
    runtime: &Runtime,
    image: &RgbImage,
    five: &[[(f32, f32); 5]],
    profile: &mut FaceProfile,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    let started = Instant::now();
    let aligned: Vec<RgbImage> = five.iter().map(|f| embed::align(image, f)).collect();
    profile.align += started.elapsed();
    let started = Instant::now();
    let embeddings = embed::embed(runtime, &aligned)?;
    profile.embed += started.elapsed();
    Ok(embeddings)
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
        self.analyze_timed(runtime, image, attributes, max_faces, &mut FaceProfile::default())
    }

    /// [`FacePipeline::analyze`], adding the time of each stage to `profile`.
    pub fn analyze_timed(
        &self,
        runtime: &Runtime,
        image: &RgbImage,
        attributes: bool,
        max_faces: usize,
        profile: &mut FaceProfile,
    ) -> Result<Vec<FaceAnalysis>, InferenceError> {
        let started = Instant::now();
        let mut faces = self.detector.detect(runtime, image)?;
        faces.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
        faces.truncate(max_faces.min(MAX_FACES));
        profile.detect += started.elapsed();
        profile.faces += faces.len();
        let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let keypoints: Vec<Option<[(f32, f32); 5]>> =
            faces.iter().map(|f| <[(f32, f32); 5]>::try_from(f.keypoints.as_slice()).ok()).collect();
        // The 68-point network serves the attributes and the 30 landmarks of `ALL`; without them the
        // detector's five points are enough, unless it gave none.
        let started = Instant::now();
        let points = if attributes || keypoints.iter().any(Option::is_none) {
            Some(landmarks::landmarks68(runtime, image, &boxes)?)
        } else {
            None
        };
        profile.landmarks += started.elapsed();
        let five: Vec<[(f32, f32); 5]> = keypoints
            .iter()
            .enumerate()
            .map(|(i, k)| match (k, &points) {
                (Some(k), _) => *k,
                (None, Some(points)) => landmarks::five_points(&points[i]),
                (None, None) => unreachable!("the 68 points are found when a face has no five"),
            })
            .collect();
        let started = Instant::now();
        let crops: Vec<RgbImage> =
            boxes.iter().map(|b| landmarks::square_crop(image, &landmarks::landmark_crop(b), 112)).collect();
        let geometry: Vec<(Pose, (f32, f32))> =
            five.iter().zip(&crops).map(|(five, crop)| (pose::estimate(five), quality::measure(crop))).collect();
        profile.pose_quality += started.elapsed();
        let (attrs, embeddings, pupils) = match (&points, attributes) {
            (Some(points), true) => {
                let started = Instant::now();
                let mut attrs = self.attributes(runtime, &crops, points)?;
                profile.attributes += started.elapsed();
                let started = Instant::now();
                let pupils = landmarks::pupils(runtime, image, points)?;
                profile.pupils += started.elapsed();
                let embeddings = embed_timed(runtime, image, &five, profile)?;
                for (a, e) in attrs.iter_mut().zip(&embeddings) {
                    a.male = GENDER_HEAD.probabilities(&gender_features(e, a.male_network))[1];
                }
                (Some(attrs), Some(embeddings), Some(pupils))
            }
            _ => (None, None, None),
        };
        Ok(faces
            .iter()
            .zip(five)
            .zip(geometry)
            .enumerate()
            .map(|(i, ((face, five), (pose, quality)))| FaceAnalysis {
                bbox: face.bbox,
                score: face.score,
                pose,
                quality,
                attributes: attrs.as_ref().map(|a| a[i].clone()),
                embedding: embeddings.as_ref().map(|e| e[i].clone()),
                pupils: pupils.as_ref().map(|p| p[i]),
                points: points.as_ref().map(|p| p[i]),
                five,
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
        self.embed_timed(runtime, image, faces, &mut FaceProfile::default())
    }

    /// [`FacePipeline::embed`], adding the time of alignment and embedding to `profile`.
    pub fn embed_timed(
        &self,
        runtime: &Runtime,
        image: &RgbImage,
        faces: &[FaceAnalysis],
        profile: &mut FaceProfile,
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        if let Some(all) = faces.iter().map(|f| f.embedding.clone()).collect::<Option<Vec<_>>>() {
            return Ok(all);
        }
        let five: Vec<[(f32, f32); 5]> = faces.iter().map(|f| f.five).collect();
        embed_timed(runtime, image, &five, profile)
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
        // Each model's outputs, face by face (one face a run).
        let run = |model: &str| -> Result<Vec<reko_inference::Outputs>, InferenceError> {
            let session = runtime.session(model)?;
            let norm = session.normalization();
            let tensors: Vec<_> = crops.iter().map(|c| to_tensor(c, Layout::Nhwc, ChannelOrder::Rgb, norm)).collect();
            session.run_each(&tensors)
        };
        let age_gender = run(AGE_GENDER_MODEL)?;
        let expression = run(EXPRESSION_MODEL)?;
        let output = |outputs: &[(String, ndarray::ArrayD<f32>)], name: &str| -> Vec<f32> {
            outputs.iter().find(|(n, _)| n == name).map(|(_, a)| a.iter().copied().collect()).unwrap_or_default()
        };
        Ok((0..crops.len())
            .map(|i| {
                let (age, gender, expressions) = (
                    output(&age_gender[i], "age"),
                    output(&age_gender[i], "gender"),
                    output(&expression[i], "expressions"),
                );
                Attributes {
                    age: age[0],
                    male: gender[0],
                    male_network: gender[0],
                    expressions: std::array::from_fn(|k| expressions[k]),
                    eye_aspect_ratio: landmarks::eye_aspect_ratio(&points[i]),
                    mouth_open_ratio: landmarks::mouth_open_ratio(&points[i]),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod gender_tests {
    use super::*;

    /// The shipped head reads the embedding and face-api's log-odds, and leans on both.
    #[test]
    fn the_gender_head_reads_the_embedding_and_the_network() {
        let head = &*GENDER_HEAD;
        assert_eq!(head.labels, ["female", "male"]);
        assert_eq!(head.centre.len(), embed::EMBEDDING_SIZE + 1);
        assert_eq!(head.weights.len(), 2 * (embed::EMBEDDING_SIZE + 1));
        let zero = vec![0.0; embed::EMBEDDING_SIZE];
        let (sure_male, sure_female) = (
            head.probabilities(&gender_features(&zero, 0.999))[1],
            head.probabilities(&gender_features(&zero, 0.001))[1],
        );
        assert!(sure_male > sure_female, "{sure_male} vs {sure_female}");
    }
}
