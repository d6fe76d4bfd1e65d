//! Durable state of reko behind one trait, [`Store`], with two backends: [`EmbeddedStore`] (one redb
//! file, the default for one machine) and [`PostgresStore`] (one database shared by several nodes).
//!
//! Invariants every backend keeps:
//! - a write is durable before its call returns (an acknowledged write survives `kill -9`);
//! - every record is scoped by [`Scope`] (account and region): no call reaches across scopes;
//! - only feature vectors and metadata are ever stored, never image bytes.

mod codec;
mod embedded;
mod postgres;
mod record;

pub use embedded::{DEFAULT_DISK_RESERVE, EmbeddedStore};
pub use postgres::{PostgresSettings, PostgresStore};
pub use record::{
    CollectionRecord, FaceRecord, JobRecord, JobStatus, Lease, OutboxRecord, ProjectRecord, RequestRecord, Scope,
    UserRecord,
};

/// Called after every commit with how long it took, fsync included (the server's metrics).
pub type CommitObserver = fn(std::time::Duration);

static COMMIT_OBSERVER: std::sync::OnceLock<CommitObserver> = std::sync::OnceLock::new();

/// Sets the process-wide observer of commits (once; later calls are ignored).
pub fn observe_commits(observer: CommitObserver) {
    let _ = COMMIT_OBSERVER.set(observer);
}

/// Tells the observer how long a commit took.
fn observe_commit(took: std::time::Duration) {
    if let Some(observe) = COMMIT_OBSERVER.get() {
        observe(took);
    }
}

/// Errors of the storage layer. Not-found and already-exists are answers, not errors: they come back as
/// `Option`/`bool` values so that the service decides what they mean to the client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("the data directory {0} is in use by another reko process")]
    Locked(String),
    /// The store cannot write now (an I/O error such as a full disk); it recovers by itself once the
    /// cause is gone.
    #[error("the store cannot write now: {0}")]
    Unavailable(String),
}

/// A stored vector with the id of its face.
pub type StoredVector = (String, Vec<f32>);

/// What [`Store::insert_job`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum JobInsert {
    /// The job is stored.
    Inserted,
    /// The request token was used before: its record, nothing written.
    Existing(RequestRecord),
    /// The scope already has the most unfinished jobs it may have: nothing written.
    LimitReached,
}

/// What an update closure decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Write the changed record.
    Commit,
    /// Leave the record as it was.
    Abort,
}

