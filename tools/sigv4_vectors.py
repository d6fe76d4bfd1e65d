#!/usr/bin/env python3
"""SigV4 test vectors signed by botocore, an implementation independent of reko's own signer.

reko-auth's unit tests sign with `reko_auth::sign` and verify with `reko_auth::verify`, so a
canonicalisation mistake shared by both would go unnoticed. This script signs a set of requests for
the service `rekognition` with botocore's `SigV4Auth` (the signer boto3 and the AWS CLI use) at a fixed
time, and writes them to `crates/reko-auth/tests/botocore_sigv4_vectors.json`, which
`crates/reko-auth/tests/botocore_sigv4.rs` replays through `reko_auth::verify` with its clock set to
the signing time.

Each vector holds the request as it goes on the wire: method, path, raw query string, the headers as
[name, value] pairs in the order sent (a header given twice is two pairs; `Host` and `Content-Length`
are added as the HTTP client adds them), the body, the key pair the server knows, the region, the
signing time (epoch seconds), whether the server must accept it, and botocore's canonical request (for
reading a failure). Negative vectors are valid ones altered after signing (body, a signed header, the
query, the path, the order of a repeated header) or signed with the wrong secret.

Run it (from anywhere; the output path is found from this file's location):

    python3 -m venv /tmp/sigvenv && /tmp/sigvenv/bin/pip install botocore
    /tmp/sigvenv/bin/python tools/sigv4_vectors.py [OUTPUT.json]

then `cargo test -p reko-auth --test botocore_sigv4`. The botocore version used is recorded in the file.
"""

import datetime
import json
import platform
import sys
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

SERVICE = "rekognition"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WRONG_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYNOTTHEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+base64="
HOST = "localhost:9000"
# 2025-11-28T16:00:00Z, and a leap day just before midnight for the date in the credential scope.
SIGNED_AT = datetime.datetime(2025, 11, 28, 16, 0, 0)
LEAP_DAY = datetime.datetime(2024, 2, 29, 23, 59, 59)

OUT = Path(__file__).resolve().parent.parent / "crates/reko-auth/tests/botocore_sigv4_vectors.json"


class RecordingSigV4Auth(SigV4Auth):
    """botocore's SigV4Auth, keeping the canonical request it signed (for reading a failure)."""

    def canonical_request(self, request):
        self.signed_canonical_request = super().canonical_request(request)
        return self.signed_canonical_request


def sign(
    name,
    description,
    *,
    method="POST",
    path="/",
    query="",
    params=None,
    headers=(),
    body=b"",
    region="us-east-1",
    secret=SECRET,
    token=None,
    at=SIGNED_AT,
):
    """Signs one request with botocore at time `at`; returns the vector as it goes on the wire."""
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, params=params)
    # HTTPHeaders appends on assignment, so a name given twice is kept twice, in order.
    for header_name, value in headers:
        request.headers[header_name] = value
    credentials = Credentials(ACCESS_KEY, secret, token)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=at):
        signer = RecordingSigV4Auth(credentials, SERVICE, region)
        signer.add_auth(request)
    assert request.context["timestamp"] == at.strftime("%Y%m%dT%H%M%SZ")

    prepared = request.prepare()
    wire = urlsplit(prepared.url)
    # The HTTP client sends Host (from the URL, as botocore signed it) and Content-Length.
    sent = [["Host", botocore.auth._host_from_url(prepared.url)]]
    sent += [[k, v] for k, v in request.headers.items()]
    if "Content-Length" in prepared.headers and "Content-Length" not in request.headers:
        sent.append(["Content-Length", prepared.headers["Content-Length"]])
    body_bytes = body if isinstance(body, bytes) else body.encode("utf-8")
    return {
        "name": name,
        "description": description,
        "method": method,
        "path": wire.path,
        "query": wire.query,
        "headers": sent,
        "body": body_bytes.decode("utf-8"),
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET,
        "signed_with_secret": secret,
        "session_token": token,
        "region": region,
        "amz_date": request.context["timestamp"],
        "epoch": int(at.replace(tzinfo=datetime.timezone.utc).timestamp()),
        "expect_valid": True,
        "botocore_canonical_request": signer.signed_canonical_request,
    }


