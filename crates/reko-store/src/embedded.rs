//! The embedded backend: one redb file in the data directory, fsynced on every commit.
//!
//! An I/O error (a full disk, say) fails that write cleanly ([`StoreError::Unavailable`]), and redb then
//! refuses every later transaction, reads included, until the database is reopened: the next transaction
//! reopens it (redb recovers to the last commit, so nothing acknowledged is lost). While the disk stays
//! full the reopen fails too and every call is `Unavailable`; once it has room, the next call reopens the
//! database and works, without a restart.
//!
//! So that a full disk seldom comes to that, a write first checks the free space of the data directory's
//! file system: under the reserve ([`EmbeddedStore::with_disk_reserve`]) it is refused as `Unavailable`
//! before redb writes anything, and the open database keeps serving reads and searches.
//!
//! Tables (keys are tuples, so a scope's and a collection's records are one contiguous range):
//! - `meta`: `schema_version` and other store-wide facts;
//! - `collections`: (account, region, collection id) → [`CollectionRecord`] as JSON;
//! - `faces`: (account, region, collection id, face id) → [`FaceRecord`] as JSON;
//! - `vectors`: (account, region, collection id, index key) → face id (36 bytes) + the vector as
//!   little-endian f32;
//! - `users`: (account, region, collection id, user id) → [`UserRecord`] as JSON;
//! - `images`: (account, region, collection id, image key) → the face ids indexed from it, as JSON;
//! - `requests`: (account, region, collection id, operation/token) → [`RequestRecord`] as JSON;
//! - `jobs`: (account, region, job id) → [`JobRecord`] as JSON; `unfinished_jobs`: the same keys for
//!   the jobs not yet finished (the per-account limit and the restart queue read it);
//! - `job_tokens`: (account, region, operation/token) → [`RequestRecord`] of a `Start*` request;
//! - `job_results`: (account, region, job id, chunk number) → one chunk of a finished job's results;
//! - `outbox`: (account, region, job id) → [`OutboxRecord`] of a completion notification not yet delivered;
//! - `dropped`: (account, region, collection id) of a deleted collection whose records are still being
//!   removed;
//! - `projects`: (account, region, project name) → [`ProjectRecord`] as JSON;
//! - `project_items`: (account, region, project name, item key) → the item's bytes (a project's dataset
//!   entries, features and trained models).
//!
//! Deleting a collection does not hold the database's one writer for as long as its records take to
//! remove (seconds at a million faces): the collection's record goes at once, with a tombstone in
//! `dropped`, and its records are then removed [`PURGE_BATCH`] at a time (by default), one transaction each, so other
//! writes go on in between. A collection made again under the same id first finishes that removal, and
//! a purge interrupted by a crash is finished when the store opens.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, StorageError, Table, TableDefinition, TransactionError,
    WriteTransaction,
};
use serde::de::DeserializeOwned;

use crate::codec::{decode, decode_vector, encode, encode_vector};
use crate::{
    CollectionRecord, CollectionWrite, FaceRecord, JobInsert, JobRecord, OutboxRecord, ProjectRecord, RequestRecord,
    Scope, Store, StoreError, StoredVector, Update, UserRecord,
};

type Key<'a> = (&'a str, &'a str, &'a str);
type ItemKey<'a> = (&'a str, &'a str, &'a str, &'a str);
type VectorKey<'a> = (&'a str, &'a str, &'a str, u64);

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const COLLECTIONS: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("collections");
const FACES: TableDefinition<ItemKey<'static>, &[u8]> = TableDefinition::new("faces");
const VECTORS: TableDefinition<VectorKey<'static>, &[u8]> = TableDefinition::new("vectors");
const USERS: TableDefinition<ItemKey<'static>, &[u8]> = TableDefinition::new("users");
const IMAGES: TableDefinition<ItemKey<'static>, &[u8]> = TableDefinition::new("images");
const REQUESTS: TableDefinition<ItemKey<'static>, &[u8]> = TableDefinition::new("requests");
const JOBS: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("jobs");
const UNFINISHED_JOBS: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("unfinished_jobs");
const JOB_TOKENS: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("job_tokens");
const JOB_RESULTS: TableDefinition<VectorKey<'static>, &[u8]> = TableDefinition::new("job_results");
const OUTBOX: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("outbox");
const DROPPED: TableDefinition<Key<'static>, ()> = TableDefinition::new("dropped");
const PROJECTS: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("projects");
const PROJECT_ITEMS: TableDefinition<ItemKey<'static>, &[u8]> = TableDefinition::new("project_items");

/// Records of a deleted collection removed in one transaction (of each table), by default.
pub const PURGE_BATCH: usize = 2_000;

/// The version of the table layout this code writes.
const SCHEMA_VERSION: u64 = 1;

/// The file inside the data directory.
pub const DATABASE_FILE: &str = "reko.redb";

/// redb's page cache. Searches read only their candidates' rows, so a small cache (the operating
/// system's page cache serves the rest) keeps memory per stored face low at millions of faces.
const CACHE_BYTES: usize = 128 << 20;

/// Opens the database file (the real one, or one over a test's storage backend).
type Opener = Box<dyn Fn(&Path) -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// The default store: a single redb database file.
pub struct EmbeddedStore {
    /// The open database; `None` after a failed reopen (the next transaction tries again).
    db: RwLock<Option<Database>>,
    path: PathBuf,
    opener: Opener,
    /// Writes are refused while the file system has fewer free bytes than this.
    disk_reserve: u64,
    /// Records of each table a deleted collection's purge removes per transaction.
    purge_batch: usize,
}

/// The default [`EmbeddedStore::with_disk_reserve`]: 64 MiB.
pub const DEFAULT_DISK_RESERVE: u64 = 64 << 20;

fn backend<E: Into<redb::Error>>(err: E) -> StoreError {
    match err.into() {
        error @ (redb::Error::Io(_) | redb::Error::PreviousIo) => StoreError::Unavailable(error.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Commits `txn` (durably: redb fsyncs before it returns), timed for the observer.
fn commit(txn: WriteTransaction) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    txn.commit().map_err(backend)?;
    crate::observe_commit(started.elapsed());
    Ok(())
}

/// Whether a transaction could not begin because an earlier I/O error left the database unusable.
fn needs_reopen(error: &TransactionError) -> bool {
    matches!(error, TransactionError::Storage(StorageError::PreviousIo | StorageError::Io(_)))
}

fn decode_collection(key: Key<'_>, bytes: &[u8]) -> Result<CollectionRecord, StoreError> {
    decode("collections", &format!("{}/{}/{}", key.0, key.1, key.2), bytes)
}

fn decode_project(key: Key<'_>, bytes: &[u8]) -> Result<ProjectRecord, StoreError> {
    decode("projects", key.2, bytes)
}

/// Reads the records of one collection from an item table, in key order, strictly after `after`.
fn list_items<T: DeserializeOwned>(
    table: &impl ReadableTable<ItemKey<'static>, &'static [u8]>,
    what: &str,
    (account, region, collection): Key<'_>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let start = match after {
        Some(after) => Bound::Excluded((account, region, collection, after)),
        None => Bound::Included((account, region, collection, "")),
    };
    let mut out = Vec::new();
    for entry in table.range::<ItemKey<'_>>((start, Bound::Unbounded)).map_err(backend)? {
        if out.len() >= limit {
            break;
        }
        let (key, value) = entry.map_err(backend)?;
        let key = key.value();
        if (key.0, key.1, key.2) != (account, region, collection) {
            break;
        }
        out.push(decode(what, key.3, value.value())?);
    }
    Ok(out)
}

