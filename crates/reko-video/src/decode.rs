//! Metadata (`ffprobe`) and sampled RGB frames (`ffmpeg` → raw RGB on a pipe) of one video file.
//!
//! Each child process is supervised: `ffprobe` must answer within [`PROBE_TIMEOUT`], and `ffmpeg` is
//! killed when it delivers no frame for [`STALL_TIMEOUT`] or when its [`Frames`] is dropped. The frames'
//! memory stays bounded whatever the video's length: one frame is in reko's hands at a time, at most
//! [`Sampling::max_pixels`] pixels. (A job's results are not bounded that way: they grow with the video.)

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;
use serde_json::Value;

/// How long `ffprobe` may take to read a file's headers.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `ffmpeg` may go without delivering a frame before it is killed.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The message Rekognition gives a job whose video it cannot read.
pub const UNSUPPORTED: &str = "Unsupported codec/format.";

/// Containers reko reads (ffprobe's format names), and video codecs.
const FORMATS: &[&str] = &["mov", "mp4", "matroska", "webm"];
const CODECS: &[&str] = &["h264", "hevc"];

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// Not a video reko reads: no H.264/H.265 stream in MP4/MOV/MKV, or headers ffprobe cannot parse.
    #[error("{UNSUPPORTED} {0}")]
    Unsupported(String),
    /// The file started to decode and then failed (truncated, corrupt, hung).
    #[error("The video could not be decoded: {0}")]
    Decode(String),
    /// ffmpeg/ffprobe missing or not runnable: the server's fault.
    #[error("ffmpeg is not available: {0}")]
    Tool(String),
}

/// A sound track (segment detection's `AudioMetadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub codec: String,
    pub duration_ms: u64,
    pub channels: u64,
    pub sample_rate: u64,
}

/// What `ffprobe` says about a video (Rekognition's `VideoMetadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The codec's short name (`h264`, `hevc`).
    pub codec: String,
    /// The container's long name (`QuickTime / MOV`, `Matroska / WebM`).
    pub format: String,
    pub duration_ms: u64,
    pub frame_rate: f32,
    /// The displayed size (after any rotation the file asks for).
    pub width: u32,
    pub height: u32,
    /// `FULL` or `LIMITED` where the stream says.
    pub color_range: Option<&'static str>,
    /// Where the container's time line starts, in seconds; timestamps are measured from here.
    pub start_seconds: f64,
    pub audio: Vec<AudioInfo>,
}

/// Which frames to take and how large.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Frames per second to sample; `None` (or a rate at or above the video's): every frame.
    pub fps: Option<f32>,
    /// Frames larger than this are scaled down (aspect kept) to at most this many pixels.
    pub max_pixels: u32,
}

/// One sampled frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Milliseconds from the start of the video.
    pub timestamp_ms: u64,
    /// The frame's number in the source, counted at the video's frame rate from 0.
    pub number: u64,
    pub image: RgbImage,
}

/// Runs a command to completion with a time limit, returning its stdout.
/// Starts `command` with no stdin and piped stdout and stderr (taken out of the child).
fn spawn_piped(mut command: Command) -> Result<(Child, ChildStdout, ChildStderr), VideoError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| VideoError::Tool(format!("{:?}: {e}", command.get_program())))?;
    let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    Ok((child, stdout, stderr))
}

