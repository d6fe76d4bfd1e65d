//! The PostgreSQL backend, for several reko nodes on one database: the embedded store's tables as SQL
//! tables (`migrations/`, applied at start-up by `refinery`), a pool of blocking connections (`postgres`
//! and `r2d2`), every write committed before its call returns.
//!
//! Concurrency: transactions run at READ COMMITTED and take explicit locks, so that concurrent nodes
//! never need a retry loop around the service's closures:
//! - a collection's writes (`update_collection`, `write_collection`) lock its row (`FOR UPDATE`) first,
//!   so they run one after the other across nodes, each seeing the previous one's commit; a delete of
//!   the collection takes the same lock;
//! - a video job's update locks its row; `insert_job` takes a transaction-scoped advisory lock on the
//!   scope, so the unfinished-job limit and the request token are checked and written atomically.
//!
//! A database that cannot be reached (down, restarting, out of connections, out of disk) is
//! [`StoreError::Unavailable`], which the server answers with a retryable 503; the pool replaces broken
//! connections on checkout, so the node recovers by itself once the database is back.

use std::time::Duration;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use crate::codec::{decode, decode_vector, encode, encode_vector};
use crate::{
    CollectionRecord, CollectionWrite, FaceRecord, JobInsert, JobRecord, OutboxRecord, ProjectRecord, RequestRecord,
    Scope, Store, StoreError, StoredVector, Update, UserRecord,
};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// An arbitrary advisory-lock id: nodes starting at once apply the migrations one after the other.
const MIGRATION_LOCK: i64 = 0x7265_6b6f_6d69_6772;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Where the database is and how many connections a node keeps.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// `postgres://user:password@host:port/database` (or the key=value form).
    pub url: String,
    /// Connections this node opens at most.
    pub max_connections: u32,
    /// How long a call waits for a connection before it is `Unavailable`.
    pub connect_timeout: Duration,
}

impl PostgresSettings {
    pub fn new(url: impl Into<String>) -> PostgresSettings {
        PostgresSettings { url: url.into(), max_connections: 16, connect_timeout: Duration::from_secs(5) }
    }
}

/// The store on a PostgreSQL database shared by every node.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("connections", &self.pool.state().connections).finish()
    }
}

/// What a PostgreSQL error means to reko: the database is out of reach for now (retryable), or a fault.
fn pg_error(error: postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        // No answer from the server: the connection is closed, refused or broken.
        return StoreError::Unavailable(format!("database: {error}"));
    };
    let code = db.code();
    let class = &code.code()[..2];
    if matches!(class, "08" | "53" | "57")
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        // Connection exceptions, insufficient resources (a full disk, too many connections), operator
        // intervention (a restart), a transaction that lost a race.
        StoreError::Unavailable(format!("database: {}: {}", code.code(), db.message()))
    } else {
        StoreError::Backend(format!("database: {}: {}", code.code(), db.message()))
    }
}

fn pool_error(error: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {error}"))
}

/// A `u64` key or count as PostgreSQL's `bigint`.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn commit(txn: Transaction<'_>) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    txn.commit().map_err(pg_error)?;
    crate::observe_commit(started.elapsed());
    Ok(())
}

