//! Object storage for `Image.S3Object` and `Video.S3Object`. Two backends: [`DirectoryObjects`] maps
//! bucket `b`, key `k` to `ROOT/b/k` (`reko serve --s3-root`; keys never leave the root; no versions, so
//! `Version` is ignored), and [`S3Objects`] reads any S3-compatible endpoint (AWS S3, MinIO, SeaweedFS,
//! ...) through the `object_store` crate, versions included.
//!
//! Videos are decoded from local files: the directory backend hands out the file itself; the S3 backend
//! stages the object in a file of its staging directory, deleted when the job lets go of it.
//!
//! An object that does not exist (or may not be read) is the client's `InvalidS3ObjectException`; an
//! endpoint that cannot be reached, or that fails mid-answer, is [`ServiceError::ObjectStoreUnavailable`]
//! once the client's own retries (a resumed download included) are spent.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Service, ServiceError};

/// Rekognition reads images from S3 up to this size.
pub const MAX_S3_IMAGE_BYTES: u64 = 15 * 1024 * 1024;

/// Where S3 objects come from.
pub trait ObjectSource: Send + Sync + std::fmt::Debug {
    /// The object's bytes if it exists and is at most `max_bytes` long.
    fn read(&self, bucket: &str, key: &str, version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ServiceError>;

    /// The object's length, if it exists.
    fn size(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<u64, ServiceError>;

    /// A local file holding the object (videos are decoded from files), for as long as the answer lives.
    fn local_file(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<LocalObject, ServiceError>;

    /// Writes an object (Custom Labels' evaluation results, where `OutputConfig` says) into an existing
    /// bucket.
    fn write(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), ServiceError>;
}

/// A file with an object's bytes: the object itself, or a staged copy removed on drop.
#[derive(Debug)]
pub struct LocalObject {
    path: PathBuf,
    staged: bool,
}

impl LocalObject {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalObject {
    fn drop(&mut self) {
        if self.staged {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Buckets as directories under one root.
#[derive(Debug, Clone)]
pub struct DirectoryObjects {
    root: PathBuf,
}

impl DirectoryObjects {
    pub fn new(root: impl Into<PathBuf>) -> DirectoryObjects {
        DirectoryObjects { root: root.into() }
    }

    /// `root/bucket/key`, or `None` when the bucket or key would lead outside the bucket.
    fn path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        let plain = |p: &str| {
            !p.is_empty() && !p.contains('\0') && Path::new(p).components().all(|c| matches!(c, Component::Normal(_)))
        };
        (plain(bucket) && !bucket.contains('/') && plain(key)).then(|| self.root.join(bucket).join(key))
    }
}

/// `ImageTooLarge` for an object over the image limit.
fn check_image_size(length: u64, max_bytes: u64) -> Result<(), ServiceError> {
    if length > max_bytes {
        return Err(ServiceError::ImageTooLarge(format!(
            "The S3 object is {length} bytes; images read from S3 may be at most {max_bytes} bytes"
        )));
    }
    Ok(())
}

fn missing(bucket: &str, key: &str) -> ServiceError {
    ServiceError::InvalidS3Object(format!(
        "Unable to get object metadata from S3. Check object key, region and/or access permissions. \
         (bucket {bucket}, key {key})"
    ))
}

impl DirectoryObjects {
    /// The object's file (inside its bucket) and length.
    fn resolve(&self, bucket: &str, key: &str) -> Result<(PathBuf, u64), ServiceError> {
        let path = self.path(bucket, key).ok_or_else(|| missing(bucket, key))?;
        // Symbolic links may not lead out of the bucket either.
        let bucket_dir = self.root.join(bucket).canonicalize().map_err(|_| missing(bucket, key))?;
        let resolved = path.canonicalize().map_err(|_| missing(bucket, key))?;
        if !resolved.starts_with(&bucket_dir) || !resolved.is_file() {
            return Err(missing(bucket, key));
        }
        let length = std::fs::metadata(&resolved).map_err(|_| missing(bucket, key))?.len();
        Ok((resolved, length))
    }
}

impl ObjectSource for DirectoryObjects {
    fn size(&self, bucket: &str, key: &str, _version: Option<&str>) -> Result<u64, ServiceError> {
        Ok(self.resolve(bucket, key)?.1)
    }

    fn local_file(&self, bucket: &str, key: &str, _version: Option<&str>) -> Result<LocalObject, ServiceError> {
        Ok(LocalObject { path: self.resolve(bucket, key)?.0, staged: false })
    }

    fn read(&self, bucket: &str, key: &str, _version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ServiceError> {
        let (resolved, length) = self.resolve(bucket, key)?;
        check_image_size(length, max_bytes)?;
        std::fs::read(&resolved).map_err(|_| missing(bucket, key))
    }

    fn write(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), ServiceError> {
        let unwritable =
            |why: String| ServiceError::InvalidS3Object(format!("Cannot write s3://{bucket}/{key}: {why}"));
        let path = self.path(bucket, key).ok_or_else(|| unwritable("not a key of the bucket".into()))?;
        if !self.root.join(bucket).is_dir() {
            return Err(unwritable("the bucket does not exist".into()));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| unwritable(e.to_string()))?;
        }
        // Written aside and renamed, so that a reader never sees half of it.
        let partial = path.with_extension("reko-partial");
        std::fs::write(&partial, bytes).map_err(|e| unwritable(e.to_string()))?;
        std::fs::rename(&partial, &path).map_err(|e| unwritable(e.to_string()))
    }
}

/// Where [`S3Objects`] finds its endpoint and credentials (`REKO_S3_*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S3Settings {
    /// The endpoint URL (`http://127.0.0.1:8333`); none: AWS S3 itself.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// `bucket.host/key` requests instead of `host/bucket/key` (path style, the default with an endpoint).
    pub virtual_hosted_style: bool,
}

/// Buckets of an S3-compatible object store.
pub struct S3Objects {
    settings: S3Settings,
    runtime: tokio::runtime::Handle,
    buckets: Mutex<HashMap<String, Arc<object_store::aws::AmazonS3>>>,
    staging: PathBuf,
}

impl std::fmt::Debug for S3Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Objects").field("endpoint", &self.settings.endpoint).finish()
    }
}

impl S3Objects {
    /// The S3 backend; videos are staged in `staging` (emptied now: what is there is left over from a
    /// stopped server).
    pub fn new(settings: S3Settings, staging: PathBuf) -> std::io::Result<S3Objects> {
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        // The client is asynchronous, reko's service functions are not.
        let runtime = crate::background_runtime("s3")?;
        Ok(S3Objects { settings, runtime, buckets: Mutex::new(HashMap::new()), staging })
    }

    fn bucket(&self, bucket: &str) -> Result<Arc<object_store::aws::AmazonS3>, ServiceError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = buckets.get(bucket) {
            return Ok(store.clone());
        }
        let settings = &self.settings;
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        // A bounded wait for an endpoint that is down (the default retries for three minutes), and no
        // overall timeout on a request: a long video downloads for as long as its bytes keep coming (a
        // stalled or cut download is resumed from where it stopped, by the retries). The client options
        // come first: the endpoint's settings below add to them.
        builder = builder
            .with_retry(object_store::RetryConfig {
                backoff: object_store::BackoffConfig::default(),
                max_retries: S3_RETRIES,
                retry_timeout: S3_RETRY_TIMEOUT,
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_timeout_disabled()
                    .with_connect_timeout(std::time::Duration::from_secs(5)),
            );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(settings.virtual_hosted_style);
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = Arc::new(builder.build().map_err(|e| {
            tracing::warn!(bucket, error = %e, "S3 bucket client");
            missing(bucket, "")
        })?);
        buckets.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }

    /// Runs one request of the client.
    fn get(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        head: bool,
    ) -> Result<object_store::GetResult, ServiceError> {
        use object_store::ObjectStore as _;
        let store = self.bucket(bucket)?;
        let options = object_store::GetOptions { version: version.map(str::to_owned), head, ..Default::default() };
        let location = object_store::path::Path::from(key);
        self.runtime
            .block_on(async move { store.get_opts(&location, options).await })
            .map_err(|e| object_error(bucket, key, e))
    }
}

/// How many times the S3 client retries a request (or resumes a download), and for how long at most.
const S3_RETRIES: usize = 4;
const S3_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What a failed S3 request means to the client: the object is not there for it, or the endpoint failed.
fn object_error(bucket: &str, key: &str, error: object_store::Error) -> ServiceError {
    use object_store::Error as E;
    match error {
        E::NotFound { .. } => missing(bucket, key),
        E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::Precondition { .. }
        | E::NotModified { .. }
        | E::InvalidPath { .. } => {
            tracing::warn!(bucket, key, %error, "S3 object");
            missing(bucket, key)
        }
        other => {
            tracing::warn!(bucket, key, error = %other, "S3 endpoint");
            ServiceError::ObjectStoreUnavailable(format!("s3://{bucket}/{key}: {}", first_line(&other.to_string())))
        }
    }
}

/// The first line of an error message, at most 300 characters.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").chars().take(300).collect()
}

impl ObjectSource for S3Objects {
    fn size(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<u64, ServiceError> {
        Ok(self.get(bucket, key, version, true)?.meta.size)
    }

    fn read(&self, bucket: &str, key: &str, version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ServiceError> {
        // One GET: its answer's length is known before the body is read (and the body is never read
        // when it is too long).
        let found = self.get(bucket, key, version, false)?;
        check_image_size(found.meta.size, max_bytes)?;
        let bytes = self.runtime.block_on(found.bytes()).map_err(|e| object_error(bucket, key, e))?;
        Ok(bytes.to_vec())
    }

    fn write(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), ServiceError> {
        use object_store::ObjectStoreExt as _;
        let store = self.bucket(bucket)?;
        let location = object_store::path::Path::from(key);
        self.runtime
            .block_on(async move { store.put(&location, bytes.into()).await })
            .map(drop)
            .map_err(|e| object_error(bucket, key, e))
    }

    fn local_file(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<LocalObject, ServiceError> {
        use futures_util::StreamExt as _;
        use std::io::Write as _;
        let staged = LocalObject { path: self.staging.join(uuid::Uuid::new_v4().to_string()), staged: true };
        let found = self.get(bucket, key, version, false)?;
        let mut file = std::fs::File::create(&staged.path)
            .map_err(|e| ServiceError::InvalidRequest(format!("cannot stage the video: {e}")))?;
        self.runtime.block_on(async {
            let mut body = found.into_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| object_error(bucket, key, e))?;
                file.write_all(&chunk)
                    .map_err(|e| ServiceError::InvalidRequest(format!("cannot stage the video: {e}")))?;
            }
            Ok::<(), ServiceError>(())
        })?;
        Ok(staged)
    }
}

impl Service {
    pub(crate) fn objects(&self) -> Result<&dyn ObjectSource, ServiceError> {
        self.objects.as_deref().ok_or_else(|| {
            ServiceError::InvalidS3Object(
                "This reko server has no object storage: start it with --s3-root DIR or --s3-endpoint URL, or send \
                 images as Bytes"
                    .into(),
            )
        })
    }

    /// The bytes of an image stored as an S3 object.
    pub fn read_image_object(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<Vec<u8>, ServiceError> {
        self.objects()?.read(bucket, key, version, MAX_S3_IMAGE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_into_their_bucket_and_never_out_of_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("photos/2024")).unwrap();
        std::fs::write(root.path().join("photos/2024/a.jpg"), b"jpeg").unwrap();
        std::fs::write(root.path().join("secret.txt"), b"no").unwrap();
        std::fs::create_dir_all(root.path().join("other")).unwrap();
        std::fs::write(root.path().join("other/b.jpg"), b"other").unwrap();
        let objects = DirectoryObjects::new(root.path());
        assert_eq!(objects.read("photos", "2024/a.jpg", None, 100).unwrap(), b"jpeg");
        for (bucket, key) in [
            ("photos", "../secret.txt"),
            ("photos", "2024/../../secret.txt"),
            ("photos", "/etc/passwd"),
            ("..", "secret.txt"),
            ("photos", "missing.jpg"),
            ("photos", "2024"),
            ("photos", ""),
            ("photos/../other", "b.jpg"),
        ] {
            assert!(
                matches!(objects.read(bucket, key, None, 100), Err(ServiceError::InvalidS3Object(_))),
                "{bucket} {key}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("other/b.jpg"), root.path().join("photos/link.jpg")).unwrap();
            assert!(matches!(objects.read("photos", "link.jpg", None, 100), Err(ServiceError::InvalidS3Object(_))));
        }
        assert!(matches!(objects.read("photos", "2024/a.jpg", None, 3), Err(ServiceError::ImageTooLarge(_))));
        assert_eq!(objects.size("photos", "2024/a.jpg", None).unwrap(), 4);
        let local = objects.local_file("photos", "2024/a.jpg", None).unwrap();
        assert_eq!(std::fs::read(local.path()).unwrap(), b"jpeg");
        drop(local);
        // The directory backend hands out the object itself, never a copy to delete.
        assert!(root.path().join("photos/2024/a.jpg").exists());
    }
}
