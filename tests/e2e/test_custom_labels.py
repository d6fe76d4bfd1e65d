"""Custom Labels' getting-started flow with boto3 and the AWS CLI, unchanged: a project, TRAIN and TEST datasets from
Ground Truth manifests in the object store, training, evaluation written to OutputConfig, start, DetectCustomLabels,
stop, delete (skipped without ../shared/eval's ants and bees)."""
import json
import shutil
import signal
import time

import pytest
from botocore.exceptions import ClientError

from conftest import BOB, ROOT
from test_aws_cli import aws

HYMENOPTERA = ROOT.parent / "shared" / "eval" / "custom_labels_hymenoptera" / "train"
pytestmark = pytest.mark.skipif(not HYMENOPTERA.exists(), reason="../shared/eval is not here")


def photos(label: str) -> list:
    return sorted((HYMENOPTERA / label).glob("*.jpg"))


def line(key: str, label: str) -> str:
    return json.dumps({
        "source-ref": f"s3://cl-data/{key}",
        "insect": 1,
        "insect-metadata": {"confidence": 1, "job-name": "labeling-job/insects", "class-name": label,
                            "human-annotated": "yes", "creation-date": "2024-05-01T10:00:00",
                            "type": "groundtruth/image-classification"},
    })


def stage(server, picks: dict) -> list:
    """Copies photos into bucket cl-data; the manifest lines of {label: [photo, ...]}."""
    lines = []
    for label, paths in picks.items():
        for path in paths:
            target = server.s3_root / "cl-data" / label / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            lines.append(line(f"{label}/{path.name}", label))
    return lines


def put_manifest(server, name: str, lines: list) -> dict:
    (server.s3_root / "cl-data" / "manifests").mkdir(parents=True, exist_ok=True)
    (server.s3_root / "cl-data" / "manifests" / name).write_text("\n".join(lines) + "\n")
    return {"GroundTruthManifest": {"S3Object": {"Bucket": "cl-data", "Name": f"manifests/{name}"}}}


