"""Video jobs (Start*/Get*) over the directory object storage, with boto3 and the AWS CLI: face search on the
Hamilton clip, paging and aggregation, segments, text, bad input, idempotency, accounts, and a restart."""
import json
import shutil
import signal
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import BOB, ROOT, Server, SnsEndpoint, write_credentials
from test_aws_cli import aws

EVAL = ROOT.parent / "shared" / "eval"
CLIPS = EVAL / "video_clips"
HAMILTON = CLIPS / "face_recognition_hamilton"
pytestmark = pytest.mark.skipif(not CLIPS.exists(), reason="../shared/eval/video_clips is not here")


def put(server, key: str, source) -> dict:
    path = server.s3_root / "videos" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, path)
    return {"S3Object": {"Bucket": "videos", "Name": key}}


def ffmpeg(server, key: str, *args) -> dict:
    """Makes a video with ffmpeg into the bucket."""
    path = server.s3_root / "videos" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True, timeout=120)
    return {"S3Object": {"Bucket": "videos", "Name": key}}


def wait(get, job_id, timeout=300, **kwargs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(JobId=job_id, **kwargs)
        if answer["JobStatus"] != "IN_PROGRESS":
            return answer
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still in progress after {timeout} s")


def hamilton_collection(rek):
    rek.create_collection(CollectionId="hamilton")
    for name in ("lin-manuel-miranda", "alex-lacamoire"):
        indexed = rek.index_faces(CollectionId="hamilton", Image={"Bytes": (HAMILTON / f"{name}.png").read_bytes()},
                                  ExternalImageId=name, MaxFaces=1)
        assert len(indexed["FaceRecords"]) == 1


def test_face_search_finds_miranda_in_the_hamilton_clip(server):
    rek = server.client()
    hamilton_collection(rek)
    video = put(server, "hamilton.mp4", HAMILTON / "short_hamilton_clip.mp4")
    job_id = rek.start_face_search(Video=video, CollectionId="hamilton", JobTag="door-7")["JobId"]
    assert len(job_id) == 64
    found = wait(rek.get_face_search, job_id)
    assert found["JobStatus"] == "SUCCEEDED", found.get("StatusMessage")
    assert found["JobTag"] == "door-7"
    assert found["Video"] == video
    meta = found["VideoMetadata"]
    assert (meta["Codec"], meta["FrameWidth"], meta["FrameHeight"], meta["Format"]) == ("h264", 640, 360, "QuickTime / MOV")
    assert abs(meta["DurationMillis"] - 10_008) < 50 and abs(meta["FrameRate"] - 29.97) < 0.01
    persons = found["Persons"]
    times = [p["Timestamp"] for p in persons]
    assert times == sorted(times) and times[-1] <= meta["DurationMillis"]
    # Miranda is on screen most of the clip: matched in at least a third of the 18 sampled frames (2 a second).
    miranda = {p["Timestamp"] for p in persons
               if any(m["Face"]["ExternalImageId"] == "lin-manuel-miranda" for m in p["FaceMatches"])}
    assert len(miranda) >= 6, persons
    for person in persons:
        assert person["FaceMatches"] and all(m["Similarity"] >= 80 for m in person["FaceMatches"])
        face = person["Person"]["Face"]
        assert 0 < face["BoundingBox"]["Width"] < 1 and face["Confidence"] > 50
    # Sorted by person index, the same persons.
    by_index = rek.get_face_search(JobId=job_id, SortBy="INDEX")["Persons"]
    assert sorted(map(json.dumps, by_index)) == sorted(map(json.dumps, persons))
    indexes = [p["Person"]["Index"] for p in by_index]
    assert indexes == sorted(indexes)

    # The same job through the AWS CLI.
    started = aws(server, "start-face-search", "--video", json.dumps(video), "--collection-id", "hamilton",
                  "--face-match-threshold", "90")
    assert started.returncode == 0, started.stderr
    cli_job = json.loads(started.stdout)["JobId"]
    for _ in range(600):
        got = aws(server, "get-face-search", "--job-id", cli_job)
        assert got.returncode == 0, got.stderr
        answer = json.loads(got.stdout)
        if answer["JobStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.3)
    assert answer["JobStatus"] == "SUCCEEDED"
    strict = answer["Persons"]
    assert 0 < len(strict) <= len(persons)
    assert all(m["Similarity"] >= 90 for p in strict for m in p["FaceMatches"])


def test_detections_page_sort_and_aggregate(server):
    rek = server.client()
    video = put(server, "walking.mp4", CLIPS / "intel_sample_videos" / "gif_as_mp4" / "face-demographics-walking.mp4")
    faces_job = rek.start_face_detection(Video=video, FaceAttributes="ALL")["JobId"]
    labels_job = rek.start_label_detection(Video=video, MinConfidence=60)["JobId"]
    people_job = rek.start_person_tracking(Video=video)["JobId"]
    moderation_job = rek.start_content_moderation(Video=video)["JobId"]

    faces = wait(rek.get_face_detection, faces_job)
    assert faces["JobStatus"] == "SUCCEEDED"
    all_faces = faces["Faces"]
    assert len(all_faces) >= 4 and "NextToken" not in faces
    assert all("AgeRange" in f["Face"] and "Emotions" in f["Face"] for f in all_faces)
    paged, token = [], None
    while True:
        page = rek.get_face_detection(JobId=faces_job, MaxResults=3, **({"NextToken": token} if token else {}))
        assert len(page["Faces"]) <= 3
        paged += page["Faces"]
        token = page.get("NextToken")
        if not token:
            break
    assert paged == all_faces
    with pytest.raises(ClientError) as error:
        rek.get_face_detection(JobId=faces_job, NextToken="not-a-token")
    assert error.value.response["Error"]["Code"] == "InvalidPaginationTokenException"

    labels = wait(rek.get_label_detection, labels_job)
    assert labels["JobStatus"] == "SUCCEEDED" and labels["LabelModelVersion"]
    assert labels["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "TIMESTAMPS"}
    people = [l for l in labels["Labels"] if l["Label"]["Name"] == "Person"]
    assert people and all(l["Label"]["Confidence"] >= 60 and l["Label"]["Instances"] for l in people)
    by_name = rek.get_label_detection(JobId=labels_job, SortBy="NAME")["Labels"]
    names = [l["Label"]["Name"] for l in by_name]
    assert names == sorted(names)
    segments = rek.get_label_detection(JobId=labels_job, AggregateBy="SEGMENTS")
    assert segments["GetRequestMetadata"]["AggregateBy"] == "SEGMENTS"
    person = [s for s in segments["Labels"] if s["Label"]["Name"] == "Person"]
    assert len(person) == 1, person  # someone is in every frame of the clip: one segment
    assert person[0]["StartTimestampMillis"] == 0 and person[0]["EndTimestampMillis"] > 2000
    assert person[0]["DurationMillis"] == person[0]["EndTimestampMillis"] - person[0]["StartTimestampMillis"]

    people = wait(rek.get_person_tracking, people_job)
    assert people["JobStatus"] == "SUCCEEDED"
    assert {p["Person"]["Index"] for p in people["Persons"]}
    assert all("BoundingBox" in p["Person"] for p in people["Persons"])

    moderation = wait(rek.get_content_moderation, moderation_job)
    assert moderation["JobStatus"] == "SUCCEEDED" and moderation["ModerationLabels"] == []


def test_segments_and_text_in_made_videos(server):
    rek = server.client()
    cuts = ffmpeg(server, "cuts.mp4",
                  "-f", "lavfi", "-i", "smptebars=size=320x240:rate=25:duration=1",
                  "-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=1",
                  "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                  "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1[v]", "-map", "[v]")
    job = rek.start_segment_detection(Video=cuts, SegmentTypes=["TECHNICAL_CUE", "SHOT"])["JobId"]
    answer = wait(rek.get_segment_detection, job)
    assert answer["JobStatus"] == "SUCCEEDED"
    assert answer["SelectedSegmentTypes"] == [{"Type": "TECHNICAL_CUE", "ModelVersion": "1.0"},
                                              {"Type": "SHOT", "ModelVersion": "1.0"}]
    assert answer["VideoMetadata"][0]["FrameRate"] == 25
    black = [s for s in answer["Segments"] if s["Type"] == "TECHNICAL_CUE"]
    assert [(s["TechnicalCueSegment"]["Type"], s["StartFrameNumber"], s["EndFrameNumber"]) for s in black] == \
        [("BlackFrames", 25, 49)]
    assert (black[0]["StartTimecodeSMPTE"], black[0]["StartTimestampMillis"], black[0]["DurationMillis"]) == \
        ("00:00:01:00", 1000, 1000)
    shots = [s for s in answer["Segments"] if s["Type"] == "SHOT"]
    assert [s["ShotSegment"]["Index"] for s in shots] == [0, 1, 2]
    assert [s["StartFrameNumber"] for s in shots] == [0, 25, 50]

    receipt = ffmpeg(server, "receipt.mp4", "-loop", "1", "-framerate", "5", "-t", "1",
                     "-i", str(EVAL / "text_sroie_receipts100" / "img" / "000.jpg"),
                     "-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2")
    job = rek.start_text_detection(Video=receipt, Filters={"WordFilter": {"MinConfidence": 90}})["JobId"]
    text = wait(rek.get_text_detection, job)
    assert text["JobStatus"] == "SUCCEEDED" and text["TextModelVersion"] == "1.0"
    lines = [t for t in text["TextDetections"] if t["TextDetection"]["Type"] == "LINE"]
    assert len({t["Timestamp"] for t in lines}) == 2  # two sampled frames, each read
    assert all(t["TextDetection"]["Confidence"] >= 90 for t in text["TextDetections"]
               if t["TextDetection"]["Type"] == "WORD")
    assert len(lines) >= 10


def test_bad_videos_and_requests(server):
    rek = server.client()
    video = put(server, "walking.mp4", CLIPS / "intel_sample_videos" / "gif_as_mp4" / "face-demographics-walking.mp4")
    with pytest.raises(ClientError) as error:
        rek.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "missing.mp4"}})
    assert error.value.response["Error"]["Code"] == "InvalidS3ObjectException"
    with pytest.raises(ClientError) as error:
        rek.start_face_search(Video=video, CollectionId="no-such-collection")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as error:
        rek.start_label_detection(Video=video, NotificationChannel={
            "SNSTopicArn": "arn:aws:sns:us-east-1:111111111111:done", "RoleArn": "arn:aws:iam::111111111111:role/r"})
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as error:
        rek.get_face_detection(JobId="0" * 64)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # Not a video, and a video cut short: the jobs fail, with Rekognition's message for the first.
    (server.s3_root / "videos" / "notes.mp4").write_text("these are not frames")
    not_video = rek.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "notes.mp4"}})["JobId"]
    failed = wait(rek.get_face_detection, not_video)
    assert (failed["JobStatus"], failed["StatusMessage"]) == ("FAILED", "Unsupported codec/format.")
    assert "Faces" not in failed
    data = (HAMILTON / "short_hamilton_clip.mp4").read_bytes()
    (server.s3_root / "videos" / "cut.mp4").write_bytes(data[: len(data) // 3])
    cut = rek.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "cut.mp4"}})["JobId"]
    assert wait(rek.get_face_detection, cut)["JobStatus"] == "FAILED"

    # Idempotency: the same token and parameters are the same job; other parameters are refused.
    first = rek.start_face_detection(Video=video, ClientRequestToken="tok-1")["JobId"]
    assert rek.start_face_detection(Video=video, ClientRequestToken="tok-1")["JobId"] == first
    with pytest.raises(ClientError) as error:
        rek.start_face_detection(Video=video, ClientRequestToken="tok-1", FaceAttributes="ALL")
    assert error.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    # Another account sees nothing of the job.
    with pytest.raises(ClientError) as error:
        server.client(BOB).get_face_detection(JobId=first)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # Nor does another operation's Get.
    with pytest.raises(ClientError) as error:
        rek.get_label_detection(JobId=first)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert wait(rek.get_face_detection, first)["JobStatus"] == "SUCCEEDED"


