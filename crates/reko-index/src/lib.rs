//! Vector search over unit-length face embeddings, one [`VectorIndex`] per collection.
//!
//! The index is a cache of the store: it holds only keys and vectors, is rebuilt from the store (or
//! reloaded from a snapshot written by [`VectorIndex::save`]) when a collection is first used, and answers
//! "which keys are nearest to this vector". Callers read the matched faces' records (and their exact
//! vectors) from the store, so cosines returned here may be approximate (quantised) and are re-ranked by
//! the caller, who asks for a few more hits than it needs.
//!
//! Two modes, switched transparently as the collection grows and shrinks:
//! - **exact** (up to [`IndexConfig::approximate_above`] vectors): f32 vectors scanned in full with the
//!   vectorised kernel of [`kernels`];
//! - **approximate** (above it): an HNSW graph over quantised vectors ([`graph`], backed by USearch).
//!   The index goes back to exact once it has shrunk to half the threshold, so that a collection hovering
//!   at the threshold does not rebuild its graph on every insert and removal.

mod flat;
mod graph;
mod kernels;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

pub use kernels::{dot, dot_scalar};

use flat::Flat;
use graph::Graph;

/// One search result: a stored key and its (possibly approximate) cosine to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: u64,
    pub cosine: f32,
}

/// How vectors are stored in the approximate mode (the exact mode always keeps f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// 4 bytes a dimension.
    F32,
    /// 2 bytes a dimension; cosines within about 1e-3.
    F16,
    /// 1 byte a dimension (each vector scaled so that its own largest component is ±127, then
    /// rounded); cosines within about 1e-2.
    I8,
}

/// How an index is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Vector length.
    pub dim: usize,
    /// Collections larger than this are searched approximately.
    pub approximate_above: usize,
    /// Storage of the vectors in the approximate mode.
    pub quantization: Quantization,
    /// HNSW `M`: links per node on the upper levels (twice as many on the base level). More links raise
    /// recall and memory (about 8 bytes a face per unit of `M`).
    pub connectivity: usize,
    /// HNSW `ef_construction`: candidates examined per insertion. Higher builds slower and better graphs.
    pub expansion_add: usize,
    /// HNSW `ef_search`: candidates examined per search (at least `k`). Higher searches slower, with
    /// higher recall.
    pub expansion_search: usize,
    /// Most searches and inserts running at once in the approximate mode; more callers wait their turn.
    pub concurrency: usize,
    /// Threads that build the graph when the index turns approximate or takes a batch; 0 means one per
    /// core.
    pub build_threads: usize,
}

impl IndexConfig {
    /// The defaults, tuned on 1 M clustered 192-dimensional faces (`bench/INDEX.md`).
    pub fn new(dim: usize) -> IndexConfig {
        IndexConfig {
            dim,
            approximate_above: 20_000,
            quantization: Quantization::I8,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            concurrency: 16,
            build_threads: 0,
        }
    }

    fn threads(&self) -> usize {
        match self.build_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(self.concurrency.max(1))
    }
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index snapshot i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("index snapshot: {0}")]
    Snapshot(String),
    #[error("graph index: {0}")]
    Graph(String),
}

/// The largest key an index takes.
pub const MAX_KEY: u64 = graph::RETIRED_KEYS - 1;

/// The vectors of one collection.
///
/// Keys are below [`MAX_KEY`] (the graph names removed entries with the keys above).
#[derive(Debug)]
pub struct VectorIndex {
    config: IndexConfig,
    storage: Storage,
}

#[derive(Debug)]
enum Storage {
    Exact(Flat),
    Approximate(Graph),
}

/// Graph operations fail only when memory runs out (capacity is reserved before each add, and keys are
/// removed before they are added again), which Rust treats as fatal everywhere else too.
fn graph_ok<T>(result: Result<T, IndexError>) -> T {
    result.unwrap_or_else(|error| panic!("vector index: {error}"))
}

impl VectorIndex {
    pub fn new(config: IndexConfig) -> VectorIndex {
        VectorIndex { config, storage: Storage::Exact(Flat::new(config.dim)) }
    }

    pub fn dim(&self) -> usize {
        self.config.dim
    }

    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Exact(flat) => flat.len(),
            Storage::Approximate(graph) => graph.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether searches currently go through the graph.
    pub fn is_approximate(&self) -> bool {
        matches!(self.storage, Storage::Approximate(_))
    }

    pub fn contains(&self, key: u64) -> bool {
        match &self.storage {
            Storage::Exact(flat) => flat.contains(key),
            Storage::Approximate(graph) => graph.contains(key),
        }
    }

    /// Every key the index holds, in no particular order.
    pub fn keys(&self) -> Vec<u64> {
        match &self.storage {
            Storage::Exact(flat) => flat.rows().map(|(key, _)| key).collect(),
            Storage::Approximate(graph) => graph.keys(),
        }
    }

