//! The `Store` conformance suite: every check runs unchanged against the embedded store (always) and
//! PostgreSQL (`REKO_TEST_DATABASE_URL`, a server the tests may create databases on; `scripts/test` starts
//! a throwaway one). Each PostgreSQL check gets a database of its own, dropped afterwards.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use reko_store::{
    CollectionRecord, EmbeddedStore, FaceRecord, JobInsert, JobRecord, JobStatus, OutboxRecord, PostgresSettings,
    PostgresStore, ProjectRecord, RequestRecord, Scope, Store, StoreError, Update, UserRecord,
};

fn scope(account: &str) -> Scope {
    Scope { account_id: account.into(), region: "us-east-1".into() }
}

fn collection(id: &str) -> CollectionRecord {
    CollectionRecord { tags: BTreeMap::from([("team".into(), "door".into())]), ..CollectionRecord::new(id, "1.0", 7) }
}

fn face_id(n: u64) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

fn face(n: u64) -> FaceRecord {
    FaceRecord {
        face_id: face_id(n),
        key: n,
        image_id: format!("image-{n}"),
        external_image_id: Some(format!("ext-{}", n % 3)),
        bounding_box: [0.1, 0.2, 0.3, 0.4],
        confidence: 99.5,
        user_id: None,
        model_version: "1.0".into(),
        created_at_ms: 9,
    }
}

fn vector(n: u64) -> Vec<f32> {
    (0..8).map(|i| (n as f32) + i as f32 / 10.0).collect()
}

fn job(id: &str) -> JobRecord {
    JobRecord {
        job_id: id.into(),
        operation: "LabelDetection".into(),
        parameters: serde_json::json!({"min_confidence": 50}),
        bucket: "videos".into(),
        name: "a.mp4".into(),
        version: None,
        job_tag: None,
        notification: None,
        status: JobStatus::Queued,
        status_message: None,
        metadata: None,
        created_at_ms: 1,
        finished_at_ms: None,
        attempts: 0,
        owner: None,
        lease_until_ms: None,
    }
}

fn request(parameters: &str) -> RequestRecord {
    RequestRecord {
        parameters: parameters.into(),
        response: serde_json::json!({"JobId": parameters}),
        created_at_ms: 3,
    }
}

/// Adds faces `from..to` (with vectors) to a collection in one transaction, as IndexFaces does.
fn add_faces(store: &dyn Store, s: &Scope, id: &str, faces: std::ops::Range<u64>) {
    let done = store
        .write_collection(s, id, &mut |w| {
            for n in faces.clone() {
                w.put_face(&face(n), Some(&vector(n)))?;
                w.collection().face_count += 1;
                w.collection().next_face_key = n + 1;
            }
            w.collection().vector_changes += 1;
            Ok(Update::Commit)
        })
        .unwrap();
    assert_eq!(done, Some(Update::Commit));
}

fn ids(records: Vec<CollectionRecord>) -> Vec<String> {
    records.into_iter().map(|r| r.collection_id).collect()
}

fn collections_are_scoped_and_paged_in_byte_order(store: &dyn Store) {
    let (a, b) = (scope("111111111111"), scope("222222222222"));
    // Byte order: upper case before lower case, '-' before '_' before letters.
    for id in ["b", "a_b", "a-b", "B", "a", "ä"] {
        assert!(store.insert_collection(&a, &collection(id)).unwrap());
    }
    assert!(!store.insert_collection(&a, &collection("a")).unwrap());
    assert!(store.insert_collection(&b, &collection("a")).unwrap());
    let other_region = Scope { account_id: a.account_id.clone(), region: "eu-west-1".into() };
    assert_eq!(ids(store.list_collections(&a, None, 100).unwrap()), ["B", "a", "a-b", "a_b", "b", "ä"]);
    assert_eq!(ids(store.list_collections(&a, None, 2).unwrap()), ["B", "a"]);
    assert_eq!(ids(store.list_collections(&a, Some("a"), 2).unwrap()), ["a-b", "a_b"]);
    assert_eq!(ids(store.list_collections(&a, Some("b"), 10).unwrap()), ["ä"]);
    assert!(store.list_collections(&a, Some("ä"), 10).unwrap().is_empty());
    assert_eq!(ids(store.list_collections(&b, None, 10).unwrap()), ["a"]);
    assert!(store.list_collections(&other_region, None, 10).unwrap().is_empty());
    assert_eq!(store.collection(&a, "a").unwrap().unwrap(), collection("a"));
    assert!(store.collection(&other_region, "a").unwrap().is_none());

    let mut all = Vec::new();
    store.each_collection(&mut |s, c| all.push((s.account_id.clone(), c.collection_id.clone()))).unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.contains(&("222222222222".into(), "a".into())));

    assert!(store.delete_collection(&a, "a").unwrap());
    assert!(!store.delete_collection(&a, "a").unwrap());
    assert!(store.collection(&b, "a").unwrap().is_some());
    store.check_writable().unwrap();
}

