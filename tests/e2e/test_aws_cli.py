"""The AWS CLI, unchanged but for --endpoint-url, against a running reko."""
import json
import os
import pathlib
import subprocess
import sys

from conftest import ALICE, REGION

AWS = str(pathlib.Path(sys.executable).parent / "aws")


def aws(server, *args, key=ALICE):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key[0], AWS_SECRET_ACCESS_KEY=key[1], AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_MAX_ATTEMPTS="1")
    return subprocess.run([AWS, "rekognition", *args, "--endpoint-url", server.endpoint, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_collection_round_trip(server):
    created = aws(server, "create-collection", "--collection-id", "x")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["CollectionArn"].endswith(":111111111111:collection/x")
    described = aws(server, "describe-collection", "--collection-id", "x")
    assert json.loads(described.stdout)["CollectionARN"].endswith("collection/x")
    for i in range(4):
        aws(server, "create-collection", "--collection-id", f"y{i}")
    # The CLI paginates by itself with --page-size.
    listed = aws(server, "list-collections", "--page-size", "2")
    assert json.loads(listed.stdout)["CollectionIds"] == ["x", "y0", "y1", "y2", "y3"]
    assert aws(server, "delete-collection", "--collection-id", "x").returncode == 0


def test_cli_reports_rekognition_errors(server):
    missing = aws(server, "describe-collection", "--collection-id", "nope")
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
    invalid = aws(server, "create-collection", "--collection-id", "bad id")
    assert "InvalidParameterException" in invalid.stderr
    wrong = aws(server, "list-collections", key=(ALICE[0], "wrong", ""))
    assert "InvalidSignatureException" in wrong.stderr