    /// Adds `vector` under `key`, replacing what the key held.
    ///
    /// # Panics
    /// If `vector` is not `dim` long, or `key` is above [`MAX_KEY`].
    pub fn insert(&mut self, key: u64, vector: &[f32]) {
        assert_eq!(vector.len(), self.config.dim, "vector length");
        assert!(key <= MAX_KEY, "key {key} is above MAX_KEY");
        match &mut self.storage {
            Storage::Exact(flat) => flat.insert(key, vector),
            Storage::Approximate(graph) => graph_ok(graph.insert(key, vector)),
        }
        self.switch_mode();
    }

    /// Adds many vectors at once, as [`VectorIndex::insert`] of each in turn would, building the graph on
    /// [`IndexConfig::build_threads`] threads. `vectors` holds `keys.len()` rows of `dim` values.
    ///
    /// # Panics
    /// If `vectors` is not `keys.len() * dim` long, or a key is above [`MAX_KEY`].
    pub fn insert_batch(&mut self, keys: &[u64], vectors: &[f32]) {
        let dim = self.config.dim;
        assert_eq!(vectors.len(), keys.len() * dim, "vectors length");
        assert!(keys.iter().all(|&key| key <= MAX_KEY), "a key is above MAX_KEY");
        if let Storage::Exact(flat) = &mut self.storage {
            // Turn approximate first when the batch would carry the index over the threshold, so that
            // the whole batch is added in parallel.
            if flat.len() + keys.len() <= self.config.approximate_above {
                for (&key, vector) in keys.iter().zip(vectors.chunks_exact(dim)) {
                    flat.insert(key, vector);
                }
                return;
            }
            self.storage = Storage::Approximate(graph_ok(build_graph(&self.config, flat.rows(), flat.len())));
        }
        let Storage::Approximate(graph) = &mut self.storage else { unreachable!("turned approximate above") };
        // The last row of a repeated key wins; keys already present are replaced.
        let mut last_row = std::collections::HashMap::with_capacity(keys.len());
        for (row, &key) in keys.iter().enumerate() {
            last_row.insert(key, row);
        }
        for &key in last_row.keys() {
            graph_ok(graph.remove(key));
        }
        let rows = keys
            .iter()
            .zip(vectors.chunks_exact(dim))
            .enumerate()
            .filter(|(row, (key, _))| last_row[*key] == *row)
            .map(|(_, (&key, vector))| (key, vector));
        graph_ok(graph.reserve_additional(last_row.len()));
        graph_ok(add_in_parallel(graph, &self.config, rows));
        self.switch_mode();
    }

    /// Removes `key`; `false` when it was not there.
    pub fn remove(&mut self, key: u64) -> bool {
        let removed = match &mut self.storage {
            Storage::Exact(flat) => flat.remove(key),
            Storage::Approximate(graph) => graph_ok(graph.remove(key)),
        };
        self.switch_mode();
        removed
    }

    /// Up to `k` keys nearest to `query`, most similar first.
    ///
    /// # Panics
    /// If `query` is not `dim` long.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        assert_eq!(query.len(), self.config.dim, "query length");
        if k == 0 {
            return Vec::new();
        }
        match &self.storage {
            Storage::Exact(flat) => flat.search(query, k),
            Storage::Approximate(graph) => graph_ok(graph.search(query, k)),
        }
    }

    /// Changes [`IndexConfig::expansion_search`] (the recall / latency trade-off) in place.
    pub fn set_expansion_search(&mut self, expansion: usize) {
        self.config.expansion_search = expansion;
        if let Storage::Approximate(graph) = &self.storage {
            graph.set_expansion_search(expansion);
        }
    }

    /// Bytes of memory the index holds (vectors, keys, maps and graph links).
    pub fn memory_bytes(&self) -> usize {
        match &self.storage {
            Storage::Exact(flat) => flat.memory_bytes(),
            Storage::Approximate(graph) => graph.memory_bytes(),
        }
    }

    /// Writes a snapshot of the index to `path` (through a temporary file beside it, renamed over `path`
    /// once complete), for [`VectorIndex::load`] to restore without rebuilding the graph.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let mut temporary = PathBuf::from(path);
        temporary.as_mut_os_string().push(".tmp");
        match &self.storage {
            Storage::Exact(flat) => {
                let mut out = BufWriter::new(File::create(&temporary)?);
                flat.write(&mut out)?;
                out.into_inner().map_err(|error| error.into_error())?.sync_all()?;
            }
            Storage::Approximate(graph) => {
                graph.save(&temporary)?;
                File::open(&temporary)?.sync_all()?;
            }
        }
        std::fs::rename(&temporary, path)?;
        Ok(())
    }

    /// Restores a snapshot written by [`VectorIndex::save`]. The dimension must match `config`; the graph
    /// keeps the quantisation and connectivity it was built with, and takes the other settings from
    /// `config` (which also decides the mode, as if the vectors had been inserted).
    pub fn load(path: &Path, config: IndexConfig) -> Result<VectorIndex, IndexError> {
        let mut magic = [0u8; 8];
        let mut input = BufReader::new(File::open(path)?);
        input.read_exact(&mut magic)?;
        let storage = if &magic == flat::MAGIC {
            Storage::Exact(Flat::read(&mut input, config.dim)?)
        } else {
            // USearch's own file, which leads with the vectors and puts its magic after them.
            drop(input);
            Storage::Approximate(Graph::load(path, &config)?)
        };
        let mut index = VectorIndex { config, storage };
        index.switch_mode();
        Ok(index)
    }

    /// Keeps the mode in line with the size: approximate above the threshold, exact at half of it.
    fn switch_mode(&mut self) {
        let threshold = self.config.approximate_above;
        match &self.storage {
            Storage::Exact(flat) if flat.len() > threshold => {
                let graph = graph_ok(build_graph(&self.config, flat.rows(), flat.len()));
                self.storage = Storage::Approximate(graph);
            }
            Storage::Approximate(graph) if graph.len() <= threshold / 2 => {
                let (keys, vectors) = graph_ok(graph.export());
                self.storage = Storage::Exact(Flat::from_rows(self.config.dim, keys, vectors));
            }
            Storage::Approximate(graph) if graph.needs_rebuild() => {
                let (keys, vectors) = graph_ok(graph.export());
                let rows = keys.iter().copied().zip(vectors.chunks_exact(self.config.dim));
                self.storage = Storage::Approximate(graph_ok(build_graph(&self.config, rows, keys.len())));
            }
            _ => {}
        }
    }
}

