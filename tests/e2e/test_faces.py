"""DetectFaces and CompareFaces with boto3 on real photos from ../shared/eval (skipped without it)."""
import csv
import pathlib

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT

EVAL = ROOT.parent / "shared" / "eval"
DEEPFACE = EVAL / "deepface_unit"
SMOKE = EVAL / "face_photos_smoke"
pytestmark = pytest.mark.skipif(not DEEPFACE.exists(), reason="../shared/eval is not here")

DEFAULT_LANDMARKS = {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"}


def read(path: pathlib.Path) -> bytes:
    return path.read_bytes()


def identities() -> dict:
    with open(DEEPFACE / "identities_derived.csv") as f:
        return {row["file"]: row["identity_id"] for row in csv.DictReader(f)}


def test_detect_faces_default_and_all(server):
    rek = server.client()
    faces = rek.detect_faces(Image={"Bytes": read(DEEPFACE / "couple.jpg")})["FaceDetails"]
    assert len(faces) == 2
    areas = [f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"] for f in faces]
    assert areas == sorted(areas, reverse=True), "largest first"
    for face in faces:
        assert face["Confidence"] > 90
        assert {lm["Type"] for lm in face["Landmarks"]} == DEFAULT_LANDMARKS
        box = face["BoundingBox"]
        for lm in face["Landmarks"]:
            # Landmarks lie inside (or at the edge of) their face box.
            assert box["Left"] - 0.05 <= lm["X"] <= box["Left"] + box["Width"] + 0.05
            assert box["Top"] - 0.05 <= lm["Y"] <= box["Top"] + box["Height"] + 0.05
        eyes = {lm["Type"]: lm for lm in face["Landmarks"]}
        assert eyes["eyeLeft"]["X"] < eyes["eyeRight"]["X"], "left is the viewer's left"
        assert set(face) >= {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
        assert "AgeRange" not in face and "Emotions" not in face
    full = rek.detect_faces(Image={"Bytes": read(DEEPFACE / "couple.jpg")}, Attributes=["ALL"])["FaceDetails"]
    for face in full:
        assert len(face["Landmarks"]) == 30
        assert face["AgeRange"]["Low"] <= face["AgeRange"]["High"]
        assert face["Gender"]["Value"] in ("Male", "Female")
        confidences = [e["Confidence"] for e in face["Emotions"]]
        assert confidences == sorted(confidences, reverse=True)
        # Attributes reko cannot compute honestly are absent, not invented.
        for absent in ("Beard", "Mustache", "Eyeglasses", "Sunglasses", "EyeDirection", "FaceOccluded"):
            assert absent not in face
    only = rek.detect_faces(Image={"Bytes": read(DEEPFACE / "couple.jpg")}, Attributes=["GENDER"])["FaceDetails"]
    assert "Gender" in only[0] and "AgeRange" not in only[0]


def test_detect_faces_finds_the_annotated_group(server):
    faces = server.client().detect_faces(Image={"Bytes": read(SMOKE / "facenet_pytorch" / "multiface.jpg")})
    assert len(faces["FaceDetails"]) >= 5


def test_no_faces_and_bad_images(server):
    rek = server.client()
    dogs = rek.detect_faces(Image={"Bytes": read(SMOKE / "dlib_faces" / "dogs.jpg")})
    assert dogs["FaceDetails"] == []
    with pytest.raises(rek.exceptions.InvalidImageFormatException):
        rek.detect_faces(Image={"Bytes": b"GIF89a this is not a jpeg"})
    truncated = read(DEEPFACE / "img1.jpg")[:2000]
    with pytest.raises(rek.exceptions.InvalidImageFormatException):
        rek.detect_faces(Image={"Bytes": truncated})
    with pytest.raises(rek.exceptions.InvalidS3ObjectException):
        rek.detect_faces(Image={"S3Object": {"Bucket": "bucket", "Name": "k.jpg"}})
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.compare_faces(SourceImage={"Bytes": read(SMOKE / "dlib_faces" / "dogs.jpg")},
                          TargetImage={"Bytes": read(DEEPFACE / "img1.jpg")})


def test_compare_faces_matches_the_same_person_only(server):
    rek = server.client()
    ids = identities()
    same = [f for f in sorted(ids) if ids[f] == ids["img1.jpg"] and f != "img1.jpg"][:3]
    other = [f for f in sorted(ids) if ids[f] != ids["img1.jpg"]][:3]
    source = {"Bytes": read(DEEPFACE / "img1.jpg")}
    for name in same:
        result = rek.compare_faces(SourceImage=source, TargetImage={"Bytes": read(DEEPFACE / name)})
        assert len(result["FaceMatches"]) == 1, name
        assert result["FaceMatches"][0]["Similarity"] >= 80
        assert result["SourceImageFace"]["Confidence"] > 90
    for name in other:
        result = rek.compare_faces(SourceImage=source, TargetImage={"Bytes": read(DEEPFACE / name)})
        assert result["FaceMatches"] == [], name
        assert len(result["UnmatchedFaces"]) >= 1
    # A threshold of 0 turns every target face into a match, most similar first.
    couple = rek.compare_faces(SourceImage=source, TargetImage={"Bytes": read(DEEPFACE / "couple.jpg")},
                               SimilarityThreshold=0)
    sims = [m["Similarity"] for m in couple["FaceMatches"]]
    assert len(sims) == 2 and sims == sorted(sims, reverse=True)


def test_a_truncated_jpeg_is_an_invalid_image(server):
    """A photo cut off in transfer is refused, as Rekognition does, not analysed with its end filled in."""
    rek = server.client()
    whole = read(DEEPFACE / "couple.jpg")
    assert len(rek.detect_faces(Image={"Bytes": whole})["FaceDetails"]) == 2
    for cut in (len(whole) // 2, len(whole) - 2):
        with pytest.raises(ClientError) as refused:
            rek.detect_faces(Image={"Bytes": whole[:cut]})
        assert refused.value.response["Error"]["Code"] == "InvalidImageFormatException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_metrics_show_model_runs_and_requests(server):
    import urllib.request

    server.client().detect_faces(Image={"Bytes": read(DEEPFACE / "couple.jpg")})
    with urllib.request.urlopen(f"{server.endpoint}/metrics") as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    assert 'reko_requests_total{operation="DetectFaces",error="none"} 1' in text
    assert 'reko_inference_duration_seconds_count{model="centerface"}' in text
    assert "reko_analyses_running 0" in text
