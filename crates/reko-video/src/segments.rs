//! Segment detection's frame signals: black frames (Rekognition's `BlackFrame` filter: a pixel is black
//! at or below `MaxPixelThreshold` of the luminance range, a frame when `MinCoveragePercentage` of its
//! pixels are) and hard cuts between shots (a colour-histogram jump well above its neighbourhood's).
//!
//! Frames arrive as full-range RGB (ffmpeg expands limited-range video when it converts), so the
//! luminance range is 0–255 whatever the source's colour range.

use image::RgbImage;

/// Histogram bins per colour channel.
const BINS: usize = 32;
/// Histogram distances below this are never a cut.
const MIN_CUT_DISTANCE: f32 = 0.15;
/// A cut's distance must be this many times the median of the frames around it.
const CUT_CONTRAST: f32 = 3.0;
/// Frames on each side of a candidate cut that make up its neighbourhood.
const NEIGHBOURHOOD: usize = 6;

/// What segment detection keeps of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameSignal {
    /// Percentage (0–100) of pixels at or below the black threshold.
    pub black_coverage: f32,
    /// Per-channel colour histograms, each summing to 1.
    pub histogram: Vec<f32>,
}

/// The signal of one frame; `max_pixel_threshold` is the black threshold as a fraction of 0–255.
pub fn signal(image: &RgbImage, max_pixel_threshold: f32) -> FrameSignal {
    let limit = max_pixel_threshold.clamp(0.0, 1.0) * 255.0;
    let mut histogram = vec![0.0f32; 3 * BINS];
    let mut black = 0usize;
    for p in image.pixels() {
        let [r, g, b] = p.0;
        let luma = 0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b);
        if luma <= limit {
            black += 1;
        }
        for (c, v) in [r, g, b].into_iter().enumerate() {
            histogram[c * BINS + usize::from(v) * BINS / 256] += 1.0;
        }
    }
    let n = (image.width() as usize * image.height() as usize).max(1) as f32;
    histogram.iter_mut().for_each(|h| *h /= n);
    FrameSignal { black_coverage: 100.0 * black as f32 / n, histogram }
}

/// Half the L1 distance of two frames' histograms, averaged over the channels: 0 (same colours) to 1.
fn distance(a: &FrameSignal, b: &FrameSignal) -> f32 {
    a.histogram.iter().zip(&b.histogram).map(|(x, y)| (x - y).abs()).sum::<f32>() / 6.0
}

