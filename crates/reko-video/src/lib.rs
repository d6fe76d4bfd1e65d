//! Video for reko's asynchronous jobs: reading a stored video's metadata and sampled frames through
//! Debian's `ffprobe`/`ffmpeg` run as supervised subprocesses (`decode`), following people and faces
//! from frame to frame (`track`), and the frame signals of segment detection (`segments`).
//!
//! Why subprocesses rather than libav bindings: a hostile or broken file can at worst crash or hang a
//! child process, which is killed and turned into a failed job, never the server; the bindings would also
//! tie the build to one libav ABI and a C toolchain with bindgen. The cost, one pipe copy of each sampled
//! frame, is small next to the analysis of that frame.

pub mod decode;
pub mod segments;
pub mod track;

pub use decode::{Frame, Frames, Sampling, VideoError, VideoInfo, frames, probe};
