//! ONNX models converted by `convert_onnx` against the files they come from, both run by ONNX Runtime.
//! The re-declared CenterFace: the original accepts only its declared [10, 3, 32, 32] input, so that is where
//! they are compared, output by output; the converted one must also run one image at a time and at other
//! sizes, with outputs a quarter of the input's size. The folded PP-OCRv4 networks and NudeNet (`fold`): every
//! output at two input sizes each, and a small graph with every kind of fold. Ignored by a plain `cargo test`;
//! `scripts/test` sets `REKO_TEST_ONNX_DIR` (the fetched sources) and `REKO_ORT_DYLIB` and runs them.

use std::path::Path;
use std::sync::OnceLock;

use reko_convert::{OnnxOptions, convert_onnx};

// This test compares with the original model run live, not with stored goldens (`golden_files`).
#[allow(dead_code)]
mod common;
use common::{compare, fetched};

const TOLERANCE: f64 = 1e-4;

/// The one ONNX Runtime environment a process may have, shared by the tests.
fn environment() -> &'static ort::environment::Environment {
    static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        ort::init_from(fetched("REKO_ORT_DYLIB")).expect("load onnxruntime").build().expect("ort environment")
    })
}

fn session(environment: &ort::environment::Environment, onnx: &[u8]) -> ort::session::Session {
    ort::session::Session::builder(environment)
        .and_then(|mut b| b.commit_from_memory(onnx))
        .expect("onnxruntime accepts the model")
}

/// Outputs (name, shape, values) of one run on NCHW `pixels`.
fn run(session: &mut ort::session::Session, shape: [i64; 4], pixels: Vec<f32>) -> Vec<(String, Vec<i64>, Vec<f32>)> {
    let tensor = ort::value::Tensor::from_array((shape.to_vec(), pixels)).expect("tensor");
    let input = session.inputs()[0].name().to_owned();
    let outputs = session.run(ort::inputs![input => tensor]).expect("run");
    outputs
        .iter()
        .map(|(name, value)| {
            let (shape, values) = value.try_extract_tensor::<f32>().expect("f32 output");
            (name.to_string(), shape.to_vec(), values.to_vec())
        })
        .collect()
}

/// An NCHW batch of `batch` three-channel images of `height` × `width`, each value `value(b, c, y, x)`.
fn nchw(batch: usize, height: usize, width: usize, value: impl Fn(usize, usize, usize, usize) -> f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch * 3 * height * width);
    for b in 0..batch {
        for c in 0..3 {
            for y in 0..height {
                out.extend((0..width).map(|x| value(b, c, y, x)));
            }
        }
    }
    out
}

