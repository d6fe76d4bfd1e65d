//! Unit tests of [`crate::VectorIndex`]: both modes, the switch between them, and snapshots.

use super::*;

const DIM: usize = 64;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Roughly normal: the sum of four uniforms, centred.
    fn normal(&mut self) -> f32 {
        (0..4).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum::<f32>() - 2.0
    }

    fn unit(&mut self, dim: usize) -> Vec<f32> {
        normalised((0..dim).map(|_| self.normal()).collect())
    }
}

fn normalised(v: Vec<f32>) -> Vec<f32> {
    let norm = dot_scalar(&v, &v).sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// A sample of the identity `centre`: about 0.7 cosine to it, like two photos of one face.
fn sample(rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
    let noise = rng.unit(centre.len());
    normalised(centre.iter().zip(&noise).map(|(c, n)| c + n).collect())
}

/// `identities * per_identity` clustered vectors, keyed 0.., and one fresh query per identity.
fn clustered(seed: u64, identities: usize, per_identity: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = Rng(seed | 1);
    let centres: Vec<Vec<f32>> = (0..identities).map(|_| rng.unit(DIM)).collect();
    let vectors = centres.iter().flat_map(|c| (0..per_identity).map(|_| sample(&mut rng, c)).collect::<Vec<_>>());
    let vectors = vectors.collect();
    let queries = centres.iter().map(|c| sample(&mut rng, c)).collect();
    (vectors, queries)
}

fn config(approximate_above: usize) -> IndexConfig {
    IndexConfig { approximate_above, build_threads: 2, ..IndexConfig::new(DIM) }
}

fn filled(config: IndexConfig, vectors: &[Vec<f32>]) -> VectorIndex {
    let mut index = VectorIndex::new(config);
    for (key, vector) in vectors.iter().enumerate() {
        index.insert(key as u64, vector);
    }
    index
}

fn keys(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|hit| hit.key).collect()
}

/// The share of the exact top `k` found in the approximate top `k`.
fn recall(exact: &VectorIndex, approximate: &VectorIndex, queries: &[Vec<f32>], k: usize) -> f64 {
    let found: usize = queries
        .iter()
        .map(|query| {
            let truth = keys(&exact.search(query, k));
            approximate.search(query, k).iter().filter(|hit| truth.contains(&hit.key)).count()
        })
        .sum();
    found as f64 / (queries.len() * k) as f64
}

#[test]
fn keys_lists_what_the_exact_index_holds() {
    let mut rng = Rng(5);
    let mut index = VectorIndex::new(IndexConfig::new(16));
    for key in [9u64, 3, 7] {
        index.insert(key, &rng.unit(16));
    }
    index.remove(3);
    let mut keys = index.keys();
    keys.sort_unstable();
    assert_eq!(keys, [7, 9]);
}

#[test]
fn exact_search_finds_the_stored_vector_first_and_respects_removals() {
    let mut rng = Rng(3);
    let vectors: Vec<Vec<f32>> = (0..100).map(|_| rng.unit(16)).collect();
    let mut index = VectorIndex::new(IndexConfig::new(16));
    for (key, vector) in vectors.iter().enumerate() {
        index.insert(key as u64, vector);
    }
    let hits = index.search(&vectors[42], 5);
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].key, 42);
    assert!((hits[0].cosine - 1.0).abs() < 1e-5);
    assert!(hits.windows(2).all(|w| w[0].cosine >= w[1].cosine));
    assert!(index.remove(42));
    assert!(!index.remove(42));
    assert_eq!(index.len(), 99);
    assert!(index.search(&vectors[42], 100).iter().all(|h| h.key != 42));
    assert_eq!(index.search(&vectors[99], 1)[0].key, 99);
    assert!(index.search(&vectors[0], 0).is_empty());
    assert_eq!(index.search(&vectors[0], 1000).len(), 99);
}

#[test]
fn approximate_search_recalls_the_exact_top_ten() {
    let (vectors, queries) = clustered(1, 400, 10);
    let exact = filled(config(usize::MAX), &vectors);
    let approximate = filled(config(500), &vectors);
    assert!(!exact.is_approximate());
    assert!(approximate.is_approximate());
    assert_eq!(approximate.len(), vectors.len());
    let recall_at_10 = recall(&exact, &approximate, &queries, 10);
    assert!(recall_at_10 >= 0.97, "recall@10 {recall_at_10}");
    // Callers re-rank a margin of extra hits with exact vectors: the exact top 10 is then all there.
    let found: usize = queries
        .iter()
        .map(|query| {
            let candidates = keys(&approximate.search(query, 20));
            exact.search(query, 10).iter().filter(|hit| candidates.contains(&hit.key)).count()
        })
        .sum();
    let recall_with_margin = found as f64 / (queries.len() * 10) as f64;
    assert!(recall_with_margin >= 0.99, "recall@10 from 20 candidates {recall_with_margin}");
    // Quantised cosines stay close to the exact ones.
    for query in &queries[..20] {
        for hit in approximate.search(query, 5) {
            let truth = dot(query, &vectors[hit.key as usize]);
            assert!((hit.cosine - truth).abs() < 0.02, "{} vs {truth}", hit.cosine);
        }
    }
}

