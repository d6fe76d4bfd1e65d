//! The embedded backend: one redb file in the data directory, fsynced on every commit.
//!
//! Tables (keys are tuples, so a scope's records are one contiguous range):
//! - `meta`: `schema_version` and other store-wide facts;
//! - `collections`: (account, region, collection id) → [`CollectionRecord`] as JSON.
//!
//! Faces, users and video jobs get their own tables keyed under the same (account, region, ...) prefix.

use std::ops::Bound;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{CollectionRecord, Scope, Store, StoreError, Update};

type Key<'a> = (&'a str, &'a str, &'a str);

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const COLLECTIONS: TableDefinition<Key<'static>, &[u8]> = TableDefinition::new("collections");

/// The version of the table layout this code writes.
const SCHEMA_VERSION: u64 = 1;

/// The file inside the data directory.
pub const DATABASE_FILE: &str = "reko.redb";

/// The default store: a single redb database file.
pub struct EmbeddedStore {
    db: Database,
}

fn backend<E: Into<redb::Error>>(err: E) -> StoreError {
    StoreError::Backend(err.into().to_string())
}

fn decode(key: Key<'_>, bytes: &[u8]) -> Result<CollectionRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("collections/{}/{}/{}", key.0, key.1, key.2),
        reason: e.to_string(),
    })
}

fn encode(record: &CollectionRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialise")
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let db = Database::create(&path).map_err(|e| match e {
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
        }
        txn.commit().map_err(backend)?;
        Ok(EmbeddedStore { db })
    }
}

impl Store for EmbeddedStore {
    fn insert_collection(&self, scope: &Scope, record: &CollectionRecord) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        {
            let mut table = txn.open_table(COLLECTIONS).map_err(backend)?;
            let key = (scope.account_id.as_str(), scope.region.as_str(), record.collection_id.as_str());
            if table.get(key).map_err(backend)?.is_some() {
                return Ok(false);
            }
            table.insert(key, encode(record).as_slice()).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        Ok(true)
    }

    fn collection(&self, scope: &Scope, id: &str) -> Result<Option<CollectionRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(COLLECTIONS).map_err(backend)?;
        let key = (scope.account_id.as_str(), scope.region.as_str(), id);
        match table.get(key).map_err(backend)? {
            Some(bytes) => decode(key, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn list_collections(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CollectionRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(COLLECTIONS).map_err(backend)?;
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
            out.push(decode(key, value.value())?);
        }
        Ok(out)
    }

    fn delete_collection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let existed = {
            let mut table = txn.open_table(COLLECTIONS).map_err(backend)?;
            table.remove((scope.account_id.as_str(), scope.region.as_str(), id)).map_err(backend)?.is_some()
        };
        txn.commit().map_err(backend)?;
        Ok(existed)
    }

    fn update_collection(
        &self,
        scope: &Scope,
        id: &str,
        update: &mut dyn FnMut(&mut CollectionRecord) -> Update,
    ) -> Result<Option<(CollectionRecord, Update)>, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let outcome = {
            let mut table = txn.open_table(COLLECTIONS).map_err(backend)?;
            let key = (scope.account_id.as_str(), scope.region.as_str(), id);
            let current = match table.get(key).map_err(backend)? {
                Some(bytes) => decode(key, bytes.value())?,
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
            txn.commit().map_err(backend)?;
        } else {
            txn.abort().map_err(backend)?;
        }
        Ok(Some(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(account: &str) -> Scope {
        Scope { account_id: account.into(), region: "us-east-1".into() }
    }

    fn record(id: &str) -> CollectionRecord {
        CollectionRecord {
            collection_id: id.into(),
            face_model_version: "1.0".into(),
            created_at_ms: 1,
            face_count: 0,
            user_count: 0,
            tags: Default::default(),
        }
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

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EmbeddedStore::open(dir.path()).unwrap();
        assert!(matches!(EmbeddedStore::open(dir.path()), Err(StoreError::Locked(_))));
    }
}