impl PostgresStore {
    /// Reads, changes and writes one record of `table` (`jobs`, `outbox` or `projects`, keyed by
    /// `column`) in one transaction, its row locked meanwhile; `Ok(None)` when there is no such row.
    fn update_record<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        (table, column): (&'static str, &'static str),
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut T) -> Update,
    ) -> Result<Option<T>, StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        let row = txn
            .query_opt(
                &format!("SELECT record FROM {table} WHERE account = $1 AND region = $2 AND {column} = $3 FOR UPDATE"),
                &[&scope.account_id, &scope.region, &job_id],
            )
            .map_err(pg_error)?;
        let Some(row) = row else { return Ok(None) };
        let mut record: T = decode(table, job_id, row.get(0))?;
        if update(&mut record) == Update::Abort {
            return Ok(Some(record));
        }
        txn.execute(
            &format!("UPDATE {table} SET record = $4 WHERE account = $1 AND region = $2 AND {column} = $3"),
            &[&scope.account_id, &scope.region, &job_id, &encode(&record)],
        )
        .map_err(pg_error)?;
        commit(txn)?;
        Ok(Some(record))
    }

    /// Connects, and brings the schema up to date (the migrations run once, whatever the number of
    /// nodes starting).
    pub fn connect(settings: &PostgresSettings) -> Result<PostgresStore, StoreError> {
        let config: postgres::Config =
            settings.url.parse().map_err(|e| StoreError::Backend(format!("the database URL: {e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(settings.max_connections.max(1))
            .min_idle(Some(1))
            .connection_timeout(settings.connect_timeout)
            .build(manager)
            .map_err(pool_error)?;
        let mut client = pool.get().map_err(pool_error)?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(pg_error)?;
        let migrated = embedded::migrations::runner().run(&mut *client);
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).map_err(pg_error)?;
        let report = migrated.map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))?;
        for migration in report.applied_migrations() {
            tracing::info!(version = migration.version(), name = migration.name(), "database migration applied");
        }
        Ok(PostgresStore { pool })
    }

    fn client(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.pool.get().map_err(pool_error)
    }

    /// Reads one collection's items (faces, users) in key order, strictly after `after`.
    fn list_items<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        what: &str,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self
            .client()?
            .query(sql, &[&scope.account_id, &scope.region, &collection, &after.unwrap_or(""), &limit(count)])
            .map_err(pg_error)?;
        rows.iter().map(|row| decode(what, row.get::<_, &str>(0), row.get(1))).collect()
    }
}

/// A [`CollectionWrite`] over one PostgreSQL transaction that holds the collection's row lock.
struct Writer<'c> {
    txn: std::cell::RefCell<Transaction<'c>>,
    scope: Scope,
    collection: String,
    record: CollectionRecord,
}

impl Writer<'_> {
    /// The record one statement over one item answers (a SELECT, or a DELETE ... RETURNING).
    fn get<T: serde::de::DeserializeOwned>(&self, sql: &str, what: &str, item: &str) -> Result<Option<T>, StoreError> {
        let row = self
            .txn
            .borrow_mut()
            .query_opt(sql, &[&self.scope.account_id, &self.scope.region, &self.collection, &item])
            .map_err(pg_error)?;
        row.map(|row| decode(what, item, row.get(0))).transpose()
    }

    fn put(&self, sql: &str, item: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.txn
            .borrow_mut()
            .execute(sql, &[&self.scope.account_id, &self.scope.region, &self.collection, &item, &bytes])
            .map_err(pg_error)?;
        Ok(())
    }
}

