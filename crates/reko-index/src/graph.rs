//! The approximate mode: an HNSW graph over quantised vectors, kept by USearch (a maintained C++ library
//! reached through its safe `cxx` bindings).
//!
//! USearch owns the vectors (quantised to the [`Quantization`] configured), the key → slot map and the
//! graph. This module keeps its sharp edges away from [`crate::VectorIndex`]: capacity must be reserved
//! before adding, a key must be removed before it is added again, and each concurrent operation needs one
//! of a fixed number of thread contexts (a semaphore here makes extra callers wait rather than fail).
//!
//! Removal does not use USearch's own: that frees the slot, and the next insertion reuses it and overwrites
//! its links, so nodes reachable only through the removed one drop out of every search (measured: 1 to 6 of
//! 1,000 vectors no longer found even at expansion 512 after a third were removed and re-inserted). A
//! removed entry is *retired* instead: renamed to a key at or above [`RETIRED_KEYS`], it keeps routing
//! searches and is filtered out of their results. [`crate::VectorIndex`] rebuilds the graph from the live
//! vectors once retired entries reach half the live ones.

use std::path::Path;
use std::sync::{Condvar, Mutex};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::{Hit, IndexConfig, IndexError, Quantization};

/// Keys from here up name retired entries; callers' keys stay below.
pub(crate) const RETIRED_KEYS: u64 = 1 << 63;

fn is_live(key: u64) -> bool {
    key < RETIRED_KEYS
}

/// An HNSW index of unit vectors under the cosine metric.
pub(crate) struct Graph {
    index: Index,
    /// The key the next removed entry is renamed to: removed entries still in the graph are keyed
    /// `RETIRED_KEYS..next_retired`.
    next_retired: u64,
    /// How `index` stores vectors (i8 vectors are quantised here, see [`quantize_i8`]).
    quantization: Quantization,
    /// Thread contexts reserved in `index`, handed out by `contexts`.
    threads: usize,
    /// Free thread contexts.
    contexts: Mutex<usize>,
    released: Condvar,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("size", &self.index.size())
            .field("capacity", &self.index.capacity())
            .field("connectivity", &self.index.connectivity())
            .field("expansion_add", &self.index.expansion_add())
            .field("expansion_search", &self.index.expansion_search())
            .field("retired", &self.retired())
            .finish()
    }
}

fn graph_error(error: impl std::fmt::Display) -> IndexError {
    IndexError::Graph(error.to_string())
}

fn scalar_kind(quantization: Quantization) -> ScalarKind {
    match quantization {
        Quantization::F32 => ScalarKind::F32,
        Quantization::F16 => ScalarKind::F16,
        Quantization::I8 => ScalarKind::I8,
    }
}

impl Graph {
    /// An empty graph with room for `capacity` vectors.
    pub(crate) fn new(config: &IndexConfig, capacity: usize) -> Result<Graph, IndexError> {
        let options = IndexOptions {
            dimensions: config.dim,
            metric: MetricKind::Cos,
            quantization: scalar_kind(config.quantization),
            connectivity: config.connectivity,
            expansion_add: config.expansion_add,
            expansion_search: config.expansion_search,
            multi: false,
        };
        let index = Index::new(&options).map_err(graph_error)?;
        let graph = Graph::wrap(index, config);
        graph.reserve(capacity.max(1))?;
        Ok(graph)
    }

    /// Reads a graph written by [`Graph::save`]; its dimension, quantisation and connectivity come from
    /// the file, the search expansion and concurrency from `config`.
    pub(crate) fn load(path: &Path, config: &IndexConfig) -> Result<Graph, IndexError> {
        let path = path.to_str().ok_or_else(|| IndexError::Snapshot("snapshot path is not UTF-8".into()))?;
        let metadata = Index::metadata(path)
            .map_err(|error| IndexError::Snapshot(format!("{path} is not an index snapshot ({error})")))?;
        if metadata.dimensions as usize != config.dim {
            return Err(IndexError::Snapshot(format!(
                "snapshot holds {}-dimensional vectors, the index is configured for {}",
                metadata.dimensions, config.dim
            )));
        }
        if metadata.multi || metadata.metric != MetricKind::Cos {
            return Err(IndexError::Snapshot("snapshot was not written by reko-index".into()));
        }
        if metadata.count_deleted > 0 {
            // Only USearch's own removal (which earlier versions used) leaves freed slots.
            return Err(IndexError::Snapshot("snapshot holds freed slots: written by an older reko-index".into()));
        }
        let index = Index::new(&metadata.into()).map_err(graph_error)?;
        index.load(path).map_err(graph_error)?;
        index.change_expansion_search(config.expansion_search);
        index.change_expansion_add(config.expansion_add);
        let mut graph = Graph::wrap(index, config);
        // A graph retires keys RETIRED_KEYS, RETIRED_KEYS + 1, ... in turn (a rebuilt graph starts over).
        while graph.index.contains(graph.next_retired) {
            graph.next_retired += 1;
        }
        graph.reserve(graph.index.capacity().max(graph.index.size() + 1))?;
        Ok(graph)
    }

