"""Peer benchmark: the Python face_recognition library (dlib) on the data reko's `eval lfw` and `eval speed` use.

LFW verification on pairsDevTest.txt, scored as reko scores itself: one face per image (the detected face
nearest the image centre; an image without one makes every pair using it an error), Euclidean distance of
the 128-d dlib embeddings (default model, num_jitters=1), 10-fold accuracy (fold k = the pairs i with
i % 10 == k, threshold chosen on the other nine folds among their own scores), accuracy at the library's
default tolerance 0.6 over all pairs, and TAR at FMR over every pair of embedded images (impostors: all
pairs of different people; genuines: all pairs of the same person). Detection is HOG unless --cnn
(about 2.5 s an LFW image on one core, so a full --cnn run takes over an hour: time it with --limit 50).
`--speed` times decode, HOG detection, 68-point landmarks and encodings of every face end to end from JPEG
bytes (the photo resized with Pillow bilinear, re-encoded at quality 90, as `reko eval speed` does), one
warm-up then the median of --runs runs. Thread variables are pinned to 1; dlib-bin 20.0.1 is built with AVX
and without BLAS and runs all of this on a single thread anyway (the CPU/wall ratio printed shows it).

Setup, then run from the repository root (Python 3.11; dlib-bin is a prebuilt wheel of dlib, so
face_recognition, which asks for dlib, goes in with --no-deps; setuptools provides the pkg_resources that
face_recognition_models imports):

    python3 -m venv target/peer-venv && target/peer-venv/bin/pip install --no-deps dlib-bin==20.0.1.post1 \
        face_recognition==1.3.0 face_recognition_models==0.3.0 numpy==2.4.6 Pillow==13.0.0 Click==8.5.1 \
        setuptools==65.5.0
    target/peer-venv/bin/python bench/face_peer.py [--speed | --cnn --limit 50]
"""
import argparse
import importlib.metadata
import io
import os
import pathlib
import statistics
import time

os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))

import face_recognition  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

EVAL = pathlib.Path(__file__).resolve().parents[2] / "shared" / "eval"
VERSIONS = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("face_recognition", "dlib-bin"))


def lfw_pairs(lfw: pathlib.Path, file: str):
    """(image a, image b, same person) for every 3- or 4-field line of an LFW pairs file."""
    image = lambda name, n: lfw / "lfw-deepfunneled" / name / f"{name}_{int(n):04d}.jpg"  # noqa: E731
    pairs = []
    for line in (lfw / file).read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 3:
            pairs.append((image(fields[0], fields[1]), image(fields[0], fields[2]), True))
        elif len(fields) == 4:
            pairs.append((image(fields[0], fields[1]), image(fields[2], fields[3]), False))
    return pairs


