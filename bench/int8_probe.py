"""Whether int8 pays on this CPU: each model reko runs per image or per face, as fetched (fp32), against
the same model quantised by ONNX Runtime's own static quantiser (QDQ, per-channel int8 weights, uint8
activations calibrated on a few dev images), timed with ONNX Runtime at one and two intra-op threads on
one input (a model that is slower in int8 needs no accuracy check). The text recogniser is also tried
with dynamic quantisation (int8 MatMul weights), the usual choice for sequence models. bench/PEERS.md
holds the results.

    python3 -m venv /tmp/q8 && /tmp/q8/bin/pip install onnxruntime==1.32.0 onnx==1.23.2 numpy pillow
    /tmp/q8/bin/python bench/int8_probe.py --models-dir target/test-models

Accuracy, for the models that pay:

    # NudeNet: int8 detections against fp32 ones on the COCO dev photos not used for calibration
    /tmp/q8/bin/python bench/int8_probe.py --models-dir target/test-models --agreement
    # a models folder with one model swapped for its int8 version (input sizes left free), for `reko eval`
    # and `--keep-fp32 FIRST:LAST` to leave a range of its nodes in fp32
    /tmp/q8/bin/python bench/int8_probe.py --models-dir target/test-models --write /tmp/models-int8 --model ppocr-det
    target/release/reko eval text --models-dir /tmp/models-int8
    # CenterFace with its activations equalised first (alpha 0.5 for pointwise convolutions), calibrated
    # on the second 32 COCO photos
    /tmp/q8/bin/python bench/int8_probe.py --write /tmp/models-int8 --model centerface --equalise 0.5 \
        --calibration-offset 32
    target/release/reko eval widerface --models-dir /tmp/models-int8 --detector centerface --no-verify --min-score 0.1
"""
import argparse
import pathlib
import re
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper, version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

EVAL = pathlib.Path(__file__).resolve().parents[2] / "shared" / "eval"
COCO = sorted((EVAL / "coco_val2017_first128" / "images").glob("*.jpg"))
RECEIPTS = sorted((EVAL / "text_sroie_receipts100" / "img").glob("*.jpg"))
LFW = sorted((EVAL / "lfw" / "lfw-deepfunneled").rglob("*.jpg"))

# model id, input shape, layout, calibration photos, scale (pixel → input: (p / 255 - mean) / std).
MODELS = [
    ("nudenet-320n", (1, 3, 320, 320), "nchw", COCO, ([0, 0, 0], [1, 1, 1])),
    ("ppocr-det", (1, 3, 736, 1024), "nchw", RECEIPTS, ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])),
    ("ppocr-rec", (1, 3, 48, 320), "nchw", RECEIPTS, ([0.5] * 3, [0.5] * 3)),
    ("centerface", (1, 3, 480, 640), "nchw", COCO, ([0, 0, 0], [1 / 255] * 3)),
    ("mobilefacenet", (1, 112, 112, 3), "nhwc", LFW, ([0.5] * 3, [0.5] * 3)),
]


def tensor(path, shape, layout, scale):
    h, w = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    pixels = np.asarray(Image.open(path).convert("RGB").resize((w, h)), dtype=np.float32) / 255.0
    pixels = (pixels - np.array(scale[0], np.float32)) / np.array(scale[1], np.float32)
    return (pixels.transpose(2, 0, 1) if layout == "nchw" else pixels)[None].astype(np.float32)


def fixed(src, dst, shape=None):
    """The model at opset 13 at least (per-channel QDQ needs it), its input fixed to `shape` if given."""
    model = onnx.load(src)
    if model.opset_import[0].version < 13:
        model = version_converter.convert_version(model, 13)
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, shape or []):
        dim.ClearField("dim_param")
        dim.dim_value = value
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{i}"  # unnamed nodes cannot be left out by name
    onnx.save(model, dst)


def quantised(src, dst, work, calibration, op_types=None, method=CalibrationMethod.MinMax, exclude=None):
    """`src` (fp32) as ONNX Runtime's static QDQ quantiser writes it, calibrated on `calibration`, the
    nodes `exclude` picks (by name) left in fp32."""
    pre = work / (dst.stem + ".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {name: item}

    quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=op_types, calibrate_method=method,
                    nodes_to_exclude=[n.name for n in onnx.load(str(pre)).graph.node if exclude and exclude(n.name)])
    return dst


