//! Whether deleting a large collection stalls the other writes: a writer adds one face at a time to a
//! small collection (one durable transaction each) while a collection of N faces is deleted; reports how
//! long the delete took and the writer's latency before and during it.
//!
//! ```text
//! cd bench && cargo run --release --bin delete_stall -- --faces 1000000
//! ```
//! Options: `--faces N` (1 000 000), `--purge-batch N` (the embedded store's records per transaction;
//! `0`: all in one transaction, as before batched deletes), `--database-url URL` (the PostgreSQL store on
//! that database, which should be empty, instead of the embedded one), `--data DIR` (default: a
//! temporary directory).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reko_store::{CollectionRecord, EmbeddedStore, FaceRecord, PostgresSettings, PostgresStore, Scope, Store, Update};

const DIM: usize = 192;
/// Faces written per transaction while the large collection is filled.
const FILL_BATCH: u64 = 10_000;

fn collection(id: &str) -> CollectionRecord {
    CollectionRecord::new(id, "bench", 1)
}

fn face(n: u64) -> FaceRecord {
    FaceRecord {
        face_id: format!("{:08x}-0000-4000-8000-{:012x}", n >> 32, n),
        key: n,
        image_id: format!("{n:036}"),
        external_image_id: Some(format!("photo-{n}.jpg")),
        bounding_box: [0.1, 0.2, 0.3, 0.4],
        confidence: 99.9,
        user_id: None,
        model_version: "bench".into(),
        created_at_ms: 1,
    }
}

/// Adds faces `range` to a collection in one transaction.
fn add(store: &dyn Store, scope: &Scope, id: &str, range: std::ops::Range<u64>) {
    let vector: Vec<f32> = (0..DIM).map(|i| (i as f32 / DIM as f32).sqrt()).collect();
    store
        .write_collection(scope, id, &mut |w| {
            for n in range.clone() {
                w.put_face(&face(n), Some(&vector))?;
                w.put_image_faces(&format!("{n:036}"), &[face(n).face_id])?;
            }
            w.collection().face_count += range.end - range.start;
            w.collection().next_face_key = range.end;
            w.collection().vector_changes += 1;
            Ok(Update::Commit)
        })
        .expect("faces are written");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(label: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{label}: {} writes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let faces: u64 = value("--faces").map_or(1_000_000, |v| v.parse().expect("--faces N"));
    let purge_batch: Option<usize> = value("--purge-batch").map(|v| v.parse().expect("--purge-batch N"));
    let temporary = tempfile::tempdir().expect("a temporary directory");
    let data = value("--data").map_or(temporary.path().to_owned(), Into::into);
    let store: Arc<dyn Store> = match value("--database-url") {
        Some(url) => Arc::new(PostgresStore::connect(&PostgresSettings::new(url)).expect("PostgreSQL")),
        None => {
            let mut store = EmbeddedStore::open(&data).expect("the embedded store");
            if let Some(batch) = purge_batch {
                store = store.with_purge_batch(if batch == 0 { usize::MAX } else { batch });
            }
            Arc::new(store)
        }
    };
    let scope = Scope { account_id: "111111111111".into(), region: "us-east-1".into() };
    store.insert_collection(&scope, &collection("big")).expect("a collection");
    store.insert_collection(&scope, &collection("small")).expect("a collection");
    let started = Instant::now();
    let mut next = 0;
    while next < faces {
        let end = (next + FILL_BATCH).min(faces);
        add(store.as_ref(), &scope, "big", next..end);
        next = end;
    }
    println!("filled: {faces} faces in {:.1} s", started.elapsed().as_secs_f64());

    // The writer: one face a transaction into the small collection, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<(Instant, Duration)>>> = Default::default();
    let writer = {
        let (store, scope, stop, log) = (store.clone(), scope.clone(), stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                add(store.as_ref(), &scope, "small", n..n + 1);
                log.lock().unwrap().push((began, began.elapsed()));
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(5));
    let delete_began = Instant::now();
    assert!(store.delete_collection(&scope, "big").expect("the delete"));
    let delete_took = delete_began.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("the writer");
    let log = log.lock().unwrap();
    let before: Vec<Duration> = log.iter().filter(|(t, _)| *t < delete_began).map(|(_, d)| *d).collect();
    // A write that began before the delete ended and finished after it began waited on it, or not.
    let during: Vec<Duration> = log
        .iter()
        .filter(|(t, d)| *t < delete_began + delete_took && *t + *d > delete_began)
        .map(|(_, d)| *d)
        .collect();
    println!("delete of {faces} faces: {:.2} s", delete_took.as_secs_f64());
    summary("one-face writes to another collection before the delete", before);
    summary("one-face writes to another collection during the delete", during);
    let recreate = Instant::now();
    assert!(store.insert_collection(&scope, &collection("big")).expect("a collection again"));
    assert!(store.list_faces(&scope, "big", None, 1).expect("a listing").is_empty());
    println!("made again (empty) in {:.3} s", recreate.elapsed().as_secs_f64());
}
