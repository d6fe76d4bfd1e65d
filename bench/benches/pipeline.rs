//! End-to-end face detection as DetectFaces runs it without attributes: detector, landmarks, pose and
//! quality (`FacePipeline::analyze`), on one thread of ONNX Runtime, per decoded image.

use criterion::{BenchmarkId, SamplingMode, criterion_group, criterion_main};
use reko_bench::{COUPLE, WIDER_PARADE, criterion, load_image, note, runtime};
use reko_vision::faces::FacePipeline;

fn faces(c: &mut criterion::Criterion) {
    let runtime = runtime();
    let pipeline = FacePipeline::default();
    let mut group = c.benchmark_group("faces_e2e");
    group.sampling_mode(SamplingMode::Flat);
    for (label, path) in [("couple", COUPLE), ("wider_parade_0_102", WIDER_PARADE)] {
        let image = load_image(path);
        let found = pipeline.analyze(&runtime, &image, false, 100).unwrap_or_else(|e| panic!("{path}: {e}"));
        note(
            &format!("faces-{label}"),
            &format!("{path}, {}x{}, {} faces", image.width(), image.height(), found.len()),
        );
        group.bench_with_input(BenchmarkId::new("analyze", label), &image, |b, image| {
            b.iter(|| pipeline.analyze(&runtime, image, false, 100).expect("analyses"))
        });
    }
    group.finish();
}

criterion_group! { name = benches; config = criterion(); targets = faces }
criterion_main!(benches);
