//! The per-collection vector index cache: one in-memory [`VectorIndex`] per collection in use, a cache
//! of the store's vectors (the truth), loaded on first use and changed only after the store has
//! committed, and the search over it with exact re-ranking from the store.
//!
//! Large indexes are also kept as snapshots in the data directory, stamped with the collection's
//! creation time and `vector_changes` count: a snapshot whose stamp matches the store holds exactly the
//! stored vectors and is loaded instead of rebuilding the graph; one of the same collection that is
//! behind (after a crash, for instance) is loaded and caught up with the store; any other is ignored
//! and the index is rebuilt from the store. A rebuild of millions of faces takes long (hours at 10 M
//! on two cores); searches of that collection meanwhile scan the store's vectors, exactly.
//!
//! Several nodes may share one store (PostgreSQL). Each keeps its own indexes, and before every search
//! and write compares the collection's `vector_changes` with its index's: when another node changed the
//! collection, the index adds the vectors stored since it last caught up (keys only grow, so that is a
//! scan from a key), and a face deleted elsewhere is dropped from the index when a search meets its key
//! without a vector (it is never returned: matches are re-ranked from the store). A collection deleted and
//! created again elsewhere (another creation time) gets its index rebuilt.
//!
//! Locks are `parking_lot`'s, which are not poisoned: a panic inside index code releases the lock and the
//! collection stays usable (the store, not the index, is the truth).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use reko_index::{IndexConfig, VectorIndex};
use reko_vision::faces::{embed::EMBEDDING_SIZE, similarity};
use sha2::{Digest, Sha256};

use crate::collection_faces::FaceMatch;
use crate::{Scope, Service, ServiceError};

/// Extra candidates asked of the (possibly approximate) index before exact re-ranking.
const RERANK_MARGIN: usize = 32;

/// Index hits whose approximate cosine is this far below the threshold's are not re-ranked.
const APPROXIMATION_SLACK: f32 = 0.05;

/// The index settings; ef_search follows the collection's size ([`expansion_search`]).
fn index_config() -> IndexConfig {
    IndexConfig { expansion_search: expansion_search(0), ..IndexConfig::new(EMBEDDING_SIZE) }
}

/// The widest ef_search the service uses (reached at 64 M faces).
const MAX_EXPANSION_SEARCH: usize = 4096;

/// ef_search for a collection of `faces`: 512 up to 1 M faces, then growing with the square root of the
/// size, in steps of 64. `bench/INDEX.md` measured recall@10 0.991 (after re-ranking) at 1 M faces with
/// 512 and at 10 M with 1536, but 0.966 at 10 M with 512: a graph of ten times the faces needs about three
/// times the width for the same recall. 10 M faces get 1664.
pub fn expansion_search(faces: usize) -> usize {
    let width = 512.0 * (faces as f64 / 1e6).max(1.0).sqrt();
    ((width / 64.0).ceil() as usize * 64).min(MAX_EXPANSION_SEARCH)
}

/// Sets the index's ef_search for its current size.
fn fit_expansion(index: &mut VectorIndex) {
    let wanted = expansion_search(index.len());
    if index.config().expansion_search != wanted {
        index.set_expansion_search(wanted);
    }
}

/// Records a write of this node's that took the collection's change count to `new`: the index holds the
/// store's state only if no other node's change came in between (else the next search catches up).
pub(crate) fn advance(changes: &mut u64, new: u64) {
    if new == *changes + 1 {
        *changes = new;
    }
}

/// Collections with at least this many faces keep an index snapshot on disk.
pub const SNAPSHOT_MIN_FACES: usize = 10_000;

/// The vector indexes of the collections in use.
#[derive(Default)]
pub(crate) struct Indexes {
    slots: Mutex<HashMap<CollectionKey, Arc<RwLock<Slot>>>>,
    /// The collections whose index is being caught up with the store (under the slot's write lock)
    /// right now: their searches scan the store instead of waiting.
    loading: Mutex<HashSet<CollectionKey>>,
    /// Where snapshots go (none: never written or read).
    pub(crate) snapshots: Option<PathBuf>,
}

