//! The pupils from the iris network on real faces: LFW's development photos, with the fetched models.
//! Needs `REKO_TEST_MODELS_DIR` and `../shared/eval` beside the clone, so it is ignored by a plain
//! `cargo test`; `scripts/test` runs it with `--include-ignored`. Without either it fails.

mod common;

use std::path::PathBuf;

use common::{eval_dir, models_dir, photos};
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::faces::FacePipeline;
use reko_vision::faces::landmarks::{Points68, five_points};

/// Every 25th photo of LFW's deep-funneled development set (200 photos), in name order.
fn lfw_photos() -> Vec<PathBuf> {
    photos(&eval_dir().join("lfw/lfw-deepfunneled"), 25)
}

/// An eye's 68-point box (its six points, from `first`) and its corner-to-corner width.
fn eye_box(points: &Points68, first: usize) -> ((f32, f32, f32, f32), f32) {
    let eye = &points[first..first + 6];
    let (x1, x2) = eye.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y1, y2) = eye.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let width = (points[first].0 - points[first + 3].0).hypot(points[first].1 - points[first + 3].1);
    ((x1, y1, x2, y2), width)
}

/// The iris centre must fall in the eye the 68 landmarks outline, near its middle (LFW's faces mostly
/// look at the camera), and a mirrored photo must give mirrored pupils: a wrong output index, scale,
/// crop or mirroring breaks one of these.
#[test]
#[ignore = "needs fetched models and ../shared: scripts/test runs it"]
fn pupils_lie_in_the_eyes_and_mirror_with_the_photo() {
    let runtime = Runtime::load(&models_dir(), RuntimeOptions::default()).expect("the runtime and models load");
    let pipeline = FacePipeline::default();
    let (mut eyes, mut inside, mut offsets) = (0, 0, Vec::new());
    // Pupils, and for comparison the 68 points' eye centres, against those of the mirrored photo.
    let (mut mirror_errors, mut centre_errors) = (Vec::new(), Vec::new());
    for path in lfw_photos() {
        let bytes = std::fs::read(&path).expect("the photo reads");
        let rgb = reko_inference::image::decode(&bytes).expect("LFW photos decode").rgb;
        let Some(face) = pipeline.analyze(&runtime, &rgb, true, 1).expect("the pipeline runs").pop() else {
            continue;
        };
        let pupils = face.pupils.expect("the attributes bring the pupils");
        let points = face.points.as_ref().expect("the attributes bring the 68 points");
        for (pupil, first) in pupils.iter().zip([36, 42]) {
            let ((x1, y1, x2, y2), width) = eye_box(points, first);
            eyes += 1;
            let slack = 0.1 * width;
            if pupil.0 >= x1 - slack && pupil.0 <= x2 + slack && pupil.1 >= y1 - slack && pupil.1 <= y2 + slack {
                inside += 1;
            }
            let middle = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
            offsets.push((pupil.0 - middle.0).hypot(pupil.1 - middle.1) / width);
        }
        let mirrored = image::imageops::flip_horizontal(&rgb);
        if let Some(other) = pipeline.analyze(&runtime, &mirrored, true, 1).expect("the pipeline runs").pop() {
            let theirs = other.pupils.expect("the attributes bring the pupils");
            let (_, width) = eye_box(points, 36);
            let w = rgb.width() as f32;
            let apart = |a: (f32, f32), b: (f32, f32)| (a.0 - (w - b.0)).hypot(a.1 - b.1) / width;
            for (mine, theirs) in [(pupils[0], theirs[1]), (pupils[1], theirs[0])] {
                mirror_errors.push(apart(mine, theirs));
            }
            let (mine, theirs) =
                (five_points(points), five_points(other.points.as_ref().expect("the attributes bring the 68 points")));
            centre_errors.extend([apart(mine[0], theirs[1]), apart(mine[1], theirs[0])]);
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    println!(
        "{eyes} eyes: {inside} pupils in their eye's box, mean offset from its middle {:.3} eye widths, \
         mirror error {:.3} (the eye centres' {:.3})",
        mean(&offsets),
        mean(&mirror_errors),
        mean(&centre_errors)
    );
    assert!(eyes >= 380, "only {eyes} eyes found");
    assert!(inside as f32 >= 0.97 * eyes as f32, "{inside} of {eyes} pupils in their eye");
    assert!(mean(&offsets) < 0.15, "pupils {:.3} eye widths from the eye's middle on average", mean(&offsets));
    // Measured 0.087 with the viewer's right eye mirrored in and out (MediaPipe's way), 0.097 with
    // neither eye mirrored, 0.136 with both: the 68 points themselves are only so symmetric.
    assert!(mean(&mirror_errors) < 0.11, "mirrored photos put the pupils {:.3} eye widths apart", mean(&mirror_errors));
}
