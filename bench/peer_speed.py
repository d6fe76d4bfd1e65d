"""DetectText and DetectModerationLabels against the Python packages whose models they run, in one window:
reko through its API (boto3, SigV4, HTTP, against a `reko serve` this script starts) and RapidOCR 1.4.4 /
NudeNet 3.4.2 in-process on their default ONNX Runtime threads, on the same JPEG bytes, one request at a time
and two at once (two client threads; each package thread has an engine of its own). Throughput is images
per second of wall time over the whole set. Recall is not measured here (DetectText returns at most 100
words, as Rekognition does, which cuts long receipts short): `reko eval text` and bench/text_reference.py
score both pipelines on the same receipts.

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install rapidocr-onnxruntime==1.4.4 nudenet==3.4.2 \
        boto3 pillow
    /tmp/peers/bin/python bench/peer_speed.py --reko-bin target/release/reko --models-dir target/test-models

Sets (from ../shared/eval): SROIE dev receipts (`--receipts N`, the first N), ICDAR 2015's 1280 x 720
scene photos, and COCO photos resized to 640 x 480 and 1920 x 1080 (JPEG quality 90) for moderation.

`--only faces` compares DetectFaces and IndexFaces with the face_recognition library (dlib's HOG detector;
DetectFaces: decode, detection, 68 landmarks; IndexFaces: decode, detection, the 128-d encoding of every
face), in the venv bench/face_peer.py describes, with boto3 added (`target/peer-venv/bin/pip install boto3`):
LFW pairsDevTest images (250 x 250, `--lfw N`, the first N), face_recognition's 640 x 480 portrait and the
1920 x 1080 volleyball photo (retinaface/img3.jpg, 100 faces for reko, 24 for the peer), each repeated.
IndexFaces stores every face under a new ExternalImageId each call, so that no call is a repeat.
"""
import argparse
import io
import pathlib
import tempfile
import threading
import time

import boto3
from botocore.config import Config
from PIL import Image

import reko_server

EVAL = pathlib.Path(__file__).resolve().parents[2] / "shared" / "eval"
KEY = ("AKIDPEERSPEED", "peer-speed-secret", "111111111111")


def jpeg(path: pathlib.Path, size=None) -> bytes:
    image = Image.open(path).convert("RGB")
    if size:
        image = image.resize(size, Image.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def throughput(images: list, threads: int, make_worker) -> float:
    """Images per second with `threads` workers taking the images in turn."""
    workers = [make_worker() for _ in range(threads)]
    workers[0](images[0])  # warm-up (models load lazily)
    next_image, lock = [0], threading.Lock()

    def run(worker):
        while True:
            with lock:
                i = next_image[0]
                next_image[0] += 1
            if i >= len(images):
                return
            worker(images[i])

    started = time.perf_counter()
    pool = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(images) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reko-bin", default="target/release/reko")
    parser.add_argument("--models-dir", default="target/test-models")
    parser.add_argument("--receipts", type=int, default=40)
    parser.add_argument("--photos", type=int, default=20, help="COCO photos for moderation")
    parser.add_argument("--lfw", type=int, default=100, help="LFW images for faces")
    parser.add_argument("--only", choices=["text", "moderation", "faces"])
    parser.add_argument("--server-arg", action="append", default=[], help="extra `reko serve` argument")
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="reko-peer-"))
    credentials = reko_server.write_credentials(work / "keys.toml", [KEY])
    server, port = reko_server.start(args.reko_bin, args.models_dir, work / "data", credentials, args.server_arg,
                                     log=work / "reko.log")
    endpoint = f"http://127.0.0.1:{port}"
    try:
        config = Config(retries={"max_attempts": 1}, read_timeout=300, max_pool_connections=4)

        def reko(operation):
            def make():
                client = boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                                      aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1], config=config)
                return lambda data: getattr(client, operation)(Image={"Bytes": data})
            return make

        if args.only in (None, "text"):
            from rapidocr_onnxruntime import RapidOCR

            def rapidocr():
                engine = RapidOCR()
                return lambda data: engine(data)[0] or []

            receipts = sorted((EVAL / "text_sroie_receipts100" / "img").glob("*.jpg"))[:args.receipts]
            scenes = sorted((EVAL / "text_icdar2015_train10_mmocr" / "images").glob("*.jpg"))
            for name, paths in ((f"SROIE receipts ({len(receipts)})", receipts),
                                (f"ICDAR 2015 scenes 1280x720 ({len(scenes)})", scenes)):
                images = [p.read_bytes() for p in paths]
                for threads in (1, 2):
                    ours = throughput(images, threads, reko("detect_text"))
                    theirs = throughput(images, threads, rapidocr)
                    print_row([name, "DetectText", threads, ours, theirs])
        if args.only in (None, "moderation"):
            from nudenet import NudeDetector

            photos = sorted((EVAL / "coco_val2017_first128" / "images").glob("*.jpg"))[:args.photos]
            for size in ((640, 480), (1920, 1080)):
                images = [jpeg(p, size) for p in photos]
                for threads in (1, 2):
                    ours = throughput(images, threads, reko("detect_moderation_labels"))
                    theirs = throughput(images, threads, lambda: NudeDetector().detect)
                    print_row([f"COCO photos {size[0]}x{size[1]} ({len(images)})", "DetectModerationLabels", threads,
                               ours, theirs])
        if args.only == "faces":
            faces(args, endpoint, config)
    finally:
        reko_server.stop(server)


