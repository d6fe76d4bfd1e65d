//! Following people across sampled frames: each detection joins the track whose last box it overlaps
//! most, or whose face it resembles, or starts a new track. A track's `index` is stable for the whole
//! video (Rekognition's `Person.Index`).

use reko_inference::boxes::BBox;

/// How the tracker decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// A detection continues a track when its box overlaps the track's last box at least this much.
    pub min_iou: f32,
    /// ... or, when frames are sampled far apart, when its centre moved at most this many box sides (the
    /// larger side of the two boxes) and its size changed by less than half or double ...
    pub max_center_shift: f32,
    /// ... or when their face embeddings' cosine is at least this (re-identification after a gap or a
    /// fast move).
    pub min_cosine: f32,
    /// Tracks unseen for longer than this are closed (a later detection starts a new one unless its face
    /// matches).
    pub max_gap_ms: u64,
    /// Closed tracks stay candidates for re-identification by face for this long.
    pub reidentify_ms: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        // 0.55 is similarity ≈ 88 on reko's calibrated map: a false-match rate far below 1e-3 on LFW.
        TrackerConfig {
            min_iou: 0.25,
            max_center_shift: 1.0,
            min_cosine: 0.55,
            max_gap_ms: 2_000,
            reidentify_ms: 60_000,
        }
    }
}

/// One detection in a frame.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub bbox: BBox,
    /// The face's unit embedding, when there is a face.
    pub embedding: Option<&'a [f32]>,
}

#[derive(Debug, Clone)]
struct Track {
    index: u64,
    bbox: BBox,
    last_ms: u64,
    /// The mean of the track's face embeddings (unit length), if it has had a face.
    embedding: Option<Vec<f32>>,
    faces: u32,
}

/// Assigns stable indexes to detections, frame after frame.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_index: u64,
}