def tampered(vector, name, description, **changes):
    """A copy of a valid vector altered after signing; the server must reject it."""
    out = json.loads(json.dumps(vector))
    out.update(changes)
    out["name"] = name
    out["description"] = description
    out["expect_valid"] = False
    return out


def set_header(headers, name, value):
    """Replaces the first header called `name` (case-insensitively)."""
    out = [list(h) for h in headers]
    for h in out:
        if h[0].lower() == name.lower():
            h[1] = value
            return out
    raise KeyError(name)


def rekognition(op):
    return [("X-Amz-Target", f"RekognitionService.{op}"), ("Content-Type", "application/x-amz-json-1.1")]


def vectors():
    plain = sign(
        "plain-rekognition-post",
        "POST / as boto3 sends a Rekognition call: X-Amz-Target and AWS JSON 1.1, plus an unsigned User-Agent.",
        headers=rekognition("ListCollections") + [("User-Agent", "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1")],
        body=b'{"MaxResults": 10}',
    )
    query = sign(
        "query-string",
        "Several unsorted parameters, percent-encoded reserved and UTF-8 characters, a repeated key, "
        "an empty value and a key without '=' (encoded on the wire as botocore encodes query strings).",
        query=percent_encode_sequence(
            [
                ("zeta", "last"),
                ("Alpha", "A"),
                ("b", ["2", "1", "*", "~"]),
                ("empty", ""),
                ("q", "café au lait/50%+more"),
                ("a-b_c.d~e", "x=y&z"),
                ("", "no-key"),
            ]
        )
        + "&flag",
        headers=rekognition("ListCollections"),
        body=b"{}",
    )
    params = sign(
        "query-from-params",
        "Query parameters given to botocore as params (put on the wire by urlencode, signed by "
        "botocore's own canonical encoding); a GET without body.",
        method="GET",
        params=[("tilde", "~x"), ("slash", "a/b"), ("utf8", "日本"), ("star", "*"), ("k", "2"), ("k", "1")],
    )
    whitespace = sign(
        "header-case-and-whitespace",
        "Header names in mixed case; values with leading and trailing spaces and tabs and internal runs "
        "of whitespace, which SigV4 trims and collapses to one space.",
        headers=[
            ("x-AMZ-tARGET", "RekognitionService.DescribeCollection"),
            ("CONTENT-type", "application/x-amz-json-1.1"),
            ("X-Amz-Meta-Spaced", "   leading and    internal   runs\t\tand tabs   "),
            ("x-amz-META-single", " a "),
        ],
        body=b'{"CollectionId": "c"}',
    )
    multi = sign(
        "multi-value-header",
        "The same header given three times (values joined with ',' in order, each trimmed), next to a "
        "header whose one value already holds commas.",
        headers=rekognition("ListCollections")
        + [
            ("X-Amz-Meta-Multi", "one"),
            ("X-Amz-Meta-Other", "a, b,c"),
            ("x-amz-meta-multi", "  two   words "),
            ("X-AMZ-META-MULTI", "three"),
        ],
        body=b"{}",
    )
    token = sign(
        "session-token",
        "Temporary credentials: botocore adds and signs X-Amz-Security-Token.",
        headers=rekognition("ListCollections"),
        body=b"{}",
        token=SESSION_TOKEN,
    )
    utf8 = sign(
        "utf8-body",
        "A body with non-ASCII UTF-8 (accents, CJK, an emoji, an escaped quote).",
        headers=rekognition("CreateCollection"),
        body='{"CollectionId": "café-日本語-🙂", "Tags": {"k": "\\"ü\\""}}'.encode("utf-8"),
    )
    region = sign(
        "other-region-leap-day",
        "Region ap-southeast-2 in the credential scope, signed on a leap day one second before midnight.",
        headers=rekognition("ListCollections"),
        body=b"{}",
        region="ap-southeast-2",
        at=LEAP_DAY,
    )
    encoded_path = sign(
        "encoded-path",
        "A path other than '/' holding percent-encoded characters (space, UTF-8, an encoded slash) and "
        "raw reserved ones; outside S3, SigV4 URI-encodes the path as sent once more.",
        path="/collections/my%20coll/caf%C3%A9/a%2Fb/x:y@z!$'()*+,;=",
        headers=rekognition("ListCollections"),
        body=b"{}",
    )
    dotted_path = sign(
        "dot-segments-path",
        "A path with '.', '..' and empty segments and a trailing '/', which SigV4 outside S3 normalises "
        "(RFC 3986 dot-segment removal, consecutive slashes merged).",
        path="/a/./b/../c//d/",
        headers=rekognition("ListCollections"),
        body=b"{}",
    )
    wrong_secret = sign(
        "wrong-secret",
        "Signed with a secret other than the one the server holds for the access key.",
        headers=rekognition("ListCollections"),
        body=b"{}",
        secret=WRONG_SECRET,
    )
    wrong_secret["expect_valid"] = False

    unsigned_changed = json.loads(json.dumps(plain))
    unsigned_changed.update(
        name="unsigned-header-changed",
        description="The plain vector with its User-Agent (not signed by botocore) changed: still valid.",
        headers=set_header(plain["headers"], "User-Agent", "curl/8.0"),
    )
    swapped = [list(h) for h in multi["headers"]]
    multi_at = [i for i, h in enumerate(swapped) if h[0].lower() == "x-amz-meta-multi"]
    swapped[multi_at[0]], swapped[multi_at[-1]] = swapped[multi_at[-1]], swapped[multi_at[0]]

    return [
        plain,
        unsigned_changed,
        query,
        params,
        whitespace,
        multi,
        token,
        utf8,
        region,
        encoded_path,
        dotted_path,
        tampered(plain, "body-changed", "The plain vector's body changed after signing.", body='{"MaxResults": 11}'),
        tampered(
            plain,
            "signed-header-changed",
            "The plain vector's X-Amz-Target (a signed header) changed after signing.",
            headers=set_header(plain["headers"], "X-Amz-Target", "RekognitionService.DeleteCollection"),
        ),
        tampered(
            whitespace,
            "signed-header-word-changed",
            "A word inside a whitespace-padded signed header changed after signing.",
            headers=set_header(
                whitespace["headers"], "X-Amz-Meta-Spaced", "   leading and    internal   runs\t\tand TABS   "
            ),
        ),
        tampered(
            multi,
            "multi-value-order-changed",
            "The repeated header's first and last values swapped: the joined value differs.",
            headers=swapped,
        ),
        tampered(
            query,
            "query-changed",
            "One query value changed after signing.",
            query=query["query"].replace("zeta=last", "zeta=lost"),
        ),
        tampered(
            encoded_path,
            "path-changed",
            "The encoded path with its encoded slash sent as a plain '/'.",
            path=encoded_path["path"].replace("a%2Fb", "a/b"),
        ),
        tampered(
            token,
            "session-token-changed",
            "The signed X-Amz-Security-Token changed after signing.",
            headers=set_header(token["headers"], "X-Amz-Security-Token", SESSION_TOKEN + "x"),
        ),
        wrong_secret,
    ]


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    document = {
        "generator": "tools/sigv4_vectors.py",
        "botocore_version": botocore.__version__,
        "python_version": platform.python_version(),
        "service": SERVICE,
        "vectors": vectors(),
    }
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(document['vectors'])} vectors (botocore {botocore.__version__}) to {out}")


if __name__ == "__main__":
    main()
