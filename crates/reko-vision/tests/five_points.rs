//! The detector's five points and the pose fitted to them, on real faces: LFW's development photos
//! and the larger faces of the WIDER FACE development images, with the fetched models. Needs
//! `REKO_TEST_MODELS_DIR` and `../shared/eval` beside the clone, so it is ignored by a plain `cargo test`;
//! `scripts/test` runs it with `--include-ignored`. Without either it fails.

mod common;

use common::{eval_dir, models_dir, photos};
use reko_inference::boxes::BBox;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::faces::landmarks::{Points68, five_points};
use reko_vision::faces::pose::{self, Pose};
use reko_vision::faces::{FaceAnalysis, FacePipeline};

/// The generic face of the pose module's earlier six-point fit (eye corners, nose tip, mouth corners,
/// chin: iBUG points 36, 45, 30, 48, 54, 8), for comparison.
const MODEL_SIX: [[f32; 3]; 6] = [
    [-45.0, 35.0, -26.0],
    [45.0, 35.0, -26.0],
    [0.0, 0.0, 0.0],
    [-30.0, -30.0, -20.0],
    [30.0, -30.0, -20.0],
    [0.0, -75.0, -15.0],
];

fn six_point_pose(points: &Points68) -> Pose {
    let six: Vec<(f32, f32)> = [36, 45, 30, 48, 54, 8].iter().map(|&i| points[i]).collect();
    pose::fit(&six, &MODEL_SIX)
}

/// The five points of a face in the mirrored photo, put back in the original's frame and order.
fn unmirror(five: &[(f32, f32); 5], width: f32) -> [(f32, f32); 5] {
    let back = |p: (f32, f32)| (width - p.0, p.1);
    [back(five[1]), back(five[0]), back(five[2]), back(five[4]), back(five[3])]
}

/// How far a pose and its mirrored photo's are from mirror images: |roll + roll'|, |yaw + yaw'|,
/// |pitch − pitch'|.
fn mirror_error(pose: Pose, mirrored: Pose) -> [f32; 3] {
    [(pose.roll + mirrored.roll).abs(), (pose.yaw + mirrored.yaw).abs(), (pose.pitch - mirrored.pitch).abs()]
}

#[derive(Default)]
struct Tally {
    faces: usize,
    /// Mean distance between the detector's five points and those of the 68, in eye distances, per point.
    apart: [f32; 5],
    /// Mean distance between a face's points and its mirror's, unmirrored: detector's, then the 68's.
    mirror_detector: f32,
    mirror_68: f32,
    /// Five-point pose against the six-point pose: mean signed and absolute differences (roll, yaw, pitch).
    signed: [f32; 3],
    absolute: [f32; 3],
    /// Five-point pose against the mirrored photo's: |roll + roll'|, |yaw + yaw'|, |pitch − pitch'|.
    mirror_pose: [f32; 3],
    /// The same for the six-point pose.
    mirror_pose_six: [f32; 3],
}

impl Tally {
    fn add(&mut self, face: &FaceAnalysis, mirrored: &FaceAnalysis, width: f32) {
        let points = face.points.as_ref().expect("the attributes bring the 68 points");
        let theirs = five_points(points);
        let eyes = (theirs[0].0 - theirs[1].0).hypot(theirs[0].1 - theirs[1].1).max(1.0);
        let d = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1) / eyes;
        for ((apart, &mine), &theirs) in self.apart.iter_mut().zip(&face.five).zip(&theirs) {
            *apart += d(mine, theirs);
        }
        let back = unmirror(&mirrored.five, width);
        self.mirror_detector += (0..5).map(|k| d(face.five[k], back[k])).sum::<f32>() / 5.0;
        let back68 = unmirror(&five_points(mirrored.points.as_ref().expect("68 points")), width);
        self.mirror_68 += (0..5).map(|k| d(theirs[k], back68[k])).sum::<f32>() / 5.0;
        let (p, q) = (face.pose, six_point_pose(points));
        for (k, (a, b)) in [(p.roll, q.roll), (p.yaw, q.yaw), (p.pitch, q.pitch)].into_iter().enumerate() {
            self.signed[k] += a - b;
            self.absolute[k] += (a - b).abs();
        }
        let six_m = six_point_pose(mirrored.points.as_ref().expect("68 points"));
        for (total, v) in self.mirror_pose.iter_mut().zip(mirror_error(p, mirrored.pose)) {
            *total += v;
        }
        for (total, v) in self.mirror_pose_six.iter_mut().zip(mirror_error(q, six_m)) {
            *total += v;
        }
        self.faces += 1;
    }

    fn report(&self, set: &str) -> Tally {
        let n = self.faces.max(1) as f32;
        let mean = Tally {
            faces: self.faces,
            apart: self.apart.map(|v| v / n),
            mirror_detector: self.mirror_detector / n,
            mirror_68: self.mirror_68 / n,
            signed: self.signed.map(|v| v / n),
            absolute: self.absolute.map(|v| v / n),
            mirror_pose: self.mirror_pose.map(|v| v / n),
            mirror_pose_six: self.mirror_pose_six.map(|v| v / n),
        };
        println!(
            "{set}: {} faces; detector's points from the 68's (eye distances): eyes {:.3} {:.3}, nose {:.3}, \
             mouth {:.3} {:.3}; mirror error detector {:.3}, 68 points {:.3}",
            mean.faces,
            mean.apart[0],
            mean.apart[1],
            mean.apart[2],
            mean.apart[3],
            mean.apart[4],
            mean.mirror_detector,
            mean.mirror_68
        );
        println!(
            "  pose from five minus six points (roll, yaw, pitch): mean {:.1} {:.1} {:.1}, mean |·| {:.1} {:.1} {:.1}; \
             mirror error five {:.1} {:.1} {:.1}, six {:.1} {:.1} {:.1}",
            mean.signed[0],
            mean.signed[1],
            mean.signed[2],
            mean.absolute[0],
            mean.absolute[1],
            mean.absolute[2],
            mean.mirror_pose[0],
            mean.mirror_pose[1],
            mean.mirror_pose[2],
            mean.mirror_pose_six[0],
            mean.mirror_pose_six[1],
            mean.mirror_pose_six[2]
        );
        mean
    }
}

