"""NudeNet 3.4.2 (the Python package whose 320n ONNX model reko's DetectModerationLabels runs), timed end to end
(JPEG bytes -> detections: decode, pad, resize, ONNX Runtime, NMS) on the photo `reko eval speed` times, at the
same sizes and the same JPEG quality, median of 7 runs after one warm-up, with one ONNX Runtime thread (as reko)
and with its default threads. Run `reko eval speed` in the same session to compare.

    python3 -m venv /tmp/nudenet && /tmp/nudenet/bin/pip install nudenet==3.4.2 onnxruntime==1.31.1 \
        opencv-python-headless pillow
    /tmp/nudenet/bin/python bench/moderation_reference.py ../shared/eval/coco_val2017_first128/images/000000000139.jpg
"""
import io
import os
import statistics
import sys
import time

import nudenet
import onnxruntime
from nudenet import NudeDetector
from PIL import Image

SIZES = [(1920, 1080), (640, 480)]


def jpeg(path, size):
    out = io.BytesIO()
    Image.open(path).convert("RGB").resize(size, Image.BILINEAR).save(out, "JPEG", quality=90)
    return out.getvalue()


def main():
    photo = sys.argv[1]
    model = os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")
    for threads in (1, 0):
        detector = NudeDetector()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        detector.onnx_session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        for size in SIZES:
            data = jpeg(photo, size)
            detector.detect(data)
            times = []
            for _ in range(7):
                started = time.perf_counter()
                found = detector.detect(data)
                times.append(time.perf_counter() - started)
            label = "1 thread" if threads == 1 else "default threads"
            print(f"nudenet 3.4.2, {label}, {size[0]} x {size[1]}: "
                  f"{statistics.median(times) * 1000:.1f} ms median, {len(found)} detections")


if __name__ == "__main__":
    main()
