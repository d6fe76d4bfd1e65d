//! Configuration in one typed place: defaults, then an optional TOML file, then `REKO_*` environment
//! variables, then flags (clap reads the environment and flags; the file fills what they leave unset).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use reko_auth::{AccessKey, DEV_ACCOUNT_ID, KeyRing};
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file with any of: listen, data_dir, models_dir, credentials_file, ort_dylib,
    /// inference_threads, log_format, s3_root, s3_endpoint, s3_region, s3_virtual_hosted, video_sample_fps,
    /// video_workers, max_video_jobs, sns_topics (a table: topic ARN = endpoint URL).
    #[arg(long, env = "REKO_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9000].
    #[arg(long, env = "REKO_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where collections and faces are stored [default: $XDG_DATA_HOME/reko or ~/.local/share/reko].
    #[arg(long, env = "REKO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where models are kept [default: $XDG_CACHE_HOME/reko/models or ~/.cache/reko/models].
    #[arg(long, env = "REKO_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// A TOML file of access keys ([[keys]] access_key_id, secret_access_key, account_id).
    #[arg(long, env = "REKO_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
    /// One access key id (with --secret-access-key) instead of a credentials file.
    #[arg(long, env = "REKO_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// The secret of --access-key-id.
    #[arg(long, env = "REKO_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
    /// The account of --access-key-id [default: 000000000000].
    #[arg(long, env = "REKO_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Load ONNX Runtime from this library instead of the installed one.
    #[arg(long, env = "REKO_ORT_DYLIB")]
    ort_dylib: Option<PathBuf>,
    /// ONNX Runtime threads per model session [default: 1].
    #[arg(long, env = "REKO_INFERENCE_THREADS")]
    inference_threads: Option<usize>,
    /// Log format [default: text].
    #[arg(long, env = "REKO_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Serve `S3Object` images from this directory: bucket `b`, key `k` is the file `DIR/b/k`.
    #[arg(long, env = "REKO_S3_ROOT")]
    s3_root: Option<PathBuf>,
    /// Read `S3Object`s from this S3-compatible endpoint (`http://127.0.0.1:8333`,
    /// `https://s3.eu-west-1.amazonaws.com`) instead of a directory.
    #[arg(long, env = "REKO_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The endpoint's region [default: us-east-1, or AWS_REGION].
    #[arg(long, env = "REKO_S3_REGION")]
    s3_region: Option<String>,
    /// Address buckets as `bucket.host` rather than `host/bucket` (path style, the default).
    #[arg(long, env = "REKO_S3_VIRTUAL_HOSTED")]
    s3_virtual_hosted: Option<bool>,
    /// The endpoint's access key [default: AWS_ACCESS_KEY_ID and the usual AWS credential sources].
    #[arg(long, env = "REKO_S3_ACCESS_KEY_ID")]
    s3_access_key_id: Option<String>,
    /// The secret of --s3-access-key-id.
    #[arg(long, env = "REKO_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
    /// Where job completions published to an SNS topic go: `TOPIC_ARN=URL` (repeatable; the
    /// environment variable takes them comma-separated).
    #[arg(long = "sns-topic", env = "REKO_SNS_TOPICS", value_delimiter = ',')]
    sns_topics: Vec<String>,
    /// Frames per second that video jobs analyse [default: 2].
    #[arg(long, env = "REKO_VIDEO_SAMPLE_FPS")]
    video_sample_fps: Option<f32>,
    /// Video jobs analysed at the same time [default: 1].
    #[arg(long, env = "REKO_VIDEO_WORKERS")]
    video_workers: Option<usize>,
    /// Unfinished video jobs one account may have [default: 20].
    #[arg(long, env = "REKO_MAX_VIDEO_JOBS")]
    max_video_jobs: Option<usize>,
    /// Days a finished video job's results, and request tokens, are kept [default: 7].
    #[arg(long, env = "REKO_RETENTION_DAYS")]
    retention_days: Option<u64>,
    /// Open connections at once (default 1024).
    #[arg(long, env = "REKO_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers, and a kept-alive connection may idle (default 20).
    #[arg(long, env = "REKO_HEADER_TIMEOUT")]
    header_timeout: Option<u64>,
    /// Seconds a client has to send a request's body (default 60).
    #[arg(long, env = "REKO_BODY_TIMEOUT")]
    body_timeout: Option<u64>,
    /// MiB of request bodies held at once (default 256).
    #[arg(long, env = "REKO_MAX_BODY_MIB_IN_FLIGHT")]
    max_body_mib_in_flight: Option<usize>,
    /// Analyses run at once (default: the number of cores).
    #[arg(long, env = "REKO_MAX_ANALYSES")]
    max_analyses: Option<usize>,
    /// Analyses waiting for a turn before more are throttled (default: 4 × cores).
    #[arg(long, env = "REKO_MAX_QUEUED_ANALYSES")]
    max_queued_analyses: Option<usize>,
    /// Analyses one account may have running and waiting (default: 3 × cores).
    #[arg(long, env = "REKO_MAX_ANALYSES_PER_ACCOUNT")]
    max_analyses_per_account: Option<usize>,
    /// Seconds an analysis waits for its turn before it is throttled (default 10).
    #[arg(long, env = "REKO_QUEUE_TIMEOUT")]
    queue_timeout: Option<u64>,
    /// Seconds a request may take once its body is in (default 60).
    #[arg(long, env = "REKO_REQUEST_TIMEOUT")]
    request_timeout: Option<u64>,
    /// MiB the data directory's disk keeps free: writes are refused (503) below it (default 64; 0: off).
    #[arg(long, env = "REKO_MIN_FREE_DISK_MIB")]
    min_free_disk_mib: Option<u64>,
    /// Keep the state in this PostgreSQL database, shared with the other nodes
    /// (`postgres://user:password@host:port/database`), instead of the embedded store.
    #[arg(long, env = "REKO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Connections to the database this node opens at most (default 16).
    #[arg(long, env = "REKO_DATABASE_CONNECTIONS")]
    database_connections: Option<u32>,
}

