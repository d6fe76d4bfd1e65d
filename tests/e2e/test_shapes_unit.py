"""The output shape checker of shapes.py on hand-made bodies: good ones pass, each kind of fault is reported by path."""
import http.server
import json
import threading

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

import conftest
import shapes
from conftest import ALICE, REGION, SUCCESS_RESPONSES, free_port

MODEL = shapes.load_model()

GOOD_FACE = {
    "BoundingBox": {"Width": 0.25, "Height": 0.5, "Left": 0.1, "Top": 0.2},
    "AgeRange": {"Low": 20, "High": 30},
    "Emotions": [{"Type": "HAPPY", "Confidence": 99.5}],
    "Confidence": 99.9,
    "Quality": {"Brightness": 50.0, "Sharpness": 80},
}


def test_good_responses_pass():
    assert shapes.check_output(MODEL, "DetectFaces", {"FaceDetails": [GOOD_FACE]}) == []
    assert shapes.check_output(MODEL, "DetectFaces", json.dumps({"FaceDetails": []}).encode()) == []
    assert shapes.check_output(MODEL, "DescribeCollection", {
        "FaceCount": 3, "FaceModelVersion": "7.0", "CreationTimestamp": 1700000000.123, "UserCount": 0,
        "CollectionARN": "aws:rekognition:us-east-1:111111111111:collection/x"}) == []
    assert shapes.check_output(MODEL, "ListTagsForResource", {"Tags": {"team": "a"}}) == []
    assert shapes.check_output(MODEL, "DeleteCollection", {"StatusCode": 200}) == []


@pytest.mark.parametrize("body, expected", [
    ({"FaceDetails": [{**GOOD_FACE, "Mood": "fine"}]}, "$.FaceDetails[0].Mood: unknown member of FaceDetail"),
    ({"FaceDetails": [{**GOOD_FACE, "Confidence": 100.5}]}, "$.FaceDetails[0].Confidence: 100.5 is above the maximum 100"),
    ({"FaceDetails": [{**GOOD_FACE, "Confidence": "99"}]}, "$.FaceDetails[0].Confidence: string '99' where float"),
    ({"FaceDetails": [{**GOOD_FACE, "Emotions": [{"Type": "SAD", "Confidence": -0.1}]}]},
     "$.FaceDetails[0].Emotions[0].Confidence: -0.1 is below the minimum 0"),
    ({"FaceDetails": [{**GOOD_FACE, "AgeRange": {"Low": 20.0}}]},
     "$.FaceDetails[0].AgeRange.Low: 20.0 is not an integral JSON number"),
    ({"FaceDetails": [{**GOOD_FACE, "AgeRange": {"Low": -1}}]}, "$.FaceDetails[0].AgeRange.Low: -1 is below the minimum 0"),
    ({"FaceDetails": [{**GOOD_FACE, "Emotions": [{"Type": "GLEEFUL"}]}]},
     "$.FaceDetails[0].Emotions[0].Type: 'GLEEFUL' is not in the enum EmotionName"),
    ({"FaceDetails": [{**GOOD_FACE, "Smile": {"Value": "yes"}}]},
     "$.FaceDetails[0].Smile.Value: string 'yes' where boolean"),
    ({"FaceDetails": {"0": GOOD_FACE}}, "$.FaceDetails: object where list FaceDetailList (array) is expected"),
    ({"FaceDetails": [None]}, "$.FaceDetails[0]: null where structure FaceDetail"),
])
def test_each_fault_is_reported_with_its_path(body, expected):
    violations = shapes.check_output(MODEL, "DetectFaces", body)
    assert any(v.startswith(expected) for v in violations), violations


