"""Fixtures that start a real `reko serve` on a free port and point boto3 and the AWS CLI at it."""
import http.server
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import boto3
import botocore.config
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
REKO_BIN = os.environ.get("REKO_BIN", str(ROOT / "target" / "debug" / "reko"))

# Models fetched once by scripts/test; `reko serve` would otherwise fetch them on first start.
MODELS_DIR = os.environ.get("REKO_TEST_MODELS_DIR", str(ROOT / "target" / "test-models"))

ALICE = ("AKIDALICEEXAMPLE", "alice-secret-key", "111111111111")
BOB = ("AKIDBOBEXAMPLE", "bob-secret-key", "222222222222")
REGION = "us-east-1"

# Every success response of every rekognition boto3 client of the session, as (operation, raw body, test id):
# test_zz_response_shapes.py checks them against the service model's output shapes at the end of the run.
SUCCESS_RESPONSES = []
_CURRENT_TEST = ["(outside a test)"]
_RECORDER_ID = "reko-e2e-record-success-responses"


def record_success_response(http_response, model, **_):
    """botocore's after-call.rekognition handler: keeps the raw JSON body of each 200 response."""
    if http_response is not None and http_response.status_code == 200:
        SUCCESS_RESPONSES.append((model.name, http_response.content, _CURRENT_TEST[0]))


def record_responses_of(events):
    """Registers the recorder on a botocore event emitter (once: the unique id makes a second register a no-op)."""
    events.register("after-call.rekognition", record_success_response, unique_id=_RECORDER_ID)


# Clients copy their session's handlers when created, so every boto3.client("rekognition", ...) of the default session
# records; Server.client registers on its client too, in case a test replaces the default session.
if boto3.DEFAULT_SESSION is None:
    boto3.setup_default_session()
record_responses_of(boto3.DEFAULT_SESSION.events)

# Items deselected by -k, -m or --deselect: the final shape test checks that every operation was exercised only when
# the whole suite runs.
DESELECTED = []


def pytest_deselected(items):
    DESELECTED.extend(item.nodeid for item in items)


def pytest_collection_modifyitems(items):
    # The response shape check runs after every other test, whatever the order of collection.
    items.sort(key=lambda item: item.path.name == "test_zz_response_shapes.py")


def pytest_runtest_setup(item):
    _CURRENT_TEST[0] = item.nodeid


# Skipped tests (../shared/eval absent, say), named when an operation was never exercised.
SKIPPED = []


def pytest_runtest_logreport(report):
    if report.skipped:
        SKIPPED.append(report.nodeid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SnsEndpoint:
    """An HTTP endpoint subscribed to an SNS topic: records every delivery as (headers, envelope, status answered).
    It answers 503 while `accepting` is false, and to the first `refuse_first` deliveries."""

    TOPIC = "arn:aws:sns:us-east-1:111111111111:video-done"

    def __init__(self, accepting=True, refuse_first=0):
        self.received = []
        self.accepting = accepting
        self.refuse_first = refuse_first
        endpoint = self

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200 if endpoint.accepting and len(endpoint.received) >= endpoint.refuse_first else 503
                endpoint.received.append((dict(self.headers), json.loads(body), status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def server_args(self) -> tuple:
        """`reko serve` arguments that send the topic's notifications here."""
        return ("--sns-topic", f"{self.TOPIC}=http://127.0.0.1:{self.http.server_port}/hook")

    @property
    def accepted(self) -> list:
        return [(headers, envelope) for headers, envelope, status in self.received if status == 200]

    def wait_for(self, count: int, accepted=False, timeout=60) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.accepted if accepted else self.received
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{count} deliveries expected within {timeout} s: {self.received}")

    def close(self):
        self.http.shutdown()


class Server:
    """One `reko serve` process over a data directory that outlives restarts."""

    def __init__(self, data_dir: pathlib.Path, credentials: pathlib.Path | None, s3_endpoint: dict | None = None,
                 extra_args: tuple = ()):
        self.extra_args = list(extra_args)
        self.data_dir = data_dir
        self.credentials = credentials
        # None: S3 objects come from the directory s3_root; else {"endpoint", "key", "secret"} of a real
        # S3-compatible server.
        self.s3_endpoint = s3_endpoint
        self.port = free_port()
        self.proc = None
        self.log = data_dir.parent / f"reko-{self.port}.log"
        # S3Object images: bucket b, key k is the file s3_root/b/k.
        self.s3_root = data_dir.parent / "s3"
        self.s3_root.mkdir(exist_ok=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        args = [REKO_BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
                "--models-dir", MODELS_DIR]
        if self.credentials:
            args += ["--credentials-file", str(self.credentials)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REKO_")}
        if self.s3_endpoint:
            args += ["--s3-endpoint", self.s3_endpoint["endpoint"]]
            env.update(REKO_S3_ACCESS_KEY_ID=self.s3_endpoint["key"], REKO_S3_SECRET_ACCESS_KEY=self.s3_endpoint["secret"])
        else:
            args += ["--s3-root", str(self.s3_root)]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"), env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"reko exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("reko did not become healthy in 30 s")

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def client(self, key=ALICE, **kwargs):
        client = boto3.client(
            "rekognition",
            endpoint_url=self.endpoint,
            region_name=kwargs.pop("region", REGION),
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=botocore.config.Config(retries={"max_attempts": 1}),
            **kwargs,
        )
        record_responses_of(client.meta.events)
        return client


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory() as tmp:
        yield pathlib.Path(tmp)


def write_credentials(workdir: pathlib.Path) -> pathlib.Path:
    credentials = workdir / "credentials.toml"
    credentials.write_text("".join(
        f'[[keys]]\naccess_key_id = "{k}"\nsecret_access_key = "{s}"\naccount_id = "{a}"\n' for k, s, a in (ALICE, BOB)
    ))
    return credentials


@pytest.fixture
def server(workdir):
    srv = Server(workdir / "data", write_credentials(workdir)).start()
    yield srv
    if srv.proc.poll() is None:
        srv.stop(signal.SIGKILL)
