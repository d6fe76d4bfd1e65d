//! What the model tests share: the fetched models' folder and the photos of `../shared/eval`.

use std::path::{Path, PathBuf};

/// `REKO_TEST_MODELS_DIR`, or a panic that says how to set it.
pub fn models_dir() -> PathBuf {
    std::env::var_os("REKO_TEST_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "REKO_TEST_MODELS_DIR is not set: run scripts/test, or set it to a directory filled by `reko models fetch`"
        )
    })
}

/// `../shared/eval` beside the clone, or a panic that says it is missing.
pub fn eval_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval");
    assert!(dir.is_dir(), "{} is not here: this test needs ../shared/eval beside the clone", dir.display());
    dir
}

/// Every `step`th `.jpg` under `dir` (one level of sub-folders), in name order.
pub fn photos(dir: &Path, step: usize) -> Vec<PathBuf> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the folder reads")
        .flat_map(|sub| std::fs::read_dir(sub.expect("an entry").path()).expect("a sub-folder reads"))
        .map(|photo| photo.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos.into_iter().step_by(step).collect()
}
