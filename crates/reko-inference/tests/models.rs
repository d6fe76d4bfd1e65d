//! Real models on real images: ONNX Runtime sessions over the installed models, fed through the shared
//! preprocessing. Needs `REKO_TEST_MODELS_DIR` (a fetched models directory) and `../shared/eval` (beside
//! the clone), so the tests are ignored by a plain `cargo test`; `scripts/test` sets the variable, checks
//! that `../shared/eval` is there and runs them with `--include-ignored`. Without either they fail.

use std::path::PathBuf;

use reko_inference::preprocess::prepare;
use reko_inference::{Runtime, RuntimeOptions};

/// `$REKO_TEST_MODELS_DIR`; the test fails when it is unset.
fn models_dir() -> PathBuf {
    std::env::var_os("REKO_TEST_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "REKO_TEST_MODELS_DIR is not set: run scripts/test, or set it to a directory filled by `reko models fetch`"
        )
    })
}

/// `../shared/eval/<name>` beside the clone; the test fails when it is not there.
fn eval_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval").join(name);
    assert!(dir.is_dir(), "{} is not here: these tests need ../shared/eval beside the clone", dir.display());
    dir
}

fn runtime(dir: &std::path::Path) -> Runtime {
    Runtime::load(dir, RuntimeOptions::default()).expect("the runtime and models are installed")
}

/// PP-OCR's text probability map must light up on the annotated text lines of scanned receipts and stay
/// dark elsewhere: a wrong channel order, layout or normalisation breaks this.
#[test]
#[ignore = "needs fetched models and ../shared: scripts/test runs it"]
fn text_detector_finds_the_annotated_lines_of_receipts() {
    let (models, sroie) = (models_dir(), eval_dir("text_sroie_receipts100"));
    let runtime = runtime(&models);
    let det = runtime.session("ppocr-det").unwrap();
    let spec = det.info.preprocessing.clone().unwrap();
    for name in ["000", "001", "002"] {
        let bytes = std::fs::read(sroie.join(format!("img/{name}.jpg"))).unwrap();
        let image = reko_inference::image::decode(&bytes).unwrap().rgb;
        let (tensor, placement) = prepare(&image, &spec, 1280);
        let outputs = det.run(vec![("x", tensor.view().into_dyn())]).unwrap();
        let map = &outputs[0].1;
        let (mh, mw) = (map.shape()[2], map.shape()[3]);
        let mut inside = vec![false; mh * mw];
        let (mut hit, mut lines) = (0usize, 0usize);
        for row in std::fs::read_to_string(sroie.join(format!("box/{name}.csv"))).unwrap().lines() {
            let v: Vec<f32> = row.split(',').take(8).filter_map(|s| s.trim().parse().ok()).collect();
            if v.len() < 8 {
                continue;
            }
            let xs = [v[0], v[2], v[4], v[6]];
            let ys = [v[1], v[3], v[5], v[7]];
            let (x1, x2) = (xs.iter().copied().fold(f32::MAX, f32::min), xs.iter().copied().fold(f32::MIN, f32::max));
            let (y1, y2) = (ys.iter().copied().fold(f32::MAX, f32::min), ys.iter().copied().fold(f32::MIN, f32::max));
            let to_map = |x: f32, y: f32| ((x * placement.scale_x) as usize, (y * placement.scale_y) as usize);
            let (mx1, my1) = to_map(x1, y1);
            let (mx2, my2) = to_map(x2, y2);
            let (mut lit, mut count) = (0usize, 0usize);
            for y in my1.min(mh - 1)..=my2.min(mh - 1) {
                for x in mx1.min(mw - 1)..=mx2.min(mw - 1) {
                    inside[y * mw + x] = true;
                    lit += usize::from(map[[0, 0, y, x]] > 0.5);
                    count += 1;
                }
            }
            lines += 1;
            // DB maps light up shrunk text kernels and the boxes are loose: a line counts as found when
            // a solid part of it (a tenth, or 12 map pixels) is above 0.5.
            if count > 0 && (lit as f32 >= 0.1 * count as f32 || lit >= 12) {
                hit += 1;
            }
        }
        let outside: Vec<f32> = (0..mh * mw).filter(|&i| !inside[i]).map(|i| map[[0, 0, i / mw, i % mw]]).collect();
        let false_text = outside.iter().filter(|&&p| p > 0.5).count() as f32 / outside.len() as f32;
        eprintln!("receipt {name}: {hit}/{lines} lines lit, {:.2}% of background above 0.5", false_text * 100.0);
        assert!(hit as f32 >= 0.9 * lines as f32, "receipt {name}: only {hit}/{lines} text lines detected");
        assert!(false_text < 0.03, "receipt {name}: {:.1}% of the background looks like text", false_text * 100.0);
    }
}

#[test]
#[ignore = "needs fetched models and ../shared: scripts/test runs it"]
fn every_installed_model_runs_and_gives_finite_outputs() {
    let (models, coco) = (models_dir(), eval_dir("coco_val2017_first128"));
    let runtime = runtime(&models);
    let path = std::fs::read_dir(coco.join("images")).unwrap().next().unwrap().unwrap().path();
    let image = reko_inference::image::decode(&std::fs::read(path).unwrap()).unwrap().rgb;
    for (id, model) in &runtime.installed().models {
        let Some(spec) = &model.preprocessing else {
            continue;
        };
        let session = runtime.session(id).unwrap();
        let (tensor, _) = prepare(&image, spec, 640);
        let input = session.info.inputs[0].name.clone();
        let outputs = session.run(vec![(input.as_str(), tensor.view().into_dyn())]).unwrap();
        assert!(!outputs.is_empty(), "{id}");
        for (name, array) in &outputs {
            assert!(array.iter().all(|v| v.is_finite()), "{id}/{name} has non-finite values");
        }
    }
}

/// Concurrent runs of one model get sessions of their own, up to the limit, and agree with a lone run.
#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn concurrent_runs_of_a_model_take_sessions_of_their_own_up_to_the_limit() {
    let models = models_dir();
    let runtime = Runtime::load(&models, RuntimeOptions { max_sessions: 2, ..RuntimeOptions::default() }).unwrap();
    let session = runtime.session("mobilefacenet").unwrap();
    let shape: Vec<usize> = session.info.inputs[0].shape.iter().map(|&d| if d > 0 { d as usize } else { 1 }).collect();
    let count: usize = shape.iter().product();
    let input =
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), (0..count).map(|i| (i % 7) as f32 / 7.0).collect())
            .unwrap();
    let name = session.info.inputs[0].name.clone();
    let alone = session.run(vec![(name.as_str(), input.view())]).unwrap();
    assert_eq!(session.session_count(), 1);
    std::thread::scope(|threads| {
        for _ in 0..3 {
            threads.spawn(|| {
                for _ in 0..20 {
                    let outputs = session.run(vec![(name.as_str(), input.view())]).unwrap();
                    assert_eq!(outputs[0].1, alone[0].1);
                }
            });
        }
    });
    // Three threads at once: a second session was built, never a third.
    assert_eq!(session.session_count(), 2);
}