/// Reads up to `limit` records of one scope from a table keyed (account, region, id), in key order, strictly
/// after `after` (collections, projects).
fn list_scoped<T>(
    table: &impl ReadableTable<Key<'static>, &'static [u8]>,
    scope: &Scope,
    after: Option<&str>,
    limit: usize,
    decode_record: impl Fn(Key<'_>, &[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let (account, region) = (scope.account_id.as_str(), scope.region.as_str());
    let start = match after {
        Some(after) => Bound::Excluded((account, region, after)),
        None => Bound::Included((account, region, "")),
    };
    let mut out = Vec::new();
    for entry in table.range::<Key<'_>>((start, Bound::Unbounded)).map_err(backend)? {
        if out.len() >= limit {
            break;
        }
        let (key, value) = entry.map_err(backend)?;
        let key = key.value();
        if key.0 != account || key.1 != region {
            break;
        }
        out.push(decode_record(key, value.value())?);
    }
    Ok(out)
}

/// Calls `visit` with every record of a table keyed (account, region, id), of every scope.
fn each_scoped<T>(
    table: &impl ReadableTable<Key<'static>, &'static [u8]>,
    decode_record: impl Fn(Key<'_>, &[u8]) -> Result<T, StoreError>,
    visit: &mut dyn FnMut(&Scope, &T),
) -> Result<(), StoreError> {
    for entry in table.iter().map_err(backend)? {
        let (key, value) = entry.map_err(backend)?;
        let key = key.value();
        let scope = Scope { account_id: key.0.to_owned(), region: key.1.to_owned() };
        visit(&scope, &decode_record(key, value.value())?);
    }
    Ok(())
}

/// Removes a job's result chunks.
fn remove_job_results(table: &mut Table<VectorKey<'static>, &'static [u8]>, job: Key<'_>) -> Result<(), StoreError> {
    let (account, region, job_id) = job;
    table
        .retain_in::<VectorKey<'_>, _>((account, region, job_id, 0)..=(account, region, job_id, u64::MAX), |_, _| false)
        .map_err(backend)
}

/// Removes up to `limit` records of one collection from an item table; how many.
fn remove_items(
    table: &mut Table<ItemKey<'static>, &'static [u8]>,
    prefix: Key<'_>,
    limit: usize,
) -> Result<usize, StoreError> {
    let (account, region, collection) = prefix;
    let mut keys = Vec::new();
    for entry in table.range::<ItemKey<'_>>((account, region, collection, "")..).map_err(backend)?.take(limit) {
        let (key, _) = entry.map_err(backend)?;
        let key = key.value();
        if (key.0, key.1, key.2) != prefix {
            break;
        }
        keys.push(key.3.to_owned());
    }
    for key in &keys {
        table.remove((account, region, collection, key.as_str())).map_err(backend)?;
    }
    Ok(keys.len())
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(
            data_dir,
            Box::new(|path| Database::builder().set_cache_size(CACHE_BYTES).create(path)),
        )
    }

    fn open_with(data_dir: &Path, opener: Opener) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let db = opener(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(data_dir.display().to_string()),
            other => backend(other),
        })?;
        let txn = db.begin_write().map_err(backend)?;
        {
            let mut meta = txn.open_table(META).map_err(backend)?;
            let version = meta.get("schema_version").map_err(backend)?.map(|v| v.value());
            match version {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION).map_err(backend)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(StoreError::Backend(format!(
                        "{} has schema version {other}; this reko reads version {SCHEMA_VERSION}",
                        path.display()
                    )));
                }
            }
            txn.open_table(COLLECTIONS).map_err(backend)?;
            for table in [FACES, USERS, IMAGES, REQUESTS] {
                txn.open_table(table).map_err(backend)?;
            }
            txn.open_table(VECTORS).map_err(backend)?;
            txn.open_table(DROPPED).map_err(backend)?;
            for table in [JOBS, UNFINISHED_JOBS, JOB_TOKENS, OUTBOX, PROJECTS] {
                txn.open_table(table).map_err(backend)?;
            }
            txn.open_table(JOB_RESULTS).map_err(backend)?;
            txn.open_table(PROJECT_ITEMS).map_err(backend)?;
        }
        commit(txn)?;
        let store = EmbeddedStore {
            db: RwLock::new(Some(db)),
            path,
            opener,
            disk_reserve: DEFAULT_DISK_RESERVE,
            purge_batch: PURGE_BATCH,
        };
        // Deletes a crash interrupted.
        for (account, region, id) in store.dropped()? {
            store.purge(&Scope { account_id: account, region }, &id)?;
        }
        Ok(store)
    }

    /// Writes a record under `key` of `table` unless the key is taken; whether it was written.
    fn insert_new<T: serde::Serialize>(
        &self,
        table: TableDefinition<Key<'static>, &[u8]>,
        key: Key<'_>,
        record: &T,
    ) -> Result<bool, StoreError> {
        let (_db, txn) = self.write()?;
        {
            let mut table = txn.open_table(table).map_err(backend)?;
            if table.get(key).map_err(backend)?.is_some() {
                return Ok(false);
            }
            table.insert(key, encode(record).as_slice()).map_err(backend)?;
        }
        commit(txn)?;
        Ok(true)
    }

    /// Reads, changes and writes one record of `table` (jobs, the outbox, projects) in one transaction;
    /// `Ok(None)` when there is no such record.
    fn update_record<T: serde::Serialize + DeserializeOwned>(
        &self,
        table: TableDefinition<Key<'static>, &[u8]>,
        name: &str,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut T) -> Update,
    ) -> Result<Option<T>, StoreError> {
        let key = (scope.account_id.as_str(), scope.region.as_str(), job_id);
        let (_db, txn) = self.write()?;
        let record = {
            let mut table = txn.open_table(table).map_err(backend)?;
            let Some(mut record) =
                table.get(key).map_err(backend)?.map(|bytes| decode::<T>(name, job_id, bytes.value())).transpose()?
            else {
                return Ok(None);
            };
            if update(&mut record) == Update::Abort {
                return Ok(Some(record));
            }
            table.insert(key, encode(&record).as_slice()).map_err(backend)?;
            record
        };
        commit(txn)?;
        Ok(Some(record))
    }

    /// The deleted collections whose records are still being removed.
    fn dropped(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(DROPPED).map_err(backend)?;
        let mut dropped = Vec::new();
        for entry in table.iter().map_err(backend)? {
            let (key, _) = entry.map_err(backend)?;
            let (account, region, id) = key.value();
            dropped.push((account.to_owned(), region.to_owned(), id.to_owned()));
        }
        Ok(dropped)
    }

    /// Removes a deleted collection's records, a batch of each table a transaction, then its
    /// tombstone. Several purges of one collection may run at once (a delete and a create of the same id):
    /// each transaction first checks the tombstone, so none removes a record of the collection made anew.
    fn purge(&self, scope: &Scope, id: &str) -> Result<(), StoreError> {
        let prefix = (scope.account_id.as_str(), scope.region.as_str(), id);
        loop {
            let (_db, txn) = self.write()?;
            if txn.open_table(DROPPED).map_err(backend)?.get(prefix).map_err(backend)?.is_none() {
                return Ok(());
            }
            let mut removed = 0;
            for table in [FACES, USERS, IMAGES, REQUESTS] {
                removed += remove_items(&mut txn.open_table(table).map_err(backend)?, prefix, self.purge_batch)?;
            }
            {
                let mut vectors = txn.open_table(VECTORS).map_err(backend)?;
                let range = (prefix.0, prefix.1, prefix.2, 0)..=(prefix.0, prefix.1, prefix.2, u64::MAX);
                let mut last = None;
                for entry in vectors.range::<VectorKey<'_>>(range).map_err(backend)?.take(self.purge_batch) {
                    last = Some(entry.map_err(backend)?.0.value().3);
                    removed += 1;
                }
                if let Some(last) = last {
                    vectors
                        .retain_in::<VectorKey<'_>, _>(
                            (prefix.0, prefix.1, prefix.2, 0)..=(prefix.0, prefix.1, prefix.2, last),
                            |_, _| false,
                        )
                        .map_err(backend)?;
                }
            }
            let done = removed == 0;
            if done {
                txn.open_table(DROPPED).map_err(backend)?.remove(prefix).map_err(backend)?;
            }
            commit(txn)?;
            drop(_db);
            if done {
                return Ok(());
            }
            // redb's writer lock is not fair: a pause lets the writes waiting meanwhile go first.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Removes a deleted collection's records `records` at a time (of each table) per transaction
    /// (`usize::MAX`: all in one, which holds the writer for as long as they take).
    pub fn with_purge_batch(mut self, records: usize) -> EmbeddedStore {
        self.purge_batch = records.max(1);
        self
    }

    /// Refuses writes (as [`StoreError::Unavailable`]) while the data directory's file system has fewer
    /// than `bytes` free (0: never; redb's own error is then the only guard).
    pub fn with_disk_reserve(mut self, bytes: u64) -> EmbeddedStore {
        self.disk_reserve = bytes;
        self
    }

    /// `Unavailable` when the file system is under the reserve.
    fn check_disk_reserve(&self) -> Result<(), StoreError> {
        if self.disk_reserve == 0 {
            return Ok(());
        }
        let Ok(stats) = rustix::fs::statvfs(&self.path) else {
            return Ok(()); // an unknown file system: redb's error guards it
        };
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free < self.disk_reserve {
            return Err(StoreError::Unavailable(format!(
                "{} has {} KiB free, under the reserve of {} KiB",
                self.path.display(),
                free >> 10,
                self.disk_reserve >> 10
            )));
        }
        Ok(())
    }

    /// The open database, reopened first if a failed reopen left none.
    fn database(&self) -> Result<MappedRwLockReadGuard<'_, Database>, StoreError> {
        if self.db.read().is_none() {
            self.reopen()?;
        }
        RwLockReadGuard::try_map(self.db.read(), Option::as_ref)
            .map_err(|_| StoreError::Unavailable("the database could not be reopened".into()))
    }

    /// Closes the database and opens it again: redb's way out of an earlier I/O error. Waits for the
    /// transactions in flight (they hold the read side of the lock).
    fn reopen(&self) -> Result<(), StoreError> {
        let mut db = self.db.write();
        if let Some(old) = db.take()
            && let Err(error) = old.close()
        {
            tracing::warn!(%error, "closing the database after an I/O error");
        }
        match (self.opener)(&self.path) {
            Ok(reopened) => {
                tracing::info!(path = %self.path.display(), "database reopened after an I/O error");
                *db = Some(reopened);
                Ok(())
            }
            Err(error) => Err(StoreError::Unavailable(format!("reopening {}: {error}", self.path.display()))),
        }
    }

    /// A transaction begun by `begin`, on a database reopened first if an earlier I/O error broke it. The
    /// guard keeps the database from being reopened under the transaction.
    fn begin<T>(
        &self,
        begin: impl Fn(&Database) -> Result<T, TransactionError>,
    ) -> Result<(MappedRwLockReadGuard<'_, Database>, T), StoreError> {
        let db = self.database()?;
        match begin(&db) {
            Ok(txn) => Ok((db, txn)),
            Err(error) if needs_reopen(&error) => {
                drop(db);
                self.reopen()?;
                let db = self.database()?;
                let txn = begin(&db).map_err(backend)?;
                Ok((db, txn))
            }
            Err(error) => Err(backend(error)),
        }
    }

    fn write(&self) -> Result<(MappedRwLockReadGuard<'_, Database>, WriteTransaction), StoreError> {
        self.check_disk_reserve()?;
        self.begin(Database::begin_write)
    }

    fn read(&self) -> Result<(MappedRwLockReadGuard<'_, Database>, ReadTransaction), StoreError> {
        self.begin(|db| db.begin_read())
    }
}

