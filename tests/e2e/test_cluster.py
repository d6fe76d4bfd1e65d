"""Three `reko serve` nodes on one PostgreSQL (a database of their own on the server that scripts/test starts,
REKO_TEST_DATABASE_URL): read-after-write across nodes with boto3 and the AWS CLI, concurrent IndexFaces
through every node while one is killed with SIGKILL (clients move on to another node, as behind a load
balancer), a killed node's video job and its completion notification taken over by another, one job for a
ClientRequestToken sent to two nodes, and a Custom Labels model read, trained and served across the nodes."""
import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ConnectionClosedError, ReadTimeoutError
from urllib3.exceptions import ProtocolError

from conftest import ROOT, Server, SnsEndpoint, write_credentials
from test_aws_cli import aws

DATABASE = os.environ.get("REKO_TEST_DATABASE_URL")
FACES = ROOT.parent / "shared" / "eval" / "deepface_unit"
pytestmark = [
    pytest.mark.skipif(not DATABASE, reason="REKO_TEST_DATABASE_URL is not set (scripts/test starts a PostgreSQL)"),
    pytest.mark.skipif(not FACES.exists(), reason="../shared/eval is not here"),
]


def psql(url: str, sql: str):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def nodes_on_a_fresh_database(workdir, extra_args=()):
    """Three nodes on a database of their own; yields the list of Servers."""
    name = f"reko_cluster_{uuid.uuid4().hex[:12]}"
    psql(DATABASE, f"CREATE DATABASE {name}")
    base, _, _ = DATABASE.rpartition("/")
    url = f"{base}/{name}"
    credentials = write_credentials(workdir)
    nodes = []
    try:
        for n in range(3):
            nodes.append(Server(workdir / f"node{n}", credentials, extra_args=("--database-url", url, *extra_args)).start())
            nodes[-1].database_url = url
        yield nodes
    finally:
        for node in nodes:
            if node.proc and node.proc.poll() is None:
                node.stop(signal.SIGKILL)
        psql(DATABASE, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def cluster(workdir):
    with nodes_on_a_fresh_database(workdir) as nodes:
        yield nodes


def image(name: str) -> dict:
    return {"Bytes": (FACES / name).read_bytes()}


def listed(node, collection="door", rek=None) -> list[str]:
    """Every FaceId of a collection, page by page, through a node (or the given client)."""
    rek = rek or node.client()
    faces, token = [], None
    while True:
        page = rek.list_faces(CollectionId=collection, MaxResults=100, **({"NextToken": token} if token else {}))
        faces += [f["FaceId"] for f in page["Faces"]]
        token = page.get("NextToken")
        if not token:
            return faces


def test_a_write_on_one_node_is_read_on_the_others_at_once(cluster):
    a, b, c = (node.client() for node in cluster)
    a.create_collection(CollectionId="door")
    assert [n.client().describe_collection(CollectionId="door")["FaceCount"] for n in cluster] == [0, 0, 0]
    # C loads its (empty) index now, so that what follows tests catching up, not a first load.
    assert c.search_faces_by_image(CollectionId="door", Image=image("img1.jpg"))["FaceMatches"] == []

    indexed = b.index_faces(CollectionId="door", Image=image("img1.jpg"), ExternalImageId="first", MaxFaces=1)
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    matches = c.search_faces_by_image(CollectionId="door", Image=image("img2.jpg"), FaceMatchThreshold=80)
    assert [m["Face"]["FaceId"] for m in matches["FaceMatches"]] == [face_id]
    assert [m["Face"]["FaceId"] for m in a.search_faces(CollectionId="door", FaceId=face_id)["FaceMatches"]] == []
    for node in cluster:
        assert listed(node) == [face_id]

    # Users across nodes.
    a.create_user(CollectionId="door", UserId="alice")
    b.associate_faces(CollectionId="door", UserId="alice", FaceIds=[face_id])
    users = c.search_users_by_image(CollectionId="door", Image=image("img2.jpg"), UserMatchThreshold=80)
    assert [u["User"]["UserId"] for u in users["UserMatches"]] == ["alice"]

    # A delete on one node: no node returns the face any more.
    c.disassociate_faces(CollectionId="door", UserId="alice", FaceIds=[face_id])
    assert c.delete_faces(CollectionId="door", FaceIds=[face_id])["DeletedFaces"] == [face_id]
    for node in cluster:
        found = node.client().search_faces_by_image(CollectionId="door", Image=image("img2.jpg"), FaceMatchThreshold=0)
        assert found["FaceMatches"] == []

    # The AWS CLI sees the same state through any node.
    a.index_faces(CollectionId="door", Image=image("img3.jpg"), ExternalImageId="cli", MaxFaces=1)
    for node in cluster:
        answer = aws(node, "list-faces", "--collection-id", "door")
        assert answer.returncode == 0, answer.stderr
        assert [f["ExternalImageId"] for f in json.loads(answer.stdout)["Faces"]] == ["cli"]


RETRYABLE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ProtocolError, ConnectionError)


