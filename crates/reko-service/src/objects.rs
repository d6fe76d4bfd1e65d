//! Object storage for `Image.S3Object`: where image operations read an S3 object's bytes. The embedded
//! backend maps bucket `b`, key `k` to `ROOT/b/k` (`reko serve --s3-root`); keys never leave the root.
//! It keeps no versions, so `Version` is ignored.

use std::path::{Component, Path, PathBuf};

use crate::{Service, ServiceError};

/// Rekognition reads images from S3 up to this size.
pub const MAX_S3_IMAGE_BYTES: u64 = 15 * 1024 * 1024;

/// Where S3 objects come from.
pub trait ObjectSource: Send + Sync + std::fmt::Debug {
    /// The object's bytes if it exists and is at most `max_bytes` long.
    fn read(&self, bucket: &str, key: &str, version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ServiceError>;

    /// A local file holding the object (videos are decoded from files), and its length.
    fn local_file(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<(PathBuf, u64), ServiceError>;
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

fn missing(bucket: &str, key: &str) -> ServiceError {
    ServiceError::InvalidS3Object(format!(
        "Unable to get object metadata from S3. Check object key, region and/or access permissions. \
         (bucket {bucket}, key {key})"
    ))
}

impl ObjectSource for DirectoryObjects {
    fn local_file(&self, bucket: &str, key: &str, _version: Option<&str>) -> Result<(PathBuf, u64), ServiceError> {
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

    fn read(&self, bucket: &str, key: &str, version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ServiceError> {
        let (resolved, length) = self.local_file(bucket, key, version)?;
        if length > max_bytes {
            return Err(ServiceError::ImageTooLarge(format!(
                "The S3 object is {length} bytes; images read from S3 may be at most {max_bytes} bytes"
            )));
        }
        std::fs::read(&resolved).map_err(|_| missing(bucket, key))
    }
}

impl Service {
    pub(crate) fn objects(&self) -> Result<&dyn ObjectSource, ServiceError> {
        self.objects.as_deref().ok_or_else(|| {
            ServiceError::InvalidS3Object(
                "This reko server has no object storage: start it with --s3-root DIR (or REKO_S3_ROOT), or send \
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
    }
}