/// A [`CollectionWrite`] over one redb write transaction.
struct Writer<'txn, 'k> {
    prefix: Key<'k>,
    record: CollectionRecord,
    faces: Table<'txn, ItemKey<'static>, &'static [u8]>,
    vectors: Table<'txn, VectorKey<'static>, &'static [u8]>,
    users: Table<'txn, ItemKey<'static>, &'static [u8]>,
    images: Table<'txn, ItemKey<'static>, &'static [u8]>,
    requests: Table<'txn, ItemKey<'static>, &'static [u8]>,
}

impl<'txn, 'k> Writer<'txn, 'k> {
    fn open(txn: &'txn WriteTransaction, prefix: Key<'k>, record: CollectionRecord) -> Result<Self, StoreError> {
        Ok(Writer {
            prefix,
            record,
            faces: txn.open_table(FACES).map_err(backend)?,
            vectors: txn.open_table(VECTORS).map_err(backend)?,
            users: txn.open_table(USERS).map_err(backend)?,
            images: txn.open_table(IMAGES).map_err(backend)?,
            requests: txn.open_table(REQUESTS).map_err(backend)?,
        })
    }

    fn key<'a>(&'a self, item: &'a str) -> ItemKey<'a> {
        (self.prefix.0, self.prefix.1, self.prefix.2, item)
    }
}

fn get_item<T: DeserializeOwned>(
    table: &Table<ItemKey<'static>, &'static [u8]>,
    what: &str,
    key: ItemKey<'_>,
) -> Result<Option<T>, StoreError> {
    match table.get(key).map_err(backend)? {
        Some(bytes) => decode(what, key.3, bytes.value()).map(Some),
        None => Ok(None),
    }
}

impl CollectionWrite for Writer<'_, '_> {
    fn collection(&mut self) -> &mut CollectionRecord {
        &mut self.record
    }

