//! Writes BENCHMARKS.md from criterion's results (`<criterion dir>/**/new/{benchmark,estimates}.json`)
//! and the benchmarks' notes: `report <criterion dir> <notes dir> <output file>`. `bench/run.sh` calls
//! it, having noted the command (`run-command.txt`) and the date (`run-date.txt`) of the run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One benchmark's result: mean and its 95 % confidence interval, in nanoseconds per iteration.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    mean: f64,
    lower: f64,
    upper: f64,
}

/// (group, function, parameter) → estimate.
type Results = BTreeMap<(String, String, String), Estimate>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: report <criterion dir> <notes dir> <output file>");
        std::process::exit(2);
    }
    let (criterion_dir, notes_dir, output) = (Path::new(&args[1]), Path::new(&args[2]), Path::new(&args[3]));
    let mut results = Results::new();
    collect(criterion_dir, &mut results);
    if results.is_empty() {
        eprintln!("no criterion results under {}", criterion_dir.display());
        std::process::exit(1);
    }
    let notes = read_notes(notes_dir);
    let markdown = render(&results, &notes);
    if let Err(e) = std::fs::write(output, markdown) {
        eprintln!("writing {}: {e}", output.display());
        std::process::exit(1);
    }
    println!("wrote {} ({} results)", output.display(), results.len());
}

/// Every `new/benchmark.json` with its `new/estimates.json` under `dir`.
fn collect(dir: &Path, results: &mut Results) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some((key, estimate)) = read_result(&path) {
                results.insert(key, estimate);
            }
        } else {
            collect(&path, results);
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn read_result(dir: &Path) -> Option<((String, String, String), Estimate)> {
    let benchmark = read_json(&dir.join("benchmark.json"))?;
    let estimates = read_json(&dir.join("estimates.json"))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let key = (text(&benchmark["group_id"]), text(&benchmark["function_id"]), text(&benchmark["value_str"]));
    let mean = &estimates["mean"];
    let estimate = Estimate {
        mean: mean["point_estimate"].as_f64()?,
        lower: mean["confidence_interval"]["lower_bound"].as_f64()?,
        upper: mean["confidence_interval"]["upper_bound"].as_f64()?,
    };
    Some((key, estimate))
}

fn read_notes(dir: &Path) -> BTreeMap<String, String> {
    let mut notes = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "txt")
            && let (Some(stem), Ok(text)) = (path.file_stem(), std::fs::read_to_string(&path))
        {
            notes.insert(stem.to_string_lossy().into_owned(), text.trim().to_owned());
        }
    }
    notes
}

/// Text fit for a markdown table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

/// Milliseconds with three significant figures.
fn ms(ns: f64) -> String {
    let ms = ns / 1e6;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// "mean (low – high)" in ms.
fn ms_ci(e: &Estimate) -> String {
    format!("{} ({} – {})", ms(e.mean), ms(e.lower), ms(e.upper))
}

fn get<'a>(results: &'a Results, group: &str, function: &str, value: &str) -> Option<&'a Estimate> {
    results.get(&(group.to_owned(), function.to_owned(), value.to_owned()))
}

/// The distinct values of one field, in first-seen (sorted) order, for a group.
fn keys(results: &Results, group: &str, field: fn(&(String, String, String)) -> &String) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in results.keys().filter(|k| k.0 == group) {
        let value = field(key);
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

fn render(results: &Results, notes: &BTreeMap<String, String>) -> String {
    let mut md = String::new();
    let command = notes.get("run-command").cloned().unwrap_or_else(|| "bench/run.sh".into());
    let date = notes.get("run-date").cloned().unwrap_or_else(|| "unknown".into());
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `bench/run.sh` from criterion's results; the benchmarks are in `bench/benches/` (a \
         cargo workspace of their own). **Absolute times depend on the machine and its load (this one is \
         shared); the ratios — tract against ONNX Runtime, batch against single — are the point.** Means \
         with their 95 % confidence interval, in milliseconds.\n"
    );
    let _ = writeln!(md, "- date: {date}");
    let _ = writeln!(md, "- command: `{command}`");
    let _ = writeln!(md, "- machine: {}", machine());
    let _ = writeln!(md, "- versions: {}", versions());
    let _ = writeln!(
        md,
        "- threads: one everywhere — ONNX Runtime with `intra_threads: 1` (reko's default), tract single-threaded \
         (its default)"
    );
    let _ = writeln!(md, "- criterion: 1 s warm-up, 3 s measurement, 10 samples (flat sampling for the models)\n");

    ort_vs_tract(&mut md, results, notes);
    batching(&mut md, results);
    preprocess(&mut md, results);
    end_to_end(&mut md, results, notes);
    scale_reports(&mut md);
    md
}