def test_jobs_survive_a_restart(server):
    rek = server.client()
    video = put(server, "hamilton.mp4", HAMILTON / "short_hamilton_clip.mp4")
    jobs = [rek.start_face_detection(Video=video, JobTag=f"j{i}")["JobId"] for i in range(3)]
    time.sleep(1.0)  # the first is being analysed, the others wait
    server.stop(signal.SIGKILL)
    server.start()
    rek = server.client()
    for i, job_id in enumerate(jobs):
        answer = wait(rek.get_face_detection, job_id)
        assert (answer["JobStatus"], answer["JobTag"]) == ("SUCCEEDED", f"j{i}")
        assert answer["Faces"]


def test_completions_are_published_to_the_topic_endpoint(workdir):
    """NotificationChannel: the SNS notification reaches the configured endpoint, retried after a failure."""
    hook = SnsEndpoint(refuse_first=1)  # the first delivery fails: reko must try again
    topic = hook.TOPIC
    server = Server(workdir / "data", write_credentials(workdir), extra_args=hook.server_args).start()
    try:
        rek = server.client()
        video = put(server, "walking.mp4", CLIPS / "intel_sample_videos" / "gif_as_mp4" / "face-demographics-walking.mp4")
        channel = {"SNSTopicArn": topic, "RoleArn": "arn:aws:iam::111111111111:role/rekognition"}
        job_id = rek.start_label_detection(Video=video, NotificationChannel=channel, JobTag="lobby")["JobId"]
        with pytest.raises(ClientError) as error:
            rek.start_label_detection(Video=video, NotificationChannel={**channel, "SNSTopicArn": topic + "-other"})
        assert error.value.response["Error"]["Code"] == "InvalidParameterException"
        assert wait(rek.get_label_detection, job_id)["JobStatus"] == "SUCCEEDED"
        hook.wait_for(1, accepted=True, timeout=30)
        time.sleep(1)
        assert len(hook.received) == 2, hook.received
        (first_headers, first, _), (headers, envelope, _) = hook.received
        assert first == envelope  # the same notification, sent again
        assert headers["x-amz-sns-message-type"] == "Notification" and headers["x-amz-sns-topic-arn"] == topic
        assert headers["x-amz-sns-message-id"] == envelope["MessageId"]
        assert (envelope["Type"], envelope["TopicArn"]) == ("Notification", topic)
        message = json.loads(envelope["Message"])
        assert message == {"JobId": job_id, "Status": "SUCCEEDED", "API": "LABEL_DETECTION", "Message": "", "JobTag": "lobby",
                           "Timestamp": message["Timestamp"],
                           "Video": {"S3ObjectName": "walking.mp4", "S3Bucket": "videos"}}
    finally:
        server.stop(signal.SIGKILL)
        hook.close()


