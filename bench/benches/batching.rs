//! Batch 1 against a batch, with ONNX Runtime on one thread, for the face models that run once per
//! detected face. The report divides by the batch size: ms per item. Batches cost more per item on these
//! CPUs, which is why reko runs them one crop a run (`ModelSession::run_each`).

use criterion::{BenchmarkId, SamplingMode, Throughput, criterion_group, criterion_main};
use reko_bench::{COCO, criterion, input_name, lfw_faces, load_image, model_batch, runtime};

/// (model, input width, input height, batch sizes).
const CASES: [(&str, u32, u32, &[usize]); 4] = [
    ("mobilefacenet", 112, 112, &[1, 8]),
    ("faceapi-landmark68", 112, 112, &[1, 8]),
    ("mtcnn-onet", 48, 48, &[1, 16]),
    ("faceapi-ssd", 512, 512, &[1]),
];

fn batching(c: &mut criterion::Criterion) {
    let runtime = runtime();
    let faces = lfw_faces(16);
    let scene = [load_image(COCO)];
    let mut group = c.benchmark_group("batching");
    group.sampling_mode(SamplingMode::Flat);
    for (id, width, height, sizes) in CASES {
        let session = runtime.session(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        let name = input_name(&runtime, id);
        for &n in sizes {
            let images = if id == "faceapi-ssd" { &scene[..] } else { &faces[..n] };
            let batch = model_batch(&runtime, id, images, width, height);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(id, n), &batch, |b, batch| {
                b.iter(|| session.run(vec![(name.as_str(), batch.view().into_dyn())]).expect("ONNX Runtime runs"))
            });
        }
    }
    group.finish();
}

criterion_group! { name = benches; config = criterion(); targets = batching }
criterion_main!(benches);
