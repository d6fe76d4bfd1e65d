//! Vector search over unit-length face embeddings, one [`VectorIndex`] per collection.
//!
//! The index is a cache of the store: it holds only keys and vectors, is rebuilt from the store when a
//! collection is first used, and answers "which keys are nearest to this vector". Callers read the
//! matched faces' records (and their exact vectors) from the store, so cosines returned here may be
//! approximate (quantised) and are re-ranked by the caller.

mod kernels;

pub use kernels::{dot, dot_scalar};

/// One search result: a stored key and its (possibly approximate) cosine to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: u64,
    pub cosine: f32,
}

/// How an index is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Vector length.
    pub dim: usize,
    /// Collections larger than this are searched approximately.
    pub approximate_above: usize,
}

impl IndexConfig {
    pub fn new(dim: usize) -> IndexConfig {
        IndexConfig { dim, approximate_above: 20_000 }
    }
}

/// The vectors of one collection.
#[derive(Debug, Clone)]
pub struct VectorIndex {
    config: IndexConfig,
    keys: Vec<u64>,
    /// `keys.len() * dim` values, row `i` belonging to `keys[i]`.
    vectors: Vec<f32>,
    /// key → row.
    rows: std::collections::HashMap<u64, usize>,
}

impl VectorIndex {
    pub fn new(config: IndexConfig) -> VectorIndex {
        VectorIndex { config, keys: Vec::new(), vectors: Vec::new(), rows: Default::default() }
    }

    pub fn dim(&self) -> usize {
        self.config.dim
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, key: u64) -> bool {
        self.rows.contains_key(&key)
    }

    /// Adds `vector` under `key`, replacing what the key held.
    ///
    /// # Panics
    /// If `vector` is not `dim` long.
    pub fn insert(&mut self, key: u64, vector: &[f32]) {
        assert_eq!(vector.len(), self.config.dim, "vector length");
        let dim = self.config.dim;
        match self.rows.get(&key) {
            Some(&row) => self.vectors[row * dim..(row + 1) * dim].copy_from_slice(vector),
            None => {
                self.rows.insert(key, self.keys.len());
                self.keys.push(key);
                self.vectors.extend_from_slice(vector);
            }
        }
    }

    /// Removes `key`; `false` when it was not there.
    pub fn remove(&mut self, key: u64) -> bool {
        let Some(row) = self.rows.remove(&key) else { return false };
        let dim = self.config.dim;
        let last = self.keys.len() - 1;
        if row != last {
            self.keys.swap(row, last);
            self.vectors.copy_within(last * dim..(last + 1) * dim, row * dim);
            self.rows.insert(self.keys[row], row);
        }
        self.keys.pop();
        self.vectors.truncate(last * dim);
        true
    }

    /// Up to `k` keys nearest to `query`, most similar first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        assert_eq!(query.len(), self.config.dim, "query length");
        let dim = self.config.dim;
        let mut hits: Vec<Hit> = self
            .keys
            .iter()
            .enumerate()
            .map(|(row, &key)| Hit { key, cosine: dot(query, &self.vectors[row * dim..(row + 1) * dim]) })
            .collect();
        let k = k.min(hits.len());
        if k == 0 {
            return Vec::new();
        }
        hits.select_nth_unstable_by(k - 1, |a, b| b.cosine.total_cmp(&a.cosine));
        hits.truncate(k);
        hits.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.key.cmp(&b.key)));
        hits
    }

    /// Bytes of memory the index holds (vectors, keys and maps), for the benchmarks.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * 4 + self.keys.capacity() * 8 + self.rows.capacity() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn search_finds_the_stored_vector_first_and_respects_removals() {
        let mut index = VectorIndex::new(IndexConfig::new(16));
        for key in 0..100 {
            index.insert(key, &unit(key, 16));
        }
        let hits = index.search(&unit(42, 16), 5);
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].key, 42);
        assert!((hits[0].cosine - 1.0).abs() < 1e-5);
        assert!(hits.windows(2).all(|w| w[0].cosine >= w[1].cosine));
        assert!(index.remove(42));
        assert!(!index.remove(42));
        assert_eq!(index.len(), 99);
        assert!(index.search(&unit(42, 16), 100).iter().all(|h| h.key != 42));
        let hit = index.search(&unit(99, 16), 1)[0];
        assert_eq!(hit.key, 99);
    }
}