fn updates_commit_or_abort(store: &dyn Store) {
    let s = scope("111111111111");
    assert!(store.update_collection(&s, "none", &mut |_| Update::Commit).unwrap().is_none());
    store.insert_collection(&s, &collection("c")).unwrap();
    let (record, outcome) = store
        .update_collection(&s, "c", &mut |c| {
            c.tags.insert("k".into(), "v".into());
            Update::Commit
        })
        .unwrap()
        .unwrap();
    assert_eq!((record.tags.get("k").map(String::as_str), outcome), (Some("v"), Update::Commit));
    let (record, outcome) = store
        .update_collection(&s, "c", &mut |c| {
            c.tags.clear();
            Update::Abort
        })
        .unwrap()
        .unwrap();
    assert_eq!((record.tags.len(), outcome), (2, Update::Abort));
    assert_eq!(store.collection(&s, "c").unwrap().unwrap().tags.len(), 2);
}

fn a_collection_write_is_atomic_and_sees_its_own_writes(store: &dyn Store) {
    let s = scope("111111111111");
    assert!(store.write_collection(&s, "none", &mut |_| Ok(Update::Commit)).unwrap().is_none());
    store.insert_collection(&s, &collection("c")).unwrap();
    add_faces(store, &s, "c", 0..5);

    // Reads inside the transaction see its writes; an abort leaves nothing behind, nor does an error.
    for ending in [Ok(Update::Abort), Err(StoreError::Backend("the closure failed".into()))] {
        let mut ending = Some(ending);
        let outcome = store.write_collection(&s, "c", &mut |w| {
            w.put_face(&face(10), Some(&vector(10)))?;
            assert_eq!(w.face(&face_id(10))?, Some(face(10)));
            assert_eq!(w.delete_face(&face_id(0))?, Some(face(0)));
            assert_eq!(w.face(&face_id(0))?, None);
            w.put_image_faces("img", &[face_id(1)])?;
            assert_eq!(w.image_faces("img")?, Some(vec![face_id(1)]));
            w.put_user(&UserRecord { user_id: "u".into(), face_ids: vec![], created_at_ms: 1 })?;
            w.put_request("op/t", &request("p"))?;
            assert_eq!(w.request("op/t")?, Some(request("p")));
            w.collection().face_count = 999;
            ending.take().unwrap()
        });
        assert!(matches!(outcome, Ok(Some(Update::Abort)) | Err(StoreError::Backend(_))), "{outcome:?}");
        assert!(store.face(&s, "c", &face_id(10)).unwrap().is_none());
        assert_eq!(store.face(&s, "c", &face_id(0)).unwrap(), Some(face(0)));
        assert!(store.user(&s, "c", "u").unwrap().is_none());
        assert_eq!(store.collection(&s, "c").unwrap().unwrap().face_count, 5);
    }

    // Committed: everything at once, the collection's record included.
    let outcome = store
        .write_collection(&s, "c", &mut |w| {
            assert_eq!(w.collection().face_count, 5);
            assert_eq!(w.delete_face(&face_id(0))?, Some(face(0)));
            assert_eq!(w.delete_face(&face_id(0))?, None);
            w.put_image_faces("img", &[face_id(1), face_id(2)])?;
            w.put_image_faces("gone", &[face_id(3)])?;
            w.put_image_faces("gone", &[])?;
            for user in ["u2", "u1"] {
                w.put_user(&UserRecord { user_id: user.into(), face_ids: vec![face_id(1)], created_at_ms: 1 })?;
            }
            w.put_user(&UserRecord { user_id: "u3".into(), face_ids: vec![], created_at_ms: 1 })?;
            assert!(w.delete_user("u3")?.is_some());
            assert!(w.delete_user("u3")?.is_none());
            w.put_request("op/t", &request("p"))?;
            w.collection().face_count = 4;
            w.collection().user_count = 2;
            Ok(Update::Commit)
        })
        .unwrap();
    assert_eq!(outcome, Some(Update::Commit));
    let record = store.collection(&s, "c").unwrap().unwrap();
    assert_eq!((record.face_count, record.user_count), (4, 2));
    assert!(store.face(&s, "c", &face_id(0)).unwrap().is_none());
    let users: Vec<String> = store.list_users(&s, "c", None, 10).unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(users, ["u1", "u2"]);
    let after: Vec<String> =
        store.list_users(&s, "c", Some("u1"), 10).unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(after, ["u2"]);
    assert_eq!(store.user(&s, "c", "u1").unwrap().unwrap().face_ids, [face_id(1)]);
    store
        .write_collection(&s, "c", &mut |w| {
            assert_eq!(w.image_faces("img")?, Some(vec![face_id(1), face_id(2)]));
            assert_eq!(w.image_faces("gone")?, None);
            assert_eq!(w.request("op/t")?, Some(request("p")));
            assert_eq!(w.request("op/other")?, None);
            Ok(Update::Abort)
        })
        .unwrap();
}

