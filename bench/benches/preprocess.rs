//! Image pre-processing on a large photo (couple.jpg, 2280 × 1588): JPEG decoding as reko decodes
//! requests, bilinear resizing, letterboxing, tensor conversion, and the whole `prepare` of the face
//! detector's input.

use criterion::{criterion_group, criterion_main};
use reko_bench::{COUPLE, criterion, image_bytes, load_image};
use reko_inference::preprocess::{self, ChannelOrder, Layout, Normalization};
use std::hint::black_box;

fn preprocessing(c: &mut criterion::Criterion) {
    let bytes = image_bytes(COUPLE);
    let image = load_image(COUPLE);
    let small = preprocess::resize_bilinear(&image, 512, 512);
    let spec = reko_models::Preprocessing {
        width: 512,
        height: 512,
        resize: "pad-bottom-right".into(),
        channels: "RGB".into(),
        layout: "NHWC".into(),
        mean: [127.5; 3],
        std: [127.5; 3],
    };
    let mut group = c.benchmark_group("preprocess");
    group.bench_function("decode_jpeg_2280x1588", |b| {
        b.iter(|| reko_inference::image::decode(black_box(&bytes)).expect("decodes"))
    });
    group.bench_function("resize_bilinear_to_512x512", |b| {
        b.iter(|| preprocess::resize_bilinear(black_box(&image), 512, 512))
    });
    group.bench_function("letterbox_to_320x320", |b| {
        b.iter(|| preprocess::letterbox(black_box(&image), 320, 320, [114, 114, 114]))
    });
    group.bench_function("to_tensor_512x512_nhwc", |b| {
        b.iter(|| preprocess::to_tensor(black_box(&small), Layout::Nhwc, ChannelOrder::Rgb, Normalization::SIGNED_UNIT))
    });
    group.bench_function("prepare_faceapi_ssd_512", |b| b.iter(|| preprocess::prepare(black_box(&image), &spec, 512)));
    group.finish();
}

criterion_group! { name = benches; config = criterion(); targets = preprocessing }
criterion_main!(benches);
