//! Collection scale through the service itself (store + index, no networks): IndexFaces' storing half
//! per request (one fsynced transaction each) and in bulk, SearchFaces latency and its recall against a
//! brute-force scan of the store, memory, and index start-up from a snapshot against a rebuild (with
//! SearchFaces answered during the rebuild).
//!
//! ```text
//! cd bench && cargo run --release --bin collection_scale -- --faces 100000
//! ```
//! Options: `--faces N` (100 000), `--single N` (requests of one face, 2 000), `--batch N` (faces per
//! bulk request, 100), `--queries N` (300), `--data DIR` (default: a temporary directory),
//! `--database-url URL` (the PostgreSQL store on that database, which should be empty, instead of the
//! embedded one; its size per face is reported too).
//!
//! Data: identities with 1–19 photos (10 on average) at 0.6–0.8 cosine to their identity, as in
//! `bench/index` (`bench/INDEX.md`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use reko_service::{NewFace, Scope, Service};
use reko_store::{EmbeddedStore, PostgresSettings, PostgresStore, Store};

const DIM: usize = 192;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-7), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    fn unit(&mut self) -> Vec<f32> {
        normalize((0..DIM).map(|_| self.gaussian()).collect())
    }
}

fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// A photo at cosine `c` to `centre`.
fn near(rng: &mut Rng, centre: &[f32], c: f32) -> Vec<f32> {
    let noise = rng.unit();
    let along: f32 = noise.iter().zip(centre).map(|(a, b)| a * b).sum();
    let orth = normalize(noise.iter().zip(centre).map(|(n, m)| n - along * m).collect());
    let s = (1.0 - c * c).sqrt();
    centre.iter().zip(&orth).map(|(m, o)| c * m + s * o).collect()
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (faces, single, batch, queries) =
        (arg("--faces", 100_000), arg("--single", 2_000), arg("--batch", 100), arg("--queries", 300));
    let args: Vec<String> = std::env::args().collect();
    let temporary = tempfile::tempdir()?;
    let data =
        args.iter().position(|a| a == "--data").map_or(temporary.path().to_owned(), |i| args[i + 1].clone().into());
    let scope = Scope { account_id: "000000000000".into(), region: "us-east-1".into() };
    let database = args.iter().position(|a| a == "--database-url").map(|i| args[i + 1].clone());
    let store: Arc<dyn Store> = match &database {
        Some(url) => Arc::new(PostgresStore::connect(&PostgresSettings::new(url.clone()))?),
        None => Arc::new(EmbeddedStore::open(&data)?),
    };
    let service = Service::new(store.clone()).with_index_snapshots(data.join("indexes"));
    service.create_collection(&scope, "scale", BTreeMap::new())?;

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut photos: Vec<Vec<f32>> = Vec::with_capacity(faces);
    let mut identities: Vec<Vec<f32>> = Vec::new();
    while photos.len() < faces {
        let identity = rng.unit();
        let count = 1 + (rng.next() % 19) as usize;
        for _ in 0..count.min(faces - photos.len()) {
            let c = 0.6 + 0.2 * rng.uniform();
            photos.push(near(&mut rng, &identity, c));
        }
        identities.push(identity);
    }
    let rss_before = rss_bytes();
    let new_face = |v: &Vec<f32>| NewFace { bounding_box: [0.2, 0.2, 0.4, 0.5], confidence: 99.9, vector: v.clone() };
    let mut face_ids = Vec::with_capacity(faces);

    // Bulk first (requests of `batch` faces, as from crowd photos), then single-face requests on top.
    let bulk = faces.saturating_sub(single);
    let started = Instant::now();
    for (n, chunk) in photos[..bulk].chunks(batch).enumerate() {
        let new: Vec<NewFace> = chunk.iter().map(new_face).collect();
        let (stored, _) =
            service.store_faces(&scope, "scale", &format!("{n:08x}-0000-4000-8000-000000000000"), None, &new)?;
        face_ids.extend(stored.into_iter().map(|f| f.face_id));
    }
    let bulk_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for (n, photo) in photos[bulk..].iter().enumerate() {
        let (stored, _) = service.store_faces(
            &scope,
            "scale",
            &format!("{n:08x}-0000-4000-9000-000000000000"),
            None,
            &[new_face(photo)],
        )?;
        face_ids.extend(stored.into_iter().map(|f| f.face_id));
    }
    let single_seconds = started.elapsed().as_secs_f64();
    let rss_after = rss_bytes();
    let index_bytes = service.index_memory_bytes();

    // SearchFaces (threshold 0, 10 matches) through the service against a brute-force scan of the store.
    let mut exact: Vec<(u64, Vec<f32>)> = Vec::with_capacity(faces);
    store.scan_vectors(&scope, "scale", 0, &mut |k, v| exact.push((k, v.to_vec())))?;
    let mut latencies = Vec::new();
    let (mut found, mut wanted) = (0usize, 0usize);
    for q in 0..queries {
        let i = (rng.next() as usize) % face_ids.len();
        let started = Instant::now();
        let matches = service.search_faces(&scope, "scale", &face_ids[i], 10, 0.0)?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let query = &photos[i];
        let mut scored: Vec<(f32, u64)> =
            exact.iter().map(|(k, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>(), *k)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        // The query face itself is left out of SearchFaces' answer.
        let truth: HashSet<u64> = scored.iter().skip(1).take(10).map(|(_, k)| *k).collect();
        let got: HashSet<u64> = matches.iter().map(|m| m.face.key).collect();
        found += truth.intersection(&got).count();
        wanted += truth.len();
        if q == 0 {
            eprintln!("first query: {} matches", matches.len());
        }
    }
    latencies.sort_by(f64::total_cmp);

    let started = Instant::now();
    service.save_indexes();
    let save_seconds = started.elapsed().as_secs_f64();
    drop(service);
    let restarted = Service::new(store.clone()).with_index_snapshots(data.join("indexes"));
    let started = Instant::now();
    restarted.warm_indexes()?;
    let snapshot_seconds = started.elapsed().as_secs_f64();
    // Changes after the last snapshot, then a "crash" (no save): the next start catches up.
    let behind = 1000.min(faces / 10);
    for (n, photo) in photos[..behind].iter().enumerate() {
        restarted.store_faces(
            &scope,
            "scale",
            &format!("{n:08x}-0000-4000-a000-000000000000"),
            None,
            &[new_face(photo)],
        )?;
    }
    restarted.delete_faces(&scope, "scale", &face_ids[..behind])?;
    drop(restarted);
    let caught_up = Service::new(store.clone()).with_index_snapshots(data.join("indexes"));
    let started = Instant::now();
    caught_up.warm_indexes()?;
    let catch_up_seconds = started.elapsed().as_secs_f64();
    drop(caught_up);
    // A rebuild with no snapshot, and SearchFaces meanwhile (the service scans the store instead of
    // waiting for the index): searches start a second into it and stop when it is over.
    let rebuilt = Service::new(store.clone());
    let (rebuild_seconds, during) = std::thread::scope(|threads| {
        let started = Instant::now();
        let service = &rebuilt;
        let rebuild = threads.spawn(move || service.warm_indexes().map(|_| started.elapsed().as_secs_f64()));
        std::thread::sleep(std::time::Duration::from_secs(1));
        let mut during = Vec::new();
        while !rebuild.is_finished() && during.len() < 20 {
            // The first `behind` faces were deleted above.
            let i = behind + (rng.next() as usize) % (face_ids.len() - behind);
            let searched = Instant::now();
            let matches = rebuilt.search_faces(&scope, "scale", &face_ids[i], 10, 0.0);
            let took = searched.elapsed().as_secs_f64() * 1000.0;
            if !rebuild.is_finished() {
                during.push(took);
            }
            matches.expect("a search during the rebuild");
        }
        (rebuild.join().expect("rebuild thread"), during)
    });
    let rebuild_seconds = rebuild_seconds?;
    let mut during = during;
    during.sort_by(f64::total_cmp);

    let backend = if database.is_some() { "PostgreSQL" } else { "redb" };
    println!("## Collection of {faces} faces through the service (store on {backend} + index, no networks)\n");
    println!("| what | figure |\n|---|---|");
    println!("| IndexFaces storing half, {batch} faces a request | {:.0} faces/s |", bulk as f64 / bulk_seconds);
    println!(
        "| IndexFaces storing half, one face a request (one fsynced transaction each) | {:.0} requests/s ({:.1} ms each) |",
        single as f64 / single_seconds,
        single_seconds * 1000.0 / single.max(1) as f64
    );
    println!(
        "| index memory (`memory_bytes`: graph and 8-bit vectors) | {:.0} B/face |",
        index_bytes as f64 / faces as f64
    );
    println!(
        "| RSS growth while indexing (index, redb's page cache, the bench's own face-id list, allocator) | {:.0} B/face |",
        (rss_after.saturating_sub(rss_before)) as f64 / faces as f64
    );
    println!(
        "| SearchFaces (10 matches, threshold 0), {queries} queries | p50 {:.2} ms, p99 {:.2} ms |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("| recall@10 against a brute-force scan of the store | {:.4} |", found as f64 / wanted.max(1) as f64);
    println!("| snapshot save | {save_seconds:.2} s |");
    println!("| start-up: index from its snapshot | {snapshot_seconds:.2} s |");
    println!(
        "| start-up: snapshot {behind} additions and {behind} deletions behind the store, caught up | {catch_up_seconds:.2} s |"
    );
    println!("| start-up: index rebuilt from the store (no snapshot) | {rebuild_seconds:.2} s |");
    if let Some(url) = &database {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        let bytes: i64 = client.query_one("SELECT pg_database_size(current_database())", &[])?.get(0);
        let tables: i64 = client
            .query_one(
                "SELECT sum(pg_total_relation_size(t))::bigint FROM unnest(ARRAY['faces', 'vectors', 'images']) AS t",
                &[],
            )?
            .get(0);
        println!(
            "| PostgreSQL storage: faces, vectors and images tables with their indexes (whole database) | {:.0} B/face ({:.0} B/face) |",
            tables as f64 / faces as f64,
            bytes as f64 / faces as f64
        );
    }
    if !during.is_empty() {
        println!(
            "| SearchFaces during that rebuild (a scan of the store), {} queries | p50 {:.0} ms, max {:.0} ms |",
            during.len(),
            percentile(&during, 0.5),
            during.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}
