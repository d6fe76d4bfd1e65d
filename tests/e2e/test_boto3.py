"""boto3 against a running reko: collections, persistence across restarts and kill -9, every error class."""
import json
import signal
import subprocess
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import ALICE, BOB, REGION, REKO_BIN, Server


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_list_delete(server):
    rek = server.client()
    created = rek.create_collection(CollectionId="badges", Tags={"site": "hq"})
    assert created["StatusCode"] == 200
    assert created["CollectionArn"] == "aws:rekognition:us-east-1:111111111111:collection/badges"
    assert created["FaceModelVersion"]
    described = rek.describe_collection(CollectionId="badges")
    assert described["CollectionARN"] == created["CollectionArn"]
    assert described["FaceCount"] == 0 and described["UserCount"] == 0
    assert described["CreationTimestamp"].year >= 2025
    assert described["ResponseMetadata"]["RequestId"]
    assert rek.list_tags_for_resource(ResourceArn=created["CollectionArn"])["Tags"] == {"site": "hq"}
    rek.tag_resource(ResourceArn=created["CollectionArn"], Tags={"floor": "3"})
    rek.untag_resource(ResourceArn=created["CollectionArn"], TagKeys=["site"])
    assert rek.list_tags_for_resource(ResourceArn=created["CollectionArn"])["Tags"] == {"floor": "3"}
    assert rek.delete_collection(CollectionId="badges")["StatusCode"] == 200
    assert rek.list_collections()["CollectionIds"] == []


def test_pagination_with_the_boto3_paginator(server):
    rek = server.client()
    ids = [f"c{i:02d}" for i in range(23)]
    for cid in ids:
        rek.create_collection(CollectionId=cid)
    pages = list(rek.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["CollectionIds"]) for p in pages] == [5, 5, 5, 5, 3]
    assert [c for p in pages for c in p["CollectionIds"]] == ids
    assert all(len(p["FaceModelVersions"]) == len(p["CollectionIds"]) for p in pages)


def test_collections_survive_graceful_restart_and_kill_9(server):
    rek = server.client()
    rek.create_collection(CollectionId="before-restart")
    assert server.stop(signal.SIGTERM) == 0
    server.start()
    rek.create_collection(CollectionId="before-kill")
    # SIGKILL right after the acknowledgement: the write must already be durable.
    server.stop(signal.SIGKILL)
    server.start()
    rek = server.client()
    assert rek.list_collections()["CollectionIds"] == ["before-kill", "before-restart"]
    assert rek.describe_collection(CollectionId="before-kill")["FaceCount"] == 0


def test_service_errors(server):
    rek = server.client()
    rek.create_collection(CollectionId="dup")
    with pytest.raises(ClientError) as e:
        rek.create_collection(CollectionId="dup")
    assert error_code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.describe_collection(CollectionId="missing")
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.delete_collection(CollectionId="missing")
    with pytest.raises(rek.exceptions.InvalidParameterException) as e:
        rek.create_collection(CollectionId="has spaces")
    assert "collectionId" in e.value.response["Error"]["Message"]
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.list_collections(MaxResults=5000)
    with pytest.raises(rek.exceptions.InvalidPaginationTokenException):
        rek.list_collections(NextToken="%%%")
    with pytest.raises(ClientError) as e:
        rek.recognize_celebrities(Image={"Bytes": b"not an image"})
    assert error_code(e) == "UnsupportedOperationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_accounts_are_isolated(server):
    alice, bob = server.client(ALICE), server.client(BOB)
    arn = alice.create_collection(CollectionId="private")["CollectionArn"]
    assert bob.list_collections()["CollectionIds"] == []
    with pytest.raises(bob.exceptions.ResourceNotFoundException):
        bob.describe_collection(CollectionId="private")
    with pytest.raises(bob.exceptions.ResourceNotFoundException):
        bob.list_tags_for_resource(ResourceArn=arn)
    # Regions are separate too, as on AWS.
    assert server.client(ALICE, region="eu-west-1").list_collections()["CollectionIds"] == []


def raw_request(server, target, body: bytes, key=ALICE, sign=True):
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=server.endpoint + "/", data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    if sign:
        creds = botocore.credentials.Credentials(key[0], key[1])
        botocore.auth.SigV4Auth(creds, "rekognition", REGION).add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read())


@pytest.mark.parametrize("target, body, expected", [
    ("RekognitionService.NoSuchOperation", b"{}", "UnknownOperationException"),
    ("RekognitionService.CreateCollection", b'{"CollectionId": ', "SerializationException"),
    ("RekognitionService.ListCollections", b'{"MaxResults": "ten"}', "SerializationException"),
    ("RekognitionService.CreateCollection", b"{}", "InvalidParameterException"),
])
def test_protocol_errors_from_raw_signed_requests(server, target, body, expected):
    status, headers, payload = raw_request(server, target, body)
    assert status == 400
    assert payload["__type"] == expected and payload["Message"]
    assert headers["x-amzn-ErrorType"] == expected
    assert headers["x-amzn-RequestId"]


def test_missing_authentication(server):
    status, headers, payload = raw_request(server, "RekognitionService.ListCollections", b"{}", sign=False)
    assert (status, payload["__type"]) == (400, "MissingAuthenticationTokenException")


def test_tampered_signature_wrong_secret_and_unknown_key(server):
    rek = server.client()

    def tamper(request, **_):
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        last = "0" if auth[-1] != "0" else "1"
        request.headers["Authorization"] = auth[:-1] + last

    rek.meta.events.register("before-send.rekognition", tamper)
    with pytest.raises(ClientError) as e:
        rek.list_collections()
    assert error_code(e) == "InvalidSignatureException"

    with pytest.raises(ClientError) as e:
        server.client((ALICE[0], "wrong-secret", ALICE[2])).list_collections()
    assert error_code(e) == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        server.client(("AKIDNOBODY", "whatever", "")).list_collections()
    assert error_code(e) == "UnrecognizedClientException"


def test_clock_skew_over_15_minutes_is_rejected(server, monkeypatch):
    import datetime as real_datetime

    skewed = real_datetime.datetime.now(real_datetime.timezone.utc) - real_datetime.timedelta(minutes=20)

    class SkewedDatetime(real_datetime.datetime):
        @classmethod
        def utcnow(cls):
            return skewed.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return skewed if tz else skewed.replace(tzinfo=None)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", SkewedDatetime)
    status, _, payload = raw_request(server, "RekognitionService.ListCollections", b"{}")
    assert (status, payload["__type"]) == (400, "InvalidSignatureException")
    assert payload["Message"].startswith("Signature expired")


def test_dev_mode_refuses_non_loopback_addresses(workdir):
    result = subprocess.run(
        [REKO_BIN, "serve", "--listen", "0.0.0.0:0", "--data-dir", str(workdir / "d")],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": str(workdir)},
    )
    assert result.returncode != 0
    assert "loopback" in result.stderr


def test_dev_mode_accepts_any_key_on_loopback(workdir):
    srv = Server(workdir / "dev", None).start()
    try:
        rek = srv.client(("ANYKEY", "anysecret", ""))
        arn = rek.create_collection(CollectionId="dev")["CollectionArn"]
        assert ":000000000000:" in arn
    finally:
        assert srv.stop() == 0