/// Runs of black frames as (first frame, last frame, confidence): frames whose coverage reaches
/// `min_coverage` percent. The confidence is the run's mean coverage.
pub fn black_runs(signals: &[FrameSignal], min_coverage: f32) -> Vec<(usize, usize, f32)> {
    let mut runs = Vec::new();
    let mut start = None;
    for i in 0..=signals.len() {
        let black = signals.get(i).is_some_and(|s| s.black_coverage >= min_coverage);
        match (black, start) {
            (true, None) => start = Some(i),
            (false, Some(first)) => {
                let coverage = signals[first..i].iter().map(|s| s.black_coverage).sum::<f32>() / (i - first) as f32;
                runs.push((first, i - 1, coverage));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Hard cuts as (first frame of the new shot, confidence 50–100), in frame order.
pub fn shot_cuts(signals: &[FrameSignal]) -> Vec<(usize, f32)> {
    let distances: Vec<f32> = signals.windows(2).map(|w| distance(&w[0], &w[1])).collect();
    let mut cuts = Vec::new();
    for (i, &d) in distances.iter().enumerate() {
        if d < MIN_CUT_DISTANCE {
            continue;
        }
        let lo = i.saturating_sub(NEIGHBOURHOOD);
        let hi = (i + NEIGHBOURHOOD + 1).min(distances.len());
        let mut around: Vec<f32> = (lo..hi).filter(|&j| j != i).map(|j| distances[j]).collect();
        if around.iter().any(|&other| other > d) {
            continue; // not the strongest change nearby: part of a fade or of motion
        }
        around.sort_by(f32::total_cmp);
        let median = around.get(around.len() / 2).copied().unwrap_or(0.0);
        if d < CUT_CONTRAST * median.max(0.01) {
            continue;
        }
        let confidence = 50.0 + 50.0 * ((d - MIN_CUT_DISTANCE) / 0.35).clamp(0.0, 1.0);
        cuts.push((i + 1, confidence));
    }
    cuts
}

/// SMPTE timecode of frame `number` at `fps`: `HH:MM:SS:FF`, or drop-frame `HH:MM:SS;FF` at 29.97 and
/// 59.94 frames per second, as Rekognition writes them.
pub fn timecode(number: u64, fps: f32) -> String {
    let nominal = fps.round().max(1.0) as u64;
    let drop_frame = (fps - nominal as f32).abs() > 0.01 && (nominal == 30 || nominal == 60);
    let mut frames = number;
    if drop_frame {
        // Two (four at 60) frame numbers are skipped each minute except every tenth.
        let dropped = nominal / 15;
        let per_ten_minutes = nominal * 600 - dropped * 9;
        let per_minute = nominal * 60 - dropped;
        let tens = frames / per_ten_minutes;
        let rest = frames % per_ten_minutes;
        frames += dropped * 9 * tens + if rest > dropped { dropped * ((rest - dropped) / per_minute) } else { 0 };
    }
    let ff = frames % nominal;
    let seconds = frames / nominal;
    let separator = if drop_frame { ';' } else { ':' };
    format!("{:02}:{:02}:{:02}{separator}{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60, ff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_pixel(32, 18, image::Rgb(rgb))
    }

    /// A frame of noise-free stripes whose colours depend on `scene`, shifted by `t` (motion).
    fn scene(scene: u8, t: u32) -> RgbImage {
        RgbImage::from_fn(64, 36, |x, _| {
            let stripe = ((x + t) / 8) as u8;
            image::Rgb([scene.wrapping_mul(70).wrapping_add(stripe * 9), scene.wrapping_mul(40) + 20, 200 - stripe * 5])
        })
    }

    #[test]
    fn black_frames_form_runs_at_the_coverage_asked() {
        let frames = [flat([200, 10, 10]), flat([5, 5, 5]), flat([20, 20, 20]), flat([90, 90, 90]), flat([0, 0, 0])];
        let signals: Vec<_> = frames.iter().map(|f| signal(f, 0.1)).collect();
        assert_eq!(signals[1].black_coverage, 100.0);
        assert_eq!(signals[2].black_coverage, 100.0); // 20 ≤ 25.5
        assert_eq!(black_runs(&signals, 99.0), [(1, 2, 100.0), (4, 4, 100.0)]);
        let strict: Vec<_> = frames.iter().map(|f| signal(f, 0.05)).collect();
        assert_eq!(black_runs(&strict, 99.0), [(1, 1, 100.0), (4, 4, 100.0)]);
    }

    #[test]
    fn cuts_are_found_between_scenes_and_not_in_motion() {
        let frames: Vec<RgbImage> = (0..40)
            .map(|i| {
                scene(
                    if i < 15 {
                        0
                    } else if i < 30 {
                        1
                    } else {
                        2
                    },
                    i,
                )
            })
            .collect();
        let signals: Vec<_> = frames.iter().map(|f| signal(f, 0.1)).collect();
        let cuts: Vec<usize> = shot_cuts(&signals).into_iter().map(|(frame, _)| frame).collect();
        assert_eq!(cuts, [15, 30]);
    }

    #[test]
    fn timecodes_count_frames_and_drop_them_at_ntsc_rates() {
        assert_eq!(timecode(0, 25.0), "00:00:00:00");
        assert_eq!(timecode(25 * 3661 + 7, 25.0), "01:01:01:07");
        assert_eq!(timecode(1799, 29.97), "00:00:59;29");
        // The first frame of minute one is numbered 00:01:00;02.
        assert_eq!(timecode(1800, 29.97), "00:01:00;02");
        assert_eq!(timecode(17982, 29.97), "00:10:00;00");
    }
}