impl Indexes {
    pub(crate) fn with_snapshots(dir: PathBuf) -> Indexes {
        Indexes { snapshots: Some(dir), ..Default::default() }
    }

    /// Marks the collection's index as being caught up until the mark is dropped.
    fn mark_loading(&self, key: &CollectionKey) -> LoadingMark<'_> {
        self.loading.lock().insert(key.clone());
        LoadingMark { indexes: self, key: key.clone() }
    }

    fn is_loading(&self, key: &CollectionKey) -> bool {
        self.loading.lock().contains(key)
    }
}

/// A collection's index being caught up; dropped when that ends, however it ends.
struct LoadingMark<'a> {
    indexes: &'a Indexes,
    key: CollectionKey,
}

impl Drop for LoadingMark<'_> {
    fn drop(&mut self) {
        self.indexes.loading.lock().remove(&self.key);
    }
}

/// A loaded index and the store state it holds.
struct Loaded {
    index: VectorIndex,
    created_at_ms: i64,
    /// The collection's `vector_changes` count the index reflects.
    changes: u64,
    /// Every stored key below this one is in the index (or was deleted): a catch-up scans from here.
    synced_key: u64,
    /// The count the snapshot on disk reflects (`u64::MAX`: none).
    saved: AtomicU64,
}

/// What a snapshot's stamp file says.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Stamp {
    account_id: String,
    region: String,
    collection_id: String,
    created_at_ms: i64,
    vector_changes: u64,
    faces: usize,
}

fn snapshot_paths(dir: &Path, key: &CollectionKey) -> (PathBuf, PathBuf) {
    let digest = Sha256::digest(format!("{}\0{}\0{}", key.0, key.1, key.2).as_bytes());
    let name = hex::encode(&digest[..16]);
    (dir.join(format!("{name}.index")), dir.join(format!("{name}.json")))
}

/// (account, region, collection id).
type CollectionKey = (String, String, String);

fn collection_key(scope: &Scope, collection: &str) -> CollectionKey {
    (scope.account_id.clone(), scope.region.clone(), collection.to_owned())
}

/// One collection's index: not read from the store yet, loaded, or gone with its collection (holders
/// of a stale slot fetch a fresh one).
enum Slot {
    Unloaded,
    Loaded(Loaded),
    Deleted,
}

impl Service {
    fn slot(&self, scope: &Scope, collection: &str) -> Arc<RwLock<Slot>> {
        let key = collection_key(scope, collection);
        let mut slots = self.indexes.slots.lock();
        slots.entry(key).or_insert_with(|| Arc::new(RwLock::new(Slot::Unloaded))).clone()
    }

