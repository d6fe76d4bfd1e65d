//! Golden test for the PyTorch state dict converter: `tests/golden_pytorch/efficientnet-lite0.json`
//! (written by `tools/golden/pytorch_golden.py` with PyTorch itself) is reproduced by converting
//! `$REKO_TEST_PYTORCH_DIR/efficientnet-lite0.pth` to ONNX and running it with ONNX Runtime
//! (`$REKO_ORT_DYLIB`) on the same pixels, normalised the same way, in one batch and one at a time.
//!
//! A logit fails when `|onnx - torch| > 1e-3 * max(1, |torch|)`, and each image's top-5 classes must
//! be PyTorch's. The tests are ignored by a plain `cargo test`; `scripts/test` sets the two variables and
//! runs them with `--include-ignored`, and without them they fail.

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;

mod common;
use common::{compare, fetched, golden_files};

const TOLERANCE: f64 = 1e-3;

#[derive(Debug, Deserialize)]
struct Golden {
    /// `[batch, height, width, 3]` of the pixels the model saw.
    pixels_shape: Vec<usize>,
    input_upsample: usize,
    input_uint8_base64: String,
    normalisation: Normalisation,
    logits_shape: Vec<usize>,
    sample_indices: Vec<usize>,
    sample_values: Vec<f64>,
    top5: Vec<Vec<usize>>,
}

#[derive(Debug, Deserialize)]
struct Normalisation {
    scale: f64,
    offset: f64,
}

/// The model input for the golden batch, NCHW: stored pixels replicated, then `u8 * scale + offset`.
fn model_input(golden: &Golden) -> Vec<f32> {
    let small = base64::engine::general_purpose::STANDARD.decode(&golden.input_uint8_base64).expect("base64");
    let [batch, height, width, 3] = golden.pixels_shape[..] else { panic!("pixels are not HWC RGB") };
    let k = golden.input_upsample;
    let (small_h, small_w) = (height / k, width / k);
    assert_eq!(small.len(), batch * small_h * small_w * 3, "stored pixel count");
    let mut out = Vec::with_capacity(batch * 3 * height * width);
    for b in 0..batch {
        for c in 0..3 {
            for y in 0..height {
                for x in 0..width {
                    let u = f64::from(small[((b * small_h + y / k) * small_w + x / k) * 3 + c]);
                    out.push((u * golden.normalisation.scale + golden.normalisation.offset) as f32);
                }
            }
        }
    }
    out
}

fn top5(row: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
    order.truncate(5);
    order
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn converted_efficientnet_lite0_matches_pytorch() {
    let (dir, ort_dylib) = (fetched("REKO_TEST_PYTORCH_DIR"), fetched("REKO_ORT_DYLIB"));
    let [file] = &golden_files("golden_pytorch")[..] else { panic!("one golden in tests/golden_pytorch") };
    let golden: Golden = serde_json::from_slice(&std::fs::read(file).expect("golden")).expect("golden json");
    let converted =
        reko_convert::convert_efficientnet_lite0(&Path::new(&dir).join("efficientnet-lite0.pth")).expect("conversion");
    println!("{}", converted.report);
    let environment = ort::init_from(&ort_dylib).expect("load onnxruntime").build().expect("ort environment");
    let mut session = ort::session::Session::builder(&environment)
        .and_then(|mut b| b.commit_from_memory(&converted.onnx))
        .expect("onnxruntime accepts the model");

    let pixels = model_input(&golden);
    let [batch, classes] = golden.logits_shape[..] else { panic!("logits shape") };
    let [_, height, width, _] = golden.pixels_shape[..] else { panic!("pixels shape") };
    let per_image = 3 * height * width;
    let run = |session: &mut ort::session::Session, items: &[usize]| -> Vec<f32> {
        let input: Vec<f32> =
            items.iter().flat_map(|&i| pixels[i * per_image..(i + 1) * per_image].iter().copied()).collect();
        let shape = vec![items.len() as i64, 3, height as i64, width as i64];
        let tensor = ort::value::Tensor::from_array((shape, input)).expect("tensor");
        let outputs = session.run(ort::inputs!["input" => tensor]).expect("run");
        let (_, logits) = outputs["logits"].try_extract_tensor::<f32>().expect("logits");
        let (_, probabilities) = outputs["probabilities"].try_extract_tensor::<f32>().expect("probabilities");
        for row in probabilities.chunks(classes) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "probabilities sum to 1");
        }
        // The pooled features the logits are made from: 1,280 averages of ReLU6 outputs an image.
        let (shape, features) = outputs["features"].try_extract_tensor::<f32>().expect("features");
        assert_eq!(shape.to_vec(), vec![items.len() as i64, 1280]);
        assert!(features.iter().all(|v| (0.0..=6.0).contains(v)), "features are averages of ReLU6 outputs");
        logits.to_vec()
    };

    let mut problems = Vec::new();
    let expected: Vec<(usize, f64)> =
        golden.sample_indices.iter().copied().zip(golden.sample_values.iter().copied()).collect();
    let all: Vec<usize> = (0..batch).collect();
    let mut runs = vec![("batch", run(&mut session, &all))];
    runs.push(("one at a time", all.iter().flat_map(|&i| run(&mut session, &[i])).collect()));
    for (label, logits) in &runs {
        let c = compare(&expected, logits, TOLERANCE, "torch");
        println!(
            "{label}: checked {} max abs {:.3e} max rel {:.3e} worst {}",
            c.checked, c.max_abs, c.max_rel, c.worst
        );
        if c.failures > 0 {
            problems.push(format!("{label}: {} of {} logits off, worst {}", c.failures, c.checked, c.worst));
        }
        for (i, want) in golden.top5.iter().enumerate() {
            let got = top5(&logits[i * classes..(i + 1) * classes]);
            if &got != want {
                problems.push(format!("{label}: image {i} top-5 {got:?}, torch {want:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "golden mismatches:\n{}", problems.join("\n"));
}

/// The real file cut short anywhere is refused with an error, never a panic.
#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn a_truncated_state_dict_is_an_error() {
    let dir = fetched("REKO_TEST_PYTORCH_DIR");
    let bytes = std::fs::read(Path::new(&dir).join("efficientnet-lite0.pth")).expect("read state dict");
    assert!(reko_convert::read_legacy_state_dict(&bytes).is_ok());
    for cut in [0, 10, 100, 20_000, 45_000, bytes.len() / 2, bytes.len() - 1] {
        assert!(reko_convert::read_legacy_state_dict(&bytes[..cut]).is_err(), "cut to {cut} bytes was read");
    }
}
