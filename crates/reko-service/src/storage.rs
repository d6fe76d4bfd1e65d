//! Faces in collections: IndexFaces, SearchFaces, SearchFacesByImage, ListFaces and DeleteFaces, over
//! the store (the truth) and one in-memory [`VectorIndex`] per collection (a cache of the store's
//! vectors, loaded on first use and changed only after the store has committed).
//!
//! Large indexes are also kept as snapshots in the data directory, stamped with the collection's
//! creation time and `vector_changes` count: a snapshot whose stamp matches the store holds exactly the
//! stored vectors and is loaded instead of rebuilding the graph; one of the same collection that is
//! behind (after a crash, for instance) is loaded and caught up with the store; any other is ignored
//! and the index is rebuilt from the store. A rebuild of millions of faces takes long (hours at 10 M
//! on two cores); searches of that collection meanwhile scan the store's vectors, exactly.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use reko_index::{IndexConfig, VectorIndex};
use reko_store::{FaceRecord, Update};
use reko_vision::faces::{FaceAnalysis, embed::EMBEDDING_SIZE, similarity};
use sha2::{Digest, Sha256};

use crate::faces::{AnalyzedImage, QualityFilter, Vision, decoded};
use crate::pagination;
use crate::{FACE_MODEL_VERSION, Scope, Service, ServiceError, now_ms};

/// ListFaces' page size when the request gives none.
pub const DEFAULT_LIST_FACES_PAGE: usize = 1000;

/// Extra candidates asked of the (possibly approximate) index before exact re-ranking.
const RERANK_MARGIN: usize = 32;

/// Index hits whose approximate cosine is this far below the threshold's are not re-ranked.
const APPROXIMATION_SLACK: f32 = 0.05;

/// What IndexFaces did with one image.
#[derive(Debug, Clone)]
pub struct IndexOutcome {
    pub image: AnalyzedImage,
    /// The stored faces with their analyses, largest first.
    pub indexed: Vec<(FaceRecord, FaceAnalysis)>,
    /// Faces not indexed, with the Rekognition reasons.
    pub unindexed: Vec<(FaceAnalysis, Vec<&'static str>)>,
}

/// A face for [`Service::store_faces`]: its box (left, top, width, height as ratios of the image),
/// detection confidence (0–100) and unit vector.
#[derive(Debug, Clone)]
pub struct NewFace {
    pub bounding_box: [f32; 4],
    pub confidence: f32,
    pub vector: Vec<f32>,
}

/// A stored face and how similar it is to the searched one.
#[derive(Debug, Clone)]
pub struct FaceMatch {
    pub face: FaceRecord,
    pub similarity: f32,
}

/// SearchFacesByImage's answer.
#[derive(Debug, Clone)]
pub struct ImageSearch {
    pub image: AnalyzedImage,
    /// The searched (largest) face.
    pub searched: FaceAnalysis,
    pub matches: Vec<FaceMatch>,
}

/// One page of ListFaces.
#[derive(Debug, Clone)]
pub struct FacePage {
    pub faces: Vec<FaceRecord>,
    pub next_token: Option<String>,
}

/// DeleteFaces' answer: the deleted ids, and the others with their reason and user.
#[derive(Debug, Clone, Default)]
pub struct Deletion {
    pub deleted: Vec<String>,
    pub failed: Vec<(String, &'static str, Option<String>)>,
}

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
        self.loading.lock().expect("loading set lock").insert(key.clone());
        LoadingMark { indexes: self, key: key.clone() }
    }

    fn is_loading(&self, key: &CollectionKey) -> bool {
        self.loading.lock().expect("loading set lock").contains(key)
    }
}

/// A collection's index being caught up; dropped when that ends, however it ends.
struct LoadingMark<'a> {
    indexes: &'a Indexes,
    key: CollectionKey,
}

impl Drop for LoadingMark<'_> {
    fn drop(&mut self) {
        self.indexes.loading.lock().expect("loading set lock").remove(&self.key);
    }
}