def test_concurrent_index_faces_while_a_node_is_killed_loses_no_acknowledged_face(cluster):
    cluster[0].client().create_collection(CollectionId="door")
    pictures = sorted(p.name for p in FACES.glob("img*.jpg"))[:12]
    acknowledged, errors = [], []
    lock = threading.Lock()
    dead = set()

    def client_loop(worker: int):
        clients = {n: cluster[n].client() for n in range(3)}
        for step, picture in enumerate(pictures):
            node = (worker + step) % 3
            for _ in range(6):  # a load balancer's retry: the next node on a connection failure or a 503
                if node in dead:
                    node = (node + 1) % 3
                    continue
                try:
                    answer = clients[node].index_faces(CollectionId="door", Image=image(picture),
                                                       ExternalImageId=f"w{worker}-{step}", MaxFaces=1)
                    with lock:
                        acknowledged.extend(r["Face"]["FaceId"] for r in answer["FaceRecords"])
                    break
                except RETRYABLE:
                    node = (node + 1) % 3
                except ClientError as error:
                    if error.response["ResponseMetadata"]["HTTPStatusCode"] != 503:
                        with lock:
                            errors.append(error.response["Error"])
                        break
                    node = (node + 1) % 3
            else:
                with lock:
                    errors.append(f"w{worker}-{step}: no node answered")

    threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    cluster[1].stop(signal.SIGKILL)
    dead.add(1)
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    assert len(acknowledged) >= 30  # most pictures have one face; every request was answered by some node
    for n in (0, 2):
        faces = listed(cluster[n])
        assert len(faces) == len(set(faces)), "a face listed twice"
        assert set(acknowledged) <= set(faces)
        assert cluster[n].client().describe_collection(CollectionId="door")["FaceCount"] == len(faces)


def job_owner(url: str, job_id: str) -> str | None:
    """The node holding a job's lease, read from the database."""
    answer = subprocess.run(["psql", url, "-Atc", "SELECT convert_from(record, 'UTF8')::json->>'owner' FROM jobs "
                             f"WHERE job_id = '{job_id}'"], check=True, capture_output=True, text=True, timeout=60)
    return answer.stdout.strip() or None


def test_a_video_job_whose_node_is_killed_is_finished_by_another(cluster):
    hamilton = ROOT.parent / "shared" / "eval" / "video_clips" / "face_recognition_hamilton" / "short_hamilton_clip.mp4"
    video = cluster[0].s3_root / "videos" / "hamilton.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(hamilton, video)
    job_id = cluster[0].client().start_face_detection(
        Video={"S3Object": {"Bucket": "videos", "Name": "hamilton.mp4"}}, JobTag="door")["JobId"]
    names = {node.data_dir.joinpath("node-id").read_text().strip(): node for node in cluster}
    deadline = time.monotonic() + 60
    while (owner := job_owner(cluster[0].database_url, job_id)) is None:
        assert time.monotonic() < deadline, "no node claimed the job"
        time.sleep(0.1)
    worker = names[owner]
    worker.stop(signal.SIGKILL)
    survivor = next(node for node in cluster if node is not worker)
    # The lease (30 s) runs out, a scout (every 5 s) finds the job, another node runs it again.
    deadline = time.monotonic() + 240
    while True:
        answer = survivor.client().get_face_detection(JobId=job_id)
        if answer["JobStatus"] != "IN_PROGRESS":
            break
        assert time.monotonic() < deadline, "the job was not taken over"
        time.sleep(0.5)
    assert (answer["JobStatus"], answer["JobTag"]) == ("SUCCEEDED", "door"), answer.get("StatusMessage")
    assert answer["Faces"]
    assert names[job_owner(cluster[0].database_url, job_id)] is not worker