def central_face(image: np.ndarray, model: str):
    """The detected box (top, right, bottom, left) nearest the image centre, or None."""
    boxes = face_recognition.face_locations(image, model=model)
    height, width = image.shape[:2]
    centre = lambda b: np.hypot((b[1] + b[3]) / 2 - width / 2, (b[0] + b[2]) / 2 - height / 2)  # noqa: E731
    return min(boxes, key=centre, default=None)


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((scores <= threshold) == same))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The score that, as threshold, maximises accuracy on these pairs (the last one on ties, as reko)."""
    correct = ((scores[None, :] <= scores[:, None]) == same[None, :]).sum(axis=1)
    return float(scores[len(scores) - 1 - np.argmax(correct[::-1])])


def lfw(args):
    model = "cnn" if args.cnn else "hog"
    pairs = lfw_pairs(args.lfw, args.pairs)
    images = sorted({p for a, b, _ in pairs for p in (a, b)})
    if args.limit:
        images = images[: args.limit]
    embeddings, missed = {}, 0
    started = time.perf_counter()
    for path in images:
        image = face_recognition.load_image_file(path)
        box = central_face(image, model)
        if box is None:
            missed += 1
            if args.show_errors:
                print(f"  no face: {path}")
        else:
            embeddings[path] = face_recognition.face_encodings(image, known_face_locations=[box])[0]
    per_image = (time.perf_counter() - started) * 1000 / len(images)
    print(
        f"{VERSIONS} ({model} detector), LFW {args.pairs}: {len(pairs)} pairs, "
        f"{len(images)} images ({missed} without a detected face), {per_image:.0f} ms/image"
    )
    if args.limit:
        return

    scores = np.array(
        [np.linalg.norm(embeddings[a] - embeddings[b]) if {a, b} <= embeddings.keys() else np.inf for a, b, _ in pairs]
    )
    same = np.array([s for _, _, s in pairs])
    folds = np.arange(len(pairs)) % 10
    fold_accuracy = [
        accuracy(scores[folds == k], same[folds == k], best_threshold(scores[folds != k], same[folds != k]))
        for k in range(10)
    ]
    print(f"  10-fold accuracy {np.mean(fold_accuracy) * 100:.2f}% ± {np.std(fold_accuracy) * 100:.2f}")
    print(f"  at the library's default tolerance 0.6 (distance <= 0.6): {accuracy(scores, same, 0.6) * 100:.2f}%")
    if args.show_errors:
        best = best_threshold(scores, same)
        for (a, b, s), d in zip(pairs, scores):
            if (d <= best) != s:
                kind = "same person, rejected" if s else "different people, accepted"
                print(f"  {kind} (distance {d:.3f}, threshold {best:.3f}): {a} {b}")

    paths = list(embeddings)
    vectors = np.stack([embeddings[p] for p in paths])
    identity = np.array([p.parent.name for p in paths])
    upper = np.triu_indices(len(paths), k=1)
    distances = np.linalg.norm(vectors[upper[0]] - vectors[upper[1]], axis=1)
    genuine = identity[upper[0]] == identity[upper[1]]
    impostors, genuines = np.sort(distances[~genuine]), distances[genuine]
    print(f"  {len(impostors)} impostor pairs, {len(genuines)} genuine pairs among the images")
    for fmr in (1e-2, 1e-3, 1e-4, 1e-5):
        threshold = impostors[min(int(len(impostors) * fmr), len(impostors) - 1)]
        print(f"  FMR {fmr:.0e}: distance <= {threshold:.4f}, TAR {np.mean(genuines <= threshold) * 100:.2f}%")
    print(f"  lowest impostor distance {impostors[0]:.4f}")


def speed(args):
    print(f"{VERSIONS}, HOG detector, 68-point landmarks, encodings of every face found")
    for path, width, height in ((args.photo, 640, 480), (args.group, 1920, 1080)):
        buffer = io.BytesIO()
        resized = Image.open(path).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
        resized.save(buffer, "JPEG", quality=90)
        jpeg = buffer.getvalue()

        def run():
            marks = [time.perf_counter()]
            image = face_recognition.load_image_file(io.BytesIO(jpeg))
            marks.append(time.perf_counter())
            boxes = face_recognition.face_locations(image)
            marks.append(time.perf_counter())
            face_recognition.face_landmarks(image, boxes)
            marks.append(time.perf_counter())
            face_recognition.face_encodings(image, boxes)
            marks.append(time.perf_counter())
            return len(boxes), [(b - a) * 1000 for a, b in zip(marks, marks[1:])]

        faces, _ = run()
        cpu, wall = time.process_time(), time.perf_counter()
        stages = [run()[1] for _ in range(args.runs)]
        ratio = (time.process_time() - cpu) / (time.perf_counter() - wall)
        total = statistics.median(sum(s) for s in stages)
        decode, detect, landmarks, encodings = (statistics.median(s) for s in zip(*stages))
        print(
            f"{path.parent.name}/{path.name} resized to {width} × {height} (JPEG, {len(jpeg) // 1024} KB), "
            f"faces found: {faces}, median of {args.runs} runs: {total:.1f} ms end to end (decode {decode:.1f}, "
            f"HOG detection {detect:.1f}, landmarks {landmarks:.1f}, encodings {encodings:.1f}; CPU/wall {ratio:.2f})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time the end-to-end pipeline on two photos instead")
    parser.add_argument("--cnn", action="store_true", help='detect with model="cnn" instead of HOG (slow)')
    parser.add_argument("--limit", type=int, help="only time the first N images (no accuracy)")
    parser.add_argument("--show-errors", action="store_true", help="list missed images and wrong pairs")
    parser.add_argument("--lfw", type=pathlib.Path, default=EVAL / "lfw", help="LFW folder (default: %(default)s)")
    parser.add_argument("--pairs", default="pairsDevTest.txt", help="pairs file in it (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per photo after one warm-up (default: 5)")
    parser.add_argument(
        "--photo",
        type=pathlib.Path,
        default=EVAL / "face_recognition_examples" / "examples" / "obama-480p.jpg",
        help="photo timed at 640 × 480 (default: Obama 480p)",
    )
    parser.add_argument(
        "--group",
        type=pathlib.Path,
        default=EVAL / "face_photos_smoke" / "retinaface" / "img3.jpg",
        help="group photo timed at 1920 × 1080 (default: retinaface/img3.jpg, a volleyball team and crowd)",
    )
    args = parser.parse_args()
    if args.speed:
        speed(args)
    else:
        lfw(args)


if __name__ == "__main__":
    main()