def wait_dataset(rek, arn: str, done: str, timeout=180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = rek.describe_dataset(DatasetArn=arn)["DatasetDescription"]
        if not description["Status"].endswith("IN_PROGRESS"):
            assert description["Status"] == done, description
            return description
        time.sleep(0.5)
    raise AssertionError(f"dataset {arn} still in progress after {timeout} s")


def wait_version(rek, project_arn: str, name: str, timeout=300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        versions = rek.describe_project_versions(ProjectArn=project_arn, VersionNames=[name])
        version = versions["ProjectVersionDescriptions"][0]
        if version["Status"] != "TRAINING_IN_PROGRESS":
            return version
        time.sleep(0.5)
    raise AssertionError(f"version {name} still training after {timeout} s")


def error_code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_getting_started_flow(server):
    rek = server.client()
    ants, bees = photos("ants"), photos("bees")
    train = stage(server, {"ants": ants[:40], "bees": bees[:40]})
    test = stage(server, {"ants": ants[40:55], "bees": bees[40:55]})
    (server.s3_root / "cl-output").mkdir()

    project_arn = rek.create_project(ProjectName="insects")["ProjectArn"]
    assert project_arn.startswith("arn:aws:rekognition:us-east-1:111111111111:project/insects/")
    assert error_code(lambda: rek.create_project(ProjectName="insects")) == "ResourceInUseException"
    rek.tag_resource(ResourceArn=project_arn, Tags={"team": "bugs", "cost": "1"})
    rek.untag_resource(ResourceArn=project_arn, TagKeys=["cost"])
    assert rek.list_tags_for_resource(ResourceArn=project_arn)["Tags"] == {"team": "bugs"}
    train_arn = rek.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN", Tags={"split": "train"},
                                   DatasetSource=put_manifest(server, "train.manifest", train))["DatasetArn"]
    assert rek.list_tags_for_resource(ResourceArn=train_arn)["Tags"] == {"split": "train"}
    test_arn = rek.create_dataset(ProjectArn=project_arn, DatasetType="TEST",
                                  DatasetSource=put_manifest(server, "test.manifest", test))["DatasetArn"]
    assert "/dataset/train/" in train_arn and "/dataset/test/" in test_arn
    again = lambda: rek.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN")  # noqa: E731
    assert error_code(again) == "ResourceAlreadyExistsException"
    described = wait_dataset(rek, train_arn, "CREATE_COMPLETE")
    assert described["DatasetStats"] == {"LabeledEntries": 80, "TotalEntries": 80, "TotalLabels": 2, "ErrorEntries": 0}
    assert wait_dataset(rek, test_arn, "CREATE_COMPLETE")["DatasetStats"]["TotalEntries"] == 30

    labels = rek.list_dataset_labels(DatasetArn=train_arn)["DatasetLabelDescriptions"]
    assert [(label["LabelName"], label["LabelStats"]["EntryCount"]) for label in labels] == [("ants", 40), ("bees", 40)]
    first = rek.list_dataset_entries(DatasetArn=train_arn, ContainsLabels=["bees"], MaxResults=25)
    rest = rek.list_dataset_entries(DatasetArn=train_arn, ContainsLabels=["bees"], NextToken=first["NextToken"])
    entries = [json.loads(e) for e in first["DatasetEntries"] + rest["DatasetEntries"]]
    assert len(entries) == 40 and "NextToken" not in rest
    assert all(e["insect-metadata"]["class-name"] == "bees" for e in entries)
    found = rek.list_dataset_entries(DatasetArn=train_arn, SourceRefContains=ants[3].name)["DatasetEntries"]
    assert [json.loads(e)["source-ref"] for e in found] == [f"s3://cl-data/ants/{ants[3].name}"]

    project = rek.describe_projects(ProjectNames=["insects"])["ProjectDescriptions"][0]
    assert project["Status"] == "CREATED" and project["Feature"] == "CUSTOM_LABELS"
    assert sorted(d["DatasetType"] for d in project["Datasets"]) == ["TEST", "TRAIN"]

    version_arn = rek.create_project_version(ProjectArn=project_arn, VersionName="v1", Tags={"stage": "test"},
                                             OutputConfig={"S3Bucket": "cl-output", "S3KeyPrefix": "insects"})[
        "ProjectVersionArn"]
    assert rek.list_tags_for_resource(ResourceArn=version_arn)["Tags"] == {"stage": "test"}
    assert "/version/v1/" in version_arn
    early = lambda: rek.detect_custom_labels(ProjectVersionArn=version_arn,  # noqa: E731
                                             Image={"Bytes": ants[60].read_bytes()})
    assert error_code(early) == "ResourceNotReadyException"
    version = wait_version(rek, project_arn, "v1")
    assert version["Status"] == "TRAINING_COMPLETED", version
    assert version["EvaluationResult"]["F1Score"] > 0.85, version
    summary_object = version["EvaluationResult"]["Summary"]["S3Object"]
    assert summary_object == {"Bucket": "cl-output", "Name": "insects/EvaluationResultSummary-insects-v1.json"}
    summary = json.loads((server.s3_root / "cl-output" / summary_object["Name"]).read_text())
    assert summary["EvaluationDetails"]["Labels"] == ["ants", "bees"]
    assert summary["EvaluationDetails"]["NumberOfTrainingImages"] == 80
    assert summary["EvaluationDetails"]["NumberOfTestingImages"] == 30
    thresholds = {r["Label"]: r["Metrics"]["Threshold"] for r in summary["LabelEvaluationResults"]}
    assert set(thresholds) == {"ants", "bees"} and all(0 < t < 1 for t in thresholds.values())
    output = version["TrainingDataResult"]["Output"]["Assets"][0]["GroundTruthManifest"]["S3Object"]
    assert len((server.s3_root / "cl-output" / output["Name"]).read_text().splitlines()) == 80

    assert rek.start_project_version(ProjectVersionArn=version_arn, MinInferenceUnits=1)["Status"] in ("STARTING",
                                                                                                       "RUNNING")
    assert wait_version(rek, project_arn, "v1")["Status"] == "RUNNING"
    # Photos neither trained nor tested on.
    held_out = [("ants", p) for p in ants[60:80]] + [("bees", p) for p in bees[60:80]]
    right = 0
    for truth, path in held_out:
        answer = rek.detect_custom_labels(ProjectVersionArn=version_arn, Image={"Bytes": path.read_bytes()})
        labels = answer["CustomLabels"]
        assert all(label["Confidence"] >= 100 * thresholds[label["Name"]] for label in labels)
        right += bool(labels) and labels[0]["Name"] == truth
    assert right >= 34, f"{right} of 40 held-out photos named right"
    every = rek.detect_custom_labels(ProjectVersionArn=version_arn, Image={"Bytes": bees[61].read_bytes()},
                                     MinConfidence=0)["CustomLabels"]
    assert sorted(label["Name"] for label in every) == ["ants", "bees"]
    assert abs(sum(label["Confidence"] for label in every) - 100) < 0.1
    one = rek.detect_custom_labels(ProjectVersionArn=version_arn, Image={"Bytes": bees[61].read_bytes()},
                                   MinConfidence=0, MaxResults=1)["CustomLabels"]
    assert one == every[:1]

    # Accounts are walls.
    bob = server.client(key=BOB)
    assert error_code(lambda: bob.describe_dataset(DatasetArn=train_arn)) == "ResourceNotFoundException"
    assert bob.describe_projects()["ProjectDescriptions"] == []
    assert error_code(lambda: bob.list_tags_for_resource(ResourceArn=project_arn)) == "ResourceNotFoundException"

    assert error_code(lambda: rek.delete_project_version(ProjectVersionArn=version_arn)) == "ResourceInUseException"
    assert rek.stop_project_version(ProjectVersionArn=version_arn)["Status"] in ("STOPPING", "STOPPED")
    assert error_code(early) == "ResourceNotReadyException"
    assert error_code(lambda: rek.delete_project(ProjectArn=project_arn)) == "ResourceInUseException"
    assert rek.delete_project_version(ProjectVersionArn=version_arn)["Status"] == "DELETING"
    rek.delete_dataset(DatasetArn=test_arn)
    assert error_code(lambda: rek.describe_dataset(DatasetArn=test_arn)) == "ResourceNotFoundException"
    assert rek.delete_project(ProjectArn=project_arn)["Status"] == "DELETING"
    assert rek.describe_projects()["ProjectDescriptions"] == []


def test_entries_updated_distributed_and_trained_from_manifests(server):
    rek = server.client()
    ants, bees = photos("ants"), photos("bees")
    lines = stage(server, {"ants": ants[:15], "bees": bees[:15]})
    missing = line("ants/not-there.jpg", "ants")

    project_arn = rek.create_project(ProjectName="updates")["ProjectArn"]
    train_arn = rek.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN")["DatasetArn"]
    assert wait_dataset(rek, train_arn, "CREATE_COMPLETE")["DatasetStats"]["TotalEntries"] == 0
    rek.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": "\n".join(lines + [missing]).encode()})
    stats = wait_dataset(rek, train_arn, "UPDATE_COMPLETE")["DatasetStats"]
    assert stats == {"LabeledEntries": 31, "TotalEntries": 31, "TotalLabels": 2, "ErrorEntries": 1}
    broken = rek.list_dataset_entries(DatasetArn=train_arn, HasErrors=True)["DatasetEntries"]
    assert [json.loads(e)["source-ref"] for e in broken] == ["s3://cl-data/ants/not-there.jpg"]
    assert json.loads(broken[0])["errors"][0]["code"] == "ERROR_INVALID_IMAGE_SOURCE"
    # A line for an image already in the dataset replaces its entry.
    relabelled = line(f"ants/{ants[0].name}", "bees")
    rek.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": relabelled.encode()})
    assert wait_dataset(rek, train_arn, "UPDATE_COMPLETE")["DatasetStats"]["TotalEntries"] == 31
    counts = {label["LabelName"]: label["LabelStats"]["EntryCount"]
              for label in rek.list_dataset_labels(DatasetArn=train_arn)["DatasetLabelDescriptions"]}
    assert counts == {"ants": 15, "bees": 16}

    test_arn = rek.create_dataset(ProjectArn=project_arn, DatasetType="TEST")["DatasetArn"]
    wait_dataset(rek, test_arn, "CREATE_COMPLETE")
    rek.distribute_dataset_entries(Datasets=[{"Arn": train_arn}, {"Arn": test_arn}])
    moved = wait_dataset(rek, test_arn, "UPDATE_COMPLETE")["DatasetStats"]["TotalEntries"]
    kept = wait_dataset(rek, train_arn, "UPDATE_COMPLETE")["DatasetStats"]["TotalEntries"]
    assert (kept, moved) == (24, 7)
    again = lambda: rek.distribute_dataset_entries(Datasets=[{"Arn": train_arn}, {"Arn": test_arn}])  # noqa: E731
    assert error_code(again) == "InvalidParameterException"

    # A project without datasets trains on the manifests it is given, the test set split off.
    bare = rek.create_project(ProjectName="bare")["ProjectArn"]
    (server.s3_root / "cl-output").mkdir(exist_ok=True)
    version_arn = rek.create_project_version(
        ProjectArn=bare, VersionName="first", OutputConfig={"S3Bucket": "cl-output", "S3KeyPrefix": "bare/"},
        TrainingData={"Assets": [put_manifest(server, "bare.manifest", lines)]}, TestingData={"AutoCreate": True},
    )["ProjectVersionArn"]
    version = wait_version(rek, bare, "first")
    assert version["Status"] == "TRAINING_COMPLETED", version
    assert version["TestingDataResult"]["Input"]["AutoCreate"] is True
    assert version["BillableTrainingTimeInSeconds"] >= 1
    assert version_arn.endswith(f"/version/first/{round(version['CreationTimestamp'].timestamp() * 1000)}")

    # Bounding boxes (object detection) are refused with the reason.
    boxes = json.dumps({
        "source-ref": f"s3://cl-data/ants/{ants[0].name}",
        "bb": {"image_size": [{"width": 500, "height": 375, "depth": 3}],
               "annotations": [{"class_id": 0, "top": 10, "left": 10, "width": 100, "height": 100}]},
        "bb-metadata": {"class-map": {"0": "ant"}, "type": "groundtruth/object-detection", "human-annotated": "yes",
                        "creation-date": "2024-05-01T10:00:00", "objects": [{"confidence": 1}]},
    })
    rek.create_project_version(
        ProjectArn=bare, VersionName="boxes", OutputConfig={"S3Bucket": "cl-output"},
        TrainingData={"Assets": [put_manifest(server, "boxes.manifest", [boxes] * 5)]},
        TestingData={"AutoCreate": True},
    )
    failed = wait_version(rek, bare, "boxes")
    assert failed["Status"] == "TRAINING_FAILED" and "object detection" in failed["StatusMessage"]
    names = [v["ProjectVersionArn"].split("/")[-2]
             for v in rek.describe_project_versions(ProjectArn=bare)["ProjectVersionDescriptions"]]
    assert names == ["boxes", "first"]


def test_cli_projects(server):
    created = aws(server, "create-project", "--project-name", "from-cli")
    assert created.returncode == 0, created.stderr
    arn = json.loads(created.stdout)["ProjectArn"]
    described = aws(server, "describe-projects", "--project-names", "from-cli")
    assert json.loads(described.stdout)["ProjectDescriptions"][0]["ProjectArn"] == arn
    dataset = aws(server, "create-dataset", "--project-arn", arn, "--dataset-type", "TRAIN")
    assert dataset.returncode == 0, dataset.stderr
    missing = aws(server, "describe-dataset", "--dataset-arn", arn.rsplit("/", 1)[0] + "/dataset/test/1")
    assert "ResourceNotFoundException" in missing.stderr
    assert json.loads(aws(server, "delete-project", "--project-arn", arn).stdout)["Status"] == "DELETING"


def test_reading_and_training_survive_a_kill(server):
    rek = server.client()
    ants, bees = photos("ants"), photos("bees")
    lines = stage(server, {"ants": ants[:60], "bees": bees[:60]})
    project_arn = rek.create_project(ProjectName="durable")["ProjectArn"]
    train_arn = rek.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN",
                                   DatasetSource=put_manifest(server, "durable.manifest", lines))["DatasetArn"]
    time.sleep(1)
    server.stop(signal.SIGKILL)
    server.start()
    rek = server.client()
    assert wait_dataset(rek, train_arn, "CREATE_COMPLETE")["DatasetStats"]["TotalEntries"] == 120
    rek.create_project_version(ProjectArn=project_arn, VersionName="v1", OutputConfig={"S3Bucket": "none-here"})
    server.stop(signal.SIGKILL)
    server.start()
    rek = server.client()
    version = wait_version(rek, project_arn, "v1")
    # The output bucket does not exist: training says so rather than dropping its evaluation.
    assert version["Status"] == "TRAINING_FAILED" and "none-here" in version["StatusMessage"], version