/// The optional configuration file; unknown keys are rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    models_dir: Option<PathBuf>,
    credentials_file: Option<PathBuf>,
    ort_dylib: Option<PathBuf>,
    inference_threads: Option<usize>,
    log_format: Option<LogFormat>,
    s3_root: Option<PathBuf>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_virtual_hosted: Option<bool>,
    #[serde(default)]
    sns_topics: std::collections::HashMap<String, String>,
    video_sample_fps: Option<f32>,
    video_workers: Option<usize>,
    max_video_jobs: Option<usize>,
    retention_days: Option<u64>,
    max_connections: Option<usize>,
    header_timeout: Option<u64>,
    body_timeout: Option<u64>,
    max_body_mib_in_flight: Option<usize>,
    max_analyses: Option<usize>,
    max_queued_analyses: Option<usize>,
    max_analyses_per_account: Option<usize>,
    queue_timeout: Option<u64>,
    request_timeout: Option<u64>,
    min_free_disk_mib: Option<u64>,
    database_url: Option<String>,
    database_connections: Option<u32>,
}

/// The validated configuration of `reko serve`.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Bytes the data directory's disk keeps free (writes are refused below).
    pub disk_reserve: u64,
    /// The shared PostgreSQL database; none: the embedded store in the data directory.
    pub database: Option<reko_store::PostgresSettings>,
    pub models_dir: PathBuf,
    pub keys: KeyRing,
    pub ort_dylib: Option<PathBuf>,
    pub inference_threads: usize,
    pub log_format: LogFormat,
    pub s3_root: Option<PathBuf>,
    pub s3: Option<reko_service::S3Settings>,
    pub video: reko_service::VideoConfig,
    /// SNS topic ARN → endpoint URL.
    pub sns_topics: std::collections::HashMap<String, String>,
    pub limits: reko_server::Limits,
}