/// How far `b`'s centre is from `a`'s, in units of the larger side of the two; infinite when their sizes
/// differ by more than a factor of two.
fn center_shift(a: &BBox, b: &BBox) -> f32 {
    let side = a.width().max(a.height()).max(b.width()).max(b.height()).max(1e-6);
    let ratio = (a.area().max(1e-12) / b.area().max(1e-12)).sqrt();
    if !(0.5..=2.0).contains(&ratio) {
        return f32::INFINITY;
    }
    let (dx, dy) = ((a.x1 + a.x2 - b.x1 - b.x2) / 2.0, (a.y1 + a.y2 - b.y1 - b.y2) / 2.0);
    (dx * dx + dy * dy).sqrt() / side
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker { config, ..Tracker::default() }
    }

    /// How many tracks have been started.
    pub fn tracks(&self) -> u64 {
        self.next_index
    }

    /// The track index of each observation of the frame at `timestamp_ms` (frames in time order).
    pub fn assign(&mut self, timestamp_ms: u64, observations: &[Observation<'_>]) -> Vec<u64> {
        let config = self.config;
        self.tracks.retain(|t| timestamp_ms.saturating_sub(t.last_ms) <= config.reidentify_ms.max(config.max_gap_ms));
        // Every plausible (score, track, observation), best first; greedy one-to-one.
        let mut pairs = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            let recent = timestamp_ms.saturating_sub(track.last_ms) <= config.max_gap_ms;
            for (o, observation) in observations.iter().enumerate() {
                let iou = if recent { track.bbox.iou(&observation.bbox) } else { 0.0 };
                let cos = match (&track.embedding, observation.embedding) {
                    (Some(a), Some(b)) => Some(cosine(a, b)),
                    _ => None,
                };
                // A clearly different face vetoes an overlap (two people crossing).
                if cos.is_some_and(|c| c < config.min_cosine * 0.5) {
                    continue;
                }
                let shift = if recent { center_shift(&track.bbox, &observation.bbox) } else { f32::INFINITY };
                let score = if iou >= config.min_iou {
                    1.0 + iou + cos.unwrap_or(0.0)
                } else if shift <= config.max_center_shift {
                    0.5 + 0.4 * (1.0 - shift / config.max_center_shift) + cos.unwrap_or(0.0)
                } else if cos.is_some_and(|c| c >= config.min_cosine) {
                    cos.unwrap_or(0.0)
                } else {
                    continue;
                };
                pairs.push((score, t, o));
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut assigned: Vec<Option<usize>> = vec![None; observations.len()];
        for (_, t, o) in pairs {
            if !track_taken[t] && assigned[o].is_none() {
                track_taken[t] = true;
                assigned[o] = Some(t);
            }
        }
        let mut indexes = Vec::with_capacity(observations.len());
        for (o, observation) in observations.iter().enumerate() {
            let t = match assigned[o] {
                Some(t) => t,
                None => {
                    self.tracks.push(Track {
                        index: self.next_index,
                        bbox: observation.bbox,
                        last_ms: timestamp_ms,
                        embedding: None,
                        faces: 0,
                    });
                    self.next_index += 1;
                    self.tracks.len() - 1
                }
            };
            let track = &mut self.tracks[t];
            track.bbox = observation.bbox;
            track.last_ms = timestamp_ms;
            if let Some(embedding) = observation.embedding {
                track.faces += 1;
                let mean = track.embedding.get_or_insert_with(|| vec![0.0; embedding.len()]);
                let weight = 1.0 / track.faces as f32;
                for (m, e) in mean.iter_mut().zip(embedding) {
                    *m += (e - *m) * weight;
                }
                let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                mean.iter_mut().for_each(|v| *v /= norm);
            }
            indexes.push(track.index);
        }
        indexes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(x: f32, y: f32) -> BBox {
        BBox { x1: x, y1: y, x2: x + 100.0, y2: y + 100.0 }
    }

    fn unit(seed: usize) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        v[seed % 8] = 1.0;
        v
    }

    #[test]
    fn moving_boxes_keep_their_index_and_new_people_get_new_ones() {
        let mut tracker = Tracker::default();
        let observe = |b: BBox| Observation { bbox: b, embedding: None };
        assert_eq!(tracker.assign(0, &[observe(bbox(0.0, 0.0)), observe(bbox(500.0, 0.0))]), [0, 1]);
        // Both move a little; listed in the other order.
        assert_eq!(tracker.assign(500, &[observe(bbox(520.0, 10.0)), observe(bbox(20.0, 10.0))]), [1, 0]);
        // A quick move between samples: no overlap, but the nearest box of the same size.
        assert_eq!(tracker.assign(700, &[observe(bbox(100.0, 40.0)), observe(bbox(520.0, 10.0))]), [0, 1]);
        assert_eq!(tracker.assign(800, &[observe(bbox(20.0, 10.0)), observe(bbox(520.0, 10.0))]), [0, 1]);
        // A third person appears far from both.
        assert_eq!(tracker.assign(1000, &[observe(bbox(40.0, 20.0)), observe(bbox(0.0, 600.0))]), [0, 2]);
        // After a long gap without a face, a box at the same place is someone new.
        assert_eq!(tracker.assign(10_000, &[observe(bbox(40.0, 20.0))]), [3]);
        assert_eq!(tracker.tracks(), 4);
    }

    fn seen(x: f32, e: &[f32]) -> Observation<'_> {
        Observation { bbox: bbox(x, 0.0), embedding: Some(e) }
    }

    #[test]
    fn faces_re_identify_after_a_gap_and_veto_a_crossing() {
        let mut tracker = Tracker::default();
        let (a, b) = (unit(0), unit(1));
        assert_eq!(tracker.assign(0, &[seen(0.0, &a)]), [0]);
        // A leaves; 20 s later A comes back elsewhere: same index, by face.
        assert_eq!(tracker.assign(20_000, &[seen(800.0, &a)]), [0]);
        // B appears exactly where A was: overlap alone would merge them, the face says no.
        assert_eq!(tracker.assign(20_500, &[seen(800.0, &b)]), [1]);
    }
}