fn faces_and_vectors_read_back_in_order(store: &dyn Store) {
    let s = scope("111111111111");
    store.insert_collection(&s, &collection("c")).unwrap();
    store.insert_collection(&s, &collection("d")).unwrap();
    add_faces(store, &s, "c", 0..300);
    add_faces(store, &s, "d", 1000..1003);

    // Faces page in id order.
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_faces(&s, "c", after.as_deref(), 64).unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().face_id.clone());
        listed.extend(page.into_iter().map(|f| f.face_id));
    }
    let expected: Vec<String> = (0..300).map(face_id).collect();
    assert_eq!(listed, expected);
    assert_eq!(store.list_faces(&s, "d", None, 10).unwrap().len(), 3);

    // Vectors and faces by key and id, in the order asked, missing ones as None.
    let found = store.face_vectors(&s, "c", &[7, 5000, 3]).unwrap();
    assert_eq!(found[0], Some((face_id(7), vector(7))));
    assert_eq!(found[1], None);
    assert_eq!(found[2], Some((face_id(3), vector(3))));
    assert!(store.face_vectors(&s, "c", &[1000]).unwrap()[0].is_none());
    let (f9, nobody, f2) = (face_id(9), face_id(4000), face_id(2));
    let faces = store.faces(&s, "c", &[&f9, &nobody, &f2]).unwrap();
    assert_eq!(faces, [Some(face(9)), None, Some(face(2))]);

    // A scan reads every vector in key order, or those from a key on.
    let mut scanned = Vec::new();
    store.scan_vectors(&s, "c", 0, &mut |key, v| scanned.push((key, v.to_vec()))).unwrap();
    assert_eq!(scanned.len(), 300);
    assert!(scanned.iter().enumerate().all(|(n, (key, v))| *key == n as u64 && *v == vector(n as u64)));
    let mut from = Vec::new();
    store.scan_vectors(&s, "c", 297, &mut |key, _| from.push(key)).unwrap();
    assert_eq!(from, [297, 298, 299]);

    // A deleted face takes its vector with it.
    store.write_collection(&s, "c", &mut |w| w.delete_face(&face_id(7)).map(|_| Update::Commit)).unwrap();
    assert!(store.face_vectors(&s, "c", &[7]).unwrap()[0].is_none());
    let mut count = 0;
    store.scan_vectors(&s, "c", 0, &mut |_, _| count += 1).unwrap();
    assert_eq!(count, 299);
    // The keys alone, in order, of this collection only.
    let mut keys = Vec::new();
    store.vector_keys(&s, "c", &mut |key| keys.push(key)).unwrap();
    assert_eq!(keys, (0..300).filter(|&k| k != 7).collect::<Vec<u64>>());
    store.vector_keys(&s, "none", &mut |_| panic!("no collection, no keys")).unwrap();
}