/// The benchmarks that are not criterion's (`bench/INDEX.md` by `bench/index`'s `index_scale`,
/// `bench/COLLECTIONS.md` by `collection_scale`, `bench/LOAD.md` by `bench/load.py`, `bench/CLUSTER.md` by
/// `collection_scale --database-url` and `bench/cluster.py`, `bench/PEERS.md` by `bench/peer_speed.py`
/// and `reko eval text`/`speed`, `bench/CUSTOM_LABELS.md` by `bench/custom_labels.py`, `bench/FUZZING.md` by
/// `scripts/fuzz`), copied in with their headings one level down.
fn scale_reports(md: &mut String) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["COLLECTIONS.md", "INDEX.md", "LOAD.md", "CLUSTER.md", "PEERS.md", "CUSTOM_LABELS.md", "FUZZING.md"] {
        let Ok(text) = std::fs::read_to_string(here.join(file)) else { continue };
        let _ = writeln!(
            md,
            "\n<!-- copied from bench/{file}; rerun the commands in it and `bench/run.sh --report-only` -->\n"
        );
        for line in text.lines() {
            if line.starts_with('#') {
                let _ = writeln!(md, "#{line}");
            } else {
                let _ = writeln!(md, "{line}");
            }
        }
    }
}

fn ort_vs_tract(md: &mut String, results: &Results, notes: &BTreeMap<String, String>) {
    let group = "ort_vs_tract";
    let _ = writeln!(md, "## ONNX Runtime against tract (one thread each, same input)\n");
    let _ = writeln!(md, "| model | input | ONNX Runtime ms | tract ms | tract / ORT | tract |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---|");
    let mut details = Vec::new();
    for model in keys(results, group, |k| &k.2) {
        let Some(ort) = get(results, group, "ort", &model) else { continue };
        let tract = get(results, group, "tract", &model);
        let input = notes.get(&format!("input-{model}")).map(|n| cell(n)).unwrap_or_default();
        let note = notes.get(&format!("tract-{model}")).cloned().unwrap_or_default();
        let status = if note.starts_with("not loaded") {
            "not loaded"
        } else if note.contains("failed to run") {
            "fails to run"
        } else if note.starts_with("loads only with value_info ignored") {
            "runs with value_info ignored"
        } else {
            "runs"
        };
        if !note.is_empty() {
            details.push(format!("- `{model}`: {}", note.replace('\n', " ")));
        }
        let (tract_ms, ratio) = match tract {
            Some(t) => (ms_ci(t), format!("**{:.1}×**", t.mean / ort.mean)),
            None => ("—".into(), "—".into()),
        };
        let _ = writeln!(md, "| `{model}` | {input} | {} | {tract_ms} | {ratio} | {status} |", ms_ci(ort));
    }
    let _ = writeln!(
        md,
        "\ntract, model by model (loaded as `tract_onnx::onnx().model_for_path(..)`, input fact fixed, \
        `into_optimized`; where that fails, once more with `with_ignore_value_info(true)`):\n"
    );
    for line in details {
        let _ = writeln!(md, "{line}");
    }
    let _ = writeln!(md);
}

