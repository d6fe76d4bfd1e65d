//! What each video job computes, frame by frame, with the image pipelines: faces, face search with
//! person tracking, labels and moderation labels (per frame and aggregated into segments), text, people,
//! and segment detection's shots and black frames.

use std::collections::BTreeMap;
use std::path::Path;

use image::RgbImage;
use reko_video::segments;
use reko_video::track::{Observation, Tracker, TrackerConfig};
use reko_video::{Sampling, VideoInfo};
use reko_vision::faces::{FaceAnalysis, MAX_FACES};
use reko_vision::labels::Object;

use super::worker::JobFailure;
use super::{Finding, SegmentSettings, Span, StoredItem, VideoAnalysis, VideoRenderer, VideoSegment};
use crate::results::{DetectedFace, Label, ModerationLabel, RatioBox};
use crate::{DetectedText, Scope, Service, ServiceError};

/// Faces one frame's face search returns from the collection, per person.
const MAX_FACE_MATCHES: usize = 10;
/// The frame size segment detection reads every frame at: enough for colour histograms and black
/// coverage, small enough to decode long videos quickly.
const SEGMENT_FRAME_PIXELS: u32 = 160 * 90;
/// A label missing from at most this many consecutive sampled frames keeps its segment open.
const SEGMENT_GAP_FRAMES: u64 = 1;

/// Segments being built, one per label name.
struct Aggregator<T> {
    interval_ms: u64,
    open: BTreeMap<String, (Span, u64, T)>,
    closed: Vec<(Span, T)>,
}

impl<T: Clone> Aggregator<T> {
    fn new(interval_ms: u64) -> Self {
        Aggregator { interval_ms, open: BTreeMap::new(), closed: Vec::new() }
    }

    /// Records `name` seen at `timestamp_ms`; the most confident sighting (by `confidence_of`) is kept.
    fn seen(&mut self, name: &str, timestamp_ms: u64, value: &T, confidence_of: impl Fn(&T) -> f32) {
        let end = timestamp_ms + self.interval_ms;
        match self.open.get_mut(name) {
            Some((span, last, best)) => {
                span.end_ms = end;
                *last = timestamp_ms;
                if confidence_of(value) > confidence_of(best) {
                    *best = value.clone();
                }
            }
            None => {
                self.open.insert(
                    name.to_owned(),
                    (Span { start_ms: timestamp_ms, end_ms: end }, timestamp_ms, value.clone()),
                );
            }
        }
    }

    /// Closes the segments not seen since before `timestamp_ms` allows.
    fn advance(&mut self, timestamp_ms: u64) {
        let limit = self.interval_ms * (SEGMENT_GAP_FRAMES + 1);
        let stale: Vec<String> = self
            .open
            .iter()
            .filter(|(_, (_, last, _))| timestamp_ms.saturating_sub(*last) > limit)
            .map(|(n, _)| n.clone())
            .collect();
        for name in stale {
            let (span, _, best) = self.open.remove(&name).expect("open");
            self.closed.push((span, best));
        }
    }

    fn finish(mut self, duration_ms: u64) -> Vec<(Span, T)> {
        for (_, (span, _, best)) in std::mem::take(&mut self.open) {
            self.closed.push((span, best));
        }
        for (span, _) in &mut self.closed {
            if duration_ms > span.start_ms {
                span.end_ms = span.end_ms.min(duration_ms);
            }
        }
        self.closed
    }
}

/// What the models found in one frame (the part of the analysis that frames do not share, run on
/// several frames at once).
enum FrameFindings {
    Faces(Vec<FaceAnalysis>),
    EmbeddedFaces(Vec<FaceAnalysis>, Vec<Vec<f32>>),
    People(Vec<Object>),
    Labels(Vec<Label>),
    Moderation(Vec<ModerationLabel>),
    Text(Vec<DetectedText>),
}

impl Service {
    /// The models' findings in one frame.
    fn analyse_frame(&self, analysis: &VideoAnalysis, rgb: &RgbImage) -> Result<FrameFindings, ServiceError> {
        let vision = self.vision()?;
        Ok(match analysis {
            VideoAnalysis::FaceDetection { all_attributes } => {
                FrameFindings::Faces(vision.faces.analyze(&vision.runtime, rgb, *all_attributes, MAX_FACES)?)
            }
            VideoAnalysis::FaceSearch { .. } => {
                let faces = vision.faces.analyze(&vision.runtime, rgb, false, MAX_FACES)?;
                let embeddings = vision.faces.embed(&vision.runtime, rgb, &faces)?;
                FrameFindings::EmbeddedFaces(faces, embeddings)
            }
            VideoAnalysis::PersonTracking => {
                let objects = reko_vision::labels::detect(&vision.runtime, rgb)?;
                FrameFindings::People(
                    objects
                        .into_iter()
                        .filter(|o| reko_vision::labels::CLASSES[o.class].name == "Person")
                        .filter(|o| reko_vision::labels::confidence(o.score) >= super::DEFAULT_VIDEO_MIN_CONFIDENCE)
                        .collect(),
                )
            }
            VideoAnalysis::LabelDetection { settings } => FrameFindings::Labels(self.labels_of(rgb, settings)?.labels),
            VideoAnalysis::ContentModeration { min_confidence } => {
                FrameFindings::Moderation(self.moderation_of(rgb, *min_confidence)?)
            }
            VideoAnalysis::TextDetection { filters } => FrameFindings::Text(self.text_of(rgb, filters)?),
            VideoAnalysis::SegmentDetection { .. } => unreachable!("segment detection reads frames itself"),
        })
    }

