//! `GET /metrics`: the node's metrics in Prometheus' text format (OpenMetrics), kept with the
//! `prometheus-client` crate. One registry per process: model runs and store commits are observed from
//! the crates below through the hooks the binary installs ([`model_run`], [`commit`]); the rest is counted
//! here as requests pass, or read when the metrics are scraped. The README lists each metric.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    /// The error's `__type`, or `none`.
    error: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    throttled: Family<RequestLabels, Counter>,
    analyses_running: Gauge,
    analyses_queued: Gauge,
    inference: Family<ModelLabels, Histogram, fn() -> Histogram>,
    commits: Histogram,
    video_jobs: Family<StateLabels, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("reko");
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register("requests", "Rekognition requests answered, by operation and error type", requests.clone());
    let latency = Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
    registry.register("request_duration_seconds", "Time from a request's arrival to its answer", latency.clone());
    let throttled = Family::<RequestLabels, Counter>::default();
    registry.register(
        "throttled",
        "Requests refused to keep the node within its limits, by operation and error type",
        throttled.clone(),
    );
    let analyses_running = Gauge::default();
    registry.register(
        "analyses_running",
        "Analyses (requests that run the models) running now",
        analyses_running.clone(),
    );
    let analyses_queued = Gauge::default();
    registry.register("analyses_queued", "Analyses waiting for their turn now", analyses_queued.clone());
    let inference = Family::<ModelLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
    registry.register("inference_duration_seconds", "Time of one model run, by model", inference.clone());
    let commits = latency_histogram();
    registry.register("store_commit_duration_seconds", "Time of one store commit, fsync included", commits.clone());
    let video_jobs = Family::<StateLabels, Gauge>::default();
    registry.register("video_jobs", "Unfinished video jobs, by state (queued, in_progress)", video_jobs.clone());
    Metrics {
        registry,
        requests,
        latency,
        throttled,
        analyses_running,
        analyses_queued,
        inference,
        commits,
        video_jobs,
    }
});

/// Counts one answered request.
pub(crate) fn request(operation: &str, error: Option<&str>, elapsed: Duration) {
    let labels = RequestLabels { operation: operation.to_owned(), error: error.unwrap_or("none").to_owned() };
    if matches!(error, Some("ThrottlingException" | "ProvisionedThroughputExceededException")) {
        METRICS.throttled.get_or_create(&labels).inc();
    }
    METRICS.requests.get_or_create(&labels).inc();
    METRICS.latency.get_or_create(&OperationLabels { operation: operation.to_owned() }).observe(elapsed.as_secs_f64());
}

/// Observes one model run (install with `reko_inference::runtime::observe_runs`).
pub fn model_run(model: &str, elapsed: Duration) {
    METRICS.inference.get_or_create(&ModelLabels { model: model.to_owned() }).observe(elapsed.as_secs_f64());
}

/// Observes one store commit (install with `reko_store::observe_commits`).
pub fn commit(elapsed: Duration) {
    METRICS.commits.observe(elapsed.as_secs_f64());
}

/// The text of `GET /metrics`, with the gauges read now.
pub(crate) fn render(analyses: (usize, usize), video_jobs: Option<(usize, usize)>) -> String {
    METRICS.analyses_running.set(analyses.0 as i64);
    METRICS.analyses_queued.set(analyses.1 as i64);
    if let Some((queued, running)) = video_jobs {
        METRICS.video_jobs.get_or_create(&StateLabels { state: "queued".into() }).set(queued as i64);
        METRICS.video_jobs.get_or_create(&StateLabels { state: "in_progress".into() }).set(running as i64);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &METRICS.registry).expect("writing to a String");
    text
}

/// The content type of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