/// The operations reko's state needs. All methods are blocking; async callers use a blocking pool.
pub trait Store: Send + Sync + 'static {
    /// Commits a tiny write, to tell whether the store can write now (the health check).
    fn check_writable(&self) -> Result<(), StoreError>;

    /// Inserts a new collection; `false` (and nothing written) when the id already exists in the scope.
    fn insert_collection(&self, scope: &Scope, record: &CollectionRecord) -> Result<bool, StoreError>;

    /// The collection `id` in the scope.
    fn collection(&self, scope: &Scope, id: &str) -> Result<Option<CollectionRecord>, StoreError>;

    /// Up to `limit` collections of the scope in id order, starting strictly after `after`.
    fn list_collections(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CollectionRecord>, StoreError>;

    /// Calls `visit` with every collection of every scope.
    fn each_collection(&self, visit: &mut dyn FnMut(&Scope, &CollectionRecord)) -> Result<(), StoreError>;

    /// Deletes a collection and everything in it; `false` when there was none.
    fn delete_collection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError>;

    /// Reads, changes and writes a collection in one transaction. `Ok(None)` when it does not exist;
    /// otherwise the record as it now stands and what the closure decided.
    fn update_collection(
        &self,
        scope: &Scope,
        id: &str,
        update: &mut dyn FnMut(&mut CollectionRecord) -> Update,
    ) -> Result<Option<(CollectionRecord, Update)>, StoreError>;

    /// Runs `write` over one collection in a single atomic, durable transaction: everything it changed
    /// is committed when it returns [`Update::Commit`], nothing when it returns [`Update::Abort`] or an
    /// error. `Ok(None)` when the collection does not exist.
    fn write_collection(
        &self,
        scope: &Scope,
        id: &str,
        write: &mut dyn FnMut(&mut dyn CollectionWrite) -> Result<Update, StoreError>,
    ) -> Result<Option<Update>, StoreError>;

    /// The face `face_id` of a collection.
    fn face(&self, scope: &Scope, collection: &str, face_id: &str) -> Result<Option<FaceRecord>, StoreError>;

    /// Up to `limit` faces of a collection in face id order, strictly after `after`.
    fn list_faces(
        &self,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FaceRecord>, StoreError>;

    /// The face ids and vectors stored under index keys, in one read transaction.
    fn face_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        keys: &[u64],
    ) -> Result<Vec<Option<StoredVector>>, StoreError>;

    /// Faces by id, in one read transaction.
    fn faces(&self, scope: &Scope, collection: &str, face_ids: &[&str]) -> Result<Vec<Option<FaceRecord>>, StoreError>;

    /// Calls `visit` with every (key, vector) of a collection whose key is at least `from_key`, in key
    /// order (keys are handed out in increasing order, so a `from_key` reads what was added since).
    fn scan_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        from_key: u64,
        visit: &mut dyn FnMut(u64, &[f32]),
    ) -> Result<(), StoreError>;

    /// Calls `visit` with the key of every stored vector of a collection, in key order (what a loaded
    /// index needs to find the faces deleted since it was saved, without reading the vectors).
    fn vector_keys(&self, scope: &Scope, collection: &str, visit: &mut dyn FnMut(u64)) -> Result<(), StoreError>;

    /// The user `user_id` of a collection.
    fn user(&self, scope: &Scope, collection: &str, user_id: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Up to `limit` users of a collection in user id order, strictly after `after`.
    fn list_users(
        &self,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError>;

    /// Stores a new (unfinished) video job in one transaction, unless `token` (a key and the record to
    /// keep under it) was used before in the scope, or the scope already has `max_unfinished` unfinished
    /// jobs.
    fn insert_job(
        &self,
        scope: &Scope,
        job: &JobRecord,
        token: Option<(&str, &RequestRecord)>,
        max_unfinished: usize,
    ) -> Result<JobInsert, StoreError>;

    /// The job `job_id` of the scope.
    fn job(&self, scope: &Scope, job_id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// Reads, changes and writes an unfinished job in one transaction; `Ok(None)` when there is no such
    /// job. Finishing a job goes through [`Store::finish_job`].
    fn update_job(
        &self,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut JobRecord) -> Update,
    ) -> Result<Option<JobRecord>, StoreError>;

    /// Writes a finished job's record, its results (opaque chunks, read back in this order) and its
    /// completion notification to deliver (into the outbox), in one transaction, unless `owner` is given
    /// and the stored job is already finished or held by another owner (its lease was taken over): then
    /// `false`, nothing written.
    fn finish_job(
        &self,
        scope: &Scope,
        job: &JobRecord,
        results: &[Vec<u8>],
        owner: Option<&str>,
        notification: Option<&OutboxRecord>,
    ) -> Result<bool, StoreError>;

    /// A job's result chunks, in the order they were written.
    fn job_results(&self, scope: &Scope, job_id: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Deletes what has outlived its retention: finished jobs that finished before `before_ms` (with their
    /// results), and remembered request tokens (collections' and jobs') recorded before it; at most
    /// `limit` records of each kind a call. How many records went.
    fn expire(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError>;

    /// Calls `visit` with every unfinished job of every scope (the workers look here for queued jobs and
    /// for jobs whose owner's lease ran out).
    fn each_unfinished_job(&self, visit: &mut dyn FnMut(&Scope, &JobRecord)) -> Result<(), StoreError>;

    /// Calls `visit` with every notification in the outbox: (scope, job id, record).
    fn each_pending_notification(&self, visit: &mut dyn FnMut(&Scope, &str, &OutboxRecord)) -> Result<(), StoreError>;

    /// Reads, changes and writes a job's notification in the outbox in one transaction; `Ok(None)` when
    /// there is none (delivered, given up, or the job never had one).
    fn update_notification(
        &self,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut OutboxRecord) -> Update,
    ) -> Result<Option<OutboxRecord>, StoreError>;

    /// Takes a job's notification out of the outbox (delivered or given up), unless `owner` is given and
    /// another node holds it now; whether it was removed.
    fn remove_notification(&self, scope: &Scope, job_id: &str, owner: Option<&str>) -> Result<bool, StoreError>;

    /// Stores a new Custom Labels project; `false` (nothing written) when the scope has one of that name.
    fn insert_project(&self, scope: &Scope, project: &ProjectRecord) -> Result<bool, StoreError>;

    /// The project `name` of the scope.
    fn project(&self, scope: &Scope, name: &str) -> Result<Option<ProjectRecord>, StoreError>;

    /// Up to `limit` projects of the scope in name (byte) order, strictly after `after`.
    fn list_projects(&self, scope: &Scope, after: Option<&str>, limit: usize)
    -> Result<Vec<ProjectRecord>, StoreError>;

    /// Calls `visit` with every project of every scope (the workers look here for work to do).
    fn each_project(&self, visit: &mut dyn FnMut(&Scope, &ProjectRecord)) -> Result<(), StoreError>;

    /// Reads, changes and writes a project in one transaction; `Ok(None)` when there is no such project.
    fn update_project(
        &self,
        scope: &Scope,
        name: &str,
        update: &mut dyn FnMut(&mut ProjectRecord) -> Update,
    ) -> Result<Option<ProjectRecord>, StoreError>;

    /// Deletes a project and all its items; whether it existed.
    fn delete_project(&self, scope: &Scope, name: &str) -> Result<bool, StoreError>;

    /// Writes (or, with `None`, removes) one item of a project: dataset entries, features, a trained model.
    fn put_project_item(&self, scope: &Scope, project: &str, key: &str, value: Option<&[u8]>)
    -> Result<(), StoreError>;

    /// One item of a project.
    fn project_item(&self, scope: &Scope, project: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// What a [`Store::write_collection`] transaction can read and change. Reads see the transaction's own
/// writes.
pub trait CollectionWrite {
    /// The collection's record; changes to it are committed with the rest.
    fn collection(&mut self) -> &mut CollectionRecord;
    fn face(&self, face_id: &str) -> Result<Option<FaceRecord>, StoreError>;
    /// Stores a face and, when given, its vector (under `face.key`).
    fn put_face(&mut self, face: &FaceRecord, vector: Option<&[f32]>) -> Result<(), StoreError>;
    /// Deletes a face and its vector.
    fn delete_face(&mut self, face_id: &str) -> Result<Option<FaceRecord>, StoreError>;
    /// The faces indexed from one image under one external id (see the service's de-duplication).
    fn image_faces(&self, image_key: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Sets (or, with an empty list, removes) the faces of an image key.
    fn put_image_faces(&mut self, image_key: &str, face_ids: &[String]) -> Result<(), StoreError>;
    fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError>;
    fn put_user(&mut self, user: &UserRecord) -> Result<(), StoreError>;
    fn delete_user(&mut self, user_id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// A remembered request, by operation and token.
    fn request(&self, token: &str) -> Result<Option<RequestRecord>, StoreError>;
    fn put_request(&mut self, token: &str, record: &RequestRecord) -> Result<(), StoreError>;
}
