"""Face collections with boto3 and the AWS CLI: IndexFaces, search, list, delete, users, crash cycles,
privacy and concurrency, on real photos from ../shared/eval (skipped without it)."""
import csv
import json
import random
import signal
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import BOB, ROOT

EVAL = ROOT.parent / "shared" / "eval"
DEEPFACE = EVAL / "deepface_unit"
SMOKE = EVAL / "face_photos_smoke"
pytestmark = pytest.mark.skipif(not DEEPFACE.exists(), reason="../shared/eval is not here")


def identities() -> dict:
    with open(DEEPFACE / "identities_derived.csv") as f:
        return {row["file"]: row["identity_id"] for row in csv.DictReader(f)}


def image(name: str) -> dict:
    return {"Bytes": (DEEPFACE / name).read_bytes()}


def by_identity() -> dict:
    groups = {}
    for name, identity in sorted(identities().items()):
        groups.setdefault(identity, []).append(name)
    return groups


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def all_faces(rek, collection, **filters) -> list:
    pages = rek.get_paginator("list_faces").paginate(CollectionId=collection, **filters)
    return [face for page in pages for face in page["Faces"]]


def test_index_search_list_and_delete_faces(server):
    rek = server.client()
    rek.create_collection(CollectionId="staff")
    groups = by_identity()
    people = [ident for ident, names in groups.items() if len(names) >= 3][:3]
    enrolled = {}
    for ident in people:
        first = groups[ident][0]
        result = rek.index_faces(CollectionId="staff", Image=image(first), ExternalImageId=f"{ident}-{first}")
        assert len(result["FaceRecords"]) == 1, first
        face = result["FaceRecords"][0]["Face"]
        assert face["ExternalImageId"] == f"{ident}-{first}"
        assert set(result["FaceRecords"][0]["FaceDetail"]) >= {"BoundingBox", "Landmarks", "Pose", "Quality"}
        enrolled[ident] = face["FaceId"]
        # The same bytes and external id again store nothing new.
        again = rek.index_faces(CollectionId="staff", Image=image(first), ExternalImageId=f"{ident}-{first}")
        assert [r["Face"]["FaceId"] for r in again["FaceRecords"]] == [face["FaceId"]]
        assert again["FaceRecords"][0]["Face"]["ImageId"] == face["ImageId"]
    assert rek.describe_collection(CollectionId="staff")["FaceCount"] == len(people)

    # Another photo of each enrolled person finds that person first, at the default threshold.
    for ident in people:
        probe = groups[ident][1]
        found = rek.search_faces_by_image(CollectionId="staff", Image=image(probe))
        assert found["FaceMatches"], probe
        assert found["FaceMatches"][0]["Face"]["FaceId"] == enrolled[ident], probe
        assert found["SearchedFaceConfidence"] > 90 and 0 < found["SearchedFaceBoundingBox"]["Width"] <= 1
        sims = [m["Similarity"] for m in found["FaceMatches"]]
        assert sims == sorted(sims, reverse=True)
    # Someone not enrolled is not let in at 99.
    stranger = next(names[0] for ident, names in groups.items() if ident not in people)
    assert rek.search_faces_by_image(CollectionId="staff", Image=image(stranger),
                                     FaceMatchThreshold=99)["FaceMatches"] == []

    # SearchFaces leaves the searched face out; threshold 0 returns every other face.
    some = enrolled[people[0]]
    everyone = rek.search_faces(CollectionId="staff", FaceId=some, FaceMatchThreshold=0)
    assert everyone["SearchedFaceId"] == some
    assert {m["Face"]["FaceId"] for m in everyone["FaceMatches"]} == set(enrolled.values()) - {some}
    assert len(rek.search_faces(CollectionId="staff", FaceId=some, FaceMatchThreshold=0, MaxFaces=1)["FaceMatches"]) == 1

    # MaxFaces keeps the largest; the rest are reported with EXCEEDS_MAX_FACES.
    couple = rek.index_faces(CollectionId="staff", Image=image("couple.jpg"), MaxFaces=1)
    assert len(couple["FaceRecords"]) == 1
    assert [u["Reasons"] for u in couple["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]]
    # No face: nothing indexed, and searching with it is an error.
    dogs = {"Bytes": (SMOKE / "dlib_faces" / "dogs.jpg").read_bytes()}
    assert rek.index_faces(CollectionId="staff", Image=dogs)["FaceRecords"] == []
    with pytest.raises(ClientError) as err:
        rek.search_faces_by_image(CollectionId="staff", Image=dogs)
    assert code(err) == "InvalidParameterException"

    # ListFaces pages through every face once, in a stable order, with the filters.
    listed = all_faces(rek, "staff", PaginationConfig={"PageSize": 1})
    assert len(listed) == len(people) + 1
    assert len({f["FaceId"] for f in listed}) == len(listed)
    only = rek.list_faces(CollectionId="staff", FaceIds=[some])["Faces"]
    assert [f["FaceId"] for f in only] == [some]

    # DeleteFaces: the unknown one is reported, the rest go, from lists and searches alike.
    unknown = "00000000-0000-4000-8000-000000000000"
    gone = rek.delete_faces(CollectionId="staff", FaceIds=[some, unknown])
    assert gone["DeletedFaces"] == [some]
    assert gone["UnsuccessfulFaceDeletions"] == [{"FaceId": unknown, "Reasons": ["FACE_NOT_FOUND"]}]
    assert rek.describe_collection(CollectionId="staff")["FaceCount"] == len(people)
    probe = groups[people[0]][1]
    assert all(m["Face"]["FaceId"] != some for m in
               rek.search_faces_by_image(CollectionId="staff", Image=image(probe), FaceMatchThreshold=0)["FaceMatches"])
    with pytest.raises(ClientError) as err:
        rek.search_faces(CollectionId="staff", FaceId=some)
    assert code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        rek.index_faces(CollectionId="nope", Image=image("img1.jpg"))
    assert code(err) == "ResourceNotFoundException"

    # Another account sees none of it.
    with pytest.raises(ClientError) as err:
        server.client(BOB).list_faces(CollectionId="staff")
    assert code(err) == "ResourceNotFoundException"

    # Deleting the collection deletes its faces: a new one of the same name starts empty.
    rek.delete_collection(CollectionId="staff")
    rek.create_collection(CollectionId="staff")
    assert rek.list_faces(CollectionId="staff")["Faces"] == []
    assert rek.search_faces_by_image(CollectionId="staff", Image=image(probe), FaceMatchThreshold=0)["FaceMatches"] == []


def test_users(server):
    rek = server.client()
    rek.create_collection(CollectionId="c")
    groups = by_identity()
    (a, a_names), (b, b_names) = [(i, n) for i, n in groups.items() if len(n) >= 3][:2]
    faces = {}
    for name in a_names[:2] + b_names[:1]:
        faces[name] = rek.index_faces(CollectionId="c", Image=image(name))["FaceRecords"][0]["Face"]["FaceId"]

    rek.create_user(CollectionId="c", UserId="alice", ClientRequestToken="tok-1")
    rek.create_user(CollectionId="c", UserId="alice", ClientRequestToken="tok-1")  # a retry: same answer
    with pytest.raises(ClientError) as err:
        rek.create_user(CollectionId="c", UserId="alice")
    assert code(err) == "ConflictException"
    with pytest.raises(ClientError) as err:
        rek.create_user(CollectionId="c", UserId="other", ClientRequestToken="tok-1")
    assert code(err) == "IdempotentParameterMismatchException"
    assert rek.list_users(CollectionId="c")["Users"] == [{"UserId": "alice", "UserStatus": "CREATED"}]
    assert rek.describe_collection(CollectionId="c")["UserCount"] == 1

    unknown = "00000000-0000-4000-8000-000000000000"
    done = rek.associate_faces(CollectionId="c", UserId="alice",
                               FaceIds=[faces[a_names[0]], faces[a_names[1]], faces[b_names[0]], unknown])
    assert [f["FaceId"] for f in done["AssociatedFaces"]] == [faces[a_names[0]], faces[a_names[1]]]
    reasons = {f["FaceId"]: f["Reasons"] for f in done["UnsuccessfulFaceAssociations"]}
    assert reasons == {faces[b_names[0]]: ["LOW_MATCH_CONFIDENCE"], unknown: ["FACE_NOT_FOUND"]}
    assert done["UserStatus"] == "ACTIVE"
    rek.create_user(CollectionId="c", UserId="bob")
    taken = rek.associate_faces(CollectionId="c", UserId="bob", FaceIds=[faces[a_names[0]]])
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert taken["UnsuccessfulFaceAssociations"][0]["UserId"] == "alice"

    listed = {f["FaceId"] for f in all_faces(rek, "c", UserId="alice")}
    assert listed == {faces[a_names[0]], faces[a_names[1]]}
    blocked = rek.delete_faces(CollectionId="c", FaceIds=[faces[a_names[0]]])
    assert blocked["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]

    probe = image(a_names[2])
    found = rek.search_users_by_image(CollectionId="c", Image=probe)
    assert found["UserMatches"][0]["User"] == {"UserId": "alice", "UserStatus": "ACTIVE"}
    assert "FaceDetail" in found["SearchedFace"]
    by_face = rek.search_users(CollectionId="c", FaceId=faces[a_names[0]])
    assert by_face["UserMatches"][0]["User"]["UserId"] == "alice"
    assert by_face["SearchedFace"] == {"FaceId": faces[a_names[0]]}
    # An image without a face is not an error here.
    dogs = {"Bytes": (SMOKE / "dlib_faces" / "dogs.jpg").read_bytes()}
    empty = rek.search_users_by_image(CollectionId="c", Image=dogs)
    assert empty["UserMatches"] == [] and "SearchedFace" not in empty
    # A group photo: the largest face is searched, the others are reported.
    group = rek.search_users_by_image(CollectionId="c", Image=image("couple.jpg"))
    assert [u["Reasons"] for u in group["UnsearchedFaces"]] == [["FACE_NOT_LARGEST"]]

    undone = rek.disassociate_faces(CollectionId="c", UserId="alice", FaceIds=[faces[a_names[1]], faces[b_names[0]]])
    assert undone["DisassociatedFaces"] == [{"FaceId": faces[a_names[1]]}]
    assert undone["UnsuccessfulFaceDisassociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    rek.delete_user(CollectionId="c", UserId="alice")
    with pytest.raises(ClientError) as err:
        rek.delete_user(CollectionId="c", UserId="alice")
    assert code(err) == "ResourceNotFoundException"
    # Its faces stay, no longer associated.
    assert all("UserId" not in f for f in all_faces(rek, "c"))
    assert rek.search_users_by_image(CollectionId="c", Image=probe)["UserMatches"] == []
    assert rek.describe_collection(CollectionId="c")["UserCount"] == 1


def test_the_aws_cli_drives_the_storage_operations(server):
    env = {"AWS_ACCESS_KEY_ID": "AKIDALICEEXAMPLE", "AWS_SECRET_ACCESS_KEY": "alice-secret-key",
           "AWS_DEFAULT_REGION": "us-east-1", "PATH": str(ROOT / ".venv" / "bin") + ":/usr/bin:/bin"}

    def aws(*args):
        out = subprocess.run([str(ROOT / ".venv" / "bin" / "aws"), "rekognition", "--endpoint-url", server.endpoint,
                              *args], env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout) if out.stdout.strip() else {}

    aws("create-collection", "--collection-id", "cli")
    indexed = aws("index-faces", "--collection-id", "cli", "--image-bytes", f"fileb://{DEEPFACE / 'img1.jpg'}",
                  "--external-image-id", "img1")
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    found = aws("search-faces-by-image", "--collection-id", "cli", "--image-bytes",
                f"fileb://{DEEPFACE / 'img2.jpg'}")
    assert found["FaceMatches"][0]["Face"]["FaceId"] == face_id
    aws("create-user", "--collection-id", "cli", "--user-id", "u1")
    aws("associate-faces", "--collection-id", "cli", "--user-id", "u1", "--face-ids", face_id)
    assert aws("list-users", "--collection-id", "cli")["Users"] == [{"UserId": "u1", "UserStatus": "ACTIVE"}]
    assert [f["FaceId"] for f in aws("list-faces", "--collection-id", "cli")["Faces"]] == [face_id]


def image_signatures(data: bytes) -> list:
    """Offsets of JPEG (SOI + APPn + JFIF/Exif) and PNG signatures in `data`."""
    hits = [i for i in range(len(data)) if data.startswith(b"\x89PNG\r\n\x1a\n", i)]
    start = 0
    while (i := data.find(b"\xff\xd8\xff", start)) >= 0:
        if data[i + 6:i + 11] in (b"JFIF\x00", b"Exif\x00"):
            hits.append(i)
        start = i + 1
    return hits


def test_no_image_bytes_are_stored(server):
    rek = server.client()
    rek.create_collection(CollectionId="privacy")
    names = sorted(identities())[:6] + ["couple.jpg"]
    originals = [(DEEPFACE / n).read_bytes() for n in names]
    for name, data in zip(names, originals):
        rek.index_faces(CollectionId="privacy", Image={"Bytes": data}, ExternalImageId=name.replace(".jpg", ""))
    server.stop()
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert files, "the data directory holds the store"
    rng = random.Random(7)
    for path in files:
        stored = path.read_bytes()
        assert image_signatures(stored) == [], path
        # No run of 48 bytes from anywhere in any original image (runs of entropy-coded data: padding
        # and zero runs in the headers would match anything).
        for data in originals:
            for _ in range(200):
                at = rng.randrange(0, len(data) - 48)
                window = data[at:at + 48]
                if len(set(window)) >= 24:
                    assert window not in stored, (path, at)


def test_acknowledged_writes_survive_kill_9_cycles(server):
    """A stream of IndexFaces, AssociateFaces and DeleteFaces with the server killed at random points:
    after each restart every acknowledged write is there, nothing is half-there, and search agrees
    with the stored faces."""
    rek = server.client()
    rek.create_collection(CollectionId="crash")
    rek.create_user(CollectionId="crash", UserId="owner")
    names = sorted(n for n in identities() if n != "couple.jpg")[:12] + ["couple.jpg"]
    expected_faces = {"couple.jpg": 2}
    present, deleted, associated = {}, set(), set()  # acknowledged facts: ext id → face ids
    # The faces of a DeleteFaces sent when the server was killed: it may have committed without answering.
    in_flight = []
    rng = random.Random(1)
    cycles = 8
    for cycle in range(cycles):
        stop = threading.Event()

        def killer():
            time.sleep(rng.uniform(0.5, 3.0))
            server.proc.send_signal(signal.SIGKILL)
            stop.set()

        threading.Thread(target=killer).start()
        step = 0
        while not stop.is_set():
            step += 1
            name = rng.choice(names)
            ext = f"c{cycle}-s{step}"
            try:
                action = rng.random()
                if action < 0.6 or not present:
                    result = rek.index_faces(CollectionId="crash", Image=image(name), ExternalImageId=ext)
                    present[ext] = [r["Face"]["FaceId"] for r in result["FaceRecords"]]
                    assert len(present[ext]) == expected_faces.get(name, 1), name
                elif action < 0.8:
                    victim = rng.choice(sorted(present))
                    ids = [f for f in present[victim] if f not in associated]
                    if ids:
                        in_flight = ids
                        rek.delete_faces(CollectionId="crash", FaceIds=ids)
                        in_flight = []
                        present[victim] = [f for f in present[victim] if f not in ids]
                        deleted.update(ids)
                else:
                    candidates = [f for ids in present.values() for f in ids if f not in associated]
                    if candidates:
                        face = rng.choice(candidates)
                        rek.associate_faces(CollectionId="crash", UserId="owner", FaceIds=[face],
                                            UserMatchThreshold=0)
                        associated.add(face)
            except (ClientError, Exception) as e:  # noqa: BLE001 - the server was killed mid-request
                if not stop.is_set():
                    time.sleep(0.2)
                    if not stop.is_set():
                        raise
                break
        server.proc.wait(timeout=30)
        server.start()

        faces = all_faces(rek, "crash")
        stored = {f["FaceId"]: f for f in faces}
        # An unacknowledged DeleteFaces is all or nothing; if it landed, its faces are deleted facts now.
        if in_flight:
            gone = [f for f in in_flight if f not in stored]
            assert len(gone) in (0, len(in_flight)), "a DeleteFaces landed in part"
            for ext in present:
                present[ext] = [f for f in present[ext] if f not in gone]
            deleted.update(gone)
            in_flight = []
        for ext, ids in present.items():
            assert all(i in stored for i in ids), f"acknowledged faces of {ext} lost in cycle {cycle}"
        assert not deleted & set(stored), "an acknowledged deletion came back"
        # Unacknowledged IndexFaces are all or nothing.
        by_ext = {}
        for f in faces:
            by_ext.setdefault(f["ExternalImageId"], []).append(f["FaceId"])
        for ext, ids in by_ext.items():
            if ext not in present:
                assert len(ids) in (1, 2), ext
        assert rek.describe_collection(CollectionId="crash")["FaceCount"] == len(faces)
        owned = {f["FaceId"] for f in faces if f.get("UserId") == "owner"}
        assert associated <= owned
        assert {f["FaceId"] for f in all_faces(rek, "crash", UserId="owner")} == owned
        # The index agrees with the store: threshold 0 returns every other face.
        if faces:
            probe = faces[0]["FaceId"]
            everyone = rek.search_faces(CollectionId="crash", FaceId=probe, FaceMatchThreshold=0, MaxFaces=4096)
            assert {m["Face"]["FaceId"] for m in everyone["FaceMatches"]} == set(stored) - {probe}
        # Unacknowledged writes that did land are now facts too.
        for ext, ids in by_ext.items():
            present.setdefault(ext, ids)
        associated |= owned


def test_concurrent_index_search_and_delete(server):
    rek = server.client()
    rek.create_collection(CollectionId="busy")
    names = sorted(n for n in identities() if n != "couple.jpg")[:8]
    indexed, deleted, errors = [], [], []
    lock = threading.Lock()

    def indexer(offset):
        client = server.client()
        for name in names[offset::2]:
            try:
                result = client.index_faces(CollectionId="busy", Image=image(name), ExternalImageId=name[:-4])
                with lock:
                    indexed.extend(r["Face"]["FaceId"] for r in result["FaceRecords"])
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    def searcher():
        client = server.client()
        for name in names[:4]:
            try:
                client.search_faces_by_image(CollectionId="busy", Image=image(name), FaceMatchThreshold=0)
            except ClientError as e:
                if e.response["Error"]["Code"] != "InvalidParameterException":
                    errors.append(e)

    def deleter():
        client = server.client()
        for _ in range(20):
            with lock:
                victim = indexed[0] if indexed else None
            if victim:
                try:
                    client.delete_faces(CollectionId="busy", FaceIds=[victim])
                    with lock:
                        indexed.remove(victim)
                        deleted.append(victim)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)
            time.sleep(0.2)

    threads = [threading.Thread(target=t, args=a) for t, a in
               [(indexer, (0,)), (indexer, (1,)), (searcher, ()), (deleter, ())]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    listed = {f["FaceId"] for f in all_faces(rek, "busy")}
    assert listed == set(indexed)
    assert not listed & set(deleted)
    assert rek.describe_collection(CollectionId="busy")["FaceCount"] == len(listed)