    /// Runs `analysis` over the video at `path`; the rendered results. Frames are analysed
    /// `frame_threads` at a time and their findings followed up (tracking, search, segments) in order.
    pub(super) fn analyse_video(
        &self,
        scope: &Scope,
        analysis: &VideoAnalysis,
        path: &Path,
        info: &VideoInfo,
        renderer: &dyn VideoRenderer,
    ) -> Result<Vec<StoredItem>, JobFailure> {
        if let VideoAnalysis::SegmentDetection { settings } = analysis {
            return segment_detection(path, info, settings, renderer);
        }
        let config = self.video_config;
        self.vision()?;
        let sampling = Sampling { fps: Some(config.sample_fps), max_pixels: config.max_pixels };
        let interval_ms = (1000.0 / config.sample_fps.min(info.frame_rate.max(0.001))).round() as u64;
        let mut items = Vec::new();
        let mut item = |t: u64, i: u64, n: &str, s: bool, finding: Finding<'_>| {
            items.push(StoredItem { t, i, n: n.to_owned(), s, b: renderer.render(&finding) });
        };
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut labels = Aggregator::new(interval_ms);
        let mut moderation = Aggregator::new(interval_ms);
        let mut frames = reko_video::frames(path, info, sampling)?;
        let mut count = 0usize;
        loop {
            let mut batch = Vec::with_capacity(config.frame_threads.max(1));
            for frame in frames.by_ref().take(config.frame_threads.max(1)) {
                batch.push(frame?);
            }
            if batch.is_empty() {
                break;
            }
            count += batch.len();
            let found: Vec<Result<FrameFindings, ServiceError>> = std::thread::scope(|threads| {
                let running: Vec<_> =
                    batch.iter().map(|frame| threads.spawn(|| self.analyse_frame(analysis, &frame.image))).collect();
                running.into_iter().map(|r| r.join().expect("frame analysis does not panic")).collect()
            });
            for (frame, findings) in batch.iter().zip(found) {
                let (t, size) = (frame.timestamp_ms, frame.image.dimensions());
                match findings? {
                    FrameFindings::Faces(faces) => {
                        let all_attributes = matches!(analysis, VideoAnalysis::FaceDetection { all_attributes: true });
                        for face in &faces {
                            let face = &DetectedFace::of(face, size.0, size.1);
                            item(t, 0, "", false, Finding::Face { timestamp_ms: t, face, all_attributes });
                        }
                    }
                    FrameFindings::EmbeddedFaces(faces, embeddings) => {
                        let VideoAnalysis::FaceSearch { collection_id, threshold } = analysis else { unreachable!() };
                        let observations: Vec<Observation<'_>> = faces
                            .iter()
                            .zip(&embeddings)
                            .map(|(face, embedding)| Observation { bbox: face.bbox, embedding: Some(embedding) })
                            .collect();
                        let indexes = tracker.assign(t, &observations);
                        for ((face, embedding), index) in faces.iter().zip(&embeddings).zip(indexes) {
                            let matches = self.search_vector(
                                scope,
                                collection_id,
                                embedding,
                                MAX_FACE_MATCHES,
                                *threshold,
                                None,
                            )?;
                            if !matches.is_empty() {
                                let face = &DetectedFace::of(face, size.0, size.1);
                                let finding = Finding::FaceMatch { timestamp_ms: t, index, face, matches: &matches };
                                item(t, index, "", false, finding);
                            }
                        }
                    }
                    FrameFindings::People(people) => {
                        let observations: Vec<Observation<'_>> =
                            people.iter().map(|o| Observation { bbox: o.bbox, embedding: None }).collect();
                        for (person, index) in people.iter().zip(tracker.assign(t, &observations)) {
                            item(
                                t,
                                index,
                                "",
                                false,
                                Finding::Person {
                                    timestamp_ms: t,
                                    index,
                                    bounding_box: RatioBox::of(&person.bbox, size.0, size.1),
                                },
                            );
                        }
                    }
                    FrameFindings::Labels(found) => {
                        labels.advance(t);
                        for label in &found {
                            item(t, 0, label.name, false, Finding::Label { timestamp_ms: t, label, span: None });
                            labels.seen(label.name, t, label, |l| l.confidence);
                        }
                    }
                    FrameFindings::Moderation(found) => {
                        moderation.advance(t);
                        for label in &found {
                            item(t, 0, label.name, false, Finding::Moderation { timestamp_ms: t, label, span: None });
                            moderation.seen(label.name, t, label, |l| l.confidence);
                        }
                    }
                    FrameFindings::Text(found) => {
                        for text in &found {
                            item(t, 0, "", false, Finding::Text { timestamp_ms: t, text });
                        }
                    }
                }
            }
        }
        if count == 0 {
            return Err(JobFailure("The video has no frames.".into()));
        }
        for (span, label) in labels.finish(info.duration_ms) {
            item(
                span.start_ms,
                0,
                label.name,
                true,
                Finding::Label { timestamp_ms: span.start_ms, label: &label, span: Some(span) },
            );
        }
        for (span, label) in moderation.finish(info.duration_ms) {
            item(
                span.start_ms,
                0,
                label.name,
                true,
                Finding::Moderation { timestamp_ms: span.start_ms, label: &label, span: Some(span) },
            );
        }
        tracing::debug!(frames = count, results = items.len(), "video analysed");
        Ok(items)
    }
}

