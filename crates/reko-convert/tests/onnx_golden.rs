//! The re-declared CenterFace model (`convert_onnx`) against the file it comes from, both run by ONNX Runtime:
//! the original accepts only its declared [10, 3, 32, 32] input, so that is where they are compared, output by
//! output; the converted one must also run one image at a time and at other sizes, with outputs a quarter of
//! the input's size. Ignored by a plain `cargo test`; `scripts/test` sets `REKO_TEST_ONNX_DIR` (the fetched
//! sources) and `REKO_ORT_DYLIB` and runs it.

use std::path::Path;

use reko_convert::{OnnxOptions, convert_onnx};

// This test compares with the original model run live, not with stored goldens (`golden_files`).
#[allow(dead_code)]
mod common;
use common::{compare, fetched};

const TOLERANCE: f64 = 1e-4;

fn session(environment: &ort::environment::Environment, onnx: &[u8]) -> ort::session::Session {
    ort::session::Session::builder(environment)
        .and_then(|mut b| b.commit_from_memory(onnx))
        .expect("onnxruntime accepts the model")
}

/// Outputs (name, shape, values) of one run on NCHW `pixels`.
fn run(session: &mut ort::session::Session, shape: [i64; 4], pixels: Vec<f32>) -> Vec<(String, Vec<i64>, Vec<f32>)> {
    let tensor = ort::value::Tensor::from_array((shape.to_vec(), pixels)).expect("tensor");
    let outputs = session.run(ort::inputs!["input.1" => tensor]).expect("run");
    outputs
        .iter()
        .map(|(name, value)| {
            let (shape, values) = value.try_extract_tensor::<f32>().expect("f32 output");
            (name.to_string(), shape.to_vec(), values.to_vec())
        })
        .collect()
}

/// Deterministic pixels (0..255) for `batch` images of `height` × `width`: gradients and a bright square, so
/// that the heatmap is not flat.
fn pixels(batch: usize, height: usize, width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch * 3 * height * width);
    for b in 0..batch {
        for c in 0..3 {
            for y in 0..height {
                for x in 0..width {
                    let square = (height / 4..height * 3 / 4).contains(&y) && (width / 4..width * 3 / 4).contains(&x);
                    let v = if square { 230.0 } else { ((x * 7 + y * 3 + b * 29 + c * 53) % 256) as f32 };
                    out.push(v);
                }
            }
        }
    }
    out
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn redeclared_centerface_matches_the_original() {
    let (dir, ort_dylib) = (fetched("REKO_TEST_ONNX_DIR"), fetched("REKO_ORT_DYLIB"));
    let source = Path::new(&dir).join("centerface.onnx");
    let options = OnnxOptions { dynamic_batch: true, dynamic_spatial: true };
    let converted = convert_onnx(&source, &options).expect("conversion");
    println!("{}", converted.report);
    let environment = ort::init_from(&ort_dylib).expect("load onnxruntime").build().expect("ort environment");
    let mut original = session(&environment, &std::fs::read(&source).expect("original"));
    let mut redeclared = session(&environment, &converted.onnx);

    let batch = pixels(10, 32, 32);
    let want = run(&mut original, [10, 3, 32, 32], batch.clone());
    let got = run(&mut redeclared, [10, 3, 32, 32], batch.clone());
    let first = run(&mut redeclared, [1, 3, 32, 32], batch[..3 * 32 * 32].to_vec());
    assert_eq!(want.len(), 4, "heatmap, scale, offset, landmarks");
    for ((w, g), f) in want.iter().zip(&got).zip(&first) {
        assert_eq!((&w.0, &w.1), (&g.0, &g.1), "same output, same shape");
        let expected: Vec<(usize, f64)> = w.2.iter().map(|&v| f64::from(v)).enumerate().collect();
        let batch = compare(&expected, &g.2, TOLERANCE, "original");
        let one = compare(&expected[..w.2.len() / 10], &f.2, TOLERANCE, "original");
        println!("{}: batch max abs {:.2e}, one image max abs {:.2e}", w.0, batch.max_abs, one.max_abs);
        assert_eq!(batch.failures + one.failures, 0, "{}: worst {} / {}", w.0, batch.worst, one.worst);
    }
    // Any size divisible by 32: outputs at stride 4.
    let wide = run(&mut redeclared, [1, 3, 64, 96], pixels(1, 64, 96));
    let channels: Vec<i64> = wide.iter().map(|o| o.1[1]).collect();
    assert_eq!(channels, [1, 2, 2, 10]);
    assert!(wide.iter().all(|o| o.1 == [1, o.1[1], 16, 24]), "{:?}", wide.iter().map(|o| &o.1).collect::<Vec<_>>());
    let heat = &wide[0].2;
    assert!(heat.iter().all(|v| (0.0..=1.0).contains(v)), "the heatmap is a sigmoid");
}