impl CollectionWrite for Writer<'_> {
    fn collection(&mut self) -> &mut CollectionRecord {
        &mut self.record
    }

    fn face(&self, face_id: &str) -> Result<Option<FaceRecord>, StoreError> {
        self.get(
            "SELECT record FROM faces WHERE account = $1 AND region = $2 AND collection_id = $3 AND face_id = $4",
            "faces",
            face_id,
        )
    }

    fn put_face(&mut self, face: &FaceRecord, vector: Option<&[f32]>) -> Result<(), StoreError> {
        self.put(
            "INSERT INTO faces (account, region, collection_id, face_id, record) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, region, collection_id, face_id) DO UPDATE SET record = EXCLUDED.record",
            &face.face_id,
            &encode(face),
        )?;
        if let Some(vector) = vector {
            let bytes = encode_vector(&face.face_id, vector)?;
            self.txn
                .borrow_mut()
                .execute(
                    "INSERT INTO vectors (account, region, collection_id, key, vector) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (account, region, collection_id, key) DO UPDATE SET vector = EXCLUDED.vector",
                    &[&self.scope.account_id, &self.scope.region, &self.collection, &big(face.key), &bytes],
                )
                .map_err(pg_error)?;
        }
        Ok(())
    }

    fn delete_face(&mut self, face_id: &str) -> Result<Option<FaceRecord>, StoreError> {
        let removed: Option<FaceRecord> = self.get(
            "DELETE FROM faces WHERE account = $1 AND region = $2 AND collection_id = $3 AND face_id = $4 \
             RETURNING record",
            "faces",
            face_id,
        )?;
        if let Some(face) = &removed {
            self.txn
                .borrow_mut()
                .execute(
                    "DELETE FROM vectors WHERE account = $1 AND region = $2 AND collection_id = $3 AND key = $4",
                    &[&self.scope.account_id, &self.scope.region, &self.collection, &big(face.key)],
                )
                .map_err(pg_error)?;
        }
        Ok(removed)
    }

    fn image_faces(&self, image_key: &str) -> Result<Option<Vec<String>>, StoreError> {
        self.get(
            "SELECT face_ids FROM images WHERE account = $1 AND region = $2 AND collection_id = $3 AND image_key = $4",
            "images",
            image_key,
        )
    }

    fn put_image_faces(&mut self, image_key: &str, face_ids: &[String]) -> Result<(), StoreError> {
        if face_ids.is_empty() {
            self.txn
                .borrow_mut()
                .execute(
                    "DELETE FROM images WHERE account = $1 AND region = $2 AND collection_id = $3 AND image_key = $4",
                    &[&self.scope.account_id, &self.scope.region, &self.collection, &image_key],
                )
                .map_err(pg_error)?;
            return Ok(());
        }
        self.put(
            "INSERT INTO images (account, region, collection_id, image_key, face_ids) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, region, collection_id, image_key) DO UPDATE SET face_ids = EXCLUDED.face_ids",
            image_key,
            &encode(&face_ids),
        )
    }

    fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(
            "SELECT record FROM users WHERE account = $1 AND region = $2 AND collection_id = $3 AND user_id = $4",
            "users",
            user_id,
        )
    }

    fn put_user(&mut self, user: &UserRecord) -> Result<(), StoreError> {
        self.put(
            "INSERT INTO users (account, region, collection_id, user_id, record) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, region, collection_id, user_id) DO UPDATE SET record = EXCLUDED.record",
            &user.user_id,
            &encode(user),
        )
    }

    fn delete_user(&mut self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(
            "DELETE FROM users WHERE account = $1 AND region = $2 AND collection_id = $3 AND user_id = $4 \
             RETURNING record",
            "users",
            user_id,
        )
    }

    fn request(&self, token: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.get(
            "SELECT record FROM requests WHERE account = $1 AND region = $2 AND collection_id = $3 AND token = $4",
            "requests",
            token,
        )
    }

    fn put_request(&mut self, token: &str, record: &RequestRecord) -> Result<(), StoreError> {
        self.txn
            .borrow_mut()
            .execute(
                "INSERT INTO requests (account, region, collection_id, token, record, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account, region, collection_id, token) \
                 DO UPDATE SET record = EXCLUDED.record, created_at_ms = EXCLUDED.created_at_ms",
                &[
                    &self.scope.account_id,
                    &self.scope.region,
                    &self.collection,
                    &token,
                    &encode(record),
                    &record.created_at_ms,
                ],
            )
            .map_err(pg_error)?;
        Ok(())
    }
}

