#!/usr/bin/env python3
"""Extract the facts of Rekognition's service model from the botocore wheel.

Writes `crates/reko-protocol/model/rekognition.json`: operations (input, output, errors) and shapes with
their constraints (type, members, required, min/max, pattern, enum, exception) — no documentation text.
The Rust protocol crate validates every request against this file.

Usage: python3 tools/extract_service_model.py [BOTOCORE_VERSION]
"""
import gzip
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

BOTOCORE_VERSION = sys.argv[1] if len(sys.argv) > 1 else "1.44.8"
MODEL_PATH = "botocore/data/rekognition/2016-06-27/service-2.json"
SHAPE_KEYS = ("type", "required", "min", "max", "pattern", "enum", "exception", "fault", "error")
MEMBER_KEYS = ("shape", "idempotencyToken", "jsonvalue")
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/reko-protocol/model/rekognition.json"


def load_model() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
             f"botocore=={BOTOCORE_VERSION}"],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("botocore-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            if MODEL_PATH in names:
                return json.loads(zf.read(MODEL_PATH))
            return json.loads(gzip.decompress(zf.read(MODEL_PATH + ".gz")))


def main() -> None:
    model = load_model()
    meta = model["metadata"]
    operations = {
        name: {
            "input": op.get("input", {}).get("shape"),
            "output": op.get("output", {}).get("shape"),
            "errors": [e["shape"] for e in op.get("errors", [])],
        }
        for name, op in sorted(model["operations"].items())
    }
    shapes = {}
    for name, shape in sorted(model["shapes"].items()):
        fact = {k: shape[k] for k in SHAPE_KEYS if k in shape}
        if "members" in shape:
            fact["members"] = {
                m: {k: v for k, v in spec.items() if k in MEMBER_KEYS}
                for m, spec in shape["members"].items()
            }
        for k in ("member", "key", "value"):
            if k in shape:
                fact[k] = {"shape": shape[k]["shape"]}
        shapes[name] = fact
    out = {
        "source": f"botocore=={BOTOCORE_VERSION} {MODEL_PATH}",
        "apiVersion": meta["apiVersion"],
        "targetPrefix": meta["targetPrefix"],
        "jsonVersion": meta["jsonVersion"],
        "operations": operations,
        "shapes": shapes,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(operations)} operations, {len(shapes)} shapes)")


if __name__ == "__main__":
    main()