fn deleting_a_large_collection_removes_everything_in_it(store: &dyn Store) {
    let s = scope("111111111111");
    store.insert_collection(&s, &collection("big")).unwrap();
    store.insert_collection(&s, &collection("kept")).unwrap();
    // More faces than the embedded store removes in one transaction.
    for batch in 0..10 {
        add_faces(store, &s, "big", batch * 600..(batch + 1) * 600);
    }
    add_faces(store, &s, "kept", 0..3);
    store
        .write_collection(&s, "big", &mut |w| {
            w.put_user(&UserRecord { user_id: "u".into(), face_ids: vec![face_id(1)], created_at_ms: 1 })?;
            w.put_image_faces("img", &[face_id(1)])?;
            w.put_request("op/t", &request("p"))?;
            Ok(Update::Commit)
        })
        .unwrap();
    assert!(store.delete_collection(&s, "big").unwrap());
    // A new collection of the same name starts empty.
    assert!(store.insert_collection(&s, &collection("big")).unwrap());
    assert!(store.list_faces(&s, "big", None, 10).unwrap().is_empty());
    assert!(store.list_users(&s, "big", None, 10).unwrap().is_empty());
    let mut vectors = 0;
    store.scan_vectors(&s, "big", 0, &mut |_, _| vectors += 1).unwrap();
    assert_eq!(vectors, 0);
    store
        .write_collection(&s, "big", &mut |w| {
            assert_eq!(w.image_faces("img")?, None);
            assert_eq!(w.request("op/t")?, None);
            Ok(Update::Abort)
        })
        .unwrap();
    assert_eq!(store.list_faces(&s, "kept", None, 10).unwrap().len(), 3);
}

