//! `reko eval video`: video jobs on `../shared/eval/video_clips` through the service (no HTTP): who the
//! Hamilton clip's face search finds when, people and face tracks in the walking clips, and the face
//! search throughput and peak memory on a 720p video.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use reko_inference::boxes::BBox;
use reko_inference::{Runtime, RuntimeOptions};
use reko_service::{
    QualityFilter, ResultsPage, Service, SortBy, StartVideoJob, VideoAnalysis, VideoConfig, VideoObject,
};
use reko_video::track::{Observation, Tracker, TrackerConfig};
use serde_json::Value;

use crate::eval::eval_scope;

fn service_error(e: reko_service::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs one job to its end; its status message (if it failed), metadata and every result item.
fn run(service: &Service, analysis: VideoAnalysis, key: &str) -> anyhow::Result<(Value, Vec<Value>)> {
    let operation = analysis.operation();
    let start = StartVideoJob {
        analysis,
        video: VideoObject { bucket: "videos".into(), name: key.into(), version: None },
        client_request_token: None,
        job_tag: None,
        notification: None,
    };
    let job_id = service.start_video_job(&eval_scope(), start).map_err(service_error)?;
    service.run_queued_jobs(&reko_server::Renderer);
    let mut items = Vec::new();
    let mut next_token = None;
    loop {
        let page = ResultsPage { max_results: None, next_token, sort_by: SortBy::Timestamp, segments: false };
        let view = service.video_job(&eval_scope(), &job_id, operation, &page).map_err(service_error)?;
        if view.status != reko_service::JobStatus::Succeeded {
            bail!("{operation} of {key}: {:?} {}", view.status, view.status_message.unwrap_or_default());
        }
        items.extend(view.items);
        next_token = view.next_token;
        if next_token.is_none() {
            let metadata =
                view.metadata.map(|m| serde_json::json!([m.frame_width, m.frame_height, m.duration_ms, m.frame_rate]));
            return Ok((metadata.unwrap_or(Value::Null), items));
        }
    }
}

fn bbox(item: &Value) -> BBox {
    let b = &item["BoundingBox"];
    let f = |k: &str| b[k].as_f64().unwrap_or(0.0) as f32;
    BBox { x1: f("Left"), y1: f("Top"), x2: f("Left") + f("Width"), y2: f("Top") + f("Height") }
}

pub fn video(models_dir: &Path, eval_dir: &Path, config: VideoConfig, inference_threads: usize) -> anyhow::Result<()> {
    let runtime =
        Runtime::load(models_dir, RuntimeOptions { intra_threads: inference_threads, ..RuntimeOptions::default() })?;
    let work = tempfile::tempdir()?;
    let bucket = work.path().join("s3/videos");
    std::fs::create_dir_all(&bucket)?;
    let store = reko_store::EmbeddedStore::open(&work.path().join("data"))?;
    let service = Service::new(Arc::new(store))
        .with_vision(reko_service::Vision::new(runtime))
        .with_objects(Arc::new(reko_service::DirectoryObjects::new(work.path().join("s3"))))
        .with_video_config(config);
    println!(
        "Video jobs at {} sampled frames per second, {} frames at once, {inference_threads} inference thread(s) per model.\n",
        config.sample_fps, config.frame_threads
    );

    // 1. Face search: the Hamilton clip against its two reference faces.
    let hamilton = eval_dir.join("face_recognition_hamilton");
    std::fs::copy(hamilton.join("short_hamilton_clip.mp4"), bucket.join("hamilton.mp4"))
        .with_context(|| hamilton.display().to_string())?;
    service.create_collection(&eval_scope(), "hamilton", Default::default()).map_err(service_error)?;
    for name in ["lin-manuel-miranda", "alex-lacamoire"] {
        let bytes = std::fs::read(hamilton.join(format!("{name}.png")))?;
        let indexed = service
            .index_faces(&eval_scope(), "hamilton", &bytes, Some(name), Some(1), QualityFilter::None, false)
            .map_err(service_error)?;
        println!("indexed {name}: {} face", indexed.indexed.len());
    }
    let faces = run(&service, VideoAnalysis::FaceDetection { all_attributes: false }, "hamilton.mp4")?.1;
    let started = Instant::now();
    let (metadata, persons) =
        run(&service, VideoAnalysis::FaceSearch { collection_id: "hamilton".into(), threshold: 80.0 }, "hamilton.mp4")?;
    let seconds = started.elapsed().as_secs_f64();
    let face_times: BTreeMap<u64, usize> = faces.iter().fold(BTreeMap::new(), |mut m, f| {
        *m.entry(f["Timestamp"].as_u64().unwrap_or(0)).or_default() += 1;
        m
    });
    println!(
        "\nHamilton clip {metadata} (width, height, ms, fps): face search at FaceMatchThreshold 80, {seconds:.1} s"
    );
    println!("  time ms  faces  matched (person index: best match, similarity)");
    for (t, n) in &face_times {
        let matched: Vec<String> = persons
            .iter()
            .filter(|p| p["Timestamp"].as_u64() == Some(*t))
            .map(|p| {
                let best = &p["FaceMatches"][0];
                format!(
                    "#{}: {} {:.1}",
                    p["Person"]["Index"],
                    best["Face"]["ExternalImageId"].as_str().unwrap_or("?"),
                    best["Similarity"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        println!("  {t:7}  {n:5}  {}", if matched.is_empty() { "-".to_owned() } else { matched.join(", ") });
    }
    let mut by_name: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for p in &persons {
        for m in p["FaceMatches"].as_array().into_iter().flatten() {
            let name = m["Face"]["ExternalImageId"].as_str().unwrap_or("?").to_owned();
            by_name.entry(name).or_default().insert(p["Timestamp"].as_u64().unwrap_or(0));
        }
    }
    for (name, times) in &by_name {
        println!("  {name}: matched in {} of {} sampled frames", times.len(), face_times.len());
    }

    // 2. People and faces in the walking clips.
    println!(
        "\nclip                                     frames  faces(max/frame)  face tracks  people(max/frame)  person tracks"
    );
    let intel = eval_dir.join("intel_sample_videos");
    let mut clips: Vec<_> = std::fs::read_dir(intel.join("gif_as_mp4"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    clips.extend(
        ["car-detection.mp4", "one-by-one-person-detection.mp4"]
            .map(|n| intel.join(n))
            .into_iter()
            .filter(|p| p.exists()),
    );
    clips.sort();
    for clip in clips {
        let key = clip.file_name().and_then(|n| n.to_str()).unwrap_or("clip.mp4").to_owned();
        std::fs::copy(&clip, bucket.join(&key))?;
        let faces = run(&service, VideoAnalysis::FaceDetection { all_attributes: false }, &key)?.1;
        let people = run(&service, VideoAnalysis::PersonTracking, &key)?.1;
        let per_frame = |items: &[Value]| -> (usize, usize) {
            let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
            for item in items {
                *counts.entry(item["Timestamp"].as_u64().unwrap_or(0)).or_default() += 1;
            }
            (counts.len(), counts.values().copied().max().unwrap_or(0))
        };
        // Face tracks: reko's tracker over the detected boxes alone (ratios; no identities).
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut frames: BTreeMap<u64, Vec<BBox>> = BTreeMap::new();
        for face in &faces {
            frames.entry(face["Timestamp"].as_u64().unwrap_or(0)).or_default().push(bbox(&face["Face"]));
        }
        for (t, boxes) in &frames {
            let observations: Vec<Observation<'_>> =
                boxes.iter().map(|&b| Observation { bbox: b, embedding: None }).collect();
            tracker.assign(*t, &observations);
        }
        let person_tracks: BTreeSet<u64> = people.iter().filter_map(|p| p["Person"]["Index"].as_u64()).collect();
        let ((face_frames, max_faces), (_, max_people)) = (per_frame(&faces), per_frame(&people));
        println!(
            "{key:40} {face_frames:6}  {:6} ({max_faces:2})       {:6}       {:6} ({max_people:2})        {:6}",
            faces.len(),
            tracker.tracks(),
            people.len(),
            person_tracks.len()
        );
    }

    // 3. Throughput: face search on the Hamilton clip scaled to 720p.
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(bucket.join("hamilton.mp4"))
        .args(["-vf", "scale=1280:720", "-c:v", "libx264", "-an"])
        .arg(bucket.join("hamilton720.mp4"))
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not make the 720p clip");
    }
    let before = peak_rss_mib();
    let started = Instant::now();
    let (metadata, persons) = run(
        &service,
        VideoAnalysis::FaceSearch { collection_id: "hamilton".into(), threshold: 80.0 },
        "hamilton720.mp4",
    )?;
    let wall = started.elapsed().as_secs_f64();
    let duration = metadata[2].as_f64().unwrap_or(0.0) / 1000.0;
    println!(
        "\nFace search, 720p ({duration:.1} s of video): {wall:.1} s wall, {:.2} s of video per second; {} person matches; \
         peak memory of reko {:.0} MiB (before the job {before:.0} MiB; ffmpeg is a separate process)",
        duration / wall,
        persons.len(),
        peak_rss_mib()
    );
    Ok(())
}