fn batching(md: &mut String, results: &Results) {
    let group = "batching";
    let _ = writeln!(md, "## Batch 1 against a batch (ONNX Runtime, one thread)\n");
    let _ = writeln!(
        md,
        "A speed-up below 1 means the batch costs more per item: reko runs these networks one crop a run.\n"
    );
    let _ = writeln!(md, "| model | batch 1: ms | batch N | batch N: ms | batch N: ms per item | speed-up per item |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for model in keys(results, group, |k| &k.1) {
        let mut sizes: Vec<(usize, Estimate)> = results
            .iter()
            .filter(|(k, _)| k.0 == group && k.1 == model)
            .filter_map(|(k, e)| Some((k.2.parse().ok()?, *e)))
            .collect();
        sizes.sort_by_key(|(n, _)| *n);
        let Some(&(1, single)) = sizes.first() else { continue };
        match sizes.last() {
            Some(&(n, batch)) if n > 1 => {
                let per_item = batch.mean / n as f64;
                let _ = writeln!(
                    md,
                    "| `{model}` | {} | {n} | {} | {} | **{:.2}×** |",
                    ms_ci(&single),
                    ms_ci(&batch),
                    ms(per_item),
                    single.mean / per_item
                );
            }
            _ => {
                let _ = writeln!(md, "| `{model}` | {} | — | — | — | — |", ms_ci(&single));
            }
        }
    }
    let _ = writeln!(md);
}

fn preprocess(md: &mut String, results: &Results) {
    let group = "preprocess";
    let _ = writeln!(md, "## Image pre-processing (couple.jpg, 2280 × 1588)\n");
    let _ = writeln!(md, "| step | ms |");
    let _ = writeln!(md, "|---|---:|");
    for (key, estimate) in results.iter().filter(|(k, _)| k.0 == group) {
        let _ = writeln!(md, "| `{}` | {} |", key.1, ms_ci(estimate));
    }
    let _ = writeln!(md);
}

fn end_to_end(md: &mut String, results: &Results, notes: &BTreeMap<String, String>) {
    let group = "faces_e2e";
    let _ = writeln!(
        md,
        "## End-to-end face detection (`FacePipeline::default().analyze`, no attributes, one thread)\n\n\
         Detector (faceapi-ssd, with whatever tiling and verification the detector does), 68 landmarks for \
         every face, pose and quality, from a decoded image. The last column divides by one faceapi-ssd run \
         at batch 1 (above): roughly how many detector passes an image costs.\n"
    );
    let _ = writeln!(md, "| image | ms per image | ≈ faceapi-ssd runs |");
    let _ = writeln!(md, "|---|---:|---:|");
    let ssd =
        get(results, "batching", "faceapi-ssd", "1").or_else(|| get(results, "ort_vs_tract", "ort", "faceapi-ssd"));
    for (key, estimate) in results.iter().filter(|(k, _)| k.0 == group) {
        let about = cell(notes.get(&format!("faces-{}", key.2)).unwrap_or(&key.2));
        let runs = ssd.map(|s| format!("{:.0}", estimate.mean / s.mean)).unwrap_or_else(|| "—".into());
        let _ = writeln!(md, "| {about} | {} | {runs} |", ms_ci(estimate));
    }
    let _ = writeln!(md);
}

/// CPU model, logical CPUs, memory and the load when the report was written.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{model}, {cpus} logical CPUs (nproc), {memory} memory; load average {load} when the report was written")
}

/// The ONNX Runtime library and the tract and criterion versions from `bench/Cargo.lock`.
fn versions() -> String {
    let lock =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap_or_default();
    let version = |name: &str| {
        let marker = format!("name = \"{name}\"\nversion = \"");
        lock.find(&marker)
            .and_then(|at| lock[at + marker.len()..].split('"').next().map(str::to_owned))
            .unwrap_or_else(|| "?".into())
    };
    let ort_dir = reko_bench::models_dir().join("onnxruntime");
    let ort = std::fs::read_dir(&ort_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("libonnxruntime.so."))
        .max_by_key(String::len)
        .unwrap_or_else(|| "libonnxruntime (not found)".into());
    format!("ONNX Runtime `{ort}`, tract-onnx {}, criterion {}", version("tract-onnx"), version("criterion"))
}