    fn face(&self, face_id: &str) -> Result<Option<FaceRecord>, StoreError> {
        get_item(&self.faces, "faces", self.key(face_id))
    }

    fn put_face(&mut self, face: &FaceRecord, vector: Option<&[f32]>) -> Result<(), StoreError> {
        let (a, r, c) = self.prefix;
        self.faces.insert((a, r, c, face.face_id.as_str()), encode(face).as_slice()).map_err(backend)?;
        if let Some(vector) = vector {
            self.vectors
                .insert((a, r, c, face.key), encode_vector(&face.face_id, vector)?.as_slice())
                .map_err(backend)?;
        }
        Ok(())
    }

    fn delete_face(&mut self, face_id: &str) -> Result<Option<FaceRecord>, StoreError> {
        let (a, r, c) = self.prefix;
        let removed = match self.faces.remove((a, r, c, face_id)).map_err(backend)? {
            Some(bytes) => Some(decode::<FaceRecord>("faces", face_id, bytes.value())?),
            None => None,
        };
        if let Some(face) = &removed {
            self.vectors.remove((a, r, c, face.key)).map_err(backend)?;
        }
        Ok(removed)
    }

    fn image_faces(&self, image_key: &str) -> Result<Option<Vec<String>>, StoreError> {
        get_item(&self.images, "images", self.key(image_key))
    }

    fn put_image_faces(&mut self, image_key: &str, face_ids: &[String]) -> Result<(), StoreError> {
        let (a, r, c) = self.prefix;
        if face_ids.is_empty() {
            self.images.remove((a, r, c, image_key)).map_err(backend)?;
        } else {
            self.images.insert((a, r, c, image_key), encode(&face_ids).as_slice()).map_err(backend)?;
        }
        Ok(())
    }

    fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        get_item(&self.users, "users", self.key(user_id))
    }

    fn put_user(&mut self, user: &UserRecord) -> Result<(), StoreError> {
        let (a, r, c) = self.prefix;
        self.users.insert((a, r, c, user.user_id.as_str()), encode(user).as_slice()).map_err(backend)?;
        Ok(())
    }

    fn delete_user(&mut self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let (a, r, c) = self.prefix;
        match self.users.remove((a, r, c, user_id)).map_err(backend)? {
            Some(bytes) => decode("users", user_id, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn request(&self, token: &str) -> Result<Option<RequestRecord>, StoreError> {
        get_item(&self.requests, "requests", self.key(token))
    }

    fn put_request(&mut self, token: &str, record: &RequestRecord) -> Result<(), StoreError> {
        let (a, r, c) = self.prefix;
        self.requests.insert((a, r, c, token), encode(record).as_slice()).map_err(backend)?;
        Ok(())
    }
}

impl Store for EmbeddedStore {
    fn check_writable(&self) -> Result<(), StoreError> {
        let (_db, txn) = self.write()?;
        {
            let mut meta = txn.open_table(META).map_err(backend)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            meta.insert("health_checked_at", now).map_err(backend)?;
        }
        commit(txn)
    }

    fn insert_collection(&self, scope: &Scope, record: &CollectionRecord) -> Result<bool, StoreError> {
        // The records of a deleted collection of that id go first.
        self.purge(scope, &record.collection_id)?;
        self.insert_new(
            COLLECTIONS,
            (scope.account_id.as_str(), scope.region.as_str(), record.collection_id.as_str()),
            record,
        )
    }

    fn collection(&self, scope: &Scope, id: &str) -> Result<Option<CollectionRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(COLLECTIONS).map_err(backend)?;
        let key = (scope.account_id.as_str(), scope.region.as_str(), id);
        match table.get(key).map_err(backend)? {
            Some(bytes) => decode_collection(key, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn list_collections(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CollectionRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(COLLECTIONS).map_err(backend)?;
        list_scoped(&table, scope, after, limit, decode_collection)
    }

    fn each_collection(&self, visit: &mut dyn FnMut(&Scope, &CollectionRecord)) -> Result<(), StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(COLLECTIONS).map_err(backend)?;
        each_scoped(&table, decode_collection, visit)
    }

    fn delete_collection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let (_db, txn) = self.write()?;
        let prefix = (scope.account_id.as_str(), scope.region.as_str(), id);
        let existed = txn.open_table(COLLECTIONS).map_err(backend)?.remove(prefix).map_err(backend)?.is_some();
        if !existed {
            return Ok(false);
        }
        txn.open_table(DROPPED).map_err(backend)?.insert(prefix, ()).map_err(backend)?;
        commit(txn)?;
        drop(_db);
        // Gone for every reader now; its records go in batches, other writes in between.
        self.purge(scope, id)?;
        Ok(true)
    }

    fn update_collection(
        &self,
        scope: &Scope,
        id: &str,
        update: &mut dyn FnMut(&mut CollectionRecord) -> Update,
    ) -> Result<Option<(CollectionRecord, Update)>, StoreError> {
        let (_db, txn) = self.write()?;
        let outcome = {
            let mut table = txn.open_table(COLLECTIONS).map_err(backend)?;
            let key = (scope.account_id.as_str(), scope.region.as_str(), id);
            let current = match table.get(key).map_err(backend)? {
                Some(bytes) => decode_collection(key, bytes.value())?,
                None => return Ok(None),
            };
            let mut record = current.clone();
            match update(&mut record) {
                Update::Commit => {
                    table.insert(key, encode(&record).as_slice()).map_err(backend)?;
                    (record, Update::Commit)
                }
                Update::Abort => (current, Update::Abort),
            }
        };
        if outcome.1 == Update::Commit {
            commit(txn)?;
        } else {
            txn.abort().map_err(backend)?;
        }
        Ok(Some(outcome))
    }

    fn write_collection(
        &self,
        scope: &Scope,
        id: &str,
        write: &mut dyn FnMut(&mut dyn CollectionWrite) -> Result<Update, StoreError>,
    ) -> Result<Option<Update>, StoreError> {
        let (_db, txn) = self.write()?;
        let prefix = (scope.account_id.as_str(), scope.region.as_str(), id);
        let outcome = {
            let mut collections = txn.open_table(COLLECTIONS).map_err(backend)?;
            let record = match collections.get(prefix).map_err(backend)? {
                Some(bytes) => decode_collection(prefix, bytes.value())?,
                None => return Ok(None),
            };
            let mut writer = Writer::open(&txn, prefix, record)?;
            let outcome = write(&mut writer)?;
            if outcome == Update::Commit {
                collections.insert(prefix, encode(&writer.record).as_slice()).map_err(backend)?;
            }
            outcome
        };
        match outcome {
            Update::Commit => commit(txn)?,
            Update::Abort => txn.abort().map_err(backend)?,
        }
        Ok(Some(outcome))
    }

    fn face(&self, scope: &Scope, collection: &str, face_id: &str) -> Result<Option<FaceRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(FACES).map_err(backend)?;
        match table.get((scope.account_id.as_str(), scope.region.as_str(), collection, face_id)).map_err(backend)? {
            Some(bytes) => decode("faces", face_id, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn list_faces(
        &self,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FaceRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(FACES).map_err(backend)?;
        list_items(&table, "faces", (scope.account_id.as_str(), scope.region.as_str(), collection), after, limit)
    }

    fn face_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        keys: &[u64],
    ) -> Result<Vec<Option<StoredVector>>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(VECTORS).map_err(backend)?;
        let (a, r) = (scope.account_id.as_str(), scope.region.as_str());
        keys.iter()
            .map(|&key| match table.get((a, r, collection, key)).map_err(backend)? {
                Some(bytes) => decode_vector(key, bytes.value()).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    fn faces(&self, scope: &Scope, collection: &str, face_ids: &[&str]) -> Result<Vec<Option<FaceRecord>>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(FACES).map_err(backend)?;
        let (a, r) = (scope.account_id.as_str(), scope.region.as_str());
        face_ids
            .iter()
            .map(|&id| match table.get((a, r, collection, id)).map_err(backend)? {
                Some(bytes) => decode("faces", id, bytes.value()).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    fn scan_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        from_key: u64,
        visit: &mut dyn FnMut(u64, &[f32]),
    ) -> Result<(), StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(VECTORS).map_err(backend)?;
        let (a, r) = (scope.account_id.as_str(), scope.region.as_str());
        for entry in table
            .range::<VectorKey<'_>>((a, r, collection, from_key)..=(a, r, collection, u64::MAX))
            .map_err(backend)?
        {
            let (key, value) = entry.map_err(backend)?;
            let key = key.value().3;
            let (_, vector) = decode_vector(key, value.value())?;
            visit(key, &vector);
        }
        Ok(())
    }

    fn vector_keys(&self, scope: &Scope, collection: &str, visit: &mut dyn FnMut(u64)) -> Result<(), StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(VECTORS).map_err(backend)?;
        let (a, r) = (scope.account_id.as_str(), scope.region.as_str());
        for entry in
            table.range::<VectorKey<'_>>((a, r, collection, 0)..=(a, r, collection, u64::MAX)).map_err(backend)?
        {
            visit(entry.map_err(backend)?.0.value().3);
        }
        Ok(())
    }

    fn user(&self, scope: &Scope, collection: &str, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(USERS).map_err(backend)?;
        match table.get((scope.account_id.as_str(), scope.region.as_str(), collection, user_id)).map_err(backend)? {
            Some(bytes) => decode("users", user_id, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn list_users(
        &self,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(USERS).map_err(backend)?;
        list_items(&table, "users", (scope.account_id.as_str(), scope.region.as_str(), collection), after, limit)
    }

    fn insert_job(
        &self,
        scope: &Scope,
        job: &JobRecord,
        token: Option<(&str, &RequestRecord)>,
        max_unfinished: usize,
    ) -> Result<JobInsert, StoreError> {
        let (account, region) = (scope.account_id.as_str(), scope.region.as_str());
        let (_db, txn) = self.write()?;
        {
            let mut tokens = txn.open_table(JOB_TOKENS).map_err(backend)?;
            if let Some((key, record)) = token {
                if let Some(bytes) = tokens.get((account, region, key)).map_err(backend)? {
                    return decode("job_tokens", key, bytes.value()).map(JobInsert::Existing);
                }
                tokens.insert((account, region, key), encode(record).as_slice()).map_err(backend)?;
            }
            let mut unfinished = txn.open_table(UNFINISHED_JOBS).map_err(backend)?;
            let running = unfinished
                .range::<Key<'_>>((account, region, "")..)
                .map_err(backend)?
                .take_while(|e| e.as_ref().is_ok_and(|(k, _)| (k.value().0, k.value().1) == (account, region)))
                .take(max_unfinished)
                .count();
            if running >= max_unfinished {
                return Ok(JobInsert::LimitReached);
            }
            unfinished.insert((account, region, job.job_id.as_str()), [].as_slice()).map_err(backend)?;
            txn.open_table(JOBS)
                .map_err(backend)?
                .insert((account, region, job.job_id.as_str()), encode(job).as_slice())
                .map_err(backend)?;
        }
        commit(txn)?;
        Ok(JobInsert::Inserted)
    }

    fn job(&self, scope: &Scope, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(JOBS).map_err(backend)?;
        match table.get((scope.account_id.as_str(), scope.region.as_str(), job_id)).map_err(backend)? {
            Some(bytes) => decode("jobs", job_id, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn update_job(
        &self,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut JobRecord) -> Update,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.update_record(JOBS, "jobs", scope, job_id, update)
    }

    fn finish_job(
        &self,
        scope: &Scope,
        job: &JobRecord,
        results: &[Vec<u8>],
        owner: Option<&str>,
        notification: Option<&OutboxRecord>,
    ) -> Result<bool, StoreError> {
        let (account, region, job_id) = (scope.account_id.as_str(), scope.region.as_str(), job.job_id.as_str());
        let (_db, txn) = self.write()?;
        if let Some(owner) = owner {
            let jobs = txn.open_table(JOBS).map_err(backend)?;
            if let Some(bytes) = jobs.get((account, region, job_id)).map_err(backend)? {
                let stored: JobRecord = decode("jobs", job_id, bytes.value())?;
                if !stored.may_be_finished_by(owner) {
                    return Ok(false);
                }
            }
        }
        {
            let mut chunks = txn.open_table(JOB_RESULTS).map_err(backend)?;
            remove_job_results(&mut chunks, (account, region, job_id))?;
            for (n, chunk) in results.iter().enumerate() {
                chunks.insert((account, region, job_id, n as u64), chunk.as_slice()).map_err(backend)?;
            }
            txn.open_table(UNFINISHED_JOBS).map_err(backend)?.remove((account, region, job_id)).map_err(backend)?;
            if let Some(notification) = notification {
                txn.open_table(OUTBOX)
                    .map_err(backend)?
                    .insert((account, region, job_id), encode(notification).as_slice())
                    .map_err(backend)?;
            }
            txn.open_table(JOBS)
                .map_err(backend)?
                .insert((account, region, job_id), encode(job).as_slice())
                .map_err(backend)?;
        }
        commit(txn)?;
        Ok(true)
    }

    fn job_results(&self, scope: &Scope, job_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let (account, region) = (scope.account_id.as_str(), scope.region.as_str());
        let (_db, txn) = self.read()?;
        let table = txn.open_table(JOB_RESULTS).map_err(backend)?;
        let mut out = Vec::new();
        for entry in table
            .range::<VectorKey<'_>>((account, region, job_id, 0)..=(account, region, job_id, u64::MAX))
            .map_err(backend)?
        {
            let (_, value) = entry.map_err(backend)?;
            out.push(value.value().to_vec());
        }
        Ok(out)
    }

    fn expire(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let (_db, txn) = self.write()?;
        let mut expired = 0;
        {
            let mut jobs = txn.open_table(JOBS).map_err(backend)?;
            let mut old_jobs: Vec<(String, String, String)> = Vec::new();
            for entry in jobs.iter().map_err(backend)? {
                let (key, value) = entry.map_err(backend)?;
                let key = key.value();
                let job: JobRecord = decode("jobs", key.2, value.value())?;
                if job.status.finished() && job.finished_at_ms.is_some_and(|t| t < before_ms) {
                    old_jobs.push((key.0.to_owned(), key.1.to_owned(), key.2.to_owned()));
                    if old_jobs.len() >= limit {
                        break;
                    }
                }
            }
            let mut results = txn.open_table(JOB_RESULTS).map_err(backend)?;
            let mut outbox = txn.open_table(OUTBOX).map_err(backend)?;
            for (a, r, id) in &old_jobs {
                jobs.remove((a.as_str(), r.as_str(), id.as_str())).map_err(backend)?;
                remove_job_results(&mut results, (a, r, id))?;
                outbox.remove((a.as_str(), r.as_str(), id.as_str())).map_err(backend)?;
            }
            expired += old_jobs.len();
            let mut tokens = txn.open_table(JOB_TOKENS).map_err(backend)?;
            let mut old_tokens: Vec<(String, String, String)> = Vec::new();
            for entry in tokens.iter().map_err(backend)? {
                let (key, value) = entry.map_err(backend)?;
                let key = key.value();
                let token: RequestRecord = decode("job_tokens", key.2, value.value())?;
                if token.created_at_ms < before_ms {
                    old_tokens.push((key.0.to_owned(), key.1.to_owned(), key.2.to_owned()));
                    if old_tokens.len() >= limit {
                        break;
                    }
                }
            }
            for (a, r, t) in &old_tokens {
                tokens.remove((a.as_str(), r.as_str(), t.as_str())).map_err(backend)?;
            }
            expired += old_tokens.len();
            let mut requests = txn.open_table(REQUESTS).map_err(backend)?;
            let mut old_requests: Vec<(String, String, String, String)> = Vec::new();
            for entry in requests.iter().map_err(backend)? {
                let (key, value) = entry.map_err(backend)?;
                let key = key.value();
                let request: RequestRecord = decode("requests", key.3, value.value())?;
                if request.created_at_ms < before_ms {
                    old_requests.push((key.0.to_owned(), key.1.to_owned(), key.2.to_owned(), key.3.to_owned()));
                    if old_requests.len() >= limit {
                        break;
                    }
                }
            }
            for (a, r, c, t) in &old_requests {
                requests.remove((a.as_str(), r.as_str(), c.as_str(), t.as_str())).map_err(backend)?;
            }
            expired += old_requests.len();
        }
        if expired == 0 {
            txn.abort().map_err(backend)?;
        } else {
            commit(txn)?;
        }
        Ok(expired)
    }

    fn each_unfinished_job(&self, visit: &mut dyn FnMut(&Scope, &JobRecord)) -> Result<(), StoreError> {
        let (_db, txn) = self.read()?;
        let unfinished = txn.open_table(UNFINISHED_JOBS).map_err(backend)?;
        let jobs = txn.open_table(JOBS).map_err(backend)?;
        for entry in unfinished.iter().map_err(backend)? {
            let (key, _) = entry.map_err(backend)?;
            let key = key.value();
            if let Some(bytes) = jobs.get(key).map_err(backend)? {
                let scope = Scope { account_id: key.0.to_owned(), region: key.1.to_owned() };
                visit(&scope, &decode("jobs", key.2, bytes.value())?);
            }
        }
        Ok(())
    }

    fn each_pending_notification(&self, visit: &mut dyn FnMut(&Scope, &str, &OutboxRecord)) -> Result<(), StoreError> {
        let (_db, txn) = self.read()?;
        let outbox = txn.open_table(OUTBOX).map_err(backend)?;
        for entry in outbox.iter().map_err(backend)? {
            let (key, value) = entry.map_err(backend)?;
            let key = key.value();
            let scope = Scope { account_id: key.0.to_owned(), region: key.1.to_owned() };
            visit(&scope, key.2, &decode("outbox", key.2, value.value())?);
        }
        Ok(())
    }

    fn update_notification(
        &self,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut OutboxRecord) -> Update,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        self.update_record(OUTBOX, "outbox", scope, job_id, update)
    }

    fn remove_notification(&self, scope: &Scope, job_id: &str, owner: Option<&str>) -> Result<bool, StoreError> {
        let key = (scope.account_id.as_str(), scope.region.as_str(), job_id);
        let (_db, txn) = self.write()?;
        {
            let mut table = txn.open_table(OUTBOX).map_err(backend)?;
            let Some(bytes) = table.get(key).map_err(backend)? else { return Ok(false) };
            let record: OutboxRecord = decode("outbox", job_id, bytes.value())?;
            drop(bytes);
            if !record.may_be_removed_by(owner) {
                return Ok(false);
            }
            table.remove(key).map_err(backend)?;
        }
        commit(txn)?;
        Ok(true)
    }

    fn insert_project(&self, scope: &Scope, project: &ProjectRecord) -> Result<bool, StoreError> {
        self.insert_new(PROJECTS, (scope.account_id.as_str(), scope.region.as_str(), project.name.as_str()), project)
    }

    fn project(&self, scope: &Scope, name: &str) -> Result<Option<ProjectRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(PROJECTS).map_err(backend)?;
        match table.get((scope.account_id.as_str(), scope.region.as_str(), name)).map_err(backend)? {
            Some(bytes) => decode("projects", name, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn list_projects(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ProjectRecord>, StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(PROJECTS).map_err(backend)?;
        list_scoped(&table, scope, after, limit, decode_project)
    }

    fn each_project(&self, visit: &mut dyn FnMut(&Scope, &ProjectRecord)) -> Result<(), StoreError> {
        let (_db, txn) = self.read()?;
        let table = txn.open_table(PROJECTS).map_err(backend)?;
        each_scoped(&table, decode_project, visit)
    }

    fn update_project(
        &self,
        scope: &Scope,
        name: &str,
        update: &mut dyn FnMut(&mut ProjectRecord) -> Update,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        self.update_record(PROJECTS, "projects", scope, name, update)
    }

    fn delete_project(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        let (account, region) = (scope.account_id.as_str(), scope.region.as_str());
        let (_db, txn) = self.write()?;
        let existed = {
            let existed =
                txn.open_table(PROJECTS).map_err(backend)?.remove((account, region, name)).map_err(backend)?.is_some();
            let mut items = txn.open_table(PROJECT_ITEMS).map_err(backend)?;
            remove_items(&mut items, (account, region, name), usize::MAX)?;
            existed
        };
        commit(txn)?;
        Ok(existed)
    }

    fn put_project_item(
        &self,
        scope: &Scope,
        project: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let key = (scope.account_id.as_str(), scope.region.as_str(), project, key);
        let (_db, txn) = self.write()?;
        {
            let mut items = txn.open_table(PROJECT_ITEMS).map_err(backend)?;
            match value {
                Some(bytes) => items.insert(key, bytes).map_err(backend)?,
                None => items.remove(key).map_err(backend)?,
            };
        }
        commit(txn)?;
        Ok(())
    }

    fn project_item(&self, scope: &Scope, project: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (_db, txn) = self.read()?;
        let items = txn.open_table(PROJECT_ITEMS).map_err(backend)?;
        let value = items.get((scope.account_id.as_str(), scope.region.as_str(), project, key)).map_err(backend)?;
        Ok(value.map(|v| v.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(account: &str) -> Scope {
        Scope { account_id: account.into(), region: "us-east-1".into() }
    }

    fn record(id: &str) -> CollectionRecord {
        CollectionRecord::new(id, "1.0", 1)
    }

    #[test]
    fn collections_persist_across_reopen_and_stay_in_their_scope() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            assert!(store.insert_collection(&scope("111111111111"), &record("a")).unwrap());
            assert!(!store.insert_collection(&scope("111111111111"), &record("a")).unwrap());
            assert!(store.insert_collection(&scope("222222222222"), &record("a")).unwrap());
            assert!(store.insert_collection(&scope("111111111111"), &record("b")).unwrap());
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let ids = |s: &Scope, after, limit| -> Vec<String> {
            store.list_collections(s, after, limit).unwrap().into_iter().map(|r| r.collection_id).collect()
        };
        assert_eq!(ids(&scope("111111111111"), None, 10), ["a", "b"]);
        assert_eq!(ids(&scope("111111111111"), Some("a"), 10), ["b"]);
        assert_eq!(ids(&scope("111111111111"), None, 1), ["a"]);
        assert_eq!(ids(&scope("222222222222"), None, 10), ["a"]);
        assert!(ids(&scope("333333333333"), None, 10).is_empty());
        assert!(ids(&Scope { account_id: "111111111111".into(), region: "eu-west-1".into() }, None, 10).is_empty());

        assert!(store.delete_collection(&scope("111111111111"), "a").unwrap());
        assert!(!store.delete_collection(&scope("111111111111"), "a").unwrap());
        assert!(store.collection(&scope("222222222222"), "a").unwrap().is_some());
    }

    #[test]
    fn a_delete_cut_short_by_a_crash_is_finished_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let s = scope("111111111111");
        let count = PURGE_BATCH as u64 * 2 + 10;
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.insert_collection(&s, &record("big")).unwrap();
            store
                .write_collection(&s, "big", &mut |w| {
                    for n in 0..count {
                        let id = format!("{n:08x}-0000-4000-8000-000000000000");
                        w.put_face(&face(&id, n), Some(&[n as f32, 1.0]))?;
                    }
                    Ok(Update::Commit)
                })
                .unwrap();
            // The delete's first transaction, and no more: the crash.
            let (_db, txn) = store.write().unwrap();
            let key = ("111111111111", "us-east-1", "big");
            txn.open_table(COLLECTIONS).unwrap().remove(key).unwrap();
            txn.open_table(DROPPED).unwrap().insert(key, ()).unwrap();
            commit(txn).unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert!(store.dropped().unwrap().is_empty());
        assert!(store.collection(&s, "big").unwrap().is_none());
        assert!(store.insert_collection(&s, &record("big")).unwrap());
        assert!(store.list_faces(&s, "big", None, 10).unwrap().is_empty());
        let mut vectors = 0;
        store.scan_vectors(&s, "big", 0, &mut |_, _| vectors += 1).unwrap();
        assert_eq!(vectors, 0);
    }

    #[test]
    fn updates_commit_or_abort_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.insert_collection(&scope("111111111111"), &record("a")).unwrap();
        let (after, outcome) = store
            .update_collection(&scope("111111111111"), "a", &mut |r| {
                r.tags.insert("k".into(), "v".into());
                Update::Commit
            })
            .unwrap()
            .unwrap();
        assert_eq!((after.tags.len(), outcome), (1, Update::Commit));
        let (after, outcome) = store
            .update_collection(&scope("111111111111"), "a", &mut |r| {
                r.tags.clear();
                Update::Abort
            })
            .unwrap()
            .unwrap();
        assert_eq!((after.tags.len(), outcome), (1, Update::Abort));
        assert_eq!(store.collection(&scope("111111111111"), "a").unwrap().unwrap().tags.len(), 1);
        assert!(store.update_collection(&scope("111111111111"), "zz", &mut |_| Update::Commit).unwrap().is_none());
    }

    fn face(id: &str, key: u64) -> FaceRecord {
        FaceRecord {
            face_id: id.into(),
            key,
            image_id: "00000000-0000-0000-0000-000000000000".into(),
            external_image_id: None,
            bounding_box: [0.1, 0.2, 0.3, 0.4],
            confidence: 99.0,
            user_id: None,
            model_version: "1.0".into(),
            created_at_ms: 1,
        }
    }

    fn face_id(n: u8) -> String {
        format!("{n:08x}-0000-4000-8000-000000000000")
    }

    #[test]
    fn collection_writes_are_atomic_and_deleting_a_collection_deletes_its_faces_and_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let s = scope("111111111111");
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            for id in ["a", "b"] {
                store.insert_collection(&s, &record(id)).unwrap();
            }
            for collection in ["a", "b"] {
                let outcome = store
                    .write_collection(&s, collection, &mut |w| {
                        for n in 0..3u8 {
                            let key = w.collection().next_face_key;
                            w.collection().next_face_key += 1;
                            w.collection().face_count += 1;
                            w.put_face(&face(&face_id(n), key), Some(&[n as f32, 1.0, 2.0]))?;
                        }
                        w.put_user(&UserRecord { user_id: "u".into(), face_ids: vec![face_id(0)], created_at_ms: 1 })?;
                        Ok(Update::Commit)
                    })
                    .unwrap();
                assert_eq!(outcome, Some(Update::Commit));
            }
            // An aborted transaction leaves nothing behind.
            store
                .write_collection(&s, "a", &mut |w| {
                    w.delete_face(&face_id(0))?;
                    w.collection().face_count = 0;
                    Ok(Update::Abort)
                })
                .unwrap();
            assert!(store.write_collection(&s, "zz", &mut |_| Ok(Update::Commit)).unwrap().is_none());
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.collection(&s, "a").unwrap().unwrap().face_count, 3);
        assert_eq!(store.list_faces(&s, "a", None, 10).unwrap().len(), 3);
        assert_eq!(store.list_faces(&s, "a", Some(&face_id(0)), 10).unwrap().len(), 2);
        let (id, vector) = store.face_vectors(&s, "a", &[1]).unwrap().remove(0).unwrap();
        assert_eq!((id, vector), (face_id(1), vec![1.0, 1.0, 2.0]));
        let mut seen = Vec::new();
        store.scan_vectors(&s, "a", 0, &mut |key, v| seen.push((key, v[0]))).unwrap();
        assert_eq!(seen, [(0, 0.0), (1, 1.0), (2, 2.0)]);

        assert!(store.delete_collection(&s, "a").unwrap());
        assert!(store.list_faces(&s, "a", None, 10).unwrap().is_empty());
        assert!(store.face_vectors(&s, "a", &[1]).unwrap()[0].is_none());
        assert!(store.user(&s, "a", "u").unwrap().is_none());
        // The neighbour is untouched.
        assert_eq!(store.list_faces(&s, "b", None, 10).unwrap().len(), 3);
        assert!(store.user(&s, "b", "u").unwrap().is_some());
        let mut count = 0;
        store.scan_vectors(&s, "b", 0, &mut |_, _| count += 1).unwrap();
        assert_eq!(count, 3);
    }

    fn job(id: &str) -> JobRecord {
        JobRecord {
            job_id: id.into(),
            operation: "FaceDetection".into(),
            parameters: serde_json::json!({}),
            bucket: "b".into(),
            name: "v.mp4".into(),
            version: None,
            job_tag: None,
            notification: None,
            status: crate::JobStatus::Queued,
            status_message: None,
            metadata: None,
            created_at_ms: 1,
            finished_at_ms: None,
            attempts: 0,
            owner: None,
            lease_until_ms: None,
        }
    }

    #[test]
    fn jobs_keep_their_limit_tokens_and_results_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (scope("111111111111"), scope("222222222222"));
        let token = RequestRecord { parameters: "p".into(), response: serde_json::json!("j1"), created_at_ms: 1 };
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            assert_eq!(
                store.insert_job(&a, &job("j1"), Some(("FaceDetection/t", &token)), 2).unwrap(),
                JobInsert::Inserted
            );
            // The same token again: the first record, nothing stored.
            assert_eq!(
                store.insert_job(&a, &job("j9"), Some(("FaceDetection/t", &token)), 2).unwrap(),
                JobInsert::Existing(token.clone())
            );
            assert!(store.job(&a, "j9").unwrap().is_none());
            assert_eq!(store.insert_job(&a, &job("j2"), None, 2).unwrap(), JobInsert::Inserted);
            assert_eq!(store.insert_job(&a, &job("j3"), None, 2).unwrap(), JobInsert::LimitReached);
            // Another account has its own limit.
            assert_eq!(store.insert_job(&b, &job("j3"), None, 2).unwrap(), JobInsert::Inserted);
            assert!(store.job(&b, "j1").unwrap().is_none());

            let started = store
                .update_job(&a, "j1", &mut |j| {
                    j.status = crate::JobStatus::InProgress;
                    Update::Commit
                })
                .unwrap()
                .unwrap();
            assert_eq!(started.status, crate::JobStatus::InProgress);
            let mut done = started;
            done.status = crate::JobStatus::Succeeded;
            assert!(store.finish_job(&a, &done, &[b"one".to_vec(), b"two".to_vec()], None, None).unwrap());
            // A finished job no longer counts against the limit.
            assert_eq!(store.insert_job(&a, &job("j3"), None, 2).unwrap(), JobInsert::Inserted);
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.job(&a, "j1").unwrap().unwrap().status, crate::JobStatus::Succeeded);
        assert_eq!(store.job_results(&a, "j1").unwrap(), [b"one".to_vec(), b"two".to_vec()]);
        assert!(store.job_results(&b, "j1").unwrap().is_empty());
        let mut unfinished = Vec::new();
        store.each_unfinished_job(&mut |s, j| unfinished.push((s.account_id.clone(), j.job_id.clone()))).unwrap();
        unfinished.sort();
        assert_eq!(
            unfinished,
            [
                ("111111111111".to_owned(), "j2".to_owned()),
                ("111111111111".to_owned(), "j3".to_owned()),
                ("222222222222".to_owned(), "j3".to_owned())
            ]
        );
    }

    /// A file backend whose writes fail with "no space left on device" while `full` is set.
    #[derive(Debug)]
    struct FillingDisk {
        file: redb::backends::FileBackend,
        full: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl FillingDisk {
        fn check(&self) -> std::io::Result<()> {
            match self.full.load(std::sync::atomic::Ordering::SeqCst) {
                true => Err(std::io::Error::from_raw_os_error(28)),
                false => Ok(()),
            }
        }
    }

    impl redb::StorageBackend for FillingDisk {
        fn len(&self) -> std::io::Result<u64> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.file.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.check()?;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.file.write(offset, data)
        }
        fn close(&self) -> std::io::Result<()> {
            self.file.close()
        }
        fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
            self.file.try_lock_range(start, end)
        }
        fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
            self.file.try_lock_shared_range(start, end)
        }
        fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
            self.file.lock_range(start, end)
        }
        fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
            self.file.lock_shared_range(start, end)
        }
        fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
            self.file.unlock_range(start, end)
        }
        fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
            self.file.query_lock_range(start, end)
        }
    }

    #[test]
    fn a_full_disk_fails_writes_cleanly_and_they_work_again_once_it_has_room() {
        let dir = tempfile::tempdir().unwrap();
        let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let disk = full.clone();
        let opener: Opener = Box::new(move |path| {
            let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
            let file = redb::backends::FileBackend::new(file)?;
            Database::builder().create_with_backend(FillingDisk { file, full: disk.clone() })
        });
        let store = EmbeddedStore::open_with(dir.path(), opener).unwrap();
        let a = scope("111122223333");
        assert!(store.insert_collection(&a, &record("kept")).unwrap());
        store.check_writable().unwrap();

        full.store(true, std::sync::atomic::Ordering::SeqCst);
        for attempt in 0..3 {
            let refused = store.insert_collection(&a, &record(&format!("lost{attempt}")));
            assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
            assert!(matches!(store.check_writable(), Err(StoreError::Unavailable(_))));
        }
        // While the disk is full, reads need the database reopened too, which needs room: they fail
        // the same clean way (never with wrong data).
        assert!(matches!(store.collection(&a, "kept"), Err(StoreError::Unavailable(_))));

        // Room again: the next write reopens the database and works; nothing acknowledged is lost and
        // nothing refused was kept.
        full.store(false, std::sync::atomic::Ordering::SeqCst);
        store.check_writable().unwrap();
        assert!(store.insert_collection(&a, &record("after")).unwrap());
        let ids: Vec<String> =
            store.list_collections(&a, None, 10).unwrap().into_iter().map(|c| c.collection_id).collect();
        assert_eq!(ids, ["after", "kept"]);
    }

    #[test]
    fn under_the_disk_reserve_writes_are_refused_and_reads_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap().with_disk_reserve(1);
        let a = scope("111122223333");
        assert!(store.insert_collection(&a, &record("kept")).unwrap());
        // No disk has this much free: every write is refused before redb writes anything.
        let store = store.with_disk_reserve(u64::MAX);
        let refused = store.insert_collection(&a, &record("lost"));
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
        assert!(matches!(store.check_writable(), Err(StoreError::Unavailable(_))));
        assert_eq!(store.collection(&a, "kept").unwrap().unwrap().collection_id, "kept");
        let store = store.with_disk_reserve(1);
        assert!(store.insert_collection(&a, &record("after")).unwrap());
        let ids: Vec<String> =
            store.list_collections(&a, None, 10).unwrap().into_iter().map(|c| c.collection_id).collect();
        assert_eq!(ids, ["after", "kept"]);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EmbeddedStore::open(dir.path()).unwrap();
        assert!(matches!(EmbeddedStore::open(dir.path()), Err(StoreError::Locked(_))));
    }
}
