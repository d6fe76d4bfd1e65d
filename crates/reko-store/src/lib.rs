//! Durable state of reko behind one trait, [`Store`], so that a second backend (PostgreSQL) can stand
//! beside the embedded one later.
//!
//! Invariants every backend keeps:
//! - a write is durable before its call returns (an acknowledged write survives `kill -9`);
//! - every record is scoped by [`Scope`] (account and region): no call reaches across scopes;
//! - only feature vectors and metadata are ever stored, never image bytes.

mod embedded;
mod record;

pub use embedded::EmbeddedStore;
pub use record::{CollectionRecord, Scope};

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
}
