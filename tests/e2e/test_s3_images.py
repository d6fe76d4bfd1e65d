"""Image.S3Object read from the server's directory-backed object storage (--s3-root), with boto3 and the AWS CLI."""
import json
import shutil

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT
from test_aws_cli import aws

EVAL = ROOT.parent / "shared" / "eval"
pytestmark = pytest.mark.skipif(not EVAL.exists(), reason="../shared/eval is not here")


def put(server, bucket: str, key: str, source):
    path = server.s3_root / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, path)


def test_image_operations_read_s3_objects(server):
    rek = server.client()
    put(server, "photos", "people/couple.jpg", EVAL / "deepface_unit" / "couple.jpg")
    put(server, "photos", "receipt.jpg", EVAL / "text_sroie_receipts100" / "img" / "000.jpg")
    couple = {"S3Object": {"Bucket": "photos", "Name": "people/couple.jpg"}}
    from_s3 = rek.detect_faces(Image=couple)["FaceDetails"]
    from_bytes = rek.detect_faces(Image={"Bytes": (EVAL / "deepface_unit" / "couple.jpg").read_bytes()})["FaceDetails"]
    assert [f["BoundingBox"] for f in from_s3] == [f["BoundingBox"] for f in from_bytes]
    # Versions are ignored by the directory backend.
    versioned = {"S3Object": {"Bucket": "photos", "Name": "people/couple.jpg", "Version": "v1"}}
    assert len(rek.detect_faces(Image=versioned)["FaceDetails"]) == 2
    compared = rek.compare_faces(SourceImage=couple, TargetImage={"Bytes": (EVAL / "deepface_unit" / "couple.jpg").read_bytes()})
    assert compared["FaceMatches"]
    text = rek.detect_text(Image={"S3Object": {"Bucket": "photos", "Name": "receipt.jpg"}})["TextDetections"]
    assert any(d["Type"] == "LINE" for d in text)
    rek.create_collection(CollectionId="s3")
    indexed = rek.index_faces(CollectionId="s3", Image=couple, ExternalImageId="couple")
    assert len(indexed["FaceRecords"]) == 2
    found = rek.search_faces_by_image(CollectionId="s3", Image=couple)
    assert found["FaceMatches"]


def test_missing_and_escaping_objects_are_invalid_s3_objects(server):
    rek = server.client()
    (server.s3_root.parent / "secret.jpg").write_bytes((EVAL / "deepface_unit" / "couple.jpg").read_bytes())
    put(server, "photos", "couple.jpg", EVAL / "deepface_unit" / "couple.jpg")
    for bucket, key in [("photos", "missing.jpg"), ("nobucket", "couple.jpg"), ("photos", "../../secret.jpg"),
                        ("photos", "/etc/passwd")]:
        with pytest.raises(ClientError) as error:
            rek.detect_faces(Image={"S3Object": {"Bucket": bucket, "Name": key}})
        assert error.value.response["Error"]["Code"] == "InvalidS3ObjectException", (bucket, key)
    big = server.s3_root / "photos" / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * (15 * 1024 * 1024 + 1))
    with pytest.raises(ClientError) as error:
        rek.detect_labels(Image={"S3Object": {"Bucket": "photos", "Name": "big.jpg"}})
    assert error.value.response["Error"]["Code"] == "ImageTooLargeException"


def test_cli_reads_s3_objects(server):
    put(server, "photos", "coco.jpg", EVAL / "coco_val2017_first128" / "images" / "000000000139.jpg")
    done = aws(server, "detect-labels", "--image", '{"S3Object":{"Bucket":"photos","Name":"coco.jpg"}}',
               "--max-labels", "2")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["Labels"]) == 2
    done = aws(server, "detect-labels", "--image", '{"S3Object":{"Bucket":"photos","Name":"nope.jpg"}}')
    assert done.returncode != 0 and "InvalidS3ObjectException" in done.stderr