impl Config {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let limits = resolve_limits(&args, &file)?;
        let listen = args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default"));
        let data_dir = args.data_dir.or(file.data_dir).map_or_else(default_data_dir, Ok)?;
        let models_dir = args.models_dir.or(file.models_dir).map_or_else(default_models_dir, Ok)?;
        let credentials_file = args.credentials_file.or(file.credentials_file);
        let keys = match (credentials_file, args.access_key_id, args.secret_access_key) {
            (Some(_), Some(_), _) => {
                bail!("give either a credentials file or REKO_ACCESS_KEY_ID, not both")
            }
            (Some(path), None, _) => load_credentials(&path)?,
            (None, Some(id), Some(secret)) => KeyRing::from_keys([AccessKey {
                access_key_id: id,
                secret_access_key: secret,
                account_id: args.account_id.unwrap_or_else(|| DEV_ACCOUNT_ID.to_owned()),
            }])?,
            (None, Some(_), None) | (None, None, Some(_)) => {
                bail!("REKO_ACCESS_KEY_ID and REKO_SECRET_ACCESS_KEY must be given together")
            }
            (None, None, None) => KeyRing::Dev,
        };
        if keys.is_dev() && !listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {listen} without credentials: dev mode accepts any signature, so it only \
                 listens on loopback. Set REKO_ACCESS_KEY_ID/REKO_SECRET_ACCESS_KEY or --credentials-file."
            );
        }
        let log_format = args.log_format.or(file.log_format).unwrap_or(LogFormat::Text);
        let ort_dylib = args.ort_dylib.or(file.ort_dylib);
        let inference_threads = args.inference_threads.or(file.inference_threads).unwrap_or(1);
        let s3_root = args.s3_root.or(file.s3_root);
        if let Some(root) = s3_root.as_ref().filter(|root| !root.is_dir()) {
            bail!("the S3 root {} is not a directory", root.display());
        }
        let defaults = reko_service::VideoConfig::default();
        let video = reko_service::VideoConfig {
            sample_fps: args.video_sample_fps.or(file.video_sample_fps).unwrap_or(defaults.sample_fps),
            workers: args.video_workers.or(file.video_workers).unwrap_or(defaults.workers),
            max_unfinished_jobs: args.max_video_jobs.or(file.max_video_jobs).unwrap_or(defaults.max_unfinished_jobs),
            retention: args
                .retention_days
                .or(file.retention_days)
                .map_or(defaults.retention, |days| std::time::Duration::from_secs(days.saturating_mul(86_400))),
            ..defaults
        };
        if !(video.sample_fps > 0.0 && video.sample_fps <= 60.0) {
            bail!("video_sample_fps must be above 0 and at most 60, not {}", video.sample_fps);
        }
        if video.workers == 0 || video.max_unfinished_jobs == 0 || video.retention.is_zero() {
            bail!("video_workers, max_video_jobs and retention_days must be at least 1");
        }
        let s3 = args.s3_endpoint.or(file.s3_endpoint).map(|endpoint| reko_service::S3Settings {
            endpoint: Some(endpoint),
            region: args.s3_region.or(file.s3_region),
            access_key_id: args.s3_access_key_id,
            secret_access_key: args.s3_secret_access_key,
            virtual_hosted_style: args.s3_virtual_hosted.or(file.s3_virtual_hosted).unwrap_or(false),
        });
        if s3.is_some() && s3_root.is_some() {
            bail!("give either an S3 root directory or an S3 endpoint, not both");
        }
        let mut sns_topics = file.sns_topics;
        for pair in &args.sns_topics {
            let Some((topic, url)) = pair.split_once('=') else {
                bail!("--sns-topic takes TOPIC_ARN=URL, not {pair:?}");
            };
            sns_topics.insert(topic.to_owned(), url.to_owned());
        }
        if let Some((topic, url)) =
            sns_topics.iter().find(|(_, url)| !(url.starts_with("http://") || url.starts_with("https://")))
        {
            bail!("the endpoint of SNS topic {topic} must be an http:// or https:// URL, not {url:?}");
        }
        let disk_reserve =
            args.min_free_disk_mib.or(file.min_free_disk_mib).map_or(reko_store::DEFAULT_DISK_RESERVE, |mib| mib << 20);
        let database = args.database_url.clone().or(file.database_url.clone()).map(|url| {
            let mut settings = reko_store::PostgresSettings::new(url);
            if let Some(n) = args.database_connections.or(file.database_connections) {
                settings.max_connections = n.max(1);
            }
            settings
        });
        Ok(Config {
            limits,
            listen,
            data_dir,
            disk_reserve,
            database,
            models_dir,
            keys,
            ort_dylib,
            inference_threads,
            log_format,
            s3_root,
            s3,
            video,
            sns_topics,
        })
    }
}