fn build_graph<'a>(
    config: &IndexConfig,
    rows: impl Iterator<Item = (u64, &'a [f32])> + Send,
    len: usize,
) -> Result<Graph, IndexError> {
    let mut graph = Graph::new(config, len.max(64))?;
    add_in_parallel(&mut graph, config, rows)?;
    Ok(graph)
}

/// Adds keys absent from `graph` (with room reserved) on the configured number of threads.
///
/// USearch's concurrent insertion can strand a node: stored, linked to its neighbours, but with no link
/// leading to it, so no search ever returns it (USearch issue #735, still open in 2.26; 3.5 to 5% of the
/// nodes of a 2,000-vector two-thread build of clustered vectors in the unit tests). So after a parallel
/// build every new node searches for its own vector, and those that do not find themselves are retired and
/// added again, one at a time.
fn add_in_parallel<'a>(
    graph: &mut Graph,
    config: &IndexConfig,
    rows: impl Iterator<Item = (u64, &'a [f32])> + Send,
) -> Result<(), IndexError> {
    let threads = config.threads();
    if threads == 1 {
        return rows.into_iter().try_for_each(|(key, vector)| graph.add_new(key, vector));
    }
    let rows: Vec<(u64, &[f32])> = rows.collect();
    let shared: &Graph = graph;
    parallel::<_, ()>(threads, &rows, |&(key, vector)| shared.add_new(key, vector).map(|()| None))?;
    // A narrow search suffices: a stranded node is missed at any width, a linked one is found at this one
    // but for a few (which the repair adds again, harmlessly).
    graph.set_expansion_search(REPAIR_EXPANSION);
    let repaired = repair(graph, threads, rows);
    graph.set_expansion_search(config.expansion_search);
    repaired
}

/// Re-adds the nodes of `rows` that a search for their own vector misses, a few rounds over (a node added
/// again links to the nearest nodes it can reach, and the nearest ones may have been stranded too).
fn repair(graph: &mut Graph, threads: usize, mut rows: Vec<(u64, &[f32])>) -> Result<(), IndexError> {
    for _ in 0..REPAIR_ROUNDS {
        let shared: &Graph = graph;
        rows = parallel(threads, &rows, |&(key, vector)| {
            let found = shared.search(vector, 1)?.first().is_some_and(|hit| hit.key == key);
            Ok((!found).then_some((key, vector)))
        })?;
        for &(key, vector) in &rows {
            graph.insert(key, vector)?;
        }
    }
    Ok(())
}

const REPAIR_ROUNDS: usize = 3;

/// The search width for finding stranded nodes after a parallel build.
const REPAIR_EXPANSION: usize = 64;

/// Runs `task` on every item on `threads` threads, collecting what it returns.
fn parallel<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    task: impl Fn(&T) -> Result<Option<R>, IndexError> + Sync,
) -> Result<Vec<R>, IndexError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut results = Vec::new();
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(at) else { return Ok::<_, IndexError>(results) };
                        results.extend(task(item)?);
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.join().expect("index build thread panicked")?);
        }
        Ok(all)
    })
}

#[cfg(test)]
mod tests;
