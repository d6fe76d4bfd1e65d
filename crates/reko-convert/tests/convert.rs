//! Conversion without a runtime: a small synthetic model end to end, unsupported ops, and the interface of
//! the real models in `$REKO_TEST_TFJS_DIR` (ignored by a plain `cargo test`; `scripts/test` sets the
//! variable and runs it with `--include-ignored`, and without it that test fails).

use std::path::Path;

use prost::Message;
use reko_convert::onnx::ModelProto;
use reko_convert::{ConvertError, convert_tfjs_graph};

/// Writes `<dir>/m.json` + `m.bin` with a 1x4x4x2 input, a 3x3 SAME conv (2 -> 3 channels, f16
/// weights), a uint8-quantized bias, Relu6 and an unused-by-others Identity output.
fn write_model(dir: &Path, extra_op: Option<&str>) {
    let extra = extra_op.map_or(String::new(), |op| format!(r#",{{"name": "odd", "op": "{op}", "input": ["relu"]}}"#));
    let json = format!(
        r#"{{"format": "graph-model", "modelTopology": {{"node": [
          {{"name": "w", "op": "Const"}},
          {{"name": "b", "op": "Const"}},
          {{"name": "x", "op": "Placeholder", "attr": {{"dtype": {{"type": "DT_FLOAT"}},
              "shape": {{"shape": {{"dim": [{{"size": "-1"}}, {{"size": "4"}}, {{"size": "4"}}, {{"size": "2"}}]}}}}}}}},
          {{"name": "conv", "op": "_FusedConv2D", "input": ["x", "w", "b"], "attr": {{
              "strides": {{"list": {{"i": ["1", "1", "1", "1"]}}}},
              "padding": {{"s": "U0FNRQ=="}},
              "fused_ops": {{"list": {{"s": ["Qmlhc0FkZA==", "UmVsdTY="]}}}},
              "num_args": {{"i": "1"}}}}}},
          {{"name": "relu", "op": "Identity", "input": ["conv"]}}{extra}
        ]}},
        "weightsManifest": [{{"paths": ["m.bin"], "weights": [
          {{"name": "w", "shape": [3, 3, 2, 3], "dtype": "float32", "quantization": {{"dtype": "float16", "original_dtype": "float32"}}}},
          {{"name": "b", "shape": [3], "dtype": "float32", "quantization": {{"dtype": "uint8", "scale": 0.5, "min": -1.0}}}}
        ]}}]}}"#
    );
    std::fs::write(dir.join("m.json"), json).unwrap();
    let mut bin = Vec::new();
    for i in 0..54u16 {
        // small halves: 0x3000 = 0.125 plus a varying mantissa
        bin.extend_from_slice(&(0x3000 + i).to_le_bytes());
    }
    bin.extend_from_slice(&[0, 2, 4]);
    std::fs::write(dir.join("m.bin"), bin).unwrap();
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("reko-convert-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn converts_a_small_fused_conv_model() {
    let dir = temp_dir("small");
    write_model(&dir, None);
    let converted = convert_tfjs_graph(&dir.join("m.json")).unwrap();
    assert_eq!(converted.inputs[0].name, "x");
    assert_eq!(converted.inputs[0].shape, vec![-1, 4, 4, 2]);
    assert_eq!(converted.outputs[0].name, "relu");
    assert_eq!(converted.outputs[0].shape, vec![-1, 4, 4, 3]);
    assert!(converted.report.contains("_FusedConv2D: 1"), "{}", converted.report);
    let model = ModelProto::decode(converted.onnx.as_slice()).unwrap();
    let graph = model.graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Transpose", "Conv", "Transpose", "Clip", "Identity"]);
    let bias = graph.initializer.iter().find(|t| t.name == "conv/bias").unwrap();
    let values: Vec<f32> =
        bias.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(values, vec![-1.0, 0.0, 1.0]);
    let input_dims = &graph.input[0].r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
    let batch = &input_dims.shape.as_ref().unwrap().dim[0];
    assert_eq!(batch.dim_param.as_deref(), Some("batch"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unsupported_ops_name_the_op_and_the_node() {
    let dir = temp_dir("unsupported");
    write_model(&dir, Some("NonMaxSuppressionV5"));
    match convert_tfjs_graph(&dir.join("m.json")) {
        Err(ConvertError::UnsupportedOp { op, node }) => {
            assert_eq!(op, "NonMaxSuppressionV5");
            assert_eq!(node, "odd");
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_files_are_io_errors() {
    let err = convert_tfjs_graph(Path::new("/nonexistent/model.json")).unwrap_err();
    assert!(matches!(err, ConvertError::Io { .. }), "{err}");
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn real_models_keep_their_interface() {
    // The one variable this file reads (the golden tests read theirs with `common::fetched`).
    let dir = std::env::var("REKO_TEST_TFJS_DIR").unwrap_or_else(|_| {
        panic!(
            "REKO_TEST_TFJS_DIR is not set: run scripts/test, which fetches the models and sets it (or set it by hand)"
        )
    });
    let dir = Path::new(&dir);
    let facemesh = convert_tfjs_graph(&dir.join("facemesh.json")).unwrap();
    assert_eq!(facemesh.inputs[0].shape, vec![-1, 192, 192, 3]);
    let names: Vec<&str> = facemesh.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["output_mesh", "output_faceflag", "output_contours"]);
    assert_eq!(facemesh.outputs[0].shape, vec![-1, 1404]);
    // centernet's own outputs include the TopKV2 post-processing: converting it whole must fail
    // loudly (the golden exports the raw heads through ConvertOptions instead)
    match convert_tfjs_graph(&dir.join("centernet.json")) {
        Err(ConvertError::UnsupportedOp { .. }) => {}
        other => panic!("expected UnsupportedOp, got {:?}", other.map(|c| c.outputs)),
    }
}