#[test]
fn the_mode_follows_the_size_and_keeps_every_vector() {
    let (vectors, _) = clustered(2, 100, 6);
    let mut index = VectorIndex::new(config(400));
    for (key, vector) in vectors.iter().enumerate().take(400) {
        index.insert(key as u64, vector);
    }
    assert!(!index.is_approximate());
    index.insert(400, &vectors[400]);
    assert!(index.is_approximate(), "turns approximate above the threshold");
    for (key, vector) in vectors.iter().enumerate().skip(401) {
        index.insert(key as u64, vector);
    }
    assert_eq!(index.len(), 600);
    // Down below the threshold: still approximate until half of it.
    for key in 0..399 {
        assert!(index.remove(key));
    }
    assert!(index.is_approximate());
    assert!(index.remove(399));
    assert!(!index.is_approximate(), "back to exact at half the threshold");
    assert_eq!(index.len(), 200);
    for (key, vector) in vectors.iter().enumerate() {
        let key = key as u64;
        assert_eq!(index.contains(key), key >= 400);
        if key >= 400 {
            // Vectors came back through the quantised graph: still the nearest to themselves.
            let best = index.search(vector, 1)[0];
            assert_eq!(best.key, key);
            assert!(best.cosine > 0.98, "{}", best.cosine);
        }
    }
}

#[test]
fn insert_replaces_and_remove_forgets_in_the_approximate_mode() {
    let (vectors, queries) = clustered(3, 100, 10);
    let mut index = filled(config(100), &vectors);
    assert!(index.is_approximate());
    // Replace key 7's vector by an identity's query: it is now that query's nearest.
    index.insert(7, &queries[50]);
    assert_eq!(index.len(), vectors.len());
    assert_eq!(index.search(&queries[50], 1)[0].key, 7);
    assert_ne!(index.search(&vectors[7], 1)[0].key, 7);
    // Removed keys never come back, whatever k.
    for key in (0..1000).step_by(3) {
        assert!(index.remove(key));
    }
    assert!(!index.remove(0));
    assert_eq!(index.len(), 1000 - 334);
    let mut keys = index.keys();
    keys.sort_unstable();
    assert_eq!(keys, (0..1000u64).filter(|k| k % 3 != 0).collect::<Vec<_>>());
    for query in &queries {
        let hits = index.search(query, 50);
        assert_eq!(hits.len(), 50);
        assert!(hits.iter().all(|hit| hit.key % 3 != 0), "a removed key was returned");
        assert!(hits.windows(2).all(|w| w[0].cosine >= w[1].cosine));
    }
    // Re-inserting reuses the freed slots and the keys are found again.
    for key in (0..1000).step_by(3) {
        index.insert(key, &vectors[key as usize]);
    }
    assert_eq!(index.len(), 1000);
    let found = (0..1000u64).filter(|&key| index.search(&vectors[key as usize], 1)[0].key == key).count();
    // All but key 7, whose vector was replaced.
    assert!(found >= 998, "{found} of 1000 vectors are their own nearest");
}

#[test]
fn a_parallel_build_strands_no_vector() {
    let (vectors, _) = clustered(5, 200, 10);
    let keys: Vec<u64> = (0..2000).collect();
    let mut index = VectorIndex::new(config(100));
    index.insert_batch(&keys, &vectors.concat());
    assert!(index.is_approximate());
    let missed: Vec<u64> =
        keys.iter().copied().filter(|&key| index.search(&vectors[key as usize], 1)[0].key != key).collect();
    // Without the repair 70 to 100 are missed; with it, none in most builds and at most 2 in 60 trials (HNSW's
    // pruning can leave a node of these tight, mutually orthogonal clusters without an incoming link).
    assert!(missed.len() <= 4, "not found by their own vector: {missed:?}");
}

#[test]
fn removed_entries_keep_routing_until_the_graph_is_rebuilt() {
    let (vectors, queries) = clustered(6, 300, 10);
    let mut index = filled(config(100), &vectors);
    // Remove two thirds: the retired entries outnumber half the live ones, so the graph is rebuilt on the way.
    for key in 0..3000u64 {
        if key % 3 != 0 {
            assert!(index.remove(key));
        }
    }
    assert_eq!(index.len(), 1000);
    let mut keys = index.keys();
    keys.sort_unstable();
    assert_eq!(keys, (0..3000u64).step_by(3).collect::<Vec<_>>());
    let found = (0..3000u64).step_by(3).filter(|&key| index.search(&vectors[key as usize], 1)[0].key == key).count();
    assert!(found >= 998, "{found} of the 1000 kept vectors are their own nearest");
    for query in &queries {
        assert!(index.search(query, 20).iter().all(|hit| hit.key % 3 == 0));
    }
    // A snapshot keeps the retired entries out of sight.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph");
    index.remove(3);
    index.save(&path).unwrap();
    let loaded = VectorIndex::load(&path, config(100)).unwrap();
    assert_eq!(loaded.len(), 999);
    assert!(!loaded.contains(3));
    assert!(loaded.keys().iter().all(|&key| key % 3 == 0 && key != 3));
}