def test_a_notification_owed_by_a_killed_node_is_delivered_by_another_once(workdir):
    """The outbox: the job's node is killed while the topic's endpoint refuses; once the delivery lease (30 s) runs
    out, one other node delivers the notification (the same MessageId), and only one."""
    hook = SnsEndpoint(accepting=False)
    try:
        with nodes_on_a_fresh_database(workdir, hook.server_args) as cluster:
            video = cluster[0].s3_root / "videos" / "clip.mp4"
            video.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=2",
                            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)], check=True, timeout=120)
            channel = {"SNSTopicArn": hook.TOPIC, "RoleArn": "arn:aws:iam::111111111111:role/rekognition"}
            job_id = cluster[0].client().start_label_detection(
                Video={"S3Object": {"Bucket": "videos", "Name": "clip.mp4"}}, NotificationChannel=channel)["JobId"]
            (_, refused, _), *_ = hook.wait_for(1, timeout=240)
            names = {node.data_dir.joinpath("node-id").read_text().strip(): node for node in cluster}
            finisher = names[job_owner(cluster[0].database_url, job_id)]
            finisher.stop(signal.SIGKILL)
            tried = len(hook.received)
            hook.accepting = True
            ((headers, envelope),) = hook.wait_for(1, accepted=True, timeout=90)
            assert envelope["MessageId"] == refused["MessageId"] == headers["x-amz-sns-message-id"]
            assert json.loads(envelope["Message"])["JobId"] == job_id
            time.sleep(8)  # more than a scout round on every survivor: nothing is sent again
            assert len(hook.accepted) == 1 and len(hook.received) == tried + 1, hook.received
    finally:
        hook.close()


def test_a_request_token_sent_to_two_nodes_starts_one_job(cluster):
    video = cluster[0].s3_root / "videos" / "clip.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)], check=True, timeout=120)
    request = {"Video": {"S3Object": {"Bucket": "videos", "Name": "clip.mp4"}}, "ClientRequestToken": "once-only"}
    answers = [cluster[n].client().start_label_detection(**request)["JobId"] for n in (0, 1, 2, 0)]
    assert len(set(answers)) == 1
    job = cluster[2].client().get_label_detection(JobId=answers[0])
    assert job["JobStatus"] in ("IN_PROGRESS", "SUCCEEDED")


def test_a_database_restart_under_load_is_a_retryable_error_and_heals_by_itself(workdir):
    """A node on a PostgreSQL of its own, restarted while clients write: the writes that fail get a
    retryable 503 (never a 500), every acknowledged one is kept, and the node works again without a restart."""
    from conftest import free_port
    postgres = ROOT / "scripts" / "postgres"
    # Its own directory under /tmp: as root, the cluster belongs to the `postgres` user, who cannot enter
    # workdir.
    pg_dir = pathlib.Path(tempfile.mkdtemp(prefix="reko-test-pg-"))
    url = subprocess.run([str(postgres), "start", str(pg_dir), str(free_port())], check=True, capture_output=True,
                         text=True, timeout=120).stdout.strip()
    node = None
    try:
        node = Server(workdir / "node", write_credentials(workdir), extra_args=("--database-url", url)).start()
        rek = node.client()
        acknowledged, failures = [], []
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                try:
                    rek.create_collection(CollectionId=f"c{n}")
                    acknowledged.append(f"c{n}")
                except ClientError as error:
                    failures.append((error.response["ResponseMetadata"]["HTTPStatusCode"],
                                     error.response["Error"]["Code"]))
                    time.sleep(0.1)
                n += 1

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(1)
        # A quick restart: requests wait for a new connection (up to 5 s) and go through.
        subprocess.run([str(postgres), "restart", str(pg_dir)], check=True, timeout=120)
        time.sleep(1)
        quick = list(failures)
        # Down for 10 s: requests that cannot get a connection in 5 s fail, retryably.
        subprocess.run([str(postgres), "restart", str(pg_dir), "10"], check=True, timeout=120)
        time.sleep(2)
        stop.set()
        thread.join(timeout=120)
        assert len(failures) > len(quick), "the outage went unnoticed: no request failed"
        codes = set(failures)
        assert codes <= {(503, "ServiceUnavailableException"), (400, "ResourceAlreadyExistsException")}, codes
        # Healed without a restart of the node; nothing acknowledged is lost.
        rek.create_collection(CollectionId="after")
        ids, token = [], None
        while True:
            page = rek.list_collections(MaxResults=100, **({"NextToken": token} if token else {}))
            ids += page["CollectionIds"]
            token = page.get("NextToken")
            if not token:
                break
        assert set(acknowledged) | {"after"} <= set(ids)
        assert node.proc.poll() is None
    finally:
        if node and node.proc and node.proc.poll() is None:
            node.stop(signal.SIGKILL)
        subprocess.run([str(postgres), "stop", str(pg_dir)], check=False, timeout=120)
        shutil.rmtree(pg_dir, ignore_errors=True)


HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if pathlib.Path("/usr/sbin/haproxy").exists() else None)


@pytest.mark.skipif(not HAPROXY, reason="haproxy is not installed (scripts/test installs Debian's package)")
def test_three_nodes_behind_haproxy_as_the_readme_deploys_them(cluster, workdir):
    """The README's deployment: HAProxy (Debian's package) in front of three nodes, health-checked on
    /healthz; boto3 with its standard retries talks only to HAProxy. A node killed under load costs no
    acknowledged face, and HAProxy stops sending to it."""
    import boto3
    import botocore.config
    from conftest import ALICE, REGION, free_port
    port = free_port()
    servers = "\n".join(f"    server node{n} 127.0.0.1:{node.port} check" for n, node in enumerate(cluster))
    config = workdir / "haproxy.cfg"
    config.write_text(f"""
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
    retry-on conn-failure
frontend rekognition
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1
{servers}
""")
    proxy = subprocess.Popen([HAPROXY, "-f", str(config), "-db"], stdout=subprocess.DEVNULL,
                             stderr=open(workdir / "haproxy.log", "wb"))
    try:
        def client():
            return boto3.client("rekognition", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                                aws_access_key_id=ALICE[0], aws_secret_access_key=ALICE[1],
                                config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 8}))
        deadline = time.monotonic() + 30
        while True:
            try:
                client().create_collection(CollectionId="door")
                break
            except Exception:
                assert time.monotonic() < deadline and proxy.poll() is None, (workdir / "haproxy.log").read_text()
                time.sleep(0.3)
        pictures = sorted(p.name for p in FACES.glob("img*.jpg"))[:9]
        acknowledged, errors = [], []

        def worker(w):
            rek = client()
            for step, picture in enumerate(pictures):
                try:
                    answer = rek.index_faces(CollectionId="door", Image=image(picture),
                                             ExternalImageId=f"w{w}-{step}", MaxFaces=1)
                    acknowledged.extend(r["Face"]["FaceId"] for r in answer["FaceRecords"])
                except Exception as error:  # noqa: BLE001 (any failure is the test's)
                    errors.append(repr(error))

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        cluster[1].stop(signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=600)
        assert not errors, errors
        assert len(acknowledged) >= 20
        rek = client()
        faces = listed(None, rek=rek)
        assert len(faces) == len(set(faces)) and set(acknowledged) <= set(faces)
        # HAProxy has taken the dead node out: searches through it keep working, each answered by a live node.
        for _ in range(6):
            assert rek.search_faces_by_image(CollectionId="door", Image=image(pictures[0]))["FaceMatches"]
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "eval" / "custom_labels_hymenoptera").exists(),
                    reason="../shared/eval is not here")
def test_a_custom_labels_model_trained_through_one_node_serves_on_every_node(cluster):
    from test_custom_labels import photos, put_manifest, stage, wait_dataset, wait_version
    first, second, third = (node.client() for node in cluster)
    ants, bees = photos("ants"), photos("bees")
    train = stage(cluster[0], {"ants": ants[:30], "bees": bees[:30]})
    test = stage(cluster[0], {"ants": ants[30:40], "bees": bees[30:40]})
    project = first.create_project(ProjectName="shared")["ProjectArn"]
    datasets = [first.create_dataset(ProjectArn=project, DatasetType=kind,
                                     DatasetSource=put_manifest(cluster[0], f"{kind}.manifest", lines))["DatasetArn"]
                for kind, lines in (("TRAIN", train), ("TEST", test))]
    for arn in datasets:
        wait_dataset(second, arn, "CREATE_COMPLETE")
    version = third.create_project_version(ProjectArn=project, VersionName="v1",
                                           OutputConfig={"S3Bucket": "cl-data"})["ProjectVersionArn"]
    assert wait_version(first, project, "v1")["Status"] == "TRAINING_COMPLETED"
    second.start_project_version(ProjectVersionArn=version, MinInferenceUnits=1)
    for client in (first, second, third):
        labels = client.detect_custom_labels(ProjectVersionArn=version, Image={"Bytes": bees[50].read_bytes()},
                                             MinConfidence=0)["CustomLabels"]
        assert [label["Name"] for label in labels] == ["bees", "ants"], labels
    third.stop_project_version(ProjectVersionArn=version)
    with pytest.raises(ClientError) as stopped:
        first.detect_custom_labels(ProjectVersionArn=version, Image={"Bytes": bees[50].read_bytes()})
    assert stopped.value.response["Error"]["Code"] == "ResourceNotReadyException"