def yolo_head(name):
    """YOLOv8's detect head after its first two convolutions of each branch: the last 1 × 1 convolutions,
    the box distribution (DFL) and the decoding, whose one output mixes pixel coordinates (0..320) and
    class scores (0..1) and so cannot share one uint8 scale."""
    return name.startswith("/model.22/") and not re.match(r"/model\.22/cv[23]\.\d/cv[23]\.\d\.[01]/", name)


def nudenet_tensor(path):
    """NudeNet's input as reko builds it: the photo padded to a square at the bottom right, 320 × 320, 0..1."""
    image = Image.open(path).convert("RGB")
    side = max(image.size)
    square = Image.new("RGB", (side, side))
    square.paste(image, (0, 0))
    pixels = np.asarray(square.resize((320, 320), Image.BILINEAR), dtype=np.float32) / 255.0
    return pixels.transpose(2, 0, 1)[None].copy()


def detections(output, threshold=0.25, iou=0.45):
    """(class, score, box) above `threshold` after class-agnostic NMS, as reko decodes NudeNet."""
    rows = output[0]
    scores = rows[4:].max(axis=0)
    classes = rows[4:].argmax(axis=0)
    keep = np.nonzero(scores >= threshold)[0]
    boxes = [(rows[0, a] - rows[2, a] / 2, rows[1, a] - rows[3, a] / 2, rows[0, a] + rows[2, a] / 2,
              rows[1, a] + rows[3, a] / 2) for a in keep]
    order = sorted(range(len(keep)), key=lambda i: -scores[keep[i]])
    kept = []
    for i in order:
        if all(overlap(boxes[i], boxes[j]) < iou for j in kept):
            kept.append(i)
    return [(int(classes[keep[i]]), float(scores[keep[i]]), boxes[i]) for i in kept]


