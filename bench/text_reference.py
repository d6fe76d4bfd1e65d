"""RapidOCR 1.4.4 (the Python package whose ONNX models reko's DetectText runs) on a text set, scored as
`reko eval text` scores reko: lines matched to the ground truth at axis-aligned IoU >= 0.5, exact reads,
case-folded character error rate, and milliseconds an image on one thread and on all cores.

    python3 -m venv /tmp/rapidocr && /tmp/rapidocr/bin/pip install rapidocr-onnxruntime==1.4.4
    /tmp/rapidocr/bin/python bench/text_reference.py ../shared/eval/text_sroie_receipts100
"""
import pathlib
import sys
import time

from rapidocr_onnxruntime import RapidOCR


def truth(path: pathlib.Path):
    items = []
    for row in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        fields = row.rstrip("\r").split(",", 8)
        if len(fields) < 9:
            continue
        try:
            xs = [float(v) for v in fields[0:8:2]]
            ys = [float(v) for v in fields[1:8:2]]
        except ValueError:
            continue
        items.append(((min(xs), min(ys), max(xs), max(ys)), fields[8]))
    return items


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def edits(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        diagonal, row[0] = row[0], i + 1
        for j, cb in enumerate(b):
            diagonal, row[j + 1] = row[j + 1], min(diagonal + (ca != cb), row[j] + 1, row[j + 1] + 1)
    return row[len(b)]


def main():
    root = pathlib.Path(sys.argv[1])
    images = sorted((root / "img").glob("*.jpg"))
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    totals = dict(truth=0, predicted=0, matched=0, exact=0, uncased=0, loose=0, edits=0, chars=0)
    started = time.perf_counter()
    for image in images:
        result, _ = engine(str(image))
        predictions = []
        for box, text, _score in result or []:
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            predictions.append(((min(xs), min(ys), max(xs), max(ys)), text))
        items = truth(root / "box" / f"{image.stem}.csv")
        pairs = sorted(((iou(t[0], p[0]), i, j) for i, t in enumerate(items) for j, p in enumerate(predictions)),
                       reverse=True)
        used_t, used_p = set(), set()
        for value, i, j in pairs:
            if value < 0.5 or i in used_t or j in used_p:
                continue
            used_t.add(i)
            used_p.add(j)
            read, text = predictions[j][1], items[i][1]
            squash = lambda s: "".join(s.split()).lower()
            totals["matched"] += 1
            totals["exact"] += read == text
            totals["uncased"] += read.lower() == text.lower()
            totals["loose"] += squash(read) == squash(text)
            totals["edits"] += edits(read.lower(), text.lower())
            totals["chars"] += len(text)
        totals["truth"] += len(items)
        totals["predicted"] += len(predictions)
    single = (time.perf_counter() - started) * 1000 / len(images)
    engine = RapidOCR()
    engine(str(images[0]))
    started = time.perf_counter()
    for image in images:
        engine(str(image))
    threaded = (time.perf_counter() - started) * 1000 / len(images)
    t = totals
    print(f"RapidOCR 1.4.4 on {root} ({len(images)} images, {t['truth']} lines)")
    print(f"  detection: {t['predicted']} predicted, {t['matched']} matched: precision {t['matched'] / t['predicted']:.3f}, "
          f"recall {t['matched'] / t['truth']:.3f}")
    print(f"  recognition of the matched: exact {t['exact'] / t['matched']:.3f}, ignoring case {t['uncased'] / t['matched']:.3f}, "
          f"ignoring case and spaces {t['loose'] / t['matched']:.3f}, character error rate (case-folded) {t['edits'] / t['chars']:.3f}")
    print(f"  end to end: {t['exact'] / t['truth']:.3f} of the lines found and read exactly")
    print(f"  {single:.0f} ms/image on one thread, {threaded:.0f} ms/image with ONNX Runtime's default threads")


if __name__ == "__main__":
    main()