fn run_bounded(command: Command, timeout: Duration) -> Result<(ExitStatus, Vec<u8>, String), VideoError> {
    let tool = format!("{:?}", command.get_program());
    let (mut child, mut stdout, mut stderr) = spawn_piped(command)?;
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VideoError::Unsupported(format!("{tool} did not finish within {}s", timeout.as_secs())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(VideoError::Tool(format!("{tool}: {e}"))),
        }
    };
    Ok((status, out.join().unwrap_or_default(), err.join().unwrap_or_default()))
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `"2997/100"` → 29.97.
fn rate(value: Option<&Value>) -> Option<f64> {
    let text = value?.as_str()?;
    let (n, d) = text.split_once('/').unwrap_or((text, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| n / d)
}

/// The rotation a stream asks its player for, in degrees.
fn rotation(stream: &Value) -> i64 {
    let from_side_data = stream["side_data_list"]
        .as_array()
        .and_then(|list| list.iter().find_map(|d| number(&d["rotation"])))
        .map(|r| r as i64);
    from_side_data.or_else(|| number(&stream["tags"]["rotate"]).map(|r| r as i64)).unwrap_or(0)
}

/// Reads a video's metadata; [`VideoError::Unsupported`] unless it is H.264/H.265 in MP4/MOV/MKV.
pub fn probe(path: &Path) -> Result<VideoInfo, VideoError> {
    let mut command = Command::new("ffprobe");
    command.args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"]).arg(path);
    let (status, stdout, stderr) = run_bounded(command, PROBE_TIMEOUT)?;
    if !status.success() {
        return Err(VideoError::Unsupported(last_line(&stderr)));
    }
    let json: Value =
        serde_json::from_slice(&stdout).map_err(|e| VideoError::Unsupported(format!("ffprobe output: {e}")))?;
    parse_probe(&json)
}

fn parse_probe(json: &Value) -> Result<VideoInfo, VideoError> {
    let format = &json["format"];
    let format_name = format["format_name"].as_str().unwrap_or_default();
    if !format_name.split(',').any(|f| FORMATS.contains(&f)) {
        return Err(VideoError::Unsupported(format!("container {format_name:?} is not MP4, MOV or MKV")));
    }
    let streams = json["streams"].as_array().map(Vec::as_slice).unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1)
        .ok_or_else(|| VideoError::Unsupported("the file has no video stream".into()))?;
    let codec = video["codec_name"].as_str().unwrap_or_default();
    if !CODECS.contains(&codec) {
        return Err(VideoError::Unsupported(format!("video codec {codec:?} is not H.264 or H.265")));
    }
    let (mut width, mut height) = (number(&video["width"]).unwrap_or(0.0), number(&video["height"]).unwrap_or(0.0));
    if width < 1.0 || height < 1.0 {
        return Err(VideoError::Unsupported("the video stream has no frame size".into()));
    }
    if rotation(video).rem_euclid(180) == 90 {
        std::mem::swap(&mut width, &mut height);
    }
    let seconds = |v: &Value| number(&v["duration"]).filter(|d| d.is_finite() && *d >= 0.0);
    let duration = seconds(format).or_else(|| seconds(video)).unwrap_or(0.0);
    let frame_rate = rate(video.get("avg_frame_rate")).or_else(|| rate(video.get("r_frame_rate"))).unwrap_or(0.0);
    let audio = streams
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .map(|s| AudioInfo {
            codec: s["codec_name"].as_str().unwrap_or_default().to_owned(),
            duration_ms: (seconds(s).unwrap_or(duration) * 1000.0).round() as u64,
            channels: number(&s["channels"]).unwrap_or(0.0) as u64,
            sample_rate: number(&s["sample_rate"]).unwrap_or(0.0) as u64,
        })
        .collect();
    Ok(VideoInfo {
        codec: codec.to_owned(),
        format: format["format_long_name"].as_str().unwrap_or(format_name).to_owned(),
        duration_ms: (duration * 1000.0).round() as u64,
        frame_rate: frame_rate as f32,
        width: width as u32,
        height: height as u32,
        color_range: match video["color_range"].as_str() {
            Some("pc" | "jpeg") => Some("FULL"),
            Some("tv" | "mpeg") => Some("LIMITED"),
            _ => None,
        },
        start_seconds: number(&format["start_time"]).filter(|s| s.is_finite()).unwrap_or(0.0),
        audio,
    })
}

fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("unreadable file").trim().to_owned()
}

/// The size frames are delivered at: the video's, scaled down to `max_pixels`, even sides.
pub fn output_size(info: &VideoInfo, max_pixels: u32) -> (u32, u32) {
    let (w, h) = (f64::from(info.width), f64::from(info.height));
    let scale = (f64::from(max_pixels) / (w * h)).sqrt().min(1.0);
    let even = |v: f64| ((v * scale / 2.0).floor() as u32 * 2).max(2);
    (even(w), even(h))
}