def faces(args, endpoint, config):
    """DetectFaces and IndexFaces through the API against face_recognition in-process."""
    import face_recognition

    client = boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1], config=config)
    client.create_collection(CollectionId="peer-speed")
    calls = iter(range(1 << 30))

    def reko_detect():
        client = boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1], config=config)
        return lambda data: client.detect_faces(Image={"Bytes": data})

    def reko_index():
        client = boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1], config=config)
        return lambda data: client.index_faces(CollectionId="peer-speed", Image={"Bytes": data},
                                               ExternalImageId=f"call-{next(calls)}")

    def peer_detect():
        def run(data):
            image = face_recognition.load_image_file(io.BytesIO(data))
            return face_recognition.face_landmarks(image, face_recognition.face_locations(image))
        return run

    def peer_index():
        def run(data):
            image = face_recognition.load_image_file(io.BytesIO(data))
            return face_recognition.face_encodings(image, face_recognition.face_locations(image))
        return run

    lfw = sorted((EVAL / "lfw" / "lfw-deepfunneled").rglob("*.jpg"))[:args.lfw]
    portrait = EVAL / "face_recognition_examples" / "examples" / "obama-480p.jpg"
    group = EVAL / "face_photos_smoke" / "retinaface" / "img3.jpg"
    sets = [(f"LFW 250x250 ({len(lfw)})", [p.read_bytes() for p in lfw]),
            ("portrait 640x480 (x20)", [jpeg(portrait, (640, 480))] * 20),
            ("group photo 1920x1080 (x4)", [jpeg(group, (1920, 1080))] * 4)]
    for name, images in sets:
        for operation, ours, theirs in (("DetectFaces", reko_detect, peer_detect),
                                        ("IndexFaces", reko_index, peer_index)):
            for threads in (1, 2):
                print_row([name, operation, threads, throughput(images, threads, ours),
                           throughput(images, threads, theirs)])


def print_row(row):
    name, operation, threads, ours, theirs = row
    print(f"| {name} | {operation} | {threads} | {ours:.2f} | {theirs:.2f} | **{ours / theirs:.2f}×** |", flush=True)


if __name__ == "__main__":
    print("| set | operation | at once | reko images/s | package images/s | ratio |")
    print("|---|---|---|---|---|---|")
    main()
