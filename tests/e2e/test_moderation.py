"""DetectModerationLabels with boto3 and the AWS CLI on ordinary photos from ../shared/eval (skipped without it)."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT
from test_aws_cli import aws

EVAL = ROOT.parent / "shared" / "eval"
COCO = EVAL / "coco_val2017_first128" / "images"
pytestmark = pytest.mark.skipif(not COCO.exists(), reason="../shared/eval is not here")

LEVEL_ONE = {"Explicit", "Non-Explicit Nudity of Intimate parts and Kissing", "Swimwear or Underwear"}


def check_shape(labels: list[dict], min_confidence: float):
    names = {label["Name"]: label for label in labels}
    for label in labels:
        assert set(label) == {"Confidence", "Name", "ParentName", "TaxonomyLevel"}
        assert min_confidence <= label["Confidence"] <= 100
        assert label["TaxonomyLevel"] in (1, 2, 3)
        if label["TaxonomyLevel"] == 1:
            assert label["ParentName"] == "" and label["Name"] in LEVEL_ONE
        else:
            # Every label's parent is listed too, at least as confident.
            parent = names[label["ParentName"]]
            assert parent["TaxonomyLevel"] == label["TaxonomyLevel"] - 1
            assert parent["Confidence"] >= label["Confidence"]


def test_ordinary_photos_are_not_flagged(server):
    rek = server.client()
    photos = sorted(COCO.glob("*.jpg"))[:8] + [EVAL / "deepface_unit" / "couple.jpg"]
    for photo in photos:
        reply = rek.detect_moderation_labels(Image={"Bytes": photo.read_bytes()})
        assert reply["ModerationModelVersion"] == "1.0"
        assert reply["ModerationLabels"] == [], photo
        # Whatever the detector sees at any confidence still has the taxonomy's shape.
        check_shape(rek.detect_moderation_labels(Image={"Bytes": photo.read_bytes()}, MinConfidence=0)
                    ["ModerationLabels"], 0)


def test_moderation_errors(server):
    rek = server.client()
    image = {"Bytes": (EVAL / "deepface_unit" / "couple.jpg").read_bytes()}
    for bad in ({"MinConfidence": 101},
                {"ProjectVersion": "arn:aws:rekognition:us-east-1:111111111111:project/p/version/v/1"}):
        with pytest.raises(ClientError) as error:
            rek.detect_moderation_labels(Image=image, **bad)
        assert error.value.response["Error"]["Code"] == "InvalidParameterException", bad
    with pytest.raises(ClientError) as error:
        rek.detect_moderation_labels(Image={"Bytes": b"GIF89a not supported"})
    assert error.value.response["Error"]["Code"] == "InvalidImageFormatException"


def test_cli_detect_moderation_labels(server):
    done = aws(server, "detect-moderation-labels", "--image-bytes", f"fileb://{sorted(COCO.glob('*.jpg'))[0]}",
               "--min-confidence", "60")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["ModerationLabels"] == [] and reply["ModerationModelVersion"] == "1.0"