fn jobs_keep_tokens_limits_and_results(store: &dyn Store) {
    let (s, other) = (scope("111111111111"), scope("222222222222"));
    assert_eq!(store.insert_job(&s, &job("j1"), Some(("op/t1", &request("j1"))), 2).unwrap(), JobInsert::Inserted);
    // The same token: the first answer, nothing written.
    assert_eq!(
        store.insert_job(&s, &job("j9"), Some(("op/t1", &request("j9"))), 2).unwrap(),
        JobInsert::Existing(request("j1"))
    );
    assert!(store.job(&s, "j9").unwrap().is_none());
    assert_eq!(store.insert_job(&s, &job("j2"), None, 2).unwrap(), JobInsert::Inserted);
    // Two unfinished jobs: the limit, per scope; a refused insert keeps no token either.
    assert_eq!(store.insert_job(&s, &job("j3"), Some(("op/t3", &request("j3"))), 2).unwrap(), JobInsert::LimitReached);
    assert_eq!(store.insert_job(&other, &job("j3"), None, 2).unwrap(), JobInsert::Inserted);

    let updated = store
        .update_job(&s, "j1", &mut |j| {
            j.status = JobStatus::InProgress;
            j.attempts += 1;
            Update::Commit
        })
        .unwrap()
        .unwrap();
    assert_eq!((updated.status, updated.attempts), (JobStatus::InProgress, 1));
    assert_eq!(store.job(&s, "j1").unwrap().unwrap().attempts, 1);
    let aborted = store.update_job(&s, "j1", &mut |j| {
        j.attempts = 50;
        Update::Abort
    });
    assert_eq!(aborted.unwrap().unwrap().attempts, 50);
    assert_eq!(store.job(&s, "j1").unwrap().unwrap().attempts, 1);
    assert!(store.update_job(&s, "none", &mut |_| Update::Commit).unwrap().is_none());

    let mut unfinished = Vec::new();
    store.each_unfinished_job(&mut |sc, j| unfinished.push((sc.account_id.clone(), j.job_id.clone()))).unwrap();
    unfinished.sort();
    assert_eq!(unfinished.len(), 3);

    let mut done = store.job(&s, "j1").unwrap().unwrap();
    done.status = JobStatus::Succeeded;
    done.finished_at_ms = Some(5);
    let chunks: Vec<Vec<u8>> = (0..12u8).map(|n| vec![n; 100 + n as usize]).collect();
    assert!(store.finish_job(&s, &done, &chunks, None, None).unwrap());
    assert_eq!(store.job_results(&s, "j1").unwrap(), chunks);
    assert_eq!(store.job(&s, "j1").unwrap().unwrap(), done);
    assert!(store.job_results(&s, "j2").unwrap().is_empty());
    let mut unfinished = Vec::new();
    store.each_unfinished_job(&mut |_, j| unfinished.push(j.job_id.clone())).unwrap();
    assert!(!unfinished.contains(&"j1".to_string()));
    // Finishing from a lease holder: only while the job is unfinished and held by that owner.
    store
        .update_job(&s, "j2", &mut |j| {
            j.owner = Some("node-b".into());
            Update::Commit
        })
        .unwrap();
    let mut j2 = store.job(&s, "j2").unwrap().unwrap();
    j2.status = JobStatus::Failed;
    assert!(!store.finish_job(&s, &j2, &[vec![1]], Some("node-a"), Some(&notification("a"))).unwrap());
    assert!(store.job(&s, "j2").unwrap().unwrap().status == JobStatus::Queued);
    assert!(store.job_results(&s, "j2").unwrap().is_empty());
    assert!(store.finish_job(&s, &j2, &[vec![2]], Some("node-b"), None).unwrap());
    assert!(!store.finish_job(&s, &j2, &[vec![3]], Some("node-b"), None).unwrap());
    assert_eq!(store.job_results(&s, "j2").unwrap(), [vec![2]]);
    // A finished job no longer counts towards the limit.
    assert_eq!(store.insert_job(&s, &job("j4"), None, 2).unwrap(), JobInsert::Inserted);
}

fn expiry_removes_old_finished_jobs_and_tokens_only(store: &dyn Store) {
    let s = scope("111111111111");
    store.insert_collection(&s, &collection("c")).unwrap();
    let token = |created_at_ms| RequestRecord { created_at_ms, ..request("p") };
    store
        .write_collection(&s, "c", &mut |w| {
            w.put_request("op/old", &token(100))?;
            w.put_request("op/new", &token(5_000))?;
            Ok(Update::Commit)
        })
        .unwrap();
    for (id, finished_at, created_at) in [("old", Some(100), 100), ("new", Some(5_000), 5_000), ("running", None, 100)]
    {
        let mut record = job(id);
        assert_eq!(
            store.insert_job(&s, &record, Some((&format!("op/{id}"), &token(created_at))), 20).unwrap(),
            JobInsert::Inserted
        );
        if let Some(at) = finished_at {
            record.status = JobStatus::Succeeded;
            record.finished_at_ms = Some(at);
            assert!(store.finish_job(&s, &record, &[vec![1], vec![2]], None, Some(&notification(id))).unwrap());
        }
    }
    // Before 1 000: the old finished job, its results, the old job tokens ("old", "running") and the old
    // collection token. A running job stays, whenever it began.
    assert_eq!(store.expire(1_000, 100).unwrap(), 4);
    assert!(store.job(&s, "old").unwrap().is_none());
    assert!(store.job_results(&s, "old").unwrap().is_empty());
    assert_eq!(pending(store), [("111111111111".to_string(), "new".to_string(), notification("new"))]);
    assert!(store.job(&s, "new").unwrap().is_some());
    assert_eq!(store.job_results(&s, "new").unwrap().len(), 2);
    assert!(store.job(&s, "running").unwrap().is_some());
    assert_eq!(
        store.insert_job(&s, &job("again"), Some(("op/old", &token(6_000))), 20).unwrap(),
        JobInsert::Inserted,
        "an expired token is free again"
    );
    assert!(matches!(
        store.insert_job(&s, &job("again2"), Some(("op/new", &token(6_000))), 20).unwrap(),
        JobInsert::Existing(_)
    ));
    store
        .write_collection(&s, "c", &mut |w| {
            assert!(w.request("op/old")?.is_none());
            assert!(w.request("op/new")?.is_some());
            Ok(Update::Abort)
        })
        .unwrap();
    assert_eq!(store.expire(1_000, 100).unwrap(), 0);
    // A limit per kind and call: two calls for three old tokens with a limit of two.
    for n in 0..3 {
        store.insert_job(&s, &job(&format!("t{n}")), Some((&format!("op/t{n}"), &token(10))), 20).unwrap();
    }
    assert_eq!(store.expire(1_000, 2).unwrap(), 2);
    assert_eq!(store.expire(1_000, 2).unwrap(), 1);
}