    fn wrap(index: Index, config: &IndexConfig) -> Graph {
        let threads = config.concurrency.max(1);
        let quantization = match index.scalar_kind() {
            ScalarKind::I8 => Quantization::I8,
            ScalarKind::F16 => Quantization::F16,
            _ => Quantization::F32,
        };
        Graph {
            index,
            next_retired: RETIRED_KEYS,
            quantization,
            threads,
            contexts: Mutex::new(threads),
            released: Condvar::new(),
        }
    }

    pub(crate) fn save(&self, path: &Path) -> Result<(), IndexError> {
        let path = path.to_str().ok_or_else(|| IndexError::Snapshot("snapshot path is not UTF-8".into()))?;
        self.index.save(path).map_err(graph_error)
    }

    fn reserve(&self, capacity: usize) -> Result<(), IndexError> {
        self.index.reserve_capacity_and_threads(capacity, self.threads).map_err(graph_error)
    }

    /// Makes room for `additional` more vectors, growing geometrically.
    pub(crate) fn reserve_additional(&self, additional: usize) -> Result<(), IndexError> {
        // Slots in use: live and retired entries.
        let needed = self.index.size() + additional;
        let capacity = self.index.capacity();
        if needed > capacity {
            self.reserve(needed.max(capacity + capacity / 2).max(64))?;
        }
        Ok(())
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.index.size() - self.retired()
    }

    /// Removed entries still in the graph.
    fn retired(&self) -> usize {
        (self.next_retired - RETIRED_KEYS) as usize
    }

    /// Whether retired entries have grown to half the live ones (and past a thousand): then searches
    /// wade through too many of them and the graph is worth rebuilding.
    pub(crate) fn needs_rebuild(&self) -> bool {
        self.retired() > 1024 && self.retired() * 2 > self.len()
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        is_live(key) && self.index.contains(key)
    }

    /// Adds a key that is not in the graph; room must have been reserved. Callable from several threads.
    pub(crate) fn add_new(&self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        let _context = self.context();
        match self.quantization {
            Quantization::I8 => self.index.add(key, &quantize_i8(vector)),
            _ => self.index.add(key, vector),
        }
        .map_err(graph_error)
    }

    /// Adds or replaces `key`.
    pub(crate) fn insert(&mut self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        self.remove(key)?;
        self.reserve_additional(1)?;
        self.add_new(key, vector)
    }

    /// Retires `key` (see the module documentation); `false` when it was not there.
    pub(crate) fn remove(&mut self, key: u64) -> Result<bool, IndexError> {
        if !self.contains(key) {
            return Ok(false);
        }
        self.index.rename(key, self.next_retired).map_err(graph_error)?;
        self.next_retired += 1;
        Ok(true)
    }

