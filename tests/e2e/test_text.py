"""DetectText with boto3 and the AWS CLI on real receipts and scene text from ../shared/eval (skipped without it)."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT
from test_aws_cli import aws

EVAL = ROOT.parent / "shared" / "eval"
RECEIPTS = EVAL / "text_sroie_receipts100"
SCENE = EVAL / "text_icdar2015_train10_mmocr"
pytestmark = pytest.mark.skipif(not RECEIPTS.exists(), reason="../shared/eval is not here")


def truth_lines(stem: str) -> list[str]:
    rows = (RECEIPTS / "box" / f"{stem}.csv").read_text(encoding="utf-8", errors="replace").splitlines()
    return [row.split(",", 8)[8] for row in rows if row.count(",") >= 8]


def check_shape(detections: list[dict]):
    lines = [d for d in detections if d["Type"] == "LINE"]
    words = [d for d in detections if d["Type"] == "WORD"]
    assert detections == lines + words, "lines first, then words"
    assert [d["Id"] for d in detections] == list(range(len(detections)))
    assert len(words) <= 100
    line_ids = {line["Id"] for line in lines}
    for line in lines:
        assert "ParentId" not in line
        children = [w["DetectedText"] for w in words if w["ParentId"] == line["Id"]]
        assert children, "every line holds a kept word"
        assert all(child in line["DetectedText"] for child in children)
    for d in detections:
        assert 0 <= d["Confidence"] <= 100
        box = d["Geometry"]["BoundingBox"]
        polygon = d["Geometry"]["Polygon"]
        assert len(polygon) == 4
        for p in polygon:
            # The polygon lies within its axis-aligned box (and the image, give or take a pixel).
            assert box["Left"] - 1e-4 <= p["X"] <= box["Left"] + box["Width"] + 1e-4
            assert box["Top"] - 1e-4 <= p["Y"] <= box["Top"] + box["Height"] + 1e-4
            assert -0.01 <= p["X"] <= 1.01 and -0.01 <= p["Y"] <= 1.01
    for word in words:
        assert word["ParentId"] in line_ids
        assert " " not in word["DetectedText"]
    return lines, words


def test_detect_text_reads_a_receipt(server):
    rek = server.client()
    reply = rek.detect_text(Image={"Bytes": (RECEIPTS / "img" / "001.jpg").read_bytes()})
    assert reply["TextModelVersion"] == "1.0"
    lines, words = check_shape(reply["TextDetections"])
    assert len(words) >= 50
    # Most of the receipt's first lines are read exactly (ignoring case and spaces: the ground truth is
    # upper case, and the recogniser drops some spaces).
    squash = lambda s: "".join(s.split()).upper()
    truth = {squash(t) for t in truth_lines("001")}
    read = [squash(line["DetectedText"]) for line in lines]
    assert sum(r in truth for r in read) >= 0.6 * len(read), (read, truth)
    # Reading order: line tops go down the page (give or take lines side by side).
    tops = [line["Geometry"]["BoundingBox"]["Top"] for line in lines]
    assert sum(b >= a - 0.01 for a, b in zip(tops, tops[1:])) >= 0.9 * (len(tops) - 1)


def test_detect_text_filters(server):
    rek = server.client()
    image = {"Bytes": (RECEIPTS / "img" / "001.jpg").read_bytes()}
    everything = rek.detect_text(Image=image, Filters={"WordFilter": {"MinConfidence": 0}})["TextDetections"]
    default = rek.detect_text(Image=image)["TextDetections"]
    confident = rek.detect_text(Image=image, Filters={"WordFilter": {"MinConfidence": 99}})["TextDetections"]
    words = lambda ds: [d for d in ds if d["Type"] == "WORD"]
    assert all(w["Confidence"] >= 80 for w in words(default))
    assert all(w["Confidence"] >= 99 for w in words(confident))
    assert len(words(confident)) < len(words(default)) <= len(words(everything))
    crowded = rek.detect_text(Image={"Bytes": (RECEIPTS / "img" / "034.jpg").read_bytes()},
                              Filters={"WordFilter": {"MinConfidence": 0}})["TextDetections"]
    assert len(words(crowded)) == 100, "receipt 034 holds 223 words, more than the 100 DetectText returns"
    check_shape(crowded)
    tall = rek.detect_text(Image=image, Filters={"WordFilter": {"MinConfidence": 0, "MinBoundingBoxHeight": 0.02}})
    assert all(w["Geometry"]["BoundingBox"]["Height"] >= 0.02 for w in words(tall["TextDetections"]))
    # Only words more than half inside the top fifth of the receipt.
    region = {"BoundingBox": {"Left": 0, "Top": 0, "Width": 1, "Height": 0.2}}
    top = rek.detect_text(Image=image, Filters={"RegionsOfInterest": [region]})["TextDetections"]
    check_shape(top)
    assert words(top)
    for w in words(top):
        box = w["Geometry"]["BoundingBox"]
        assert box["Top"] + box["Height"] / 2 <= 0.2 + 0.02
    polygon = {"Polygon": [{"X": 0, "Y": 0}, {"X": 1, "Y": 0}, {"X": 1, "Y": 0.2}, {"X": 0, "Y": 0.2}]}
    same = rek.detect_text(Image=image, Filters={"RegionsOfInterest": [polygon]})["TextDetections"]
    assert [d["DetectedText"] for d in same] == [d["DetectedText"] for d in top]
    with pytest.raises(ClientError) as bad:
        rek.detect_text(Image=image, Filters={"RegionsOfInterest": [{"Polygon": [{"X": 0, "Y": 0}, {"X": 1, "Y": 1}]}]})
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as bad:
        rek.detect_text(Image=image, Filters={"WordFilter": {"MinConfidence": 101}})
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"


def test_detect_text_in_a_scene_and_in_a_face_photo(server):
    rek = server.client()
    scene = rek.detect_text(Image={"Bytes": (SCENE / "images" / "img_1.jpg").read_bytes()},
                            Filters={"WordFilter": {"MinConfidence": 0}})["TextDetections"]
    _, words = check_shape(scene)
    # img_1's legible words include "Genaxis Theatre" on a wall sign.
    assert any(w["DetectedText"].lower() == "theatre" for w in words), [w["DetectedText"] for w in words]
    # No text is not an error: an empty list.
    portrait = rek.detect_text(Image={"Bytes": (EVAL / "deepface_unit" / "img1.jpg").read_bytes()})
    assert all(d["Confidence"] >= 80 for d in portrait["TextDetections"] if d["Type"] == "WORD")
    with pytest.raises(ClientError) as bad:
        rek.detect_text(Image={"Bytes": b"not an image"})
    assert bad.value.response["Error"]["Code"] == "InvalidImageFormatException"


def test_cli_detect_text(server):
    done = aws(server, "detect-text", "--image-bytes", f"fileb://{RECEIPTS / 'img' / '000.jpg'}")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    lines, _ = check_shape(reply["TextDetections"])
    assert lines
