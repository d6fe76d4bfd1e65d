"""Custom Labels through the API, as a user runs it: a release `reko serve`, boto3, the ants/bees photos of
../shared/eval/custom_labels_hymenoptera. Times CreateDataset (reading every photo into features), training
(CreateProjectVersion until TRAINING_COMPLETED) and DetectCustomLabels one request at a time, and reports the
held-out accuracy of a model trained on 4 photos of 5 and tested on the fifth. Writes bench/CUSTOM_LABELS.md.

    python bench/custom_labels.py [--reko target/release/reko] [--models-dir target/test-models]
"""
import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import boto3
import botocore.config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import reko_server  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
KEY = ("AKIDBENCHEXAMPLE", "bench-secret-key", "111111111111")


def line(key: str, label: str) -> str:
    return json.dumps({"source-ref": f"s3://photos/{key}", "insect": 1,
                       "insect-metadata": {"class-name": label, "confidence": 1, "human-annotated": "yes",
                                           "creation-date": "2024-05-01T10:00:00",
                                           "type": "groundtruth/image-classification"}})


def wait(check, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = check()
        if done:
            return done
        time.sleep(0.1)
    raise RuntimeError("timed out")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reko", default=str(ROOT / "target" / "release" / "reko"))
    parser.add_argument("--models-dir", default=str(ROOT / "target" / "test-models"))
    parser.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval" / "custom_labels_hymenoptera" / "train"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "CUSTOM_LABELS.md"))
    args = parser.parse_args()
    eval_dir = pathlib.Path(args.eval_dir)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        s3 = tmp / "s3"
        photos = {label: sorted((eval_dir / label).glob("*.jpg")) for label in ("ants", "bees")}
        train, test = [], []
        for label, paths in photos.items():
            for i, path in enumerate(paths):
                target = s3 / "photos" / label / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
                (test if i % 5 == 4 else train).append((label, path))
        (s3 / "photos" / "train.manifest").write_text("\n".join(line(f"{l}/{p.name}", l) for l, p in train) + "\n")
        (s3 / "photos" / "test.manifest").write_text("\n".join(line(f"{l}/{p.name}", l) for l, p in test) + "\n")
        (s3 / "output").mkdir()
        credentials = reko_server.write_credentials(tmp / "credentials.toml", [KEY])
        proc, port = reko_server.start(args.reko, args.models_dir, tmp / "data", credentials,
                                       extra_args=("--s3-root", str(s3)), log=tmp / "reko.log")
        try:
            rek = boto3.client("rekognition", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                               aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1],
                               config=botocore.config.Config(retries={"max_attempts": 1}))
            project = rek.create_project(ProjectName="insects")["ProjectArn"]
            started = time.monotonic()
            arns = [rek.create_dataset(ProjectArn=project, DatasetType=kind, DatasetSource={"GroundTruthManifest": {
                "S3Object": {"Bucket": "photos", "Name": f"{kind.lower()}.manifest"}}})["DatasetArn"]
                for kind in ("TRAIN", "TEST")]
            for arn in arns:
                wait(lambda: rek.describe_dataset(DatasetArn=arn)["DatasetDescription"]["Status"] == "CREATE_COMPLETE")
            read_s = time.monotonic() - started
            started = time.monotonic()
            version = rek.create_project_version(ProjectArn=project, VersionName="v1",
                                                 OutputConfig={"S3Bucket": "output"})["ProjectVersionArn"]

            def trained():
                v = rek.describe_project_versions(ProjectArn=project)["ProjectVersionDescriptions"][0]
                return v if v["Status"] != "TRAINING_IN_PROGRESS" else None

            described = wait(trained)
            train_s = time.monotonic() - started
            assert described["Status"] == "TRAINING_COMPLETED", described
            rek.start_project_version(ProjectVersionArn=version, MinInferenceUnits=1)
            times, right = [], 0
            for label, path in test:
                image = path.read_bytes()
                t = time.perf_counter()
                labels = rek.detect_custom_labels(ProjectVersionArn=version, Image={"Bytes": image},
                                                  MinConfidence=0)["CustomLabels"]
                times.append((time.perf_counter() - t) * 1000)
                right += labels[0]["Name"] == label
        finally:
            reko_server.stop(proc)
    n = len(train) + len(test)
    report = f"""# Custom Labels through the API

`python bench/custom_labels.py` (release `reko serve`, boto3, one request at a time, this machine's 2 cores): the
{n} ants/bees photos of `custom_labels_hymenoptera/train`, every fifth photo of each label held out as the TEST
dataset.

| | |
|---|---|
| CreateDataset, TRAIN ({len(train)} photos) and TEST ({len(test)}) until CREATE_COMPLETE | {read_s:.1f} s |
| CreateProjectVersion until TRAINING_COMPLETED | {train_s:.1f} s |
| F1 on the TEST dataset (EvaluationResult) | {described['EvaluationResult']['F1Score']:.3f} |
| held-out photos named right (top label) | {right} of {len(test)} ({100 * right / len(test):.1f}%) |
| DetectCustomLabels, median / p90 | {statistics.median(times):.1f} / {sorted(times)[int(0.9 * len(times))]:.1f} ms |
"""
    pathlib.Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
