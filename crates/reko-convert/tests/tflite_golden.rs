//! Golden tests for the TFLite converter: every `tests/golden_tflite/<model>.json` (written by
//! `tools/golden/tflite_golden.py` with the TFLite interpreter) is reproduced by converting
//! `$REKO_TEST_TFLITE_DIR/<model>.tflite` to ONNX and running it with ONNX Runtime (`$REKO_ORT_DYLIB`)
//! on the same uint8 pixels, normalised the same way.
//!
//! A value fails when `|onnx - tflite| > 5e-4 * max(1, |tflite|)`. A model converted with a dynamic
//! batch runs its whole golden batch in one call, and MobileFaceNet also runs with batch 1 and 3 (rows
//! picked from the golden batch); every golden must pass. The tests are ignored by a plain `cargo test`;
//! `scripts/test` sets the two variables and runs them with `--include-ignored`, and without them they fail.

use std::path::Path;

use base64::Engine as _;
use reko_convert::{TfliteOptions, convert_tflite};
use serde::Deserialize;

mod common;
use common::{compare, fetched, golden_files};

const ABS_TOLERANCE: f64 = 5e-4;

#[derive(Debug, Deserialize)]
struct Golden {
    model: String,
    input_name: String,
    input_shape: Vec<usize>,
    /// Pixels are stored at 1/`input_upsample` resolution and replicated nearest-neighbour.
    #[serde(default = "one")]
    input_upsample: usize,
    input_uint8_base64: String,
    normalisation: Normalisation,
    options: GoldenOptions,
    outputs: Vec<GoldenOutput>,
}

#[derive(Debug, Deserialize)]
struct Normalisation {
    scale: f64,
    offset: f64,
}

#[derive(Debug, Default, Deserialize)]
struct GoldenOptions {
    #[serde(default)]
    dynamic_batch: bool,
    #[serde(default)]
    dynamic_spatial: bool,
}

#[derive(Debug, Deserialize)]
struct GoldenOutput {
    name: String,
    shape: Vec<i64>,
    #[serde(default)]
    values: Option<Vec<f64>>,
    #[serde(default)]
    sample_indices: Option<Vec<usize>>,
    #[serde(default)]
    sample_values: Option<Vec<f64>>,
}

impl GoldenOutput {
    /// (flat index into the golden batch's output, expected value)
    fn pairs(&self) -> Vec<(usize, f64)> {
        match (&self.values, &self.sample_indices, &self.sample_values) {
            (Some(values), _, _) => values.iter().copied().enumerate().collect(),
            (None, Some(indices), Some(values)) => indices.iter().copied().zip(values.iter().copied()).collect(),
            _ => panic!("{}: no values", self.name),
        }
    }
}

fn one() -> usize {
    1
}

/// The normalised model input for the whole golden batch: stored pixels replicated `input_upsample`
/// times, then `u8 * scale + offset`.
fn model_input(golden: &Golden) -> Vec<f32> {
    let small = base64::engine::general_purpose::STANDARD.decode(&golden.input_uint8_base64).expect("input base64");
    let [batch, height, width, channels] = golden.input_shape[..] else {
        panic!("{}: input shape {:?} is not NHWC", golden.model, golden.input_shape);
    };
    let k = golden.input_upsample;
    let (small_h, small_w) = (height / k, width / k);
    assert_eq!(small.len(), batch * small_h * small_w * channels, "{}: stored pixel count", golden.model);
    let mut out = Vec::with_capacity(batch * height * width * channels);
    for b in 0..batch {
        for y in 0..height {
            for x in 0..width {
                let src = ((b * small_h + y / k) * small_w + x / k) * channels;
                for c in 0..channels {
                    let u = small[src + c] as f64;
                    out.push((u * golden.normalisation.scale + golden.normalisation.offset) as f32);
                }
            }
        }
    }
    out
}