/// A loaded index and the store state it holds.
struct Loaded {
    index: VectorIndex,
    created_at_ms: i64,
    /// The collection's `vector_changes` count the index reflects.
    changes: u64,
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

/// A deterministic id for image bytes, in the UUID form the model requires.
pub fn image_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let h = hex::encode(&digest[..16]);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn ratio_box(face: &FaceAnalysis, width: u32, height: u32) -> [f32; 4] {
    let (w, h) = (width as f32, height as f32);
    [face.bbox.x1 / w, face.bbox.y1 / h, face.bbox.width() / w, face.bbox.height() / h]
}

/// The stored face whose box is nearest to `face`'s (for answering a repeated IndexFaces).
fn nearest<'a>(stored: &'a [FaceRecord], face: &FaceAnalysis, width: u32, height: u32) -> Option<&'a FaceRecord> {
    let b = ratio_box(face, width, height);
    let distance = |r: &FaceRecord| (0..4).map(|i| (r.bounding_box[i] - b[i]).abs()).sum::<f32>();
    stored.iter().min_by(|x, y| distance(x).total_cmp(&distance(y)))
}

impl Service {
    /// The collection's record, if it exists and was made with this server's face model.
    pub(crate) fn existing_collection(
        &self,
        scope: &Scope,
        collection: &str,
    ) -> Result<reko_store::CollectionRecord, ServiceError> {
        self.store.collection(scope, collection)?.ok_or_else(|| ServiceError::CollectionNotFound(collection.to_owned()))
    }

    /// Checks that the collection exists and was made with this server's face model.
    pub(crate) fn searchable_collection(&self, scope: &Scope, collection: &str) -> Result<(), ServiceError> {
        let record = self.existing_collection(scope, collection)?;
        if record.face_model_version != FACE_MODEL_VERSION {
            return Err(ServiceError::ModelVersionMismatch {
                collection: collection.to_owned(),
                version: record.face_model_version,
            });
        }
        Ok(())
    }

    /// The decoded image and its faces (largest first), for an operation on a searchable collection;
    /// the collection is checked before any network runs.
    pub(crate) fn analyze_for(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        attributes: bool,
    ) -> Result<(image::RgbImage, &Vision, Vec<FaceAnalysis>), ServiceError> {
        self.searchable_collection(scope, collection)?;
        let rgb = decoded(image)?;
        let vision = self.vision()?;
        let faces = vision.faces.analyze(&vision.runtime, &rgb, attributes, reko_vision::faces::MAX_FACES)?;
        Ok((rgb, vision, faces))
    }

    fn slot(&self, scope: &Scope, collection: &str) -> Arc<RwLock<Slot>> {
        let key = collection_key(scope, collection);
        let mut slots = self.indexes.slots.lock().expect("index map lock");
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
        let mut stored = HashSet::new();
        let (mut keys, mut vectors) = (Vec::new(), Vec::new());
        self.store.scan_vectors(scope, collection, &mut |key, vector| {
            stored.insert(key);
            if !index.contains(key) {
                keys.push(key);
                vectors.extend_from_slice(vector);
            }
        })?;
        let gone: Vec<u64> = index.keys().into_iter().filter(|k| !stored.contains(k)).collect();
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
            self.indexes.slots.lock().expect("index map lock").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (key, slot) in slots {
            if let Slot::Loaded(loaded) = &*slot.read().expect("index lock") {
                self.save_snapshot(&key, loaded);
            }
        }
    }

