"""Chaos between reko and its S3 endpoint: a TCP proxy in front of SeaweedFS that cuts downloads mid-body or
refuses every connection. A cut download is resumed (the job succeeds), an endpoint that keeps failing ends
the job FAILED with the store's error in StatusMessage, an image read from a down endpoint is a retryable
ServiceUnavailableException, and everything works again once the endpoint is back, without a restart."""
import signal
import socket
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Server, free_port, write_credentials
from test_s3_endpoint import EVAL, KEY, SECRET, seaweed, wait  # noqa: F401 (seaweed is a fixture)

pytestmark = pytest.mark.skipif(not EVAL.exists(), reason="../shared/eval is not here")
HAMILTON = EVAL / "video_clips" / "face_recognition_hamilton"


class ChaosProxy:
    """Forwards TCP to `upstream`. `cut_next` answers (a count, or None for all) longer than `LARGE` bytes
    are cut after `LARGE` bytes; with `down`, connections are closed as soon as they are accepted."""

    LARGE = 64 * 1024

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = free_port()
        self.cut_next: int | None = 0
        self.down = False
        self.cuts = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _should_cut(self) -> bool:
        with self.lock:
            if self.cut_next is None or self.cut_next > 0:
                if self.cut_next is not None:
                    self.cut_next -= 1
                self.cuts += 1
                return True
            return False

    def _serve(self, client: socket.socket):
        upstream = socket.create_connection(self.upstream)
        answered = [0]  # bytes of the current answer: a new request starts a new one

        def requests():
            try:
                while data := client.recv(65536):
                    answered[0] = 0
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                upstream.close()

        threading.Thread(target=requests, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if answered[0] + len(data) > self.LARGE and answered[0] <= self.LARGE and self._should_cut():
                    client.sendall(data[: self.LARGE - answered[0]])
                    break
                answered[0] += len(data)
                client.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def chaos(seaweed, workdir):
    endpoint, s3 = seaweed
    host, port = endpoint.removeprefix("http://").split(":")
    proxy = ChaosProxy((host, int(port)))
    if "chaos" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="chaos")
    s3.put_object(Bucket="chaos", Key="hamilton.mp4", Body=(HAMILTON / "short_hamilton_clip.mp4").read_bytes())
    s3.put_object(Bucket="chaos", Key="couple.jpg", Body=(EVAL / "deepface_unit" / "couple.jpg").read_bytes())
    srv = Server(workdir / "data", write_credentials(workdir),
                 s3_endpoint={"endpoint": proxy.endpoint, "key": KEY, "secret": SECRET}).start()
    yield proxy, srv
    print(srv.log.read_text()[-4000:])  # shown when the test fails
    if srv.proc.poll() is None:
        srv.stop(signal.SIGKILL)
    proxy.close()


VIDEO = {"S3Object": {"Bucket": "chaos", "Name": "hamilton.mp4"}}


def segments(rek):
    return rek.start_segment_detection(Video=VIDEO, SegmentTypes=["TECHNICAL_CUE", "SHOT"])["JobId"]


def test_a_download_cut_mid_body_is_resumed(chaos):
    proxy, srv = chaos
    rek = srv.client()
    proxy.cut_next = 2
    done = wait(rek.get_segment_detection, segments(rek))
    assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
    assert done["VideoMetadata"][0]["FrameWidth"] == 640
    assert proxy.cuts == 2


def test_an_endpoint_that_keeps_failing_fails_the_job_clearly_and_recovery_needs_no_restart(chaos):
    proxy, srv = chaos
    rek = srv.client()
    proxy.cut_next = None  # every download is cut (the HEAD of Start* still passes)
    started = time.monotonic()
    failed = wait(rek.get_segment_detection, segments(rek), timeout=180)
    assert failed["JobStatus"] == "FAILED"
    assert "could not be read from the object store (3 tries)" in failed["StatusMessage"], failed["StatusMessage"]
    assert "s3://chaos/hamilton.mp4" in failed["StatusMessage"]
    assert proxy.cuts >= 3 and time.monotonic() - started < 150
    assert not any((srv.data_dir / "staging").iterdir())  # nothing half-staged is left behind

    # The endpoint goes down altogether: an image read is a retryable 503, never InvalidS3Object or a 500.
    proxy.down = True
    with pytest.raises(ClientError) as error:
        rek.detect_faces(Image={"S3Object": {"Bucket": "chaos", "Name": "couple.jpg"}})
    assert error.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with pytest.raises(ClientError) as error:
        segments(rek)
    assert error.value.response["Error"]["Code"] == "ServiceUnavailableException"

    # Back up: the same server reads images and runs jobs again.
    proxy.down, proxy.cut_next = False, 0
    assert len(rek.detect_faces(Image={"S3Object": {"Bucket": "chaos", "Name": "couple.jpg"}})["FaceDetails"]) == 2
    done = wait(rek.get_segment_detection, segments(rek))
    assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