/// Sampled frames of one video, read from an `ffmpeg` child process; iterating yields them in order.
pub struct Frames {
    child: Arc<Mutex<Child>>,
    stdout: ChildStdout,
    times: Receiver<(u64, f64)>,
    /// ffmpeg's last lines on stderr other than the frame times (for failure messages).
    log: Arc<Mutex<Vec<String>>>,
    progress: Arc<AtomicU64>,
    finished: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    started: Instant,
    width: u32,
    height: u32,
    start_seconds: f64,
    frame_rate: f64,
    sampled_fps: Option<f64>,
    delivered: u64,
    done: bool,
}

impl std::fmt::Debug for Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frames").field("width", &self.width).field("height", &self.height).finish()
    }
}

/// Starts decoding `path` (already probed as `info`) into frames sampled as `sampling` says.
pub fn frames(path: &Path, info: &VideoInfo, sampling: Sampling) -> Result<Frames, VideoError> {
    let (width, height) = output_size(info, sampling.max_pixels);
    let sampled_fps = sampling.fps.map(f64::from).filter(|&f| f > 0.0 && f < f64::from(info.frame_rate) * 0.999);
    let mut filters = String::new();
    if let Some(fps) = sampled_fps {
        filters.push_str(&format!("fps={fps},"));
    }
    filters.push_str(&format!("scale={width}:{height}:flags=area,showinfo"));
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-threads", "1", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-filter_threads", "1", "-vf", &filters]);
    // Frames leave exactly as the filters made them: the raw muxer would otherwise duplicate frames to
    // keep a constant rate.
    command.args(["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
    let (child, stdout, stderr) = spawn_piped(command)?;
    let (sender, times) = channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let reader_log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(time) = showinfo_time(&line) {
                let _ = sender.send(time);
            } else if !line.starts_with("[Parsed_showinfo") {
                let mut lines = reader_log.lock().unwrap_or_else(|p| p.into_inner());
                if lines.len() >= 20 {
                    lines.remove(0);
                }
                lines.push(line);
            }
        }
    });
    let child = Arc::new(Mutex::new(child));
    let progress = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    {
        let (child, progress, finished, killed) = (child.clone(), progress.clone(), finished.clone(), killed.clone());
        std::thread::spawn(move || {
            while !finished.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(200));
                let last = Duration::from_millis(progress.load(Ordering::Acquire));
                if started.elapsed().saturating_sub(last) > STALL_TIMEOUT {
                    killed.store(true, Ordering::Release);
                    let _ = child.lock().unwrap_or_else(|p| p.into_inner()).kill();
                    break;
                }
            }
        });
    }
    Ok(Frames {
        child,
        stdout,
        times,
        log,
        progress,
        finished,
        killed,
        started,
        width,
        height,
        start_seconds: info.start_seconds,
        frame_rate: f64::from(info.frame_rate),
        sampled_fps,
        delivered: 0,
        done: false,
    })
}

/// `n:   3 pts:   7 pts_time:3.5 ...` of a showinfo line → (3, 3.5).
fn showinfo_time(line: &str) -> Option<(u64, f64)> {
    if !line.starts_with("[Parsed_showinfo") {
        return None;
    }
    let value = |key: &str| -> Option<&str> {
        let at = line.find(key)? + key.len();
        line[at..].split_whitespace().next()
    };
    Some((value(" n:")?.parse().ok()?, value("pts_time:")?.parse().ok()?))
}

impl Frames {
    /// The size every frame has.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn stop(&mut self) {
        self.done = true;
        self.finished.store(true, Ordering::Release);
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    fn failure(&self, status: Option<ExitStatus>) -> VideoError {
        if self.killed.load(Ordering::Acquire) {
            return VideoError::Decode(format!("ffmpeg delivered no frame for {}s", STALL_TIMEOUT.as_secs()));
        }
        let lines = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let reason = lines.iter().rev().find(|l| !l.trim().is_empty()).cloned().unwrap_or_default();
        VideoError::Decode(match status {
            Some(status) => format!("ffmpeg exited with {status}: {reason}"),
            None => reason,
        })
    }
}

