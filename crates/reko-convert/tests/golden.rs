//! Golden tests: every `tests/golden/<model>.json` (written by `tools/golden/tfjs_golden.mjs` from the
//! TF.js CPU backend) is reproduced by converting `$REKO_TEST_TFJS_DIR/<model>.json` to ONNX and running
//! it with ONNX Runtime (`$REKO_ORT_DYLIB`) on the same uint8 pixels, normalised the same way.
//!
//! A value fails when `|onnx - tfjs| > 5e-4 * max(1, |tfjs|)` (the worst seen is ~1.8e-4); every golden must
//! pass. The test is ignored by a plain `cargo test`; `scripts/test` sets the two variables and runs it with
//! `--include-ignored`, and without them it fails.

use std::path::Path;

use base64::Engine as _;
use reko_convert::{ConvertOptions, convert_tfjs_graph, convert_tfjs_graph_with};
use serde::Deserialize;

mod common;
use common::{compare, fetched, golden_files};

const ABS_TOLERANCE: f64 = 5e-4;

#[derive(Debug, Deserialize)]
struct Golden {
    model: String,
    input_name: String,
    input_shape: Vec<usize>,
    input_upsample: usize,
    input_uint8_base64: String,
    normalisation: Normalisation,
    outputs: Vec<GoldenOutput>,
}

#[derive(Debug, Deserialize)]
struct Normalisation {
    scale: f64,
    offset: f64,
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

/// The model input: stored pixels replicated `upsample` times, then `u8 * scale + offset`.
fn model_input(golden: &Golden) -> Vec<f32> {
    let small = base64::engine::general_purpose::STANDARD.decode(&golden.input_uint8_base64).expect("input base64");
    let [_, height, width, channels] = golden.input_shape[..] else {
        panic!("input shape {:?} is not NHWC", golden.input_shape);
    };
    let k = golden.input_upsample;
    let small_width = width / k;
    assert_eq!(small.len(), (height / k) * small_width * channels, "stored pixel count");
    let mut out = Vec::with_capacity(height * width * channels);
    for y in 0..height {
        for x in 0..width {
            let src = ((y / k) * small_width + x / k) * channels;
            for c in 0..channels {
                let u = small[src + c] as f64;
                out.push((u * golden.normalisation.scale + golden.normalisation.offset) as f32);
            }
        }
    }
    out
}

/// Outputs the golden was made with when they differ from the model's own (raw detector heads).
fn options_for(golden: &Golden) -> Option<ConvertOptions> {
    let default_names: Option<Vec<String>> = match golden.model.as_str() {
        "centernet" => Some(golden.outputs.iter().map(|o| o.name.clone()).collect()),
        _ => None,
    };
    default_names.map(|outputs| ConvertOptions { outputs: Some(outputs) })
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn converted_models_match_tfjs_goldens() {
    let (models_dir, ort_dylib) = (fetched("REKO_TEST_TFJS_DIR"), fetched("REKO_ORT_DYLIB"));
    let only = std::env::var("REKO_GOLDEN_ONLY").ok();
    let environment = ort::init_from(&ort_dylib).expect("load onnxruntime").build().expect("ort environment");

    let mut problems = Vec::new();
    for file in golden_files("golden") {
        let golden: Golden = serde_json::from_slice(&std::fs::read(&file).expect("read golden")).expect("golden json");
        if only.as_deref().is_some_and(|o| !o.split(',').any(|m| m == golden.model)) {
            continue;
        }
        let model_json = Path::new(&models_dir).join(format!("{}.json", golden.model));
        let converted = match options_for(&golden) {
            Some(options) => convert_tfjs_graph_with(&model_json, &options),
            None => convert_tfjs_graph(&model_json),
        };
        let converted = match converted {
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
        let names: Vec<&str> = converted.outputs.iter().map(|o| o.name.as_str()).collect();
        let want: Vec<&str> = golden.outputs.iter().map(|o| o.name.as_str()).collect();
        if names != want {
            problems.push(format!("{}: outputs {names:?}, tfjs has {want:?}", golden.model));
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
        // a dynamic batch is exercised with two copies of the image; both must match
        let batch = if converted.inputs[0].shape.first() == Some(&-1) { 2 } else { 1 };
        let mut shape: Vec<i64> = golden.input_shape.iter().map(|&d| d as i64).collect();
        shape[0] = batch as i64;
        let single = model_input(&golden);
        let pixels: Vec<f32> = (0..batch).flat_map(|_| single.iter().copied()).collect();
        let input = ort::value::Tensor::from_array((shape, pixels)).expect("tensor");
        let outputs = match session.run(ort::inputs![golden.input_name.as_str() => input]) {
            Ok(o) => o,
            Err(e) => {
                problems.push(format!("{}: run failed: {e}", golden.model));
                continue;
            }
        };
        for expected in &golden.outputs {
            let (shape, data) = outputs[expected.name.as_str()].try_extract_tensor::<f32>().expect("f32 output");
            let mut shape: Vec<i64> = shape.iter().copied().collect();
            if shape.first() == Some(&(batch as i64)) {
                shape[0] = 1;
            }
            if shape != expected.shape {
                problems
                    .push(format!("{} {}: shape {shape:?}, tfjs {:?}", golden.model, expected.name, expected.shape));
                continue;
            }
            let pairs: Vec<(usize, f64)> = match (&expected.values, &expected.sample_indices, &expected.sample_values) {
                (Some(values), _, _) => values.iter().copied().enumerate().collect(),
                (None, Some(indices), Some(values)) => indices.iter().copied().zip(values.iter().copied()).collect(),
                _ => panic!("{} {}: no values", golden.model, expected.name),
            };
            let per_item = data.len() / batch;
            let mut pairs_all = pairs.clone();
            for item in 1..batch {
                pairs_all.extend(pairs.iter().map(|&(i, v)| (i + item * per_item, v)));
            }
            let c = compare(&pairs_all, data, ABS_TOLERANCE, "tfjs");
            println!(
                "{:<26} {:<24} batch {batch} checked {:>5}  max abs {:.3e}  max rel {:.3e}  worst {}",
                golden.model, expected.name, c.checked, c.max_abs, c.max_rel, c.worst
            );
            if c.failures > 0 {
                problems.push(format!(
                    "{} {}: {} of {} values off (max abs {:.3e}, worst {})",
                    golden.model, expected.name, c.failures, c.checked, c.max_abs, c.worst
                ));
            }
        }
    }
    assert!(problems.is_empty(), "golden mismatches:\n{}", problems.join("\n"));
}