fn notification(id: &str) -> OutboxRecord {
    OutboxRecord { message_id: format!("message-{id}"), attempts: 0, owner: None, lease_until_ms: None }
}

fn pending(store: &dyn Store) -> Vec<(String, String, OutboxRecord)> {
    let mut found = Vec::new();
    store
        .each_pending_notification(&mut |sc, id, n| found.push((sc.account_id.clone(), id.to_owned(), n.clone())))
        .unwrap();
    found
}

fn the_outbox_is_written_with_the_finished_job_and_leased(store: &dyn Store) {
    let (s, other) = (scope("111111111111"), scope("222222222222"));
    for (scope, id) in [(&s, "j1"), (&s, "j2"), (&other, "j1")] {
        assert_eq!(store.insert_job(scope, &job(id), None, 10).unwrap(), JobInsert::Inserted);
    }
    let finished = |id: &str| JobRecord { status: JobStatus::Succeeded, finished_at_ms: Some(5), ..job(id) };
    // A finish that is refused writes no notification either.
    store
        .update_job(&s, "j1", &mut |j| {
            j.owner = Some("node-b".into());
            Update::Commit
        })
        .unwrap();
    assert!(!store.finish_job(&s, &finished("j1"), &[], Some("node-a"), Some(&notification("x"))).unwrap());
    assert!(pending(store).is_empty());
    let held = OutboxRecord { owner: Some("node-b".into()), lease_until_ms: Some(1_000), ..notification("1") };
    assert!(store.finish_job(&s, &finished("j1"), &[], Some("node-b"), Some(&held)).unwrap());
    assert!(store.finish_job(&s, &finished("j2"), &[], None, None).unwrap());
    assert!(store.finish_job(&other, &finished("j1"), &[], None, Some(&notification("2"))).unwrap());
    assert_eq!(
        pending(store),
        [
            ("111111111111".to_string(), "j1".to_string(), held.clone()),
            ("222222222222".to_string(), "j1".to_string(), notification("2")),
        ]
    );
    // Leases: the holder goes on; another node only once the lease ran out.
    assert!(held.may_be_sent_by("node-b", 500) && !held.may_be_sent_by("node-a", 500));
    assert!(held.may_be_sent_by("node-a", 1_000));
    let claimed = store
        .update_notification(&s, "j1", &mut |n| {
            n.owner = Some("node-a".into());
            n.attempts += 1;
            Update::Commit
        })
        .unwrap()
        .unwrap();
    assert_eq!((claimed.owner.as_deref(), claimed.attempts), (Some("node-a"), 1));
    let aborted = store.update_notification(&s, "j1", &mut |n| {
        n.attempts = 9;
        Update::Abort
    });
    assert_eq!(aborted.unwrap().unwrap().attempts, 9);
    assert!(store.update_notification(&s, "j2", &mut |_| Update::Commit).unwrap().is_none());
    // Only the holder (or anyone, unasked) takes it out, once.
    assert!(!store.remove_notification(&s, "j1", Some("node-b")).unwrap());
    assert!(store.remove_notification(&s, "j1", Some("node-a")).unwrap());
    assert!(!store.remove_notification(&s, "j1", Some("node-a")).unwrap());
    assert!(store.remove_notification(&other, "j1", None).unwrap());
    assert!(pending(store).is_empty());
    assert_eq!(store.job(&s, "j1").unwrap().unwrap().status, JobStatus::Succeeded);
}