impl Iterator for Frames {
    type Item = Result<Frame, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut pixels = vec![0u8; self.width as usize * self.height as usize * 3];
        let mut filled = 0;
        while filled < pixels.len() {
            match self.stdout.read(&mut pixels[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stop();
                    return Some(Err(VideoError::Decode(e.to_string())));
                }
            }
        }
        if filled < pixels.len() {
            // The end: a clean exit after whole frames, or a failure.
            self.finished.store(true, Ordering::Release);
            let status = self.child.lock().unwrap_or_else(|p| p.into_inner()).wait().ok();
            self.done = true;
            let clean = filled == 0 && status.is_some_and(|s| s.success()) && !self.killed.load(Ordering::Acquire);
            return (!clean).then(|| Err(self.failure(status)));
        }
        self.progress.store(self.started.elapsed().as_millis() as u64, Ordering::Release);
        let index = self.delivered;
        self.delivered += 1;
        let fallback = match self.sampled_fps {
            Some(fps) => index as f64 / fps,
            None => index as f64 / self.frame_rate.max(1.0),
        } + self.start_seconds;
        let pts = self.times.recv_timeout(Duration::from_secs(5)).map_or(fallback, |(_, pts)| pts);
        let seconds = (pts - self.start_seconds).max(0.0);
        let image = RgbImage::from_raw(self.width, self.height, pixels).expect("whole frame");
        Some(Ok(Frame {
            timestamp_ms: (seconds * 1000.0).round() as u64,
            number: match self.sampled_fps {
                Some(_) => (seconds * self.frame_rate).round() as u64,
                None => index,
            },
            image,
        }))
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        if !self.done {
            self.stop();
        }
        self.finished.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2 s, 25 fps test pattern encoded with `codec` into `name` (ffmpeg's lavfi source).
    fn make_video(dir: &Path, name: &str, codec: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2"])
            .args(["-c:v", codec, "-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .expect("ffmpeg is installed (Debian package ffmpeg)");
        assert!(status.success());
        path
    }

    #[test]
    fn probes_and_samples_an_h264_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_video(dir.path(), "clip.mp4", "libx264");
        let info = probe(&path).unwrap();
        assert_eq!((info.codec.as_str(), info.width, info.height), ("h264", 320, 240));
        assert_eq!(info.format, "QuickTime / MOV");
        assert_eq!(info.frame_rate, 25.0);
        assert_eq!(info.duration_ms, 2000);
        assert_eq!(info.color_range, None);

        let sampled: Vec<Frame> = frames(&path, &info, Sampling { fps: Some(5.0), max_pixels: 1 << 30 })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let times: Vec<u64> = sampled.iter().map(|f| f.timestamp_ms).collect();
        assert_eq!(times, [0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800]);
        assert_eq!(sampled[3].number, 15);
        assert_eq!(sampled[0].image.dimensions(), (320, 240));
        // testsrc's colour bars: the frame is not blank.
        let mean = sampled[0].image.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / (320.0 * 240.0 * 3.0);
        assert!(mean > 40.0, "{mean}");

        let all: Vec<Frame> = frames(&path, &info, Sampling { fps: None, max_pixels: 80 * 60 })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all.len(), 50);
        assert_eq!(all[49].number, 49);
        assert_eq!(all[49].timestamp_ms, 1960);
        assert_eq!(all[0].image.dimensions(), (80, 60));
    }

    #[test]
    fn an_ffmpeg_killed_mid_stream_ends_in_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_video(dir.path(), "clip.mp4", "libx264");
        let info = probe(&path).unwrap();
        // Every frame, at full size: ffmpeg is still decoding after the first one.
        let mut frames = frames(&path, &info, Sampling { fps: None, max_pixels: 1 << 30 }).unwrap();
        assert!(frames.next().unwrap().is_ok());
        let pid = frames.child.lock().unwrap().id();
        let killed = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
        assert!(killed.success());
        let started = Instant::now();
        let rest: Vec<Result<Frame, VideoError>> = frames.by_ref().collect();
        assert!(started.elapsed() < Duration::from_secs(10), "the end came without waiting for a timeout");
        // Frames already in the pipe may still arrive; the stream must then end in an error, not a clean end.
        let last = rest.last().expect("the kill is reported");
        assert!(last.is_err(), "{} frames, then a clean end", rest.len());
        assert!(rest.len() < 49, "the stream stopped early");
    }