def test_a_notification_owed_by_a_killed_server_is_delivered_after_its_restart(workdir):
    """The outbox: a job finishes while its topic's endpoint is down, the server is killed (SIGKILL) while it retries;
    once restarted it delivers the notification, with the same MessageId, once."""
    hook = SnsEndpoint(accepting=False)
    server = Server(workdir / "data", write_credentials(workdir), extra_args=hook.server_args).start()
    try:
        rek = server.client()
        video = ffmpeg(server, "short.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=2")
        channel = {"SNSTopicArn": hook.TOPIC, "RoleArn": "arn:aws:iam::111111111111:role/rekognition"}
        job_id = rek.start_label_detection(Video=video, NotificationChannel=channel)["JobId"]
        assert wait(rek.get_label_detection, job_id)["JobStatus"] == "SUCCEEDED"
        (_, refused, _), *_ = hook.wait_for(1)
        server.stop(signal.SIGKILL)
        hook.accepting = True
        server.start()
        ((headers, envelope),) = hook.wait_for(1, accepted=True, timeout=30)
        assert envelope["MessageId"] == refused["MessageId"] == headers["x-amz-sns-message-id"]
        assert json.loads(envelope["Message"])["JobId"] == job_id
        time.sleep(6)  # a scout round: nothing is sent again
        assert len(hook.accepted) == 1, hook.received
    finally:
        server.stop(signal.SIGKILL)
        hook.close()
