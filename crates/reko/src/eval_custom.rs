//! `reko eval custom-labels`: Custom Labels' model on a folder of labelled photos (one sub-folder per
//! label): feature time per image, k-fold cross-validated accuracy, training time, and optionally a label
//! added from a few photos of another folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::custom::{self, Example, Head, TrainSettings};

/// The features of each image of `paths`, and the mean time an image took (decode included).
fn features_of(runtime: &Runtime, paths: &[PathBuf]) -> anyhow::Result<(Vec<Vec<f32>>, f64)> {
    let started = Instant::now();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let decoded = reko_inference::image::decode(&std::fs::read(path).with_context(|| path.display().to_string())?)?;
        out.push(custom::features(runtime, &decoded.rgb)?);
    }
    Ok((out, started.elapsed().as_secs_f64() * 1000.0 / paths.len().max(1) as f64))
}

fn accuracy(head: &Head, examples: &[Example]) -> (usize, usize) {
    let right = examples
        .iter()
        .filter(|e| {
            let p = head.probabilities(&e.features);
            let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
            e.labels.contains(&best)
        })
        .count();
    (right, examples.len())
}

/// Runs the evaluation on `dir` (a folder of label folders, e.g. `custom_labels_hymenoptera/train`).
pub fn custom_labels(
    models_dir: &Path,
    dir: &Path,
    folds: usize,
    extra: Option<(PathBuf, String, usize)>,
) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let mut labels: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    labels.sort();
    anyhow::ensure!(labels.len() >= 2, "{} needs at least two label folders", dir.display());
    let mut examples = Vec::new();
    let mut feature_ms = Vec::new();
    for (index, label) in labels.iter().enumerate() {
        let paths = crate::label_index::photos(&dir.join(label))?;
        let (features, ms) = features_of(&runtime, &paths)?;
        println!("{label}: {} images, features {ms:.1} ms an image", paths.len());
        feature_ms.push(ms);
        examples.extend(features.into_iter().map(|features| Example { features, labels: vec![index] }));
    }
    // Folds by position within each label, so each fold has its share of every label.
    let mut seen = vec![0usize; labels.len()];
    let fold: Vec<usize> = examples
        .iter()
        .map(|e| {
            let n = seen[e.labels[0]];
            seen[e.labels[0]] += 1;
            n % folds
        })
        .collect();
    let (mut right, mut total, mut train_s) = (0, 0, 0.0f64);
    for f in 0..folds {
        let train: Vec<Example> =
            examples.iter().zip(&fold).filter(|(_, g)| **g != f).map(|(e, _)| e.clone()).collect();
        let test: Vec<Example> = examples.iter().zip(&fold).filter(|(_, g)| **g == f).map(|(e, _)| e.clone()).collect();
        let started = Instant::now();
        let head = Head::train(labels.clone(), false, &train, TrainSettings::default());
        train_s = train_s.max(started.elapsed().as_secs_f64());
        let (r, t) = accuracy(&head, &test);
        right += r;
        total += t;
    }
    println!(
        "{folds}-fold cross-validated accuracy: {:.2}% ({right} of {total}); training at most {train_s:.2} s a fold",
        100.0 * right as f64 / total as f64
    );
    let started = Instant::now();
    let head = Head::train(labels.clone(), false, &examples, TrainSettings::default());
    let trained = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for e in &examples {
        std::hint::black_box(head.probabilities(&e.features));
    }
    let head_us = started.elapsed().as_secs_f64() * 1e6 / examples.len() as f64;
    println!(
        "all {} images: trained in {trained:.2} s (penalty {}, temperature {:.2}); the head takes {head_us:.0} µs an image",
        examples.len(),
        head.penalty,
        head.temperature
    );

    if let Some((extra_dir, extra_label, count)) = extra {
        let paths = crate::label_index::photos(&extra_dir)?;
        anyhow::ensure!(
            paths.len() > count,
            "{} has {} images, fewer than {count} + 1",
            extra_dir.display(),
            paths.len()
        );
        let (features, _) = features_of(&runtime, &paths)?;
        let index = labels.len();
        let mut with_extra = labels.clone();
        with_extra.push(extra_label.clone());
        let extra_examples: Vec<Example> =
            features.into_iter().map(|features| Example { features, labels: vec![index] }).collect();
        // Train on every fold but one of the original labels plus `count` new photos; test on the held-out
        // fold and the rest of the new photos.
        let train: Vec<Example> = examples
            .iter()
            .zip(&fold)
            .filter(|(_, g)| **g != 0)
            .map(|(e, _)| e.clone())
            .chain(extra_examples[..count].iter().cloned())
            .collect();
        let head = Head::train(with_extra, false, &train, TrainSettings::default());
        let held_out: Vec<Example> =
            examples.iter().zip(&fold).filter(|(_, g)| **g == 0).map(|(e, _)| e.clone()).collect();
        let (old_right, old_total) = accuracy(&head, &held_out);
        let (new_right, new_total) = accuracy(&head, &extra_examples[count..]);
        println!(
            "a third label, {extra_label}, from {count} photos of {}: held-out accuracy {:.1}% on it ({new_right} of {new_total}), {:.1}% on the others ({old_right} of {old_total})",
            extra_dir.display(),
            100.0 * new_right as f64 / new_total as f64,
            100.0 * old_right as f64 / old_total as f64
        );
    }
    Ok(())
}