    /// The collection's index from its snapshot if that is current, else rebuilt from the store (and
    /// snapshotted if large). Runs under the slot's write lock, so no vector changes meanwhile.
    fn load_index(&self, scope: &Scope, collection: &str) -> Result<Loaded, ServiceError> {
        let record = self
            .store
            .collection(scope, collection)?
            .ok_or_else(|| ServiceError::CollectionNotFound(collection.to_owned()))?;
        let key = collection_key(scope, collection);
        if let Some(dir) = &self.indexes.snapshots {
            let (index_path, stamp_path) = snapshot_paths(dir, &key);
            let stamp = std::fs::read(&stamp_path).ok().and_then(|b| serde_json::from_slice::<Stamp>(&b).ok());
            // A snapshot of this collection (not of an earlier one of the same name) is a subset of
            // the store's history: keys are never reused and a key's vector never changes, so adding
            // what the store has beyond it and dropping what the store lost brings it up to date.
            let same_collection = stamp.as_ref().is_some_and(|s| {
                (s.account_id.as_str(), s.region.as_str(), s.collection_id.as_str(), s.created_at_ms)
                    == (key.0.as_str(), key.1.as_str(), key.2.as_str(), record.created_at_ms)
            });
            if let (true, Some(stamp)) = (same_collection, stamp) {
                let started = std::time::Instant::now();
                match VectorIndex::load(&index_path, index_config()) {
                    Ok(mut index) => {
                        let current = stamp.vector_changes == record.vector_changes;
                        if !current {
                            self.catch_up(scope, collection, &mut index)?;
                        }
                        if index.len() as u64 == record.face_count {
                            tracing::info!(
                                collection,
                                faces = index.len(),
                                caught_up = !current,
                                seconds = started.elapsed().as_secs_f32(),
                                "index loaded from its snapshot"
                            );
                            let saved = if current { Some(record.vector_changes) } else { None };
                            return Ok(self.loaded(&key, &record, index, saved));
                        }
                        tracing::warn!(collection, "index snapshot disagrees with the store; rebuilding");
                    }
                    Err(error) => tracing::warn!(collection, %error, "index snapshot unreadable; rebuilding"),
                }
            }
        }
        // A rebuild is catching an empty index up with the store.
        let started = std::time::Instant::now();
        let mut index = VectorIndex::new(index_config());
        self.catch_up(scope, collection, &mut index)?;
        if index.len() >= SNAPSHOT_MIN_FACES {
            tracing::info!(
                collection,
                faces = index.len(),
                seconds = started.elapsed().as_secs_f32(),
                "index rebuilt from the store"
            );
        }
        Ok(self.loaded(&key, &record, index, None))
    }

    /// A loaded index reflecting `record`'s vector changes; its snapshot is (re)written unless the one
    /// on disk (`saved`: the change count it holds) is already current.
    fn loaded(
        &self,
        key: &CollectionKey,
        record: &reko_store::CollectionRecord,
        mut index: VectorIndex,
        saved: Option<u64>,
    ) -> Loaded {
        fit_expansion(&mut index);
        let loaded = Loaded {
            index,
            created_at_ms: record.created_at_ms,
            changes: record.vector_changes,
            synced_key: record.next_face_key,
            saved: AtomicU64::new(saved.unwrap_or(u64::MAX)),
        };
        self.save_snapshot(key, &loaded);
        loaded
    }

    /// Brings an index (empty, or loaded from an older snapshot of the same collection) up to the
    /// store: adds the vectors it lacks, removes the keys the store no longer has. This can take long (a
    /// rebuild of 10 M faces: hours), so searches of the collection scan the store meanwhile rather than
    /// wait; reading a current snapshot (seconds) is waited for.
    fn catch_up(&self, scope: &Scope, collection: &str, index: &mut VectorIndex) -> Result<(), ServiceError> {
        let _searches_scan = self.indexes.mark_loading(&collection_key(scope, collection));
        // Keys only grow and are never reused: what the store added since the index was saved lies
        // beyond its largest key, and what it deleted shows in the stored keys, read without vectors.
        let held = index.keys();
        let from = held.iter().max().map_or(0, |k| k + 1);
        let mut stored = HashSet::new();
        if !held.is_empty() {
            self.store.vector_keys(scope, collection, &mut |key| {
                stored.insert(key);
            })?;
        }
        let (mut keys, mut vectors) = (Vec::new(), Vec::new());
        self.store.scan_vectors(scope, collection, from, &mut |key, vector| {
            if !index.contains(key) {
                keys.push(key);
                vectors.extend_from_slice(vector);
            }
        })?;
        let gone: Vec<u64> = held.into_iter().filter(|k| !stored.contains(k)).collect();
        for key in &gone {
            index.remove(*key);
        }
        // One batch: a large collection's graph is built on every core at once.
        index.insert_batch(&keys, &vectors);
        tracing::debug!(collection, added = keys.len(), removed = gone.len(), "index caught up with the store");
        Ok(())
    }