/// The largest face of a photo, and the same face in the mirrored photo (of its three largest, the one
/// whose box, mirrored back, overlaps it most, at IoU 0.5 or more).
fn face_and_mirror(
    runtime: &Runtime,
    pipeline: &FacePipeline,
    rgb: &image::RgbImage,
) -> Option<(FaceAnalysis, FaceAnalysis)> {
    let face = pipeline.analyze(runtime, rgb, true, 1).expect("the pipeline runs").pop()?;
    let mirrored = image::imageops::flip_horizontal(rgb);
    let width = rgb.width() as f32;
    let overlap = |other: &FaceAnalysis| {
        let b = other.bbox;
        face.bbox.iou(&BBox { x1: width - b.x2, y1: b.y1, x2: width - b.x1, y2: b.y2 })
    };
    let other = pipeline
        .analyze(runtime, &mirrored, true, 3)
        .expect("the pipeline runs")
        .into_iter()
        .max_by(|a, b| overlap(a).total_cmp(&overlap(b)))
        .filter(|other| overlap(other) >= 0.5)?;
    Some((face, other))
}

/// The detector's five points must lie where the 68-point network puts the eyes, nose tip and mouth
/// corners, and mirror with the photo; the pose fitted to them must mirror with the photo and agree on
/// roll and yaw with the six-point fit it replaced (pitch is where the two differ: the six-point fit
/// leans on the chin, which moves with the jaw). A swapped point, a wrong sign or a broken fit fails.
#[test]
#[ignore = "needs fetched models and ../shared: scripts/test runs it"]
fn five_points_and_pose_agree_with_the_68_points_and_mirror() {
    let runtime = Runtime::load(&models_dir(), RuntimeOptions::default()).expect("the runtime and models load");
    let pipeline = FacePipeline::default();
    let mut lfw = Tally::default();
    for path in photos(&eval_dir().join("lfw/lfw-deepfunneled"), 25) {
        let bytes = std::fs::read(&path).expect("the photo reads");
        let rgb = reko_inference::image::decode(&bytes).expect("LFW photos decode").rgb;
        if let Some((face, other)) = face_and_mirror(&runtime, &pipeline, &rgb) {
            lfw.add(&face, &other, rgb.width() as f32);
        }
    }
    let lfw = lfw.report("LFW, every 25th photo");
    let mut wider = Tally::default();
    for path in photos(&eval_dir().join("widerface_val_subset/images"), 1) {
        let bytes = std::fs::read(&path).expect("the photo reads");
        let rgb = reko_inference::image::decode(&bytes).expect("WIDER photos decode").rgb;
        if let Some((face, other)) = face_and_mirror(&runtime, &pipeline, &rgb)
            && face.bbox.width() >= 80.0
        {
            wider.add(&face, &other, rgb.width() as f32);
        }
    }
    let wider = wider.report("WIDER FACE dev, each photo's largest face if 80 px wide or more");
    // Measured 2026-12-04 (LFW / WIDER): points 0.08–0.10 / 0.23–0.35 eye distances from the 68's;
    // mirror error 0.055 against the 68's 0.065 / 0.124 against 0.219; pose mirror error (roll, yaw,
    // pitch) 3.3 3.3 2.4 / 5.8 5.6 5.3 degrees against the six-point fit's 2.0 2.9 2.9 / 7.8 6.5 7.9;
    // yaw 3.6 degrees from the six-point fit's on average on LFW.
    assert!(lfw.faces >= 195 && wider.faces >= 80, "{} LFW and {} WIDER faces", lfw.faces, wider.faces);
    assert!(
        lfw.apart.iter().all(|&d| d < 0.15),
        "LFW: the five points lie {:?} eye distances from the 68's",
        lfw.apart
    );
    assert!(lfw.mirror_detector < 0.08 && wider.mirror_detector < 0.2, "the five points do not mirror with the photo");
    assert!(lfw.mirror_pose.iter().all(|&d| d < 5.0), "LFW: pose mirror error {:?}", lfw.mirror_pose);
    assert!(wider.mirror_pose.iter().all(|&d| d < 8.0), "WIDER: pose mirror error {:?}", wider.mirror_pose);
    assert!(
        lfw.absolute[0] < 5.0 && lfw.absolute[1] < 6.0,
        "LFW: roll and yaw {:?} from the six-point fit's",
        lfw.absolute
    );
}