def test_cli_getting_started_flow(server):
    """The getting-started flow with the AWS CLI alone: project, dataset from a manifest, train, start, detect, stop."""
    ants, bees = photos("ants"), photos("bees")
    source = put_manifest(server, "cli.manifest", stage(server, {"ants": ants[:20], "bees": bees[:20]}))
    (server.s3_root / "cl-output").mkdir(exist_ok=True)

    def cli(*args):
        done = aws(server, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def until(check, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError("timed out")

    project = cli("create-project", "--project-name", "cli-insects")["ProjectArn"]
    dataset = cli("create-dataset", "--project-arn", project, "--dataset-type", "TRAIN",
                  "--dataset-source", json.dumps(source))["DatasetArn"]
    until(lambda: cli("describe-dataset", "--dataset-arn", dataset)["DatasetDescription"]["Status"] == "CREATE_COMPLETE")
    version = cli("create-project-version", "--project-arn", project, "--version-name", "v1",
                  "--output-config", "S3Bucket=cl-output,S3KeyPrefix=cli")["ProjectVersionArn"]

    def trained():
        described = cli("describe-project-versions", "--project-arn", project, "--version-names", "v1")
        status = described["ProjectVersionDescriptions"][0]["Status"]
        return status if status != "TRAINING_IN_PROGRESS" else None

    assert until(trained) == "TRAINING_COMPLETED"
    cli("start-project-version", "--project-version-arn", version, "--min-inference-units", "1")
    labels = cli("detect-custom-labels", "--project-version-arn", version, "--image-bytes", f"fileb://{bees[70]}",
                 "--min-confidence", "0")["CustomLabels"]
    assert [label["Name"] for label in labels] == ["bees", "ants"], labels
    assert cli("stop-project-version", "--project-version-arn", version)["Status"] in ("STOPPING", "STOPPED")