    #[test]
    fn other_codecs_text_and_truncated_files_are_refused_or_fail() {
        let dir = tempfile::tempdir().unwrap();
        let mpeg4 = make_video(dir.path(), "old.mp4", "mpeg4");
        assert!(matches!(probe(&mpeg4), Err(VideoError::Unsupported(m)) if m.contains("mpeg4")));
        let text = dir.path().join("notes.mp4");
        std::fs::write(&text, b"not a video at all").unwrap();
        assert!(matches!(probe(&text), Err(VideoError::Unsupported(_))));

        // A Matroska file cut in half keeps its headers: it probes, then decoding stops early — with or
        // without ffmpeg calling it an error, never with a hang or a torn frame.
        let mkv = make_video(dir.path(), "clip.mkv", "libx264");
        let bytes = std::fs::read(&mkv).unwrap();
        let cut = dir.path().join("cut.mkv");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let info = probe(&cut).unwrap();
        assert_eq!(info.format, "Matroska / WebM");
        let decoded: Vec<_> = frames(&cut, &info, Sampling { fps: None, max_pixels: 1 << 20 }).unwrap().collect();
        let whole = decoded.iter().filter(|f| f.is_ok()).count();
        assert!(whole < 50, "{whole}");
        assert!(decoded.iter().rev().skip(1).all(|f| f.is_ok()));
        // An MP4 cut in half loses its index (written at the end): not a video any more.
        let cut_mp4 = dir.path().join("cut.mp4");
        let mp4 = make_video(dir.path(), "clip2.mp4", "libx264");
        let bytes = std::fs::read(&mp4).unwrap();
        std::fs::write(&cut_mp4, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(probe(&cut_mp4), Err(VideoError::Unsupported(_))));
    }

    #[test]
    fn showinfo_lines_give_frame_times() {
        let line = "[Parsed_showinfo_2 @ 0x5641] n:  12 pts:     24 pts_time:12.5    pos: 35644 fmt:rgb24";
        assert_eq!(showinfo_time(line), Some((12, 12.5)));
        assert_eq!(showinfo_time("[Parsed_showinfo_2 @ 0x5] config in time_base: 1/2"), None);
        assert_eq!(showinfo_time("frame=1"), None);
    }

    #[test]
    fn rotated_videos_report_their_displayed_size() {
        let json: Value = serde_json::json!({
            "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "format_long_name": "QuickTime / MOV",
                       "duration": "1.5", "start_time": "0.000000"},
            "streams": [{"codec_type": "video", "codec_name": "hevc", "width": 1920, "height": 1080,
                         "avg_frame_rate": "30000/1001", "color_range": "pc",
                         "side_data_list": [{"rotation": -90}]},
                        {"codec_type": "audio", "codec_name": "aac", "channels": 2, "sample_rate": "48000"}]
        });
        let info = parse_probe(&json).unwrap();
        assert_eq!((info.width, info.height, info.duration_ms), (1080, 1920, 1500));
        assert!((info.frame_rate - 29.97).abs() < 0.01);
        assert_eq!(info.color_range, Some("FULL"));
        assert_eq!(
            info.audio[0],
            AudioInfo { codec: "aac".into(), duration_ms: 1500, channels: 2, sample_rate: 48000 }
        );
        assert_eq!(output_size(&info, 1280 * 720), (720, 1280));
    }
}