/// Deterministic pixels (0..255) for `batch` images of `height` × `width`: gradients and a bright square, so
/// that the heatmap is not flat.
fn pixels(batch: usize, height: usize, width: usize) -> Vec<f32> {
    nchw(batch, height, width, |b, c, y, x| {
        let square = (height / 4..height * 3 / 4).contains(&y) && (width / 4..width * 3 / 4).contains(&x);
        if square { 230.0 } else { ((x * 7 + y * 3 + b * 29 + c * 53) % 256) as f32 }
    })
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn redeclared_centerface_matches_the_original() {
    let dir = fetched("REKO_TEST_ONNX_DIR");
    let source = Path::new(&dir).join("centerface.onnx");
    let options = OnnxOptions { dynamic_batch: true, dynamic_spatial: true, fold: false };
    let converted = convert_onnx(&source, &options).expect("conversion");
    println!("{}", converted.report);
    let mut original = session(environment(), &std::fs::read(&source).expect("original"));
    let mut redeclared = session(environment(), &converted.onnx);

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

/// Runs `original` and `converted` on the same input and compares every output.
fn same_outputs(
    original: &mut ort::session::Session,
    converted: &mut ort::session::Session,
    shape: [i64; 4],
    input: Vec<f32>,
    what: &str,
) {
    let want = run(original, shape, input.clone());
    let got = run(converted, shape, input);
    assert_eq!(want.len(), got.len(), "{what}: outputs");
    for (w, g) in want.iter().zip(&got) {
        let (low, high) = w.2.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(high - low > 0.1, "{what} {}: the output should not be flat ({low}..{high})", w.0);
        assert_eq!((&w.0, &w.1), (&g.0, &g.1), "{what}: same output, same shape");
        let expected: Vec<(usize, f64)> = w.2.iter().map(|&v| f64::from(v)).enumerate().collect();
        let c = compare(&expected, &g.2, TOLERANCE, "original");
        println!("{what} {shape:?} {}: max abs {:.2e} over {} values", w.0, c.max_abs, c.checked);
        assert_eq!(c.failures, 0, "{what} {}: worst {}", w.0, c.worst);
    }
}

/// Dark strokes in bands on a light page (NCHW, PP-OCR's normalisation), for `batch` images of `height` ×
/// `width`: what the text detector finds text in (a fifth of its map above 0.3).
fn text_lines(batch: usize, height: usize, width: usize) -> Vec<f32> {
    nchw(batch, height, width, |b, _, y, x| {
        let band = (10..22).contains(&(y % 32)) && (8..width - 8).contains(&x);
        let v = if band && (x * 7 + y + b) % 9 < 4 { 30.0 } else { 235.0 };
        (v - 127.5) / 127.5
    })
}

#[test]
#[ignore = "needs fetched models: scripts/test runs it"]
fn folded_models_match_the_originals() {
    let dir = fetched("REKO_TEST_ONNX_DIR");
    let fold = OnnxOptions { fold: true, ..Default::default() };
    // (file, two input shapes, rewrites expected of each kind: into producer, into consumers, hard-swish,
    // channel expectation)
    let models = [
        ("ch_PP-OCRv4_det_infer.onnx", [[1, 3, 96, 160], [1, 3, 224, 128]], [56, 23, 24, 0]),
        ("ch_PP-OCRv4_rec_infer.onnx", [[1, 3, 48, 320], [2, 3, 48, 104]], [56, 25, 28, 0]),
        ("ch_ppocr_mobile_v2.0_cls_infer.onnx", [[1, 3, 48, 192], [3, 3, 48, 192]], [0, 0, 18, 0]),
        ("320n.onnx", [[1, 3, 256, 320], [1, 3, 320, 320]], [0, 0, 0, 1]),
    ];
    for (file, shapes, expected) in models {
        let source = Path::new(&dir).join(file);
        let converted = convert_onnx(&source, &fold).expect("conversion");
        println!("{file}: {}", converted.report);
        let counts = |kind: &str| {
            let at = converted.report.find(kind).expect("the report counts the rewrites");
            let digits: String =
                converted.report[..at].chars().rev().skip(1).take_while(char::is_ascii_digit).collect();
            digits.chars().rev().collect::<String>().parse::<usize>().expect("a count")
        };
        let made = [
            counts("scalar ops into the convolutions before"),
            counts("into those after"),
            counts("hard-swishes"),
            counts("channel expectations"),
        ];
        assert_eq!(made, expected, "{file}: rewrites made");
        let mut original = session(environment(), &std::fs::read(&source).expect("original"));
        let mut folded = session(environment(), &converted.onnx);
        for shape in shapes {
            let [n, _, h, w] = shape.map(|d| d as usize);
            // NudeNet reads pixels 0..1; the PP-OCR networks a page of strokes.
            let input = if file == "320n.onnx" {
                pixels(n, h, w).into_iter().map(|v| v / 255.0).collect()
            } else {
                text_lines(n, h, w)
            };
            same_outputs(&mut original, &mut folded, shape, input, file);
        }
    }
}

#[test]
#[ignore = "needs the fetched ONNX Runtime: scripts/test runs it"]
fn every_kind_of_fold_keeps_the_function() {
    use reko_convert::onnx::{DataType, Dim, GraphBuilder, attr_int, attr_ints, encode_model};
    // x → Conv 3×3 → ·1.5 → +0.25 → hard-swish → ·-0.75 → +0.5 → {Conv 1×1, depthwise Conv 3×3 padded,
    // Conv 3×3 stride 2 padded}: the shift stays for the padded ones only.
    let mut b = GraphBuilder::new("folds");
    let dims = [Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(12), Dim::Fixed(12)];
    b.add_input("x", DataType::Float, &dims);
    let weights = |n: usize, seed: usize| -> Vec<f32> {
        (0..n).map(|i| ((i * 37 + seed * 11) % 17) as f32 / 17.0 - 0.45).collect()
    };
    let w0 = b.add_initializer_f32("w0", &[4, 3, 3, 3], &weights(108, 1));
    let b0 = b.add_initializer_f32("b0", &[4], &[0.1, -0.2, 0.3, 0.0]);
    let scalar = |b: &mut GraphBuilder, name: &str, v: f32| b.add_initializer_f32(name, &[1], &[v]);
    let (a0, c0, three, zero, six) = (
        scalar(&mut b, "a0", 1.5),
        scalar(&mut b, "c0", 0.25),
        scalar(&mut b, "3", 3.0),
        scalar(&mut b, "0", 0.0),
        scalar(&mut b, "6", 6.0),
    );
    let (a1, c1) = (scalar(&mut b, "a1", -0.75), scalar(&mut b, "c1", 0.5));
    let pw = b.add_initializer_f32("pw", &[2, 4, 1, 1], &weights(8, 2));
    let dw = b.add_initializer_f32("dw", &[4, 1, 3, 3], &weights(36, 3));
    let sw = b.add_initializer_f32("sw", &[2, 4, 3, 3], &weights(72, 4));
    let sb = b.add_initializer_f32("sb", &[2], &[0.05, -0.05]);
    let pads = || attr_ints("pads", &[1, 1, 1, 1]);
    let conv = b.op("Conv", &["x", &w0, &b0], vec![pads()], "conv");
    let scaled = b.op("Mul", &[&a0, &conv], Vec::new(), "scaled");
    let shifted = b.op("Add", &[&scaled, &c0], Vec::new(), "shifted");
    let plus = b.op("Add", &[&shifted, &three], Vec::new(), "plus");
    let clipped = b.op("Clip", &[&plus, &zero, &six], Vec::new(), "clipped");
    let product = b.op("Mul", &[&clipped, &shifted], Vec::new(), "product");
    let swish = b.op("Div", &[&product, &six], Vec::new(), "swish");
    let scaled = b.op("Mul", &[&swish, &a1], Vec::new(), "scaled1");
    let shifted = b.op("Add", &[&c1, &scaled], Vec::new(), "shifted1");
    b.add_node("Conv", &[&shifted, &pw], &["pointwise"], Vec::new());
    b.add_node("Conv", &[&shifted, &dw], &["depthwise"], vec![pads(), attr_int("group", 4)]);
    b.add_node("Conv", &[&shifted, &sw, &sb], &["strided"], vec![pads(), attr_ints("strides", &[2, 2])]);
    let out = |c: i64, s: i64| [Dim::Fixed(1), Dim::Fixed(c), Dim::Fixed(s), Dim::Fixed(s)];
    b.add_output("pointwise", DataType::Float, &out(2, 12));
    b.add_output("depthwise", DataType::Float, &out(4, 12));
    b.add_output("strided", DataType::Float, &out(2, 6));
    let model = encode_model(&b.into_model("test", &[]));
    let converted = reko_convert::convert_onnx_bytes(&model, &OnnxOptions { fold: true, ..Default::default() })
        .expect("conversion");
    println!("{}", converted.report);
    assert!(
        converted
            .report
            .contains("folded 2 scalar ops into the convolutions before them, 1 into those after, 1 hard-swishes")
    );
    let mut original = session(environment(), &model);
    let mut folded = session(environment(), &converted.onnx);
    let input = pixels(1, 12, 12).into_iter().map(|v| v / 64.0 - 2.0).collect();
    same_outputs(&mut original, &mut folded, [1, 3, 12, 12], input, "folds");
}
