"""Where one ONNX model's time goes, by operator type: ONNX Runtime's own profiler over 30 runs on a random
input (the first 5 runs left out of the mean), in plain ONNX Runtime with spinning off, as reko runs it.

    python3 -m venv /tmp/q8 && /tmp/q8/bin/pip install onnxruntime==1.32.0 onnx==1.23.2 numpy pillow
    /tmp/q8/bin/python bench/op_profile.py target/test-models/ppocr-det/model.onnx 1x3x736x1312 --threads 2

ONNX Runtime's names: `ReorderInput` / `ReorderOutput` convert between the plain layout and the blocked one
(NCHWc) its x86 convolutions use, around every operator that cannot run blocked.
"""
import argparse
import collections
import json
import os
import tempfile

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("shape", help="input shape, e.g. 1x3x736x1312")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "profile")
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    shape = [int(d) for d in args.shape.split("x")]
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    for _ in range(args.runs):
        session.run(None, feed)
    path = session.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    runs = [e["dur"] for e in events if e.get("name") == "model_run"][5:]
    total, count = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            total[event["args"]["op_name"]] += event["dur"]
            count[event["args"]["op_name"]] += 1
    print(f"{args.model} {args.shape}, {args.threads} thread(s): {sum(runs) / len(runs) / 1000:.1f} ms a run")
    everything = sum(total.values())
    for op, microseconds in total.most_common(12):
        print(f"  {op:20s} {microseconds / args.runs / 1000:7.2f} ms {100 * microseconds / everything:5.1f}%"
              f"  ({count[op] // args.runs} nodes)")


if __name__ == "__main__":
    main()