    pub(crate) fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let _context = self.context();
        let matches = match self.quantization {
            Quantization::I8 => self.index.filtered_search(&quantize_i8(query), k, is_live),
            _ => self.index.filtered_search(query, k, is_live),
        }
        .map_err(graph_error)?;
        Ok(matches
            .keys
            .iter()
            .zip(&matches.distances)
            .map(|(&key, &distance)| Hit { key, cosine: 1.0 - distance })
            .collect())
    }

    /// Every live key.
    pub(crate) fn keys(&self) -> Vec<u64> {
        let mut keys = crate::graph_ok(self.all_keys());
        keys.retain(|&key| is_live(key));
        keys
    }

    /// Every key, live and retired (an exhaustive search from the origin lists them all).
    fn all_keys(&self) -> Result<Vec<u64>, IndexError> {
        let query = vec![0.0f32; self.index.dimensions()];
        let _context = self.context();
        Ok(self.index.exact_search(&query, self.index.size()).map_err(graph_error)?.keys)
    }

    /// Every live key with its (dequantised) vector, for leaving the approximate mode.
    pub(crate) fn export(&self) -> Result<(Vec<u64>, Vec<f32>), IndexError> {
        let dim = self.index.dimensions();
        let mut keys = self.all_keys()?;
        keys.retain(|&key| is_live(key));
        let mut vectors = vec![0.0f32; keys.len() * dim];
        let mut quantized = vec![0i8; dim];
        for (row, &key) in keys.iter().enumerate() {
            let vector = &mut vectors[row * dim..(row + 1) * dim];
            match self.quantization {
                Quantization::I8 => {
                    self.index.get(key, &mut quantized).map_err(graph_error)?;
                    vector.iter_mut().zip(&quantized).for_each(|(x, &q)| *x = f32::from(q));
                }
                _ => {
                    self.index.get(key, vector).map_err(graph_error)?;
                }
            }
            // Dequantised vectors have their own scale, and are off unit length by the rounding.
            let norm = crate::dot(vector, vector).sqrt();
            if norm > 0.0 {
                vector.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok((keys, vectors))
    }

    /// The bytes in use: the arenas holding the nodes (key, level, links) and the vectors, less their
    /// untouched tails, plus what USearch keeps per slot of capacity (a node pointer, a vector pointer and
    /// a key → slot hash entry at about half load) and per thread context (a visited-set bit per slot).
    ///
    /// USearch's own `memory_usage()` counts the untouched arena tails and a 64-byte allocator overhead
    /// per node that its arenas do not have, overstating the resident size by half or more.
    pub(crate) fn memory_bytes(&self) -> usize {
        let stats = self.index.memory_stats();
        let arenas = stats.graph_allocated - stats.graph_reserved + stats.vectors_allocated - stats.vectors_reserved;
        let capacity = self.index.capacity();
        arenas + capacity * (8 + 8 + 2 * 16) + self.threads * capacity / 8
    }

    pub(crate) fn set_expansion_search(&self, expansion: usize) {
        self.index.change_expansion_search(expansion);
    }

    /// Waits for one of the reserved thread contexts.
    fn context(&self) -> ContextGuard<'_> {
        let mut free = self.contexts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *free -= 1;
        ContextGuard { graph: self }
    }
}

/// Scales `vector` so that its largest component is ±127 and rounds to the nearest.
///
/// USearch's own f32 → i8 cast scales unit vectors by 127 and truncates towards zero: for 192-dimensional
/// embeddings (components around ±0.07, rarely beyond ±0.3) that wastes most of the range and biases every
/// component. The cosine metric divides by both norms, so each vector may have its own scale.
pub(crate) fn quantize_i8(vector: &[f32]) -> Vec<i8> {
    let largest = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if largest <= 0.0 {
        return vec![0; vector.len()];
    }
    let scale = 127.0 / largest;
    vector.iter().map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8).collect()
}

struct ContextGuard<'a> {
    graph: &'a Graph,
}

impl Drop for ContextGuard<'_> {
    fn drop(&mut self) {
        *self.graph.contexts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
        self.graph.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8_quantisation_keeps_cosines_within_a_few_thousandths() {
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut unit = || {
            let v: Vec<f32> = (0..192)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let norm = crate::dot(&v, &v).sqrt();
            v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
        };
        let cosine_i8 = |a: &[i8], b: &[i8]| {
            let dot = |x: &[i8], y: &[i8]| x.iter().zip(y).map(|(&p, &q)| f32::from(p) * f32::from(q)).sum::<f32>();
            dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
        };
        for _ in 0..50 {
            let (a, b) = (unit(), unit());
            let exact = crate::dot(&a, &b);
            let approximate = cosine_i8(&quantize_i8(&a), &quantize_i8(&b));
            assert!((exact - approximate).abs() < 0.005, "{exact} vs {approximate}");
            assert!(quantize_i8(&a).iter().any(|&q| q.abs() == 127));
        }
        assert!(quantize_i8(&[0.0; 4]).iter().all(|&q| q == 0));
    }
}
