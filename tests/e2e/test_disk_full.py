"""A full disk, for real: reko's data directory on a small tmpfs of its own (mounted by this test, so it needs
root; skipped otherwise), filled up while reko runs. Writes are refused with a retryable 503 and /healthz
says so, reads and searches go on (writes stop at a free-space reserve, before the database hits ENOSPC), and once space is freed writes work again without a restart; every
acknowledged face is still there."""
import os
import pathlib
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, write_credentials

FACES = ROOT.parent / "shared" / "eval" / "deepface_unit"
pytestmark = pytest.mark.skipif(not FACES.exists(), reason="../shared/eval is not here")


@pytest.fixture
def small_disk():
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with tempfile.TemporaryDirectory() as tmp:
        mount = pathlib.Path(tmp) / "disk"
        mount.mkdir()
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
        try:
            yield mount
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: pathlib.Path):
    """Writes zeros into `path` until the disk is full."""
    block = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError:
            pass
        small = b"\0" * 4096
        try:
            while True:
                f.write(small)
        except OSError:
            pass


def healthz(srv) -> int:
    try:
        with urllib.request.urlopen(f"{srv.endpoint}/healthz", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_real_full_disk_refuses_writes_keeps_reads_and_heals(small_disk, workdir):
    # A reserve of 4 MiB (of the 32 MiB disk): writes are refused before the disk is quite full.
    srv = Server(small_disk / "data", write_credentials(workdir), extra_args=("--min-free-disk-mib", "4")).start()
    try:
        rek = srv.client()
        rek.create_collection(CollectionId="door")
        image = {"Bytes": (FACES / "img1.jpg").read_bytes()}
        acknowledged = {r["Face"]["FaceId"] for r in rek.index_faces(CollectionId="door", Image=image,
                                                                    ExternalImageId="before")["FaceRecords"]}
        assert acknowledged

        fill(small_disk / "filler")
        refused = 0
        for n in range(30):  # the store's free pages may take a few writes to use up
            try:
                records = rek.index_faces(CollectionId="door", Image=image, ExternalImageId=f"during-{n}")
                acknowledged |= {r["Face"]["FaceId"] for r in records["FaceRecords"]}
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ServiceUnavailableException", error.response
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                refused += 1
                break
        assert refused, "the disk never filled up"
        assert healthz(srv) == 503
        # Reads and searches go on while the disk is full.
        listed = {f["FaceId"] for f in rek.list_faces(CollectionId="door", MaxResults=4096)["Faces"]}
        assert listed == acknowledged
        matches = rek.search_faces_by_image(CollectionId="door", Image=image, FaceMatchThreshold=80)["FaceMatches"]
        assert {m["Face"]["FaceId"] for m in matches} <= acknowledged and matches
        with pytest.raises(ClientError) as error:
            rek.create_collection(CollectionId="another")
        assert error.value.response["Error"]["Code"] == "ServiceUnavailableException"

        (small_disk / "filler").unlink()
        assert healthz(srv) == 200
        records = rek.index_faces(CollectionId="door", Image=image, ExternalImageId="after")["FaceRecords"]
        acknowledged |= {r["Face"]["FaceId"] for r in records}
        rek.create_collection(CollectionId="another")
        assert srv.proc.poll() is None
    finally:
        srv.stop()
    # Nothing acknowledged was lost, and the store reopens cleanly.
    srv.start()
    try:
        listed = {f["FaceId"] for f in srv.client().list_faces(CollectionId="door", MaxResults=4096)["Faces"]}
        assert listed == acknowledged
    finally:
        srv.stop(signal.SIGKILL)