/// Runs the session on `items` (indices into the golden batch) in one call and checks every output
/// against the golden rows of those items.
fn check_run(
    session: &mut ort::session::Session,
    golden: &Golden,
    pixels: &[f32],
    items: &[usize],
    label: &str,
    problems: &mut Vec<String>,
) {
    let per_item: usize = golden.input_shape[1..].iter().product();
    let mut shape: Vec<i64> = golden.input_shape.iter().map(|&d| d as i64).collect();
    shape[0] = items.len() as i64;
    let input: Vec<f32> =
        items.iter().flat_map(|&i| pixels[i * per_item..(i + 1) * per_item].iter().copied()).collect();
    let tensor = ort::value::Tensor::from_array((shape, input)).expect("tensor");
    let outputs = match session.run(ort::inputs![golden.input_name.as_str() => tensor]) {
        Ok(o) => o,
        Err(e) => {
            problems.push(format!("{} {label}: run failed: {e}", golden.model));
            return;
        }
    };
    let golden_batch = golden.input_shape[0];
    for expected in &golden.outputs {
        let (got_shape, data) = outputs[expected.name.as_str()].try_extract_tensor::<f32>().expect("f32 output");
        let mut want_shape = expected.shape.clone();
        want_shape[0] = want_shape[0] / golden_batch as i64 * items.len() as i64;
        let got_shape: Vec<i64> = got_shape.iter().copied().collect();
        if got_shape != want_shape {
            problems.push(format!(
                "{} {label} {}: shape {got_shape:?}, expected {want_shape:?}",
                golden.model, expected.name
            ));
            continue;
        }
        let out_per_item = expected.shape.iter().product::<i64>() as usize / golden_batch;
        // golden (flat index, value) pairs re-indexed into this run's output
        let mut pairs = Vec::new();
        for (slot, &item) in items.iter().enumerate() {
            for (index, want) in expected.pairs() {
                if index / out_per_item == item {
                    pairs.push((slot * out_per_item + index % out_per_item, want));
                }
            }
        }
        let c = compare(&pairs, data, ABS_TOLERANCE, "tflite");
        println!(
            "{:<14} {:<24} {:<12} checked {:>5}  max abs {:.3e}  max rel {:.3e}  worst {}",
            golden.model, expected.name, label, c.checked, c.max_abs, c.max_rel, c.worst
        );
        if c.failures > 0 || c.checked == 0 {
            problems.push(format!(
                "{} {label} {}: {} of {} values off (max abs {:.3e}, worst {})",
                golden.model, expected.name, c.failures, c.checked, c.max_abs, c.worst
            ));
        }
    }
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn converted_tflite_models_match_goldens() {
    let (models_dir, ort_dylib) = (fetched("REKO_TEST_TFLITE_DIR"), fetched("REKO_ORT_DYLIB"));
    let only = std::env::var("REKO_GOLDEN_ONLY").ok();
    let environment = ort::init_from(&ort_dylib).expect("load onnxruntime").build().expect("ort environment");

    let mut problems = Vec::new();
    for file in golden_files("golden_tflite") {
        let golden: Golden = serde_json::from_slice(&std::fs::read(&file).expect("read golden")).expect("golden json");
        if only.as_deref().is_some_and(|o| !o.split(',').any(|m| m == golden.model)) {
            continue;
        }
        let options = TfliteOptions {
            dynamic_batch: golden.options.dynamic_batch,
            dynamic_spatial: golden.options.dynamic_spatial,
        };
        let path = Path::new(&models_dir).join(format!("{}.tflite", golden.model));
        let converted = match convert_tflite(&path, &options) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{}: conversion failed: {e}", golden.model));
                continue;
            }
        };
        if std::env::var_os("REKO_GOLDEN_DUMP").is_some() {
            let _ = std::fs::write(format!("/tmp/{}.onnx", golden.model), &converted.onnx);
        }
        assert_eq!(converted.inputs.len(), 1, "{}: one input", golden.model);
        assert_eq!(converted.inputs[0].name, golden.input_name, "{}: input name", golden.model);
        let input_shape = &converted.inputs[0].shape;
        assert_eq!(input_shape[0] == -1, options.dynamic_batch, "{}: dynamic batch in {input_shape:?}", golden.model);
        if options.dynamic_spatial {
            assert_eq!(input_shape[1..3], [-1, -1], "{}: dynamic H, W", golden.model);
        }
        let names: Vec<&str> = converted.outputs.iter().map(|o| o.name.as_str()).collect();
        let want: Vec<&str> = golden.outputs.iter().map(|o| o.name.as_str()).collect();
        if names != want {
            problems.push(format!("{}: outputs {names:?}, tflite has {want:?}", golden.model));
            continue;
        }
        let mut session = match ort::session::Session::builder(&environment)
            .and_then(|mut b| b.commit_from_memory(&converted.onnx))
        {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{}: onnxruntime rejected the model: {e}", golden.model));
                continue;
            }
        };
        let pixels = model_input(&golden);
        let batch = golden.input_shape[0];
        let all: Vec<usize> = (0..batch).collect();
        if options.dynamic_batch {
            check_run(&mut session, &golden, &pixels, &all, &format!("batch {batch}"), &mut problems);
            if golden.model == "MobileFaceNet" {
                check_run(&mut session, &golden, &pixels, &[1], "batch 1", &mut problems);
                check_run(&mut session, &golden, &pixels, &[1, 0, 1], "batch 3", &mut problems);
            }
        } else {
            for i in 0..batch {
                check_run(&mut session, &golden, &pixels, &[i], &format!("item {i}"), &mut problems);
            }
        }
    }
    assert!(problems.is_empty(), "golden mismatches:\n{}", problems.join("\n"));
}

/// Real models cut short are refused with an error (never a panic), and a dynamic H/W that a
/// reshape folds away is refused rather than converted wrongly.
#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn truncated_or_unconvertible_models_are_errors() {
    let models_dir = fetched("REKO_TEST_TFLITE_DIR");
    for model in ["pnet", "MobileFaceNet"] {
        let bytes = std::fs::read(Path::new(&models_dir).join(format!("{model}.tflite"))).expect("read model");
        for cut in [0, 3, 8, 64, 1000, bytes.len() / 3, bytes.len() / 2, bytes.len() - 100] {
            let result = reko_convert::convert_tflite_bytes(&bytes[..cut], &TfliteOptions::default());
            assert!(result.is_err(), "{model} cut to {cut} bytes converted");
        }
    }
    let mobilefacenet = Path::new(&models_dir).join("MobileFaceNet.tflite");
    let err = convert_tflite(&mobilefacenet, &TfliteOptions { dynamic_batch: true, dynamic_spatial: true })
        .expect_err("MobileFaceNet's final reshape fixes H and W");
    assert!(err.to_string().contains("RESHAPE"), "{err}");
}