fn project(name: &str) -> ProjectRecord {
    ProjectRecord { name: name.into(), created_at_ms: 5, body: serde_json::json!({"feature": "CUSTOM_LABELS"}) }
}

fn projects_are_scoped_updated_and_deleted_with_their_items(store: &dyn Store) {
    let (a, b) = (scope("111111111111"), scope("222222222222"));
    for name in ["b", "a", "c"] {
        assert!(store.insert_project(&a, &project(name)).unwrap());
    }
    assert!(!store.insert_project(&a, &project("a")).unwrap(), "a name is taken once per scope");
    assert!(store.insert_project(&b, &project("a")).unwrap());
    let names = |list: Vec<ProjectRecord>| list.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_projects(&a, None, 2).unwrap()), ["a", "b"]);
    assert_eq!(names(store.list_projects(&a, Some("b"), 2).unwrap()), ["c"]);
    assert_eq!(names(store.list_projects(&b, None, 10).unwrap()), ["a"]);
    let mut all = Vec::new();
    store.each_project(&mut |s, p| all.push((s.account_id.clone(), p.name.clone()))).unwrap();
    assert_eq!(all.len(), 4);

    let changed = store
        .update_project(&a, "b", &mut |p| {
            p.body["status"] = "TRAINING".into();
            Update::Commit
        })
        .unwrap()
        .unwrap();
    assert_eq!(changed.body["status"], "TRAINING");
    store
        .update_project(&a, "b", &mut |p| {
            p.body["status"] = "LOST".into();
            Update::Abort
        })
        .unwrap();
    assert_eq!(store.project(&a, "b").unwrap().unwrap().body["status"], "TRAINING");
    assert!(store.update_project(&a, "missing", &mut |_| Update::Commit).unwrap().is_none());

    store.put_project_item(&a, "b", "dataset/TRAIN", Some(b"one")).unwrap();
    store.put_project_item(&a, "b", "dataset/TRAIN", Some(b"two")).unwrap();
    store.put_project_item(&a, "b", "model/v1", Some(&[0u8; 70_000])).unwrap();
    store.put_project_item(&b, "a", "dataset/TRAIN", Some(b"other account")).unwrap();
    assert_eq!(store.project_item(&a, "b", "dataset/TRAIN").unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(store.project_item(&a, "b", "model/v1").unwrap().map(|v| v.len()), Some(70_000));
    store.put_project_item(&a, "b", "model/v1", None).unwrap();
    assert_eq!(store.project_item(&a, "b", "model/v1").unwrap(), None);
    assert_eq!(store.project_item(&a, "a", "dataset/TRAIN").unwrap(), None);

    assert!(store.delete_project(&a, "b").unwrap());
    assert!(!store.delete_project(&a, "b").unwrap());
    assert_eq!(store.project(&a, "b").unwrap(), None);
    assert!(store.insert_project(&a, &project("b")).unwrap());
    assert_eq!(store.project_item(&a, "b", "dataset/TRAIN").unwrap(), None, "items go with their project");
    assert_eq!(store.project_item(&b, "a", "dataset/TRAIN").unwrap().as_deref(), Some(&b"other account"[..]));
}