/// Segment detection: every frame, small, for black frames and cuts.
fn segment_detection(
    path: &Path,
    info: &VideoInfo,
    settings: &SegmentSettings,
    renderer: &dyn VideoRenderer,
) -> Result<Vec<StoredItem>, JobFailure> {
    let threshold = settings.technical_cues.map_or(0.2, |t| t.max_pixel_threshold);
    let mut signals = Vec::new();
    let mut times = Vec::new();
    for frame in reko_video::frames(path, info, Sampling { fps: None, max_pixels: SEGMENT_FRAME_PIXELS })? {
        let frame = frame?;
        signals.push(segments::signal(&frame.image, threshold));
        times.push((frame.number, frame.timestamp_ms));
    }
    if signals.is_empty() {
        return Err(JobFailure("The video has no frames.".into()));
    }
    let fps = info.frame_rate.max(1.0);
    let frame_ms = (1000.0 / fps).round() as u64;
    let segment = |first: usize, last: usize, confidence: f32, shot_index: Option<u64>| {
        let (start_frame, start_ms) = times[first];
        let (end_frame, end_last) = times[last];
        VideoSegment {
            shot_index,
            confidence,
            start_ms,
            end_ms: (end_last + frame_ms).min(info.duration_ms.max(end_last)),
            start_frame,
            end_frame,
            start_timecode: segments::timecode(start_frame, fps),
            end_timecode: segments::timecode(end_frame + 1, fps),
            duration_timecode: segments::timecode(end_frame + 1 - start_frame, fps),
        }
    };
    let mut found = Vec::new();
    if let Some(cues) = settings.technical_cues {
        for (first, last, confidence) in segments::black_runs(&signals, cues.min_coverage) {
            if confidence >= cues.min_confidence {
                found.push(segment(first, last, confidence, None));
            }
        }
    }
    if let Some(min_confidence) = settings.shots {
        let cuts: Vec<(usize, f32)> =
            segments::shot_cuts(&signals).into_iter().filter(|(_, c)| *c >= min_confidence).collect();
        let mut start = (0usize, 100.0f32);
        for (index, &(cut, confidence)) in cuts.iter().chain(std::iter::once(&(signals.len(), 100.0))).enumerate() {
            let shot_confidence = start.1.min(confidence);
            found.push(segment(start.0, cut - 1, shot_confidence, Some(index as u64)));
            start = (cut, confidence);
        }
    }
    found.sort_by_key(|s| (s.start_ms, s.shot_index.is_some()));
    Ok(found
        .iter()
        .map(|s| StoredItem {
            t: s.start_ms,
            i: 0,
            n: String::new(),
            s: false,
            b: renderer.render(&Finding::Segment(s)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sightings_become_segments_that_survive_one_missed_frame() {
        let mut agg: Aggregator<f32> = Aggregator::new(500);
        for (t, seen) in
            [(0, true), (500, true), (1000, false), (1500, true), (2000, false), (2500, false), (3000, true)]
        {
            agg.advance(t);
            if seen {
                agg.seen("Dog", t, &(t as f32), |c| *c);
            }
        }
        let spans: Vec<(u64, u64, f32)> =
            agg.finish(3200).into_iter().map(|(s, c)| (s.start_ms, s.end_ms, c)).collect();
        assert_eq!(spans, [(0, 2000, 1500.0), (3000, 3200, 3000.0)]);
    }
}