#[test]
fn insert_batch_matches_inserting_one_by_one() {
    let (vectors, queries) = clustered(4, 100, 10);
    let flat: Vec<f32> = vectors.concat();
    let keys: Vec<u64> = (0..1000).collect();
    // First batch stays exact, the second crosses the threshold and repeats keys, within and across batches.
    let mut batched = VectorIndex::new(config(600));
    batched.insert_batch(&keys[..500], &flat[..500 * DIM]);
    assert!(!batched.is_approximate());
    let mut second_keys = keys[500..].to_vec();
    let mut second_vectors = flat[500 * DIM..].to_vec();
    second_keys.extend([3, 700]);
    second_vectors.extend_from_slice(&queries[0]);
    second_vectors.extend_from_slice(&queries[1]);
    batched.insert_batch(&second_keys, &second_vectors);
    assert!(batched.is_approximate());
    assert_eq!(batched.len(), 1000);
    assert_eq!(batched.search(&queries[0], 1)[0].key, 3);
    assert_eq!(batched.search(&queries[1], 1)[0].key, 700);
    // A batch into an approximate index.
    batched.insert_batch(&[1000, 3], &[queries[2].clone(), vectors[3].clone()].concat());
    assert_eq!(batched.len(), 1001);
    assert_eq!(batched.search(&queries[2], 1)[0].key, 1000);
    assert_eq!(batched.search(&vectors[3], 1)[0].key, 3);
}

#[test]
fn snapshots_round_trip_in_both_modes() {
    let directory = tempfile::tempdir().unwrap();
    let (vectors, queries) = clustered(5, 100, 10);
    for threshold in [5000, 300] {
        let mut index = filled(config(threshold), &vectors);
        index.remove(17);
        let path = directory.path().join(format!("index-{threshold}.snapshot"));
        index.save(&path).unwrap();
        let loaded = VectorIndex::load(&path, config(threshold)).unwrap();
        assert_eq!(loaded.is_approximate(), threshold == 300);
        assert_eq!(loaded.len(), 999);
        assert!(!loaded.contains(17) && loaded.contains(18));
        for query in &queries {
            assert_eq!(loaded.search(query, 10), index.search(query, 10));
        }
        // Loaded under another threshold, the snapshot takes the mode that threshold calls for.
        let other = VectorIndex::load(&path, config(if threshold == 300 { 5000 } else { 300 })).unwrap();
        assert_eq!(other.is_approximate(), threshold != 300);
        assert_eq!(other.search(&vectors[18], 1)[0].key, 18);
        // A loaded graph still takes inserts and removals.
        let mut loaded = loaded;
        loaded.insert(5000, &queries[9]);
        assert_eq!(loaded.search(&queries[9], 1)[0].key, 5000);
        assert!(loaded.remove(5000));
        assert!(!dir_has_temporary_files(directory.path()));
    }
    let path = directory.path().join("index-300.snapshot");
    let wrong_dim = VectorIndex::load(&path, IndexConfig::new(DIM * 2)).unwrap_err();
    assert!(wrong_dim.to_string().contains("dimensional"), "{wrong_dim}");
    let wrong_dim = VectorIndex::load(&directory.path().join("index-5000.snapshot"), IndexConfig::new(8));
    assert!(matches!(wrong_dim, Err(IndexError::Snapshot(_))));
    let garbage = directory.path().join("garbage");
    std::fs::write(&garbage, b"not an index at all").unwrap();
    assert!(matches!(VectorIndex::load(&garbage, config(300)), Err(IndexError::Snapshot(_))));
    let truncated = directory.path().join("truncated");
    std::fs::write(&truncated, &std::fs::read(directory.path().join("index-5000.snapshot")).unwrap()[..100]).unwrap();
    assert!(matches!(VectorIndex::load(&truncated, config(5000)), Err(IndexError::Io(_))));
    assert!(matches!(VectorIndex::load(&directory.path().join("missing"), config(300)), Err(IndexError::Io(_))));
}

fn dir_has_temporary_files(directory: &Path) -> bool {
    std::fs::read_dir(directory).unwrap().any(|entry| entry.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
}

#[test]
fn memory_is_reported_in_both_modes() {
    let (vectors, _) = clustered(6, 100, 10);
    let exact = filled(config(5000), &vectors);
    assert!(exact.memory_bytes() >= 1000 * DIM * 4);
    let approximate = filled(config(300), &vectors);
    // i8 vectors plus at least the base-level links.
    assert!(approximate.memory_bytes() >= 1000 * (DIM + 2 * 16 * 4));
}
