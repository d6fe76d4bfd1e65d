//! Helpers shared by the golden tests: reading the variables that point at the fetched models, finding the
//! golden files and comparing outputs with a tolerance.

use std::path::{Path, PathBuf};

/// The value of `name`, one of the variables `scripts/test` sets to the fetched models (`REKO_TEST_*_DIR`,
/// `REKO_ORT_DYLIB`). The tests reading them are `#[ignore]`d and run with `--include-ignored`: unset, the
/// test fails, naming the variable, rather than passing without checking anything.
pub fn fetched(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test, which fetches the models and sets it (or set it by hand)")
    })
}

/// The `.json` goldens in `tests/<subdir>`, sorted.
pub fn golden_files(subdir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(subdir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// How one output compares with its golden values.
pub struct Comparison {
    pub max_abs: f64,
    pub max_rel: f64,
    pub failures: usize,
    pub checked: usize,
    pub worst: String,
}

/// Compares `actual` at each golden `(index, value)`: a value fails when
/// `|actual - expected| > tolerance * max(1, |expected|)`, and NaN or a missing index always fails.
/// `reference` names the original runtime in the report.
pub fn compare(expected: &[(usize, f64)], actual: &[f32], tolerance: f64, reference: &str) -> Comparison {
    let mut c = Comparison { max_abs: 0.0, max_rel: 0.0, failures: 0, checked: 0, worst: String::new() };
    let mut worst_ratio = -1.0;
    for &(index, want) in expected {
        let got = actual.get(index).map_or(f64::NAN, |&v| v as f64);
        let abs = (got - want).abs();
        let allowed = tolerance * want.abs().max(1.0);
        c.checked += 1;
        c.max_abs = c.max_abs.max(abs);
        if want.abs() > 1e-3 {
            c.max_rel = c.max_rel.max(abs / want.abs());
        }
        if abs.is_nan() || abs > allowed {
            c.failures += 1;
        }
        if abs.is_nan() || abs / allowed > worst_ratio {
            worst_ratio = if abs.is_nan() { f64::INFINITY } else { abs / allowed };
            c.worst = format!("[{index}] onnx {got} vs {reference} {want}");
        }
    }
    c
}
