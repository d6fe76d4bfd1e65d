//! `models.json`: what is installed in the models directory, with provenance (package, version, licence,
//! SHA-256 of the source archive and of every output file), tensor names and shapes, and preprocessing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::archive::{sha256_file, write_atomically};
use crate::manifest::{ModelKind, Preprocessing, Registry};
use crate::{INSTALLED_FILE, ModelError, io_error};

/// The version of the `models.json` layout.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Installed {
    pub format: u32,
    pub models: BTreeMap<String, InstalledModel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledModel {
    /// What the installed files were made from: a change of archive, manifest entry or converter
    /// version reinstalls the model.
    #[serde(default)]
    pub fingerprint: String,
    pub kind: ModelKind,
    pub description: String,
    pub source: Source,
    pub license: String,
    pub files: Vec<InstalledFile>,
    #[serde(default)]
    pub inputs: Vec<TensorInfo>,
    #[serde(default)]
    pub outputs: Vec<TensorInfo>,
    pub preprocessing: Option<Preprocessing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub registry: Registry,
    pub package: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledFile {
    /// Relative to the model's folder.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A tensor's name, element type and shape (-1 for a dynamic dimension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<i64>,
}

impl Installed {
    /// Reads `models.json` from `models_dir`; empty when there is none yet.
    pub fn load(models_dir: &Path) -> Result<Installed, ModelError> {
        let path = models_dir.join(INSTALLED_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let installed: Installed = serde_json::from_slice(&bytes)
                    .map_err(|e| ModelError::Installed { path: path.clone(), message: e.to_string() })?;
                if installed.format != FORMAT {
                    return Err(ModelError::Installed { path, message: format!("format {}", installed.format) });
                }
                Ok(installed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Installed { format: FORMAT, models: BTreeMap::new() })
            }
            Err(e) => Err(ModelError::Io { path, source: e }),
        }
    }

    pub fn save(&self, models_dir: &Path) -> Result<(), ModelError> {
        let json = serde_json::to_vec_pretty(self).expect("models.json serialises");
        write_atomically(&models_dir.join(INSTALLED_FILE), &mut json.as_slice())
    }

    /// The folder of model `id`.
    pub fn model_dir(models_dir: &Path, id: &str) -> PathBuf {
        models_dir.join(id)
    }

    /// Whether `id` is installed as `fingerprint` describes (archive hash, manifest entry, converter
    /// version) and every file is intact.
    pub fn is_current(&self, models_dir: &Path, id: &str, fingerprint: &str) -> Result<bool, ModelError> {
        let Some(model) = self.models.get(id) else {
            return Ok(false);
        };
        if model.fingerprint != fingerprint {
            return Ok(false);
        }
        for file in &model.files {
            let path = Installed::model_dir(models_dir, id).join(&file.path);
            let len = match std::fs::metadata(&path) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io_error(path)(e)),
            };
            if len != file.bytes || sha256_file(&path)? != file.sha256 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The path of file `name` of an installed model, if the model is installed.
    pub fn file(&self, models_dir: &Path, id: &str, name: &str) -> Option<PathBuf> {
        let model = self.models.get(id)?;
        model.files.iter().any(|f| f.path == name).then(|| Installed::model_dir(models_dir, id).join(name))
    }
}