def test_required_members_timestamps_lengths_and_patterns():
    described = shapes.check_output(MODEL, "DescribeCollection", {"CreationTimestamp": "2024-01-01T00:00:00Z"})
    assert any(v.startswith("$.CreationTimestamp: string") for v in described), described
    # SearchFaces: a required member of a nested structure, a string too long, a pattern not matched.
    searched = shapes.check_output(MODEL, "SearchFaces", {
        "SearchedFaceId": "not-a-uuid",
        "FaceMatches": [{"Similarity": 99, "Face": {"FaceId": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                                     "ExternalImageId": "x" * 256}}],
    })
    assert any(v.startswith("$.SearchedFaceId: 'not-a-uuid' does not match the pattern") for v in searched), searched
    assert any(v.startswith("$.FaceMatches[0].Face.ExternalImageId: string length 256 is above the maximum 255")
               for v in searched), searched
    users = shapes.check_output(MODEL, "SearchUsers", {"UserMatches": [{"User": {"UserId": "u", "UserStatus": "GONE"}}]})
    assert any(v.startswith("$.UserMatches[0].User.UserStatus: 'GONE' is not in the enum") for v in users), users
    listed = shapes.check_output(MODEL, "ListUsers", {"Users": [{"UserId": ""}]})
    assert any(v.startswith("$.Users[0].UserId: string length 0 is below the minimum 1") for v in listed), listed
    associated = shapes.check_output(MODEL, "AssociateFaces", {"AssociatedFaces": [{}] * 101})
    assert any(v.startswith("$.AssociatedFaces: list length 101 is above the maximum 100") for v in associated)


def test_required_member_missing():
    # The model's output shapes require few members; find one and leave it out.
    for name, shape in MODEL["shapes"].items():
        if shape["type"] == "structure" and shape.get("required") and not shape.get("exception"):
            break
    violations = [str(v) for v in shapes.check_shape(MODEL, name, {})]
    assert any(f"required member of {name} is missing" in v for v in violations), (name, violations)


def test_bodies_that_are_not_json_or_not_objects():
    assert shapes.check_output(MODEL, "DetectFaces", b"<html>")[0].startswith("$: the body is not JSON")
    assert shapes.check_output(MODEL, "DetectFaces", b"[]") == ["$: array where structure DetectFacesResponse (object) is expected"]
    assert shapes.check_output(MODEL, "NoSuchOperation", {}) == ["$: NoSuchOperation is not an operation of the model"]


def test_the_conftest_hook_records_success_bodies_of_boto3_clients():
    """A stand-in endpoint answers DetectFaces with a bad body, then an error: only the 200 body is recorded."""
    answers = [(200, b'{"FaceDetails": [{"Mood": 1}]}'),
               (400, b'{"__type": "InvalidParameterException", "Message": "no"}')] * 2

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = answers.pop(0)
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    endpoint = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Endpoint)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    before = len(SUCCESS_RESPONSES)
    try:
        settings = dict(endpoint_url=f"http://127.0.0.1:{endpoint.server_port}", region_name=REGION,
                        aws_access_key_id=ALICE[0], aws_secret_access_key=ALICE[1],
                        config=botocore.config.Config(retries={"max_attempts": 1}))
        # A client of boto3's default session records through the session's handler; one of another session
        # records once conftest's record_responses_of registers on it (as Server.client does).
        other = boto3.session.Session().client("rekognition", **settings)
        conftest.record_responses_of(other.meta.events)
        conftest.record_responses_of(other.meta.events)  # a second registration is a no-op
        for client in (boto3.client("rekognition", **settings), other):
            client.detect_faces(Image={"Bytes": b"x"})
            with pytest.raises(ClientError):
                client.detect_faces(Image={"Bytes": b"x"})
        recorded = SUCCESS_RESPONSES[before:]
        assert [(operation, body) for operation, body, _ in recorded] == [
            ("DetectFaces", b'{"FaceDetails": [{"Mood": 1}]}')] * 2, recorded
        assert recorded[0][2].endswith("test_the_conftest_hook_records_success_bodies_of_boto3_clients")
        assert shapes.check_output(MODEL, *recorded[0][:2])[0].startswith("$.FaceDetails[0].Mood: unknown member")
    finally:
        del SUCCESS_RESPONSES[before:]  # not reko's answers: kept out of the final check
        endpoint.shutdown()
