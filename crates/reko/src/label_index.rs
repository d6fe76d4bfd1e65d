//! `reko index-labels DIR` and `reko find-label NAME`: Rekognition's label-search example on a local
//! folder. Every photo goes through DetectLabels (the service function the API calls) once; its labels
//! are appended to a JSON Lines index, one line an image, flushed as it goes, so an interrupted run
//! resumes where it stopped (a photo whose size and modification time have not changed is not read again).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_service::{LabelSettings, Service};
use serde::{Deserialize, Serialize};

/// One indexed image.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    size: u64,
    modified_ms: u128,
    /// (label, confidence 0-100); empty when the image could not be read.
    labels: Vec<(String, f32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The JPEG and PNG files under `dir` (recursively), sorted.
pub fn photos(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            let path = entry?.path();
            let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if path.is_dir() {
                pending.push(path);
            } else if matches!(extension.as_deref(), Some("jpg" | "jpeg" | "png")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn stamp(path: &Path) -> anyhow::Result<(u64, u128)> {
    let metadata = std::fs::metadata(path)?;
    let modified = metadata.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Ok((metadata.len(), modified))
}

/// The index's entries, and whether its last line is complete (an interruption can cut it short).
fn read_index(index: &Path) -> anyhow::Result<(Vec<Entry>, bool)> {
    let Ok(text) = std::fs::read_to_string(index) else { return Ok((Vec::new(), true)) };
    // A line cut short is skipped (its image is labelled again).
    let entries = text.lines().filter_map(|line| serde_json::from_str::<Entry>(line).ok()).collect();
    Ok((entries, text.is_empty() || text.ends_with('\n')))
}

/// Labels every photo under `dir` not yet in `index` (all labels from Confidence 50, so that searches can
/// choose their own threshold).
pub fn index_labels(models_dir: &Path, dir: &Path, index: &Path, threads: usize) -> anyhow::Result<()> {
    let (entries, complete) = read_index(index)?;
    let done: HashMap<PathBuf, (u64, u128)> = entries.into_iter().map(|e| (e.path, (e.size, e.modified_ms))).collect();
    let all = photos(dir)?;
    let mut todo = Vec::new();
    for path in all.iter() {
        let path = path.canonicalize().unwrap_or_else(|_| path.clone());
        if done.get(&path) != Some(&stamp(&path)?) {
            todo.push(path);
        }
    }
    eprintln!(
        "{} photos under {}, {} already indexed in {}",
        all.len(),
        dir.display(),
        all.len() - todo.len(),
        index.display()
    );
    if todo.is_empty() {
        return Ok(());
    }
    let runtime = Runtime::load(models_dir, RuntimeOptions { intra_threads: threads, ..RuntimeOptions::default() })?;
    let data = tempfile::tempdir()?;
    let store = reko_store::EmbeddedStore::open(data.path())?;
    let service = Service::new(Arc::new(store)).with_vision(reko_service::Vision::new(runtime));
    let settings = LabelSettings { general_labels: true, min_confidence: 50.0, ..Default::default() };
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(index)?;
    // After an interruption the last line may be cut short: start on a line of our own.
    if !complete {
        writeln!(out)?;
    }
    let started = Instant::now();
    for (n, path) in todo.iter().enumerate() {
        let (size, modified_ms) = stamp(path)?;
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        let entry = match service.detect_labels(&bytes, &settings) {
            Ok(found) => Entry {
                path: path.clone(),
                size,
                modified_ms,
                labels: found
                    .labels
                    .iter()
                    .map(|l| (l.name.to_owned(), (l.confidence * 10.0).round() / 10.0))
                    .collect(),
                error: None,
            },
            Err(error) => {
                Entry { path: path.clone(), size, modified_ms, labels: Vec::new(), error: Some(error.to_string()) }
            }
        };
        writeln!(out, "{}", serde_json::to_string(&entry)?)?;
        out.flush()?;
        let filled = (n + 1) * 30 / todo.len();
        let per_image = started.elapsed().as_secs_f64() / (n + 1) as f64;
        eprint!(
            "\r[{}{}] {}/{} photos, {:.0} ms each, {:.0} s left   ",
            "#".repeat(filled),
            "-".repeat(30 - filled),
            n + 1,
            todo.len(),
            per_image * 1000.0,
            per_image * (todo.len() - n - 1) as f64
        );
    }
    eprintln!();
    Ok(())
}

/// Prints the photos in `index` with label `name` (any case) at `min_confidence` or above, most confident
/// first.
pub fn find_label(index: &Path, name: &str, min_confidence: f32) -> anyhow::Result<()> {
    let (entries, _) = read_index(index)?;
    if entries.is_empty() {
        anyhow::bail!("{} holds no labelled photos: run `reko index-labels DIR` first", index.display());
    }
    // The last line for a path wins (a changed photo is appended again).
    let mut latest: HashMap<&Path, &Entry> = HashMap::new();
    for entry in &entries {
        latest.insert(&entry.path, entry);
    }
    let mut found: Vec<(f32, &Path)> = latest
        .values()
        .filter_map(|e| {
            e.labels
                .iter()
                .find(|(label, c)| label.eq_ignore_ascii_case(name) && *c >= min_confidence)
                .map(|(_, c)| (*c, e.path.as_path()))
        })
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    for (confidence, path) in &found {
        println!("{confidence:5.1}  {}", path.display());
    }
    eprintln!("{} of {} photos have {name} at {min_confidence} or above", found.len(), latest.len());
    Ok(())
}
