//! `reko eval gender`: DetectFaces' `Gender` on LFW's published gender labels (`lfw/gender/`): face-api's
//! gender classifier (what DetectFaces reports today) against a logistic head trained on the face
//! embeddings, the head cross-validated with folds by identity (no person in two folds).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_vision::custom::{Example, Head, TrainSettings};
use reko_vision::faces::FacePipeline;

use crate::eval::cross_validated;

/// One labelled image: its identity, its path, and whether it is male.
fn labelled(lfw: &Path, per_identity: usize) -> anyhow::Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for (file, male) in [("female_names.txt", false), ("male_names.txt", true)] {
        let list = lfw.join("gender").join(file);
        let text = std::fs::read_to_string(&list).with_context(|| list.display().to_string())?;
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for name in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((identity, _)) = name.rsplit_once('_') else { continue };
            let count = seen.entry(identity.to_owned()).or_default();
            *count += 1;
            let path = lfw.join("lfw-deepfunneled").join(identity).join(name);
            if *count <= per_identity && path.exists() {
                out.push((identity.to_owned(), path, male));
            }
        }
    }
    Ok(out)
}

pub fn gender(
    models_dir: &Path,
    lfw: &Path,
    per_identity: usize,
    folds: usize,
    write: Option<&Path>,
) -> anyhow::Result<()> {
    let runtime = Runtime::load(models_dir, RuntimeOptions::default())?;
    let pipeline = FacePipeline::default();
    let images = labelled(lfw, per_identity)?;
    let started = Instant::now();
    // (identity, truth, face-api's male probability, embedding) of each image with a face.
    let mut rows = Vec::new();
    let mut no_face = 0;
    for (identity, path, male) in &images {
        let decoded = reko_inference::image::decode(&std::fs::read(path)?)?;
        let faces = pipeline.analyze(&runtime, &decoded.rgb, true, 1)?;
        let Some(face) = faces.first() else {
            no_face += 1;
            continue;
        };
        let embedding = pipeline.embed(&runtime, &decoded.rgb, std::slice::from_ref(face))?.remove(0);
        let face_api = face.attributes.as_ref().map_or(0.5, |a| a.male_network);
        rows.push((identity.clone(), *male, face_api, embedding));
    }
    let n = rows.len();
    let identities: std::collections::HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let women = rows.iter().filter(|r| !r.1).count();
    println!(
        "{n} faces of {} people ({women} of women), at most {per_identity} a person; {no_face} images without a face; {:.0} ms an image",
        identities.len(),
        started.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64
    );
    let accuracy = |right: usize, of: usize| 100.0 * right as f64 / of.max(1) as f64;
    let report = |name: &str, predicted: &[bool]| {
        let right = rows.iter().zip(predicted).filter(|(r, p)| r.1 == **p).count();
        let women_right = rows.iter().zip(predicted).filter(|(r, p)| !r.1 && !**p).count();
        let men_right = rows.iter().zip(predicted).filter(|(r, p)| r.1 && **p).count();
        println!(
            "{name}: {:.2}% ({right} of {n}); women {:.2}%, men {:.2}%",
            accuracy(right, n),
            accuracy(women_right, women),
            accuracy(men_right, n - women)
        );
    };
    report(
        "face-api's gender network alone (DetectFaces' Gender until 2026-12-03)",
        &rows.iter().map(|r| r.2 >= 0.5).collect::<Vec<_>>(),
    );

    let labels = ["female".to_owned(), "male".to_owned()];
    let example = |r: &(String, bool, f32, Vec<f32>)| Example { features: r.3.clone(), labels: vec![usize::from(r.1)] };
    // The same with face-api's log-odds as one more feature (a stacked model of both: DetectFaces' head).
    let stacked = |r: &(String, bool, f32, Vec<f32>)| Example {
        features: reko_vision::faces::gender_features(&r.3, r.2),
        labels: vec![usize::from(r.1)],
    };
    let head_p = cross_validated(&rows, folds, |r| &r.0, &labels, example);
    let stacked_p = cross_validated(&rows, folds, |r| &r.0, &labels, stacked);
    report(
        &format!("a logistic head on the embeddings, {folds}-fold by identity"),
        &head_p.iter().map(|p| *p >= 0.5).collect::<Vec<_>>(),
    );
    let mean: Vec<bool> = head_p.iter().zip(&rows).map(|(p, r)| (p + r.2) / 2.0 >= 0.5).collect();
    report("the mean of the head's and face-api's probabilities", &mean);
    report(
        &format!("a head on the embeddings and face-api's log-odds (DetectFaces' Gender), {folds}-fold by identity"),
        &stacked_p.iter().map(|p| *p >= 0.5).collect::<Vec<_>>(),
    );
    if let Some(path) = write {
        let all: Vec<Example> = rows.iter().map(stacked).collect();
        let head = Head::train(labels.to_vec(), false, &all, TrainSettings::default());
        std::fs::write(path, serde_json::to_string(&head)? + "\n").with_context(|| path.display().to_string())?;
        println!("the stacked head, fitted on all {n} faces, written to {}", path.display());
    }
    Ok(())
}