/// The node's limits: flags and environment, then the file, then the defaults.
fn resolve_limits(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<reko_server::Limits> {
    use std::time::Duration;
    let defaults = reko_server::Limits::default();
    let seconds =
        |arg: Option<u64>, file: Option<u64>, default: Duration| arg.or(file).map_or(default, Duration::from_secs);
    let limits = reko_server::Limits {
        max_connections: args.max_connections.or(file.max_connections).unwrap_or(defaults.max_connections),
        header_timeout: seconds(args.header_timeout, file.header_timeout, defaults.header_timeout),
        body_timeout: seconds(args.body_timeout, file.body_timeout, defaults.body_timeout),
        max_body_bytes_in_flight: args
            .max_body_mib_in_flight
            .or(file.max_body_mib_in_flight)
            .map_or(defaults.max_body_bytes_in_flight, |mib| mib << 20),
        max_analyses: args.max_analyses.or(file.max_analyses).unwrap_or(defaults.max_analyses),
        max_queued_analyses: args
            .max_queued_analyses
            .or(file.max_queued_analyses)
            .unwrap_or(defaults.max_queued_analyses),
        max_analyses_per_account: args
            .max_analyses_per_account
            .or(file.max_analyses_per_account)
            .unwrap_or(defaults.max_analyses_per_account),
        queue_timeout: seconds(args.queue_timeout, file.queue_timeout, defaults.queue_timeout),
        request_timeout: seconds(args.request_timeout, file.request_timeout, defaults.request_timeout),
    };
    if limits.max_connections == 0 || limits.max_analyses == 0 || limits.max_analyses_per_account == 0 {
        bail!("max_connections, max_analyses and max_analyses_per_account must be at least 1");
    }
    if limits.max_body_bytes_in_flight < reko_server::MAX_BODY_BYTES {
        bail!("max_body_mib_in_flight must hold at least one request of the largest size (16 MiB)");
    }
    for (name, value) in [
        ("header_timeout", limits.header_timeout),
        ("body_timeout", limits.body_timeout),
        ("queue_timeout", limits.queue_timeout),
        ("request_timeout", limits.request_timeout),
    ] {
        if value.is_zero() {
            bail!("{name} must be at least 1 second");
        }
    }
    Ok(limits)
}

fn load_credentials(path: &Path) -> anyhow::Result<KeyRing> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let keys = KeyRing::from_toml(&text).with_context(|| format!("in {}", path.display()))?;
    if keys.is_empty() {
        bail!("{} lists no keys", path.display());
    }
    Ok(keys)
}

fn home_subdir(xdg_var: &str, fallback: &str, leaf: &str) -> anyhow::Result<PathBuf> {
    if let Some(base) = std::env::var_os(xdg_var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(base).join(leaf));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; give --data-dir and --models-dir")?;
    Ok(PathBuf::from(home).join(fallback).join(leaf))
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    home_subdir("XDG_DATA_HOME", ".local/share", "reko")
}

pub fn default_models_dir() -> anyhow::Result<PathBuf> {
    home_subdir("XDG_CACHE_HOME", ".cache", "reko/models")
}