/// The collection's record, its row locked until the transaction ends; `None` when there is none.
fn lock_collection(txn: &mut Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<CollectionRecord>, StoreError> {
    let row = txn
        .query_opt(
            "SELECT record FROM collections WHERE account = $1 AND region = $2 AND collection_id = $3 FOR UPDATE",
            &[&scope.account_id, &scope.region, &id],
        )
        .map_err(pg_error)?;
    row.map(|row| decode("collections", id, row.get(0))).transpose()
}

fn store_collection(txn: &mut Transaction<'_>, scope: &Scope, record: &CollectionRecord) -> Result<(), StoreError> {
    txn.execute(
        "UPDATE collections SET record = $4 WHERE account = $1 AND region = $2 AND collection_id = $3",
        &[&scope.account_id, &scope.region, &record.collection_id, &encode(record)],
    )
    .map_err(pg_error)?;
    Ok(())
}

impl Store for PostgresStore {
    fn check_writable(&self) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        txn.execute(
            "INSERT INTO health (id, checked_at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET checked_at = now()",
            &[],
        )
        .map_err(pg_error)?;
        commit(txn)
    }

    fn insert_collection(&self, scope: &Scope, record: &CollectionRecord) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let started = std::time::Instant::now();
        let inserted = client
            .execute(
                "INSERT INTO collections (account, region, collection_id, record) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                &[&scope.account_id, &scope.region, &record.collection_id, &encode(record)],
            )
            .map_err(pg_error)?;
        crate::observe_commit(started.elapsed());
        Ok(inserted == 1)
    }

    fn collection(&self, scope: &Scope, id: &str) -> Result<Option<CollectionRecord>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT record FROM collections WHERE account = $1 AND region = $2 AND collection_id = $3",
                &[&scope.account_id, &scope.region, &id],
            )
            .map_err(pg_error)?;
        row.map(|row| decode("collections", id, row.get(0))).transpose()
    }

    fn list_collections(
        &self,
        scope: &Scope,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<CollectionRecord>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT collection_id, record FROM collections WHERE account = $1 AND region = $2 \
                 AND collection_id > $3 ORDER BY collection_id LIMIT $4",
                &[&scope.account_id, &scope.region, &after.unwrap_or(""), &limit(count)],
            )
            .map_err(pg_error)?;
        rows.iter().map(|row| decode("collections", row.get::<_, &str>(0), row.get(1))).collect()
    }

    fn each_collection(&self, visit: &mut dyn FnMut(&Scope, &CollectionRecord)) -> Result<(), StoreError> {
        let rows = self
            .client()?
            .query("SELECT account, region, collection_id, record FROM collections ORDER BY 1, 2, 3", &[])
            .map_err(pg_error)?;
        for row in rows {
            let scope = Scope { account_id: row.get(0), region: row.get(1) };
            visit(&scope, &decode("collections", row.get::<_, &str>(2), row.get(3))?);
        }
        Ok(())
    }

    fn delete_collection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let started = std::time::Instant::now();
        let deleted = client
            .execute(
                "DELETE FROM collections WHERE account = $1 AND region = $2 AND collection_id = $3",
                &[&scope.account_id, &scope.region, &id],
            )
            .map_err(pg_error)?;
        crate::observe_commit(started.elapsed());
        Ok(deleted == 1)
    }

    fn update_collection(
        &self,
        scope: &Scope,
        id: &str,
        update: &mut dyn FnMut(&mut CollectionRecord) -> Update,
    ) -> Result<Option<(CollectionRecord, Update)>, StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        let Some(current) = lock_collection(&mut txn, scope, id)? else {
            return Ok(None);
        };
        let mut record = current.clone();
        match update(&mut record) {
            Update::Commit => {
                store_collection(&mut txn, scope, &record)?;
                commit(txn)?;
                Ok(Some((record, Update::Commit)))
            }
            Update::Abort => Ok(Some((current, Update::Abort))),
        }
    }

    fn write_collection(
        &self,
        scope: &Scope,
        id: &str,
        write: &mut dyn FnMut(&mut dyn CollectionWrite) -> Result<Update, StoreError>,
    ) -> Result<Option<Update>, StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        let Some(record) = lock_collection(&mut txn, scope, id)? else {
            return Ok(None);
        };
        let mut writer =
            Writer { txn: std::cell::RefCell::new(txn), scope: scope.clone(), collection: id.to_owned(), record };
        let outcome = write(&mut writer)?;
        let Writer { txn, record, .. } = writer;
        let mut txn = txn.into_inner();
        if outcome == Update::Commit {
            store_collection(&mut txn, scope, &record)?;
            commit(txn)?;
        }
        Ok(Some(outcome))
    }

    fn face(&self, scope: &Scope, collection: &str, face_id: &str) -> Result<Option<FaceRecord>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT record FROM faces WHERE account = $1 AND region = $2 AND collection_id = $3 AND face_id = $4",
                &[&scope.account_id, &scope.region, &collection, &face_id],
            )
            .map_err(pg_error)?;
        row.map(|row| decode("faces", face_id, row.get(0))).transpose()
    }

    fn list_faces(
        &self,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<FaceRecord>, StoreError> {
        self.list_items(
            "SELECT face_id, record FROM faces WHERE account = $1 AND region = $2 AND collection_id = $3 \
             AND face_id > $4 ORDER BY face_id LIMIT $5",
            "faces",
            scope,
            collection,
            after,
            count,
        )
    }

    fn face_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        keys: &[u64],
    ) -> Result<Vec<Option<StoredVector>>, StoreError> {
        let wanted: Vec<i64> = keys.iter().map(|&k| big(k)).collect();
        let rows = self
            .client()?
            .query(
                "SELECT key, vector FROM vectors WHERE account = $1 AND region = $2 AND collection_id = $3 \
                 AND key = ANY($4)",
                &[&scope.account_id, &scope.region, &collection, &wanted],
            )
            .map_err(pg_error)?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let key = row.get::<_, i64>(0) as u64;
            found.insert(key, decode_vector(key, row.get(1))?);
        }
        Ok(keys.iter().map(|key| found.remove(key)).collect())
    }

    fn faces(&self, scope: &Scope, collection: &str, face_ids: &[&str]) -> Result<Vec<Option<FaceRecord>>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT face_id, record FROM faces WHERE account = $1 AND region = $2 AND collection_id = $3 \
                 AND face_id = ANY($4)",
                &[&scope.account_id, &scope.region, &collection, &face_ids],
            )
            .map_err(pg_error)?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let id: String = row.get(0);
            let face: FaceRecord = decode("faces", &id, row.get(1))?;
            found.insert(id, face);
        }
        Ok(face_ids.iter().map(|id| found.remove(*id)).collect())
    }

    fn scan_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        from_key: u64,
        visit: &mut dyn FnMut(u64, &[f32]),
    ) -> Result<(), StoreError> {
        let mut client = self.client()?;
        // Rows stream from the server (a million faces are never held at once).
        let from = big(from_key);
        let params: [&(dyn postgres::types::ToSql + Sync); 4] = [&scope.account_id, &scope.region, &collection, &from];
        let mut rows = client
            .query_raw(
                "SELECT key, vector FROM vectors WHERE account = $1 AND region = $2 AND collection_id = $3 \
                 AND key >= $4 ORDER BY key",
                params,
            )
            .map_err(pg_error)?;
        while let Some(row) = rows.next().map_err(pg_error)? {
            let key = row.get::<_, i64>(0) as u64;
            let (_, vector) = decode_vector(key, row.get(1))?;
            visit(key, &vector);
        }
        Ok(())
    }

    fn vector_keys(&self, scope: &Scope, collection: &str, visit: &mut dyn FnMut(u64)) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let params: [&(dyn postgres::types::ToSql + Sync); 3] = [&scope.account_id, &scope.region, &collection];
        let mut rows = client
            .query_raw(
                "SELECT key FROM vectors WHERE account = $1 AND region = $2 AND collection_id = $3 ORDER BY key",
                params,
            )
            .map_err(pg_error)?;
        while let Some(row) = rows.next().map_err(pg_error)? {
            visit(row.get::<_, i64>(0) as u64);
        }
        Ok(())
    }

    fn user(&self, scope: &Scope, collection: &str, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT record FROM users WHERE account = $1 AND region = $2 AND collection_id = $3 AND user_id = $4",
                &[&scope.account_id, &scope.region, &collection, &user_id],
            )
            .map_err(pg_error)?;
        row.map(|row| decode("users", user_id, row.get(0))).transpose()
    }

    fn list_users(
        &self,
        scope: &Scope,
        collection: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        self.list_items(
            "SELECT user_id, record FROM users WHERE account = $1 AND region = $2 AND collection_id = $3 \
             AND user_id > $4 ORDER BY user_id LIMIT $5",
            "users",
            scope,
            collection,
            after,
            count,
        )
    }

    fn insert_job(
        &self,
        scope: &Scope,
        job: &JobRecord,
        token: Option<(&str, &RequestRecord)>,
        max_unfinished: usize,
    ) -> Result<JobInsert, StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        // One insert per scope at a time, on every node: the token and the limit are checked atomically.
        txn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
            &[&scope.account_id, &scope.region],
        )
        .map_err(pg_error)?;
        if let Some((key, record)) = token {
            let existing = txn
                .query_opt(
                    "SELECT record FROM job_tokens WHERE account = $1 AND region = $2 AND token = $3",
                    &[&scope.account_id, &scope.region, &key],
                )
                .map_err(pg_error)?;
            if let Some(row) = existing {
                return decode("job_tokens", key, row.get(0)).map(JobInsert::Existing);
            }
            txn.execute(
                "INSERT INTO job_tokens (account, region, token, record, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
                &[&scope.account_id, &scope.region, &key, &encode(record), &record.created_at_ms],
            )
            .map_err(pg_error)?;
        }
        let running: i64 = txn
            .query_one(
                "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE account = $1 AND region = $2 AND NOT finished \
                 LIMIT $3) AS unfinished",
                &[&scope.account_id, &scope.region, &limit(max_unfinished)],
            )
            .map_err(pg_error)?
            .get(0);
        if running as usize >= max_unfinished {
            return Ok(JobInsert::LimitReached);
        }
        txn.execute(
            "INSERT INTO jobs (account, region, job_id, finished, record) VALUES ($1, $2, $3, $4, $5)",
            &[&scope.account_id, &scope.region, &job.job_id, &job.status.finished(), &encode(job)],
        )
        .map_err(pg_error)?;
        commit(txn)?;
        Ok(JobInsert::Inserted)
    }

    fn job(&self, scope: &Scope, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT record FROM jobs WHERE account = $1 AND region = $2 AND job_id = $3",
                &[&scope.account_id, &scope.region, &job_id],
            )
            .map_err(pg_error)?;
        row.map(|row| decode("jobs", job_id, row.get(0))).transpose()
    }

    fn update_job(
        &self,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut JobRecord) -> Update,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.update_record(("jobs", "job_id"), scope, job_id, update)
    }

    fn finish_job(
        &self,
        scope: &Scope,
        job: &JobRecord,
        results: &[Vec<u8>],
        owner: Option<&str>,
        notification: Option<&OutboxRecord>,
    ) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        let (account, region, job_id) = (&scope.account_id, &scope.region, &job.job_id);
        if let Some(owner) = owner {
            let row = txn
                .query_opt(
                    "SELECT record FROM jobs WHERE account = $1 AND region = $2 AND job_id = $3 FOR UPDATE",
                    &[account, region, job_id],
                )
                .map_err(pg_error)?;
            if let Some(row) = row {
                let stored: JobRecord = decode("jobs", job_id, row.get(0))?;
                if !stored.may_be_finished_by(owner) {
                    return Ok(false);
                }
            }
        }
        txn.execute(
            "INSERT INTO jobs (account, region, job_id, finished, record, finished_at_ms) \
             VALUES ($1, $2, $3, true, $4, $5) ON CONFLICT (account, region, job_id) \
             DO UPDATE SET finished = true, record = EXCLUDED.record, finished_at_ms = EXCLUDED.finished_at_ms",
            &[account, region, job_id, &encode(job), &job.finished_at_ms.unwrap_or_else(now_ms)],
        )
        .map_err(pg_error)?;
        txn.execute(
            "DELETE FROM job_results WHERE account = $1 AND region = $2 AND job_id = $3",
            &[account, region, job_id],
        )
        .map_err(pg_error)?;
        let insert = txn
            .prepare("INSERT INTO job_results (account, region, job_id, chunk, data) VALUES ($1, $2, $3, $4, $5)")
            .map_err(pg_error)?;
        for (n, chunk) in results.iter().enumerate() {
            txn.execute(&insert, &[account, region, job_id, &(n as i64), chunk]).map_err(pg_error)?;
        }
        if let Some(notification) = notification {
            txn.execute(
                "INSERT INTO outbox (account, region, job_id, record) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account, region, job_id) DO UPDATE SET record = EXCLUDED.record",
                &[account, region, job_id, &encode(notification)],
            )
            .map_err(pg_error)?;
        }
        commit(txn)?;
        Ok(true)
    }

    fn job_results(&self, scope: &Scope, job_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT data FROM job_results WHERE account = $1 AND region = $2 AND job_id = $3 ORDER BY chunk",
                &[&scope.account_id, &scope.region, &job_id],
            )
            .map_err(pg_error)?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    fn expire(&self, before_ms: i64, count: usize) -> Result<usize, StoreError> {
        let mut client = self.client()?;
        let mut expired = 0;
        // One statement per kind (each its own transaction): a job goes with its results (ON DELETE CASCADE).
        for sql in [
            "DELETE FROM jobs WHERE ctid IN (SELECT ctid FROM jobs WHERE finished AND finished_at_ms < $1 LIMIT $2)",
            "DELETE FROM job_tokens WHERE ctid IN (SELECT ctid FROM job_tokens WHERE created_at_ms < $1 LIMIT $2)",
            "DELETE FROM requests WHERE ctid IN (SELECT ctid FROM requests WHERE created_at_ms < $1 LIMIT $2)",
        ] {
            expired += client.execute(sql, &[&before_ms, &limit(count)]).map_err(pg_error)? as usize;
        }
        Ok(expired)
    }

    fn each_unfinished_job(&self, visit: &mut dyn FnMut(&Scope, &JobRecord)) -> Result<(), StoreError> {
        let rows = self
            .client()?
            .query("SELECT account, region, job_id, record FROM jobs WHERE NOT finished ORDER BY 1, 2, 3", &[])
            .map_err(pg_error)?;
        for row in rows {
            let scope = Scope { account_id: row.get(0), region: row.get(1) };
            visit(&scope, &decode("jobs", row.get::<_, &str>(2), row.get(3))?);
        }
        Ok(())
    }

    fn each_pending_notification(&self, visit: &mut dyn FnMut(&Scope, &str, &OutboxRecord)) -> Result<(), StoreError> {
        let rows = self
            .client()?
            .query("SELECT account, region, job_id, record FROM outbox ORDER BY 1, 2, 3", &[])
            .map_err(pg_error)?;
        for row in rows {
            let scope = Scope { account_id: row.get(0), region: row.get(1) };
            let job_id: &str = row.get(2);
            visit(&scope, job_id, &decode("outbox", job_id, row.get(3))?);
        }
        Ok(())
    }

    fn update_notification(
        &self,
        scope: &Scope,
        job_id: &str,
        update: &mut dyn FnMut(&mut OutboxRecord) -> Update,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        self.update_record(("outbox", "job_id"), scope, job_id, update)
    }

    fn remove_notification(&self, scope: &Scope, job_id: &str, owner: Option<&str>) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut txn = client.transaction().map_err(pg_error)?;
        let row = txn
            .query_opt(
                "SELECT record FROM outbox WHERE account = $1 AND region = $2 AND job_id = $3 FOR UPDATE",
                &[&scope.account_id, &scope.region, &job_id],
            )
            .map_err(pg_error)?;
        let Some(row) = row else { return Ok(false) };
        let record: OutboxRecord = decode("outbox", job_id, row.get(0))?;
        if !record.may_be_removed_by(owner) {
            return Ok(false);
        }
        txn.execute(
            "DELETE FROM outbox WHERE account = $1 AND region = $2 AND job_id = $3",
            &[&scope.account_id, &scope.region, &job_id],
        )
        .map_err(pg_error)?;
        commit(txn)?;
        Ok(true)
    }

    fn insert_project(&self, scope: &Scope, project: &ProjectRecord) -> Result<bool, StoreError> {
        let started = std::time::Instant::now();
        let inserted = self
            .client()?
            .execute(
                "INSERT INTO projects (account, region, name, record) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&scope.account_id, &scope.region, &project.name, &encode(project)],
            )
            .map_err(pg_error)?;
        crate::observe_commit(started.elapsed());
        Ok(inserted == 1)
    }

    fn project(&self, scope: &Scope, name: &str) -> Result<Option<ProjectRecord>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT record FROM projects WHERE account = $1 AND region = $2 AND name = $3",
                &[&scope.account_id, &scope.region, &name],
            )
            .map_err(pg_error)?;
        row.map(|row| decode("projects", name, row.get(0))).transpose()
    }

    fn list_projects(
        &self,
        scope: &Scope,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<ProjectRecord>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT name, record FROM projects WHERE account = $1 AND region = $2 AND name > $3 \
                 ORDER BY name LIMIT $4",
                &[&scope.account_id, &scope.region, &after.unwrap_or(""), &limit(count)],
            )
            .map_err(pg_error)?;
        rows.iter().map(|row| decode("projects", row.get::<_, &str>(0), row.get(1))).collect()
    }

    fn each_project(&self, visit: &mut dyn FnMut(&Scope, &ProjectRecord)) -> Result<(), StoreError> {
        let rows = self
            .client()?
            .query("SELECT account, region, name, record FROM projects ORDER BY 1, 2, 3", &[])
            .map_err(pg_error)?;
        for row in rows {
            let scope = Scope { account_id: row.get(0), region: row.get(1) };
            visit(&scope, &decode("projects", row.get::<_, &str>(2), row.get(3))?);
        }
        Ok(())
    }

    fn update_project(
        &self,
        scope: &Scope,
        name: &str,
        update: &mut dyn FnMut(&mut ProjectRecord) -> Update,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        self.update_record(("projects", "name"), scope, name, update)
    }

    fn delete_project(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        let started = std::time::Instant::now();
        let deleted = self
            .client()?
            .execute(
                "DELETE FROM projects WHERE account = $1 AND region = $2 AND name = $3",
                &[&scope.account_id, &scope.region, &name],
            )
            .map_err(pg_error)?;
        crate::observe_commit(started.elapsed());
        Ok(deleted == 1)
    }

    fn put_project_item(
        &self,
        scope: &Scope,
        project: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let params: [&(dyn postgres::types::ToSql + Sync); 4] = [&scope.account_id, &scope.region, &project, &key];
        let mut client = self.client()?;
        match value {
            Some(bytes) => client.execute(
                "INSERT INTO project_items (account, region, project, key, value) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account, region, project, key) DO UPDATE SET value = EXCLUDED.value",
                &[params[0], params[1], params[2], params[3], &bytes],
            ),
            None => client.execute(
                "DELETE FROM project_items WHERE account = $1 AND region = $2 AND project = $3 AND key = $4",
                &params,
            ),
        }
        .map_err(pg_error)?;
        crate::observe_commit(started.elapsed());
        Ok(())
    }

    fn project_item(&self, scope: &Scope, project: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .client()?
            .query_opt(
                "SELECT value FROM project_items WHERE account = $1 AND region = $2 AND project = $3 AND key = $4",
                &[&scope.account_id, &scope.region, &project, &key],
            )
            .map_err(pg_error)?;
        Ok(row.map(|row| row.get(0)))
    }
}
