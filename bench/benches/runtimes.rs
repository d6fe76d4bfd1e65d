//! ONNX Runtime against tract on the same model and the same input, one thread each, in one run: the
//! ratio is what justifies shipping ONNX Runtime. A model tract cannot load is noted, not fatal.

use criterion::{BatchSize, BenchmarkId, SamplingMode, criterion_group, criterion_main};
use reko_bench::{
    COCO, criterion, input_name, lfw_faces, load_image, max_abs_diff, model_input, model_path, note, runtime,
    tract_first_output, tract_plan, tract_tensor,
};
use tract_onnx::prelude::*;

/// (model, input width, input height) — the layout comes from the model.
const CASES: [(&str, u32, u32); 4] =
    [("nudenet-320n", 320, 320), ("ppocr-det", 640, 640), ("mobilefacenet", 112, 112), ("faceapi-ssd", 512, 512)];

fn runtimes(c: &mut criterion::Criterion) {
    let runtime = runtime();
    let scene = load_image(COCO);
    let face = lfw_faces(1).remove(0);
    let mut group = c.benchmark_group("ort_vs_tract");
    group.sampling_mode(SamplingMode::Flat);
    for (id, width, height) in CASES {
        let image = if id == "mobilefacenet" { &face } else { &scene };
        let input = model_input(&runtime, id, image, width, height);
        let name = input_name(&runtime, id);
        let session = runtime.session(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        let ort_output = session.run(vec![(name.as_str(), input.view().into_dyn())]).expect("ONNX Runtime runs");
        let shape = input.shape().to_vec();
        note(&format!("input-{id}"), &format!("{shape:?}"));
        group.bench_function(BenchmarkId::new("ort", id), |b| {
            b.iter(|| session.run(vec![(name.as_str(), input.view().into_dyn())]).expect("ONNX Runtime runs"))
        });
        // As tract loads ONNX by default; failing that, once more without the file's declared shapes.
        let (plan, how) = match tract_plan(&model_path(id), &shape, false) {
            Ok(plan) => (plan, String::new()),
            Err(first) => match tract_plan(&model_path(id), &shape, true) {
                Ok(plan) => (plan, format!("loads only with value_info ignored (by default: {}); ", one_line(&first))),
                Err(second) => {
                    let (first, second) = (one_line(&first), one_line(&second));
                    let text = if first == second {
                        format!("not loaded (also with value_info ignored): {first}")
                    } else {
                        format!("not loaded: {first} (with value_info ignored: {second})")
                    };
                    note(&format!("tract-{id}"), &text);
                    continue;
                }
            },
        };
        match tract_first_output(&plan, &input) {
            Ok(output) => {
                let ort_first: Vec<f32> = ort_output[0].1.iter().copied().collect();
                let agreement = match max_abs_diff(&ort_first, &output) {
                    Some(diff) => format!("{how}runs; first output max |tract - ORT| = {diff:.2e}"),
                    None => format!("{how}runs; first output has {} values, ORT's {}", output.len(), ort_first.len()),
                };
                note(&format!("tract-{id}"), &agreement);
            }
            Err(e) => {
                note(&format!("tract-{id}"), &format!("{how}loaded but failed to run: {}", one_line(&e)));
                continue;
            }
        }
        let tensor = tract_tensor(&input);
        group.bench_function(BenchmarkId::new("tract", id), |b| {
            b.iter_batched(
                || tvec!(tensor.clone().into_tvalue()),
                |inputs| plan.run(inputs).expect("tract runs"),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// An error and its causes on one line.
fn one_line(error: &TractError) -> String {
    error.chain().map(|cause| cause.to_string()).collect::<Vec<_>>().join(": ").replace('\n', " ")
}

criterion_group! { name = benches; config = criterion(); targets = runtimes }
criterion_main!(benches);