fn concurrent_writers_lose_nothing(store: Arc<dyn Store>) {
    let s = scope("111111111111");
    store.insert_collection(&s, &collection("c")).unwrap();
    // Eight writers each add 25 faces, one transaction each, taking the next key from the record: every
    // face is kept, no key twice.
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (store, s) = (store.clone(), s.clone());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store
                        .write_collection(&s, "c", &mut |w| {
                            let key = w.collection().next_face_key;
                            w.put_face(&face(key), Some(&vector(key)))?;
                            let record = w.collection();
                            record.next_face_key += 1;
                            record.face_count += 1;
                            record.vector_changes += 1;
                            Ok(Update::Commit)
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    // Meanwhile, two request tokens are raced for by four threads each: one job per token.
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let (store, s) = (store.clone(), s.clone());
            std::thread::spawn(move || {
                let token = format!("op/token-{}", n % 2);
                store.insert_job(&s, &job(&format!("racer-{n}")), Some((&token, &request(&token))), 20).unwrap()
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let record = store.collection(&s, "c").unwrap().unwrap();
    assert_eq!((record.face_count, record.next_face_key, record.vector_changes), (200, 200, 200));
    let mut keys = HashSet::new();
    store.scan_vectors(&s, "c", 0, &mut |key, _| assert!(keys.insert(key))).unwrap();
    assert_eq!(keys.len(), 200);
    let inserted = racers.into_iter().map(|r| r.join().unwrap()).filter(|r| *r == JobInsert::Inserted).count();
    assert_eq!(inserted, 2);
}

/// A PostgreSQL database of its own for one check, dropped afterwards.
struct TestDatabase {
    admin: String,
    name: String,
    store: Option<Arc<PostgresStore>>,
}

impl TestDatabase {
    fn new() -> TestDatabase {
        let admin = std::env::var("REKO_TEST_DATABASE_URL")
            .expect("REKO_TEST_DATABASE_URL must name a PostgreSQL server (scripts/test starts one)");
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("reko_conformance_{}_{stamp}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = database_url(&admin, &name);
        let store = PostgresStore::connect(&PostgresSettings::new(url)).unwrap();
        TestDatabase { admin, name, store: Some(Arc::new(store)) }
    }

    fn store(&self) -> Arc<PostgresStore> {
        self.store.clone().unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.store.take();
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `url` with its database replaced by `name`.
fn database_url(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

fn embedded() -> (tempfile::TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap().with_disk_reserve(0);
    (dir, Arc::new(store))
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[test]
                fn $check() {
                    let (_dir, store) = super::embedded();
                    super::$check(&*store);
                }
            )*

            #[test]
            fn concurrent_writers_lose_nothing() {
                let (_dir, store) = super::embedded();
                super::concurrent_writers_lose_nothing(store);
            }
        }

        mod on_postgres {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: REKO_TEST_DATABASE_URL (scripts/test starts one)"]
                fn $check() {
                    let db = super::TestDatabase::new();
                    super::$check(&*db.store());
                }
            )*

            #[test]
            #[ignore = "needs PostgreSQL: REKO_TEST_DATABASE_URL (scripts/test starts one)"]
            fn concurrent_writers_lose_nothing() {
                let db = super::TestDatabase::new();
                super::concurrent_writers_lose_nothing(db.store());
            }
        }
    };
}

conformance!(
    collections_are_scoped_and_paged_in_byte_order,
    updates_commit_or_abort,
    a_collection_write_is_atomic_and_sees_its_own_writes,
    faces_and_vectors_read_back_in_order,
    deleting_a_large_collection_removes_everything_in_it,
    jobs_keep_tokens_limits_and_results,
    expiry_removes_old_finished_jobs_and_tokens_only,
    the_outbox_is_written_with_the_finished_job_and_leased,
    projects_are_scoped_updated_and_deleted_with_their_items,
);

#[test]
fn database_urls_get_their_database_replaced() {
    assert_eq!(database_url("postgres://reko@127.0.0.1:5432/postgres", "t"), "postgres://reko@127.0.0.1:5432/t");
    assert_eq!(database_url("postgres://u:p@h/db?sslmode=disable", "t"), "postgres://u:p@h/t?sslmode=disable");
    assert_eq!(database_url("postgresql://h", "t"), "postgresql://h/t");
}