    /// Bytes of memory the loaded indexes hold (for the benchmarks and operators).
    pub fn index_memory_bytes(&self) -> usize {
        let slots: Vec<Arc<RwLock<Slot>>> =
            self.indexes.slots.lock().expect("index map lock").values().cloned().collect();
        slots
            .iter()
            .map(|slot| match &*slot.read().expect("index lock") {
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

    /// Runs `f` with the collection's index locked for writing (loaded first if need be). Store writes
    /// that change vectors run inside `f`, so that the index and the store change in the same order.
    fn with_index_mut<T>(
        &self,
        scope: &Scope,
        collection: &str,
        f: impl FnOnce(&mut VectorIndex, &mut u64) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        loop {
            let slot = self.slot(scope, collection);
            let mut guard = slot.write().expect("index lock");
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
    fn with_index<T>(
        &self,
        scope: &Scope,
        collection: &str,
        f: impl FnOnce(&VectorIndex) -> T,
    ) -> Result<T, ServiceError> {
        loop {
            let slot = self.slot(scope, collection);
            {
                let guard = slot.read().expect("index lock");
                match &*guard {
                    Slot::Loaded(loaded) => return Ok(f(&loaded.index)),
                    Slot::Deleted => continue,
                    Slot::Unloaded => {}
                }
            }
            let mut guard = slot.write().expect("index lock");
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
        let mut guard = slot.write().expect("index lock");
        delete()?;
        *guard = Slot::Deleted;
        let key = collection_key(scope, collection);
        self.indexes.slots.lock().expect("index map lock").remove(&key);
        if let Some(dir) = &self.indexes.snapshots {
            let (index_path, stamp_path) = snapshot_paths(dir, &key);
            let _ = std::fs::remove_file(stamp_path);
            let _ = std::fs::remove_file(index_path);
        }
        Ok(())
    }

    /// IndexFaces: detects faces, keeps the largest `max_faces` that pass `filter`, and stores their
    /// vectors. The same image bytes with the same external id store nothing new: the faces stored the
    /// first time are returned.
    #[allow(clippy::too_many_arguments)]
    pub fn index_faces(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        external_image_id: Option<&str>,
        max_faces: Option<u32>,
        filter: QualityFilter,
        attributes: bool,
    ) -> Result<IndexOutcome, ServiceError> {
        let (rgb, vision, faces) = self.analyze_for(scope, collection, image, attributes)?;
        let (width, height) = (rgb.width(), rgb.height());
        let limit = max_faces.map_or(usize::MAX, |m| m as usize);
        let mut chosen = Vec::new();
        let mut unindexed = Vec::new();
        for face in faces {
            let reasons = filter.reasons(&face);
            if !reasons.is_empty() {
                unindexed.push((face, reasons));
            } else if chosen.len() >= limit {
                unindexed.push((face, vec!["EXCEEDS_MAX_FACES"]));
            } else {
                chosen.push(face);
            }
        }
        let vectors = vision.faces.embed(&vision.runtime, &rgb, &chosen)?;
        let new_faces: Vec<NewFace> = chosen
            .iter()
            .zip(vectors)
            .map(|(face, vector)| NewFace {
                bounding_box: ratio_box(face, width, height),
                confidence: (face.score * 100.0).clamp(0.0, 100.0),
                vector,
            })
            .collect();
        let (stored, repeated) =
            self.store_faces(scope, collection, &image_id(image), external_image_id, &new_faces)?;
        let indexed = if !repeated {
            stored.into_iter().zip(chosen).collect()
        } else {
            // A repeat: pair each stored face with the analysed face whose box matches it.
            chosen
                .into_iter()
                .filter_map(|face| nearest(&stored, &face, width, height).map(|s| (s.clone(), face)))
                .collect()
        };
        Ok(IndexOutcome { image: AnalyzedImage { width, height, faces: Vec::new() }, indexed, unindexed })
    }

    /// The storing half of IndexFaces (after the networks): the faces of one image, in one atomic
    /// transaction, then into the index. The same image id and external id again store nothing and
    /// return the faces stored the first time, with `true`.
    pub fn store_faces(
        &self,
        scope: &Scope,
        collection: &str,
        image_id: &str,
        external_image_id: Option<&str>,
        faces: &[NewFace],
    ) -> Result<(Vec<FaceRecord>, bool), ServiceError> {
        let image_key = format!("{image_id}/{}", external_image_id.unwrap_or(""));
        let created_at_ms = now_ms();
        self.with_index_mut(scope, collection, |index, changes| {
            let mut stored: Vec<FaceRecord> = Vec::new();
            let mut new_faces = Vec::new();
            let mut new_changes = 0;
            let outcome = self.store.write_collection(scope, collection, &mut |w| {
                stored.clear();
                new_faces.clear();
                if let Some(ids) = w.image_faces(&image_key)? {
                    for id in ids {
                        if let Some(face) = w.face(&id)? {
                            stored.push(face);
                        }
                    }
                    return Ok(Update::Abort);
                }
                for new in faces {
                    let record = w.collection();
                    let key = record.next_face_key;
                    record.next_face_key += 1;
                    record.face_count += 1;
                    let face = FaceRecord {
                        face_id: uuid::Uuid::new_v4().to_string(),
                        key,
                        image_id: image_id.to_owned(),
                        external_image_id: external_image_id.map(str::to_owned),
                        bounding_box: new.bounding_box,
                        confidence: new.confidence,
                        user_id: None,
                        model_version: FACE_MODEL_VERSION.to_owned(),
                        created_at_ms,
                    };
                    w.put_face(&face, Some(&new.vector))?;
                    new_faces.push((key, new.vector.clone()));
                    stored.push(face);
                }
                let ids: Vec<String> = stored.iter().map(|f| f.face_id.clone()).collect();
                w.put_image_faces(&image_key, &ids)?;
                w.collection().vector_changes += 1;
                new_changes = w.collection().vector_changes;
                Ok(Update::Commit)
            })?;
            match outcome {
                None => Err(ServiceError::CollectionNotFound(collection.to_owned())),
                Some(Update::Commit) => {
                    let keys: Vec<u64> = new_faces.iter().map(|(k, _)| *k).collect();
                    let vectors: Vec<f32> = new_faces.iter().flat_map(|(_, v)| v.iter().copied()).collect();
                    index.insert_batch(&keys, &vectors);
                    *changes = new_changes;
                    Ok((stored, false))
                }
                Some(Update::Abort) => Ok((stored, true)),
            }
        })
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
            self.scan_store(scope, collection, vector, wanted + RERANK_MARGIN)?
        } else {
            self.with_index(scope, collection, |index| index.search(vector, wanted + RERANK_MARGIN))?
        };
        let keys: Vec<u64> = hits.iter().filter(|h| h.cosine >= floor).map(|h| h.key).collect();
        // The store has the exact vectors; a face deleted since the index answered is skipped.
        let mut ranked: Vec<(f32, String)> = self
            .store
            .face_vectors(scope, collection, &keys)?
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

    /// A stored face's exact vector.
    pub(crate) fn stored_vector(
        &self,
        scope: &Scope,
        collection: &str,
        face: &FaceRecord,
    ) -> Result<Vec<f32>, ServiceError> {
        self.store
            .face_vectors(scope, collection, &[face.key])?
            .pop()
            .flatten()
            .map(|(_, v)| v)
            .ok_or_else(|| ServiceError::FaceNotFound(face.face_id.clone()))
    }

    /// The exact vectors of the faces among `face_ids` that exist, by face id (two read transactions in
    /// all, whatever the number of faces).
    pub(crate) fn stored_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        face_ids: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>, ServiceError> {
        let ids: Vec<&str> = face_ids.iter().map(String::as_str).collect();
        let faces: Vec<FaceRecord> = self.store.faces(scope, collection, &ids)?.into_iter().flatten().collect();
        let keys: Vec<u64> = faces.iter().map(|f| f.key).collect();
        faces
            .into_iter()
            .zip(self.store.face_vectors(scope, collection, &keys)?)
            .map(|(face, vector)| match vector {
                Some((_, vector)) => Ok((face.face_id, vector)),
                None => Err(ServiceError::FaceNotFound(face.face_id)),
            })
            .collect()
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
        self.store.scan_vectors(scope, collection, &mut |key, stored| {
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

    /// SearchFaces: the faces most similar to a stored face (itself left out).
    pub fn search_faces(
        &self,
        scope: &Scope,
        collection: &str,
        face_id: &str,
        max: usize,
        threshold: f32,
    ) -> Result<Vec<FaceMatch>, ServiceError> {
        self.searchable_collection(scope, collection)?;
        let face = self
            .store
            .face(scope, collection, face_id)?
            .ok_or_else(|| ServiceError::FaceNotFound(face_id.to_owned()))?;
        let vector = self.stored_vector(scope, collection, &face)?;
        self.search_vector(scope, collection, &vector, max, threshold, Some(face_id))
    }

    /// SearchFacesByImage: the largest face of the image that passes `filter`, searched.
    pub fn search_faces_by_image(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        max: usize,
        threshold: f32,
        filter: QualityFilter,
    ) -> Result<ImageSearch, ServiceError> {
        let (rgb, vision, faces) = self.analyze_for(scope, collection, image, false)?;
        let searched = faces.into_iter().find(|f| filter.passes(f)).ok_or(ServiceError::NoFaceInImage)?;
        let vector = vision.faces.embed(&vision.runtime, &rgb, std::slice::from_ref(&searched))?.remove(0);
        let matches = self.search_vector(scope, collection, &vector, max, threshold, None)?;
        Ok(ImageSearch {
            image: AnalyzedImage { width: rgb.width(), height: rgb.height(), faces: Vec::new() },
            searched,
            matches,
        })
    }

    /// ListFaces: faces in face id order, or only those of `user_id`, or only `face_ids`.
    pub fn list_faces(
        &self,
        scope: &Scope,
        collection: &str,
        next_token: Option<&str>,
        max_results: Option<u32>,
        user_id: Option<&str>,
        face_ids: &[String],
    ) -> Result<FacePage, ServiceError> {
        self.existing_collection(scope, collection)?;
        let limit = pagination::page_size(max_results, DEFAULT_LIST_FACES_PAGE);
        let after = pagination::resume_after(next_token)?;
        let mut wanted: Option<Vec<String>> = (!face_ids.is_empty()).then(|| face_ids.to_vec());
        if let Some(user_id) = user_id {
            let user = self.store.user(scope, collection, user_id)?.map(|u| u.face_ids).unwrap_or_default();
            wanted = Some(match wanted {
                Some(ids) => ids.into_iter().filter(|id| user.contains(id)).collect(),
                None => user,
            });
        }
        let mut faces = match wanted {
            None => self.store.list_faces(scope, collection, after.as_deref(), limit + 1)?,
            Some(mut ids) => {
                ids.sort();
                ids.dedup();
                let candidates: Vec<&str> =
                    ids.iter().map(String::as_str).filter(|id| after.as_deref().is_none_or(|a| *id > a)).collect();
                // One batched read a page (ids that are no face are skipped, so read on until the page fills).
                let mut faces = Vec::new();
                for chunk in candidates.chunks(limit + 1) {
                    faces.extend(self.store.faces(scope, collection, chunk)?.into_iter().flatten());
                    if faces.len() > limit {
                        break;
                    }
                }
                faces
            }
        };
        let more = faces.len() > limit;
        faces.truncate(limit);
        let next_token = more.then(|| pagination::encode(&faces.last().expect("a full page").face_id));
        Ok(FacePage { faces, next_token })
    }

    /// DeleteFaces: deletes faces that exist and belong to no user.
    pub fn delete_faces(&self, scope: &Scope, collection: &str, face_ids: &[String]) -> Result<Deletion, ServiceError> {
        self.with_index_mut(scope, collection, |index, changes| {
            let mut result = Deletion::default();
            let mut removed_keys = Vec::new();
            let mut new_changes = None;
            let outcome = self.store.write_collection(scope, collection, &mut |w| {
                result = Deletion::default();
                removed_keys.clear();
                let mut seen = std::collections::HashSet::new();
                for id in face_ids.iter().filter(|id| seen.insert(id.as_str())) {
                    let Some(face) = w.face(id)? else {
                        result.failed.push((id.clone(), "FACE_NOT_FOUND", None));
                        continue;
                    };
                    if let Some(user) = &face.user_id {
                        result.failed.push((id.clone(), "ASSOCIATED_TO_AN_EXISTING_USER", Some(user.clone())));
                        continue;
                    }
                    w.delete_face(id)?;
                    let image_key = format!("{}/{}", face.image_id, face.external_image_id.as_deref().unwrap_or(""));
                    if let Some(mut ids) = w.image_faces(&image_key)? {
                        ids.retain(|x| x != id);
                        w.put_image_faces(&image_key, &ids)?;
                    }
                    w.collection().face_count = w.collection().face_count.saturating_sub(1);
                    removed_keys.push(face.key);
                    result.deleted.push(id.clone());
                }
                if result.deleted.is_empty() {
                    return Ok(Update::Abort);
                }
                w.collection().vector_changes += 1;
                new_changes = Some(w.collection().vector_changes);
                Ok(Update::Commit)
            })?;
            match outcome {
                None => Err(ServiceError::CollectionNotFound(collection.to_owned())),
                Some(_) => {
                    for key in &removed_keys {
                        index.remove(*key);
                    }
                    if let Some(new_changes) = new_changes {
                        *changes = new_changes;
                    }
                    Ok(result)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use reko_store::{EmbeddedStore, Store};

    use super::*;

    fn scope() -> Scope {
        Scope { account_id: "111122223333".into(), region: "us-east-1".into() }
    }

    /// A unit vector near one of a few "identities".
    fn vector(identity: usize, sample: usize) -> Vec<f32> {
        let mut state = (identity * 7919 + sample * 104729 + 1) as u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut v: Vec<f32> = (0..EMBEDDING_SIZE).map(|i| if i % 97 == identity % 97 { 4.0 } else { 0.0 }).collect();
        v.iter_mut().for_each(|x| *x += next());
        reko_vision::faces::embed::normalize(v)
    }

    /// A service over a fresh store (in the returned directory) with an empty collection "c".
    fn collection_c() -> (tempfile::TempDir, Arc<dyn Store>, Service) {
        let data = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data.path()).unwrap());
        let service = Service::new(store.clone());
        service.create_collection(&scope(), "c", BTreeMap::new()).unwrap();
        (data, store, service)
    }

    /// Stores `n` faces with IndexFaces' storing half (one request), bypassing the models.
    fn store_faces(service: &Service, n: usize) -> Vec<String> {
        let faces: Vec<NewFace> = (0..n)
            .map(|i| NewFace { bounding_box: [0.1, 0.1, 0.5, 0.5], confidence: 99.0, vector: vector(i % 50, i / 50) })
            .collect();
        let (stored, repeated) = service.store_faces(&scope(), "c", &image_id(b"faces"), None, &faces).unwrap();
        assert!(!repeated);
        stored.into_iter().map(|f| f.face_id).collect()
    }

    #[test]
    fn a_collection_of_another_face_model_version_is_refused_clearly() {
        let (_data, store, service) = collection_c();
        let ids = store_faces(&service, 3);
        store
            .update_collection(&scope(), "c", &mut |r| {
                r.face_model_version = "0.9".into();
                Update::Commit
            })
            .unwrap();
        let refused = service.search_faces(&scope(), "c", &ids[0], 5, 0.0).unwrap_err();
        assert!(matches!(&refused, ServiceError::ModelVersionMismatch { version, .. } if version == "0.9"));
        assert!(refused.to_string().contains("face model version 0.9"), "{refused}");
        // Listing and deleting still work: the faces can be cleaned out.
        assert_eq!(service.list_faces(&scope(), "c", None, None, None, &[]).unwrap().faces.len(), 3);
    }

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
            let _loading = slot.write().unwrap();
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