    /// Writes a large index's snapshot if the one on disk is older; failures are logged (the store
    /// stays the truth).
    fn save_snapshot(&self, key: &CollectionKey, loaded: &Loaded) {
        let Some(dir) = &self.indexes.snapshots else { return };
        if loaded.index.len() < SNAPSHOT_MIN_FACES || loaded.saved.load(Ordering::Acquire) == loaded.changes {
            return;
        }
        let (index_path, stamp_path) = snapshot_paths(dir, key);
        let stamp = Stamp {
            account_id: key.0.clone(),
            region: key.1.clone(),
            collection_id: key.2.clone(),
            created_at_ms: loaded.created_at_ms,
            vector_changes: loaded.changes,
            faces: loaded.index.len(),
        };
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            std::fs::create_dir_all(dir)?;
            // The stamp goes first and comes back last, so a stamp never vouches for another index.
            let _ = std::fs::remove_file(&stamp_path);
            loaded.index.save(&index_path)?;
            let temporary = stamp_path.with_extension("json.tmp");
            std::fs::write(&temporary, serde_json::to_vec(&stamp)?)?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &stamp_path)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                loaded.saved.store(loaded.changes, Ordering::Release);
                tracing::info!(collection = key.2, faces = loaded.index.len(), "index snapshot written");
            }
            Err(error) => tracing::warn!(collection = key.2, %error, "index snapshot not written"),
        }
    }

    /// Writes the snapshots of loaded indexes that changed since their last one (at shutdown and
    /// from time to time).
    pub fn save_indexes(&self) {
        let slots: Vec<(CollectionKey, Arc<RwLock<Slot>>)> =
            self.indexes.slots.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (key, slot) in slots {
            if let Slot::Loaded(loaded) = &*slot.read() {
                self.save_snapshot(&key, loaded);
            }
        }
    }

    /// Bytes of memory the loaded indexes hold (for the benchmarks and operators).
    pub fn index_memory_bytes(&self) -> usize {
        let slots: Vec<Arc<RwLock<Slot>>> = self.indexes.slots.lock().values().cloned().collect();
        slots
            .iter()
            .map(|slot| match &*slot.read() {
                Slot::Loaded(loaded) => loaded.index.memory_bytes(),
                _ => 0,
            })
            .sum()
    }

    /// Loads the index of every collection (at start-up, so that the first search is fast).
    pub fn warm_indexes(&self) -> Result<usize, ServiceError> {
        let mut collections = Vec::new();
        self.store
            .each_collection(&mut |scope, record| collections.push((scope.clone(), record.collection_id.clone())))?;
        for (scope, id) in &collections {
            match self.with_index(scope, id, |_| ()) {
                Ok(()) | Err(ServiceError::CollectionNotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(collections.len())
    }

    /// Catches the collection's loaded index up with changes other nodes made to the store (nothing to
    /// do on one node: its own writes keep the index current).
    fn sync_with_store(&self, scope: &Scope, collection: &str) -> Result<(), ServiceError> {
        let slot = self.slot(scope, collection);
        if !matches!(*slot.read(), Slot::Loaded(_)) {
            return Ok(()); // loaded from the store on first use
        }
        let Some(record) = self.store.collection(scope, collection)? else {
            return Ok(()); // the caller finds the collection gone
        };
        let current =
            |loaded: &Loaded| loaded.created_at_ms == record.created_at_ms && loaded.changes >= record.vector_changes;
        if let Slot::Loaded(loaded) = &*slot.read()
            && current(loaded)
        {
            return Ok(());
        }
        let mut guard = slot.write();
        let Slot::Loaded(loaded) = &mut *guard else { return Ok(()) };
        if current(loaded) {
            return Ok(());
        }
        if loaded.created_at_ms != record.created_at_ms {
            tracing::info!(collection, "collection created again by another node: its index is rebuilt");
            *guard = Slot::Unloaded;
            return Ok(());
        }
        let (mut keys, mut vectors) = (Vec::new(), Vec::new());
        let index = &loaded.index;
        self.store.scan_vectors(scope, collection, loaded.synced_key, &mut |key, vector| {
            if !index.contains(key) {
                keys.push(key);
                vectors.extend_from_slice(vector);
            }
        })?;
        loaded.index.insert_batch(&keys, &vectors);
        fit_expansion(&mut loaded.index);
        tracing::debug!(collection, added = keys.len(), "index caught up with other nodes' writes");
        loaded.changes = record.vector_changes;
        loaded.synced_key = loaded.synced_key.max(record.next_face_key);
        Ok(())
    }

    /// Drops keys whose vectors the store no longer has (faces deleted by another node).
    fn drop_deleted_keys(&self, scope: &Scope, collection: &str, keys: &[u64]) {
        if let Slot::Loaded(loaded) = &mut *self.slot(scope, collection).write() {
            for key in keys {
                loaded.index.remove(*key);
            }
        }
    }

    /// Runs `f` with the collection's index locked for writing (loaded first if need be). Store writes
    /// that change vectors run inside `f`, so that the index and the store change in the same order.
    pub(crate) fn with_index_mut<T>(
        &self,
        scope: &Scope,
        collection: &str,
        f: impl FnOnce(&mut VectorIndex, &mut u64) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        self.sync_with_store(scope, collection)?;
        loop {
            let slot = self.slot(scope, collection);
            let mut guard = slot.write();
            if matches!(*guard, Slot::Deleted) {
                continue;
            }
            if matches!(*guard, Slot::Unloaded) {
                *guard = Slot::Loaded(self.load_index(scope, collection)?);
            }
            let Slot::Loaded(loaded) = &mut *guard else { unreachable!("loaded above") };
            let result = f(&mut loaded.index, &mut loaded.changes);
            fit_expansion(&mut loaded.index);
            return result;
        }
    }

    /// Runs `f` with the collection's index locked for reading.
    pub(crate) fn with_index<T>(
        &self,
        scope: &Scope,
        collection: &str,
        f: impl FnOnce(&VectorIndex) -> T,
    ) -> Result<T, ServiceError> {
        loop {
            let slot = self.slot(scope, collection);
            {
                let guard = slot.read();
                match &*guard {
                    Slot::Loaded(loaded) => return Ok(f(&loaded.index)),
                    Slot::Deleted => continue,
                    Slot::Unloaded => {}
                }
            }
            let mut guard = slot.write();
            if matches!(*guard, Slot::Unloaded) {
                *guard = Slot::Loaded(self.load_index(scope, collection)?);
            }
        }
    }

    /// Drops a deleted collection's index; later users of a stale slot fetch a new one.
    pub(crate) fn forget_index(
        &self,
        scope: &Scope,
        collection: &str,
        delete: impl FnOnce() -> Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        let slot = self.slot(scope, collection);
        let mut guard = slot.write();
        delete()?;
        *guard = Slot::Deleted;
        let key = collection_key(scope, collection);
        self.indexes.slots.lock().remove(&key);
        if let Some(dir) = &self.indexes.snapshots {
            let (index_path, stamp_path) = snapshot_paths(dir, &key);
            let _ = std::fs::remove_file(stamp_path);
            let _ = std::fs::remove_file(index_path);
        }
        Ok(())
    }

    /// The stored faces most similar to `vector`, at least `threshold` similar, most similar first;
    /// `exclude` leaves one face out (the searched one).
    pub(crate) fn search_vector(
        &self,
        scope: &Scope,
        collection: &str,
        vector: &[f32],
        max: usize,
        threshold: f32,
        exclude: Option<&str>,
    ) -> Result<Vec<FaceMatch>, ServiceError> {
        let wanted = max + usize::from(exclude.is_some());
        let floor = similarity::cosine_at(threshold) - APPROXIMATION_SLACK;
        let key = collection_key(scope, collection);
        let hits = if self.indexes.is_loading(&key) {
            // Exact, whatever any node wrote: no catching up to wait for.
            self.scan_store(scope, collection, vector, wanted + RERANK_MARGIN)?
        } else {
            self.sync_with_store(scope, collection)?;
            self.with_index(scope, collection, |index| index.search(vector, wanted + RERANK_MARGIN))?
        };
        let keys: Vec<u64> = hits.iter().filter(|h| h.cosine >= floor).map(|h| h.key).collect();
        // The store has the exact vectors; a face deleted since the index answered is skipped (and, if
        // another node deleted it, dropped from this node's index).
        let stored = self.store.face_vectors(scope, collection, &keys)?;
        let deleted: Vec<u64> = keys.iter().zip(&stored).filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
        if !deleted.is_empty() {
            self.drop_deleted_keys(scope, collection, &deleted);
        }
        let mut ranked: Vec<(f32, String)> = stored
            .into_iter()
            .flatten()
            .filter(|(face_id, _)| exclude != Some(face_id.as_str()))
            .map(|(face_id, exact)| (similarity::from_cosine(reko_index::dot(vector, &exact)), face_id))
            .filter(|(similarity, _)| *similarity >= threshold)
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.truncate(max);
        let ids: Vec<&str> = ranked.iter().map(|(_, id)| id.as_str()).collect();
        let faces = self.store.faces(scope, collection, &ids)?;
        Ok(ranked
            .iter()
            .zip(faces)
            .filter_map(|((similarity, _), face)| face.map(|face| FaceMatch { face, similarity: *similarity }))
            .collect())
    }

    /// The `k` stored vectors nearest to `vector`, by a scan of the store: the answer while the index
    /// is being rebuilt or caught up (exact, and slower than the index: about a second per million
    /// faces).
    fn scan_store(
        &self,
        scope: &Scope,
        collection: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<reko_index::Hit>, ServiceError> {
        let mut best: Vec<reko_index::Hit> = Vec::with_capacity(2 * k + 1);
        let by_cosine = |a: &reko_index::Hit, b: &reko_index::Hit| b.cosine.total_cmp(&a.cosine);
        self.store.scan_vectors(scope, collection, 0, &mut |key, stored| {
            best.push(reko_index::Hit { key, cosine: reko_index::dot(vector, stored) });
            if best.len() > 2 * k {
                best.select_nth_unstable_by(k, by_cosine);
                best.truncate(k);
            }
        })?;
        best.sort_by(by_cosine);
        best.truncate(k);
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use reko_store::{EmbeddedStore, Store};

    use super::*;
    use crate::test_support::{collection_c, scope, store_faces, vector};
    use crate::{NewFace, image_id};

    #[test]
    fn searches_scan_the_store_while_the_index_loads() {
        let (_data, store, service) = collection_c();
        let ids = store_faces(&service, 120);
        let from_index = service.search_faces(&scope(), "c", &ids[7], 12, 0.0).unwrap();
        assert_eq!(from_index.len(), 12);

        // A restarted service whose index load takes long (held here): a search does not wait for it.
        let restarted = Service::new(store);
        let slot = restarted.slot(&scope(), "c");
        let key = collection_key(&scope(), "c");
        let answer = std::thread::scope(|threads| {
            let _loading = slot.write();
            let _mark = restarted.indexes.mark_loading(&key);
            let (sender, receiver) = std::sync::mpsc::channel();
            let (restarted, searched) = (&restarted, &ids[7]);
            threads.spawn(move || sender.send(restarted.search_faces(&scope(), "c", searched, 12, 0.0)).ok());
            // Without the store scan the search would wait on the held lock, and this would time out.
            receiver.recv_timeout(std::time::Duration::from_secs(30))
        });
        let from_store = answer.expect("the search waited for the index load").unwrap();
        let faces = |matches: &[FaceMatch]| matches.iter().map(|m| m.face.face_id.clone()).collect::<Vec<_>>();
        assert_eq!(faces(&from_store), faces(&from_index));
        let similarities = |matches: &[FaceMatch]| matches.iter().map(|m| m.similarity).collect::<Vec<_>>();
        assert_eq!(similarities(&from_store), similarities(&from_index));
        // Once the load is over, the index answers again, the same.
        assert!(!restarted.indexes.is_loading(&key));
        assert_eq!(faces(&restarted.search_faces(&scope(), "c", &ids[7], 12, 0.0).unwrap()), faces(&from_index));
    }

    #[test]
    fn nodes_on_one_store_see_each_others_writes_at_once() {
        // Two services over one store: two nodes of a cluster, each with its own index cache.
        let (_data, store, a) = collection_c();
        let b = Service::new(store);
        let first = store_faces(&a, 30);
        let ids = |m: Vec<FaceMatch>| m.into_iter().map(|m| m.face.face_id).collect::<Vec<_>>();
        // B loads its index now; A then adds faces of a new identity: B finds them at once.
        assert_eq!(b.search_faces(&scope(), "c", &first[0], 100, 0.0).unwrap().len(), 29);
        let face =
            |sample| NewFace { bounding_box: [0.1, 0.1, 0.5, 0.5], confidence: 99.0, vector: vector(77, sample) };
        let (added, _) = a.store_faces(&scope(), "c", &image_id(b"new"), None, &[face(0), face(1)]).unwrap();
        let found = ids(b.search_faces(&scope(), "c", &added[0].face_id, 5, 90.0).unwrap());
        assert_eq!(found, [added[1].face_id.clone()]);
        // B writes too (its index was behind A's write when it did): both nodes find everything.
        let (from_b, _) = b.store_faces(&scope(), "c", &image_id(b"b"), None, &[face(2)]).unwrap();
        let (from_a, _) = a.store_faces(&scope(), "c", &image_id(b"a"), None, &[face(3)]).unwrap();
        for node in [&a, &b] {
            let mut found = ids(node.search_faces(&scope(), "c", &added[0].face_id, 10, 90.0).unwrap());
            found.sort();
            let mut wanted = vec![added[1].face_id.clone(), from_b[0].face_id.clone(), from_a[0].face_id.clone()];
            wanted.sort();
            assert_eq!(found, wanted);
        }
        // A face deleted on A is never returned by B.
        a.delete_faces(&scope(), "c", std::slice::from_ref(&added[1].face_id)).unwrap();
        assert!(!ids(b.search_faces(&scope(), "c", &added[0].face_id, 10, 0.0).unwrap()).contains(&added[1].face_id));
        // The collection deleted and created again on A, with other faces: B's old index is not used.
        a.delete_collection(&scope(), "c").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2)); // another creation time
        a.create_collection(&scope(), "c", BTreeMap::new()).unwrap();
        let renewed = store_faces(&a, 3);
        let mut found = ids(b.search_faces(&scope(), "c", &renewed[0], 10, 0.0).unwrap());
        found.sort();
        let mut wanted = renewed[1..].to_vec();
        wanted.sort();
        assert_eq!(found, wanted);
    }

    #[test]
    fn a_panic_inside_index_code_does_not_take_the_collection_down() {
        let (_data, _store, service) = collection_c();
        let ids = store_faces(&service, 20);
        let before = service.search_faces(&scope(), "c", &ids[3], 5, 0.0).unwrap();
        // A panic while the index is locked for writing, and one while it is locked for reading.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            service.with_index_mut(&scope(), "c", |_, _| -> Result<(), ServiceError> { panic!("index code failed") })
        }));
        assert!(panicked.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            service.with_index(&scope(), "c", |_| -> () { panic!("search failed") })
        }));
        assert!(panicked.is_err());
        // The collection still answers, the same, and still takes writes.
        let after = service.search_faces(&scope(), "c", &ids[3], 5, 0.0).unwrap();
        let faces = |m: &[FaceMatch]| m.iter().map(|m| m.face.face_id.clone()).collect::<Vec<_>>();
        assert_eq!(faces(&after), faces(&before));
        let face = NewFace { bounding_box: [0.1, 0.1, 0.5, 0.5], confidence: 99.0, vector: vector(3, 9) };
        let (added, repeated) = service.store_faces(&scope(), "c", &image_id(b"after"), None, &[face]).unwrap();
        assert_eq!((added.len(), repeated), (1, false));
        assert_eq!(service.delete_faces(&scope(), "c", &ids[..1]).unwrap().deleted, ids[..1]);
    }

    #[test]
    fn the_search_widens_with_the_collection() {
        // The widths measured in bench/INDEX.md: 512 up to 1 M faces, at least 1536 at 10 M.
        assert_eq!(expansion_search(0), 512);
        assert_eq!(expansion_search(1_000_000), 512);
        assert_eq!(expansion_search(1_000_001), 576);
        assert_eq!(expansion_search(10_000_000), 1664);
        assert_eq!(expansion_search(usize::MAX), MAX_EXPANSION_SEARCH);
        let widths: Vec<usize> = (0..200).map(|i| expansion_search(i * 500_000)).collect();
        assert!(widths.windows(2).all(|w| w[0] <= w[1]), "never narrower for more faces: {widths:?}");
        assert!(widths.iter().all(|w| w % 64 == 0));
    }

    #[test]
    fn snapshots_are_used_only_while_they_match_the_store() {
        let data = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data.path()).unwrap());
        let snapshots = data.path().join("indexes");
        let service = Service::new(store.clone()).with_index_snapshots(snapshots.clone());
        service.create_collection(&scope(), "c", BTreeMap::new()).unwrap();
        let ids = store_faces(&service, SNAPSHOT_MIN_FACES);
        let probe = &ids[7];
        let expected = service.search_faces(&scope(), "c", probe, 5, 0.0).unwrap();
        assert_eq!(expected.len(), 5);
        // Faces i and i + 50k are photos of one identity.
        let identity: Vec<&String> = ids.iter().skip(7).step_by(50).collect();
        assert!(expected.iter().all(|m| identity.contains(&&m.face.face_id)));
        // The snapshot is written when asked (at shutdown, from time to time, after a rebuild).
        service.save_indexes();
        let stamp = std::fs::read_dir(&snapshots)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "json")
            .count();
        assert_eq!(stamp, 1);

        // A fresh service (a restart) answers the same from the snapshot.
        let restarted = Service::new(store.clone()).with_index_snapshots(snapshots.clone());
        assert_eq!(restarted.warm_indexes().unwrap(), 1);
        let again = restarted.search_faces(&scope(), "c", probe, 5, 0.0).unwrap();
        let ids_of = |m: &[FaceMatch]| m.iter().map(|m| m.face.face_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids_of(&again), ids_of(&expected));

        // A change the snapshot does not hold (as after a crash before the next save) makes it stale:
        // the next start rebuilds from the store and never returns the deleted face.
        let victim = expected[0].face.face_id.clone();
        restarted.delete_faces(&scope(), "c", std::slice::from_ref(&victim)).unwrap();
        let twin = NewFace { bounding_box: [0.1, 0.1, 0.5, 0.5], confidence: 99.0, vector: vector(7, 0) };
        let (added, _) = restarted.store_faces(&scope(), "c", &image_id(b"twin"), None, &[twin]).unwrap();
        let after_crash = Service::new(store.clone()).with_index_snapshots(snapshots.clone());
        let found = after_crash.search_faces(&scope(), "c", probe, 5, 0.0).unwrap();
        assert!(found.iter().all(|m| m.face.face_id != victim));
        // The face added after the snapshot is found: it is the probe's own vector.
        assert_eq!(found[0].face.face_id, added[0].face_id);
        assert!(found[0].similarity > 99.9);
        assert_eq!(ids_of(&found)[1..], ids_of(&expected)[1..]);
        // Caught up, the snapshot was rewritten: the next start needs no catching up.
        let stamp: Stamp = serde_json::from_slice(
            &std::fs::read(snapshot_paths(&snapshots, &collection_key(&scope(), "c")).1).unwrap(),
        )
        .unwrap();
        assert_eq!(stamp.vector_changes, store.collection(&scope(), "c").unwrap().unwrap().vector_changes);

        // Deleting the collection removes its snapshot.
        after_crash.delete_collection(&scope(), "c").unwrap();
        assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 0);
    }
}