def overlap(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def agreement(models_dir, work):
    """NudeNet int8 against fp32 on the 32 COCO dev photos after the 32 used for calibration: how many
    fp32 detections at score ≥ 0.5 the int8 model also finds (same class, IoU ≥ 0.5, score ≥ 0.5), and the
    mean score change of the fp32 detections (≥ 0.25) it matches."""
    fp32 = work / "nudenet.onnx"
    fixed(pathlib.Path(models_dir) / "nudenet-320n" / "model.onnx", fp32, (1, 3, 320, 320))
    calibration = [nudenet_tensor(p) for p in COCO[:32]]
    tests = [nudenet_tensor(p) for p in COCO[32:]]
    variants = [
        ("every operator", quantised(fp32, work / "nudenet.all.onnx", work, calibration)),
        ("every operator but the head's last layers",
         quantised(fp32, work / "nudenet.body.onnx", work, calibration, exclude=yolo_head)),
        ("Conv only, the head's last layers in fp32",
         quantised(fp32, work / "nudenet.conv.onnx", work, calibration, ["Conv"], exclude=yolo_head)),
    ]
    reference = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    name = reference.get_inputs()[0].name
    expected = [detections(reference.run(None, {name: x})[0]) for x in tests]
    print(f"NudeNet 320n on {len(tests)} COCO dev photos (calibrated on {len(calibration)} others)")
    print("| int8 variant | fp32 detections ≥ 0.5 found | mean score change | ms (1 / 2 threads) |")
    print("|---|---|---|---|")
    base = (timed(fp32, tests[0], 1), timed(fp32, tests[0], 2))
    print(f"| none (fp32) | | | {base[0]:.1f} / {base[1]:.1f} |")
    for label, path in variants:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        found = strong = 0
        changes = []
        for x, want in zip(tests, expected):
            got = detections(session.run(None, {name: x})[0])
            for c, score, box in want:
                match = [g[1] for g in got if g[0] == c and overlap(g[2], box) >= 0.5]
                if score >= 0.5:
                    strong += 1
                    found += bool(match) and max(match) >= 0.5
                if match:
                    changes.append(abs(score - max(match)))
        change = f"{np.mean(changes):.3f}" if changes else "no match"
        ms = (timed(path, tests[0], 1), timed(path, tests[0], 2))
        print(f"| {label} | {found} of {strong} | {change} | {ms[0]:.1f} / {ms[1]:.1f} |", flush=True)


def sized(path, longest, scale):
    """A photo resized (aspect kept) so that its longest side is at most `longest`, sides rounded to 32."""
    image = Image.open(path).convert("RGB")
    ratio = min(1.0, longest / max(image.size))
    w, h = (max(32, round(v * ratio / 32) * 32) for v in image.size)
    pixels = np.asarray(image.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
    pixels = (pixels - np.array(scale[0], np.float32)) / np.array(scale[1], np.float32)
    return pixels.transpose(2, 0, 1)[None].astype(np.float32)


def equalise(src, dst, calibration, alpha_pointwise=0.5, most=64.0):
    """`src` with the ranges of the activations between a Conv, a Relu and the next Conv evened out across
    channels, the same function in fp32: channel c of the first Conv's weights and bias times s_c, the
    next Conv's weights for that channel divided by it (ReLU commutes with a positive scale), where
    s_c = (R / r_c)^alpha, r_c the channel's largest value on the calibration photos, R the largest of
    all, s_c within 1..`most`. A depthwise next Conv is quantised per channel, so it takes the whole
    scale (alpha 1) at no cost; a pointwise one mixes channels, so `alpha_pointwise` shares the difficulty
    between activations and weights (SmoothQuant's rule, here for convolutions)."""
    model = onnx.load(str(src))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    chains = []
    for node in graph.node:
        after = consumers.get(node.output[0], []) if node.op_type == "Conv" else []
        if len(after) != 1 or after[0].op_type != "Relu":
            continue
        nxt = consumers.get(after[0].output[0], [])
        stored = all(w in weights for w in [*node.input[1:], *nxt[0].input[1:2]]) if nxt else False
        if len(nxt) == 1 and nxt[0].op_type == "Conv" and nxt[0].input[0] == after[0].output[0] and stored:
            chains.append((node, after[0].output[0], nxt[0]))
    probe = onnx.load(str(src))
    for _, tensor_name, _ in chains:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(tensor_name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    names = [t for _, t, _ in chains]
    largest = None
    for x in calibration:
        found = [v.max(axis=(0, 2, 3)) for v in session.run(names, {name: x})]
        largest = found if largest is None else [np.maximum(a, b) for a, b in zip(largest, found)]

    def update(key, change):
        value = numpy_helper.to_array(weights[key]).copy()
        weights[key].CopyFrom(numpy_helper.from_array(change(value).astype(np.float32), key))

    for (first, _, second), ranges in zip(chains, largest):
        groups = next((a.i for a in second.attribute if a.name == "group"), 1)
        depthwise = groups > 1 and groups == len(ranges)
        alpha = 1.0 if depthwise else alpha_pointwise
        scale = np.clip((ranges.max() / np.maximum(ranges, 1e-6)) ** alpha, 1.0, most)
        update(first.input[1], lambda w: w * scale[:, None, None, None])
        if len(first.input) > 2:
            update(first.input[2], lambda b: b * scale)
        update(second.input[1], lambda w: w / (scale[:, None, None, None] if depthwise else scale[None, :, None, None]))
    onnx.save(model, str(dst))
    print(f"{len(chains)} activations equalised")
    return dst


SCENES = sorted((EVAL / "text_icdar2015_train10_mmocr" / "images").glob("*.jpg"))
# Other calibration sets for `--calibration-set`: portraits with large faces (deepface's unit-test photos),
# and WIDER FACE's dev images themselves (a diagnostic only: `reko eval widerface` is measured on them).
CALIBRATION_SETS = {
    "portraits": sorted((EVAL / "deepface_unit").glob("img*.jpg")),
    "wider": sorted((EVAL / "widerface_val_subset" / "images").rglob("*.jpg"))[::6],
}
# Calibration for a swapped-in model at the sizes reko runs it: 32 photos from outside the set it is then
# measured on (`reko eval text` reads the receipts, `reko eval widerface` WIDER FACE), longest side, scale.
WRITE = {
    "ppocr-det": (SCENES + COCO, 960, ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])),
    "centerface": (COCO, 1024, ([0, 0, 0], [1 / 255] * 3)),
    "nudenet-320n": (COCO, 320, ([0, 0, 0], [1, 1, 1])),
}


def write(models_dir, out, model_id, work, method, keep=None, alpha=None, offset=0, photo_set=None):
    """A copy of `models_dir` (links) with `model_id` replaced by its int8 version, inputs left free; the
    nodes in the index range `keep` ("first:last", Python's slice) left in fp32."""
    models_dir, out = pathlib.Path(models_dir).resolve(), pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for entry in models_dir.iterdir():
        target = out / entry.name
        if entry.name == model_id:
            target.mkdir(exist_ok=True)
            for file in entry.iterdir():
                if file.name != "model.onnx" and not (target / file.name).exists():
                    (target / file.name).symlink_to(file)
        elif not target.exists():
            target.symlink_to(entry)
    photos, longest, scale = WRITE[model_id]
    photos = CALIBRATION_SETS[photo_set] if photo_set else photos
    fp32 = work / f"{model_id}.onnx"
    fixed(models_dir / model_id / "model.onnx", fp32)
    if model_id == "nudenet-320n":
        calibration = [nudenet_tensor(p) for p in photos[offset:offset + 32]]
    else:
        calibration = [sized(p, longest, scale) for p in photos[offset:offset + 32]]
    exclude = yolo_head if model_id == "nudenet-320n" else None
    if keep:
        first, last = (int(v) if v else None for v in keep.split(":"))
        kept = {node.name for node in onnx.load(str(fp32)).graph.node[first:last]}
        exclude = lambda name: name in kept  # noqa: E731
    source = fp32 if alpha is None else equalise(fp32, work / f"{model_id}.eq.onnx", calibration, alpha)
    quantised(source, out / model_id / "model.onnx", work, calibration, method=method, exclude=exclude)
    print(f"{out / model_id / 'model.onnx'}: {model_id} in int8 ({method.name}, {len(calibration)} photos)")


def timed(path, x, threads, runs=20):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(3):
        session.run(None, {name: x})
    started = time.perf_counter()
    for _ in range(runs):
        session.run(None, {name: x})
    return (time.perf_counter() - started) / runs * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default="target/test-models")
    parser.add_argument("--agreement", action="store_true", help="NudeNet int8 detections against fp32")
    parser.add_argument("--write", metavar="DIR", help="a models folder with --model swapped for int8")
    parser.add_argument("--model", choices=sorted(WRITE), default="ppocr-det")
    parser.add_argument("--calibration", choices=["MinMax", "Percentile", "Entropy"], default="MinMax")
    parser.add_argument("--keep-fp32", metavar="FIRST:LAST", help="with --write: these nodes (by index) in fp32")
    parser.add_argument("--equalise", metavar="ALPHA", type=float,
                        help="with --write: even out activation ranges first (pointwise alpha, e.g. 0.5)")
    parser.add_argument("--calibration-offset", type=int, default=0, help="with --write: skip this many photos")
    parser.add_argument("--calibration-set", choices=sorted(CALIBRATION_SETS),
                        help="with --write: calibrate on these photos instead of the model's own set")
    args = parser.parse_args()
    ort.set_default_logger_severity(3)
    work = pathlib.Path(tempfile.mkdtemp(prefix="reko-int8-"))
    if args.agreement:
        return agreement(args.models_dir, work)
    if args.write:
        return write(args.models_dir, args.write, args.model, work, CalibrationMethod[args.calibration],
                     args.keep_fp32, args.equalise, args.calibration_offset, args.calibration_set)
    print("| model | input | fp32, 1 thread | int8, 1 thread | fp32, 2 threads | int8, 2 threads | int8 speed-up (1 / 2 threads) |")
    print("|---|---|---|---|---|---|---|")
    for model_id, shape, layout, photos, scale in MODELS:
        fp32 = work / f"{model_id}.onnx"
        fixed(pathlib.Path(args.models_dir) / model_id / "model.onnx", fp32, shape)
        calibration = [tensor(p, shape, layout, scale) for p in photos[:16]]
        exclude = yolo_head if model_id == "nudenet-320n" else None
        variants = [("static", quantised(fp32, work / f"{model_id}.int8.onnx", work, calibration, exclude=exclude))]
        if model_id == "ppocr-rec":
            variants.append(("dynamic", work / f"{model_id}.dyn.onnx"))
            quantize_dynamic(str(work / f"{model_id}.int8.pre.onnx"), str(variants[1][1]), weight_type=QuantType.QInt8)
        x = calibration[-1]
        base = {threads: timed(fp32, x, threads) for threads in (1, 2)}
        for kind, path in variants:
            q = {threads: timed(path, x, threads) for threads in (1, 2)}
            label = model_id if kind == "static" else f"{model_id} (dynamic)"
            print(f"| `{label}` | {'×'.join(map(str, shape))} | {base[1]:.1f} ms | {q[1]:.1f} ms | {base[2]:.1f} ms | "
                  f"{q[2]:.1f} ms | **{base[1] / q[1]:.2f}× / {base[2] / q[2]:.2f}×** |", flush=True)


if __name__ == "__main__":
    main()
