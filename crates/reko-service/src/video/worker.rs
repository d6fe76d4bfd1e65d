//! The job queue and its workers: a bounded pool of threads, each taking the oldest queued job, running
//! its analysis and storing the outcome. At start-up every unfinished job is queued again: a job that
//! was queued runs, one that was interrupted starts over (and fails for good after [`MAX_ATTEMPTS`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use reko_store::{JobRecord, JobStatus, Update};

use super::{StoredItem, VideoAnalysis, VideoMetadata, VideoRenderer};
use crate::{Scope, Service, ServiceError, now_ms};

/// A job started this many times without finishing (the server stopped each time) is failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// A video the object store fails to hand over is asked for again after these pauses (each try has the
/// S3 client's own retries), then the job fails with the store's error.
const STAGING_PAUSES: [std::time::Duration; 2] = [std::time::Duration::from_secs(2), std::time::Duration::from_secs(8)];
/// Results are stored in chunks of this many items.
const CHUNK_ITEMS: usize = 500;

/// Jobs waiting for a worker, oldest first.
#[derive(Default)]
pub(crate) struct JobQueue {
    queue: Mutex<VecDeque<(Scope, String)>>,
    ready: Condvar,
}

impl JobQueue {
    pub(crate) fn push(&self, scope: Scope, job_id: String) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_back((scope, job_id));
        self.ready.notify_one();
    }

    fn try_pop(&self) -> Option<(Scope, String)> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    fn pop(&self) -> (Scope, String) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(job) = queue.pop_front() {
                return job;
            }
            queue = self.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Why a job failed: the message `Get*` shows as `StatusMessage`.
pub(crate) struct JobFailure(pub String);

impl From<ServiceError> for JobFailure {
    fn from(error: ServiceError) -> Self {
        match error {
            // reko's own faults are logged, not shown.
            ServiceError::Store(_) | ServiceError::Inference(_) | ServiceError::ModelsUnavailable => {
                tracing::error!(%error, "video job failed");
                JobFailure("Internal error while analysing the video.".into())
            }
            other => JobFailure(other.to_string()),
        }
    }
}

impl From<reko_video::VideoError> for JobFailure {
    fn from(error: reko_video::VideoError) -> Self {
        match error {
            reko_video::VideoError::Unsupported(detail) => {
                tracing::info!(%detail, "video job: unsupported video");
                JobFailure(reko_video::decode::UNSUPPORTED.into())
            }
            reko_video::VideoError::Tool(detail) => {
                tracing::error!(%detail, "video job: ffmpeg is missing");
                JobFailure("Internal error while decoding the video.".into())
            }
            decode @ reko_video::VideoError::Decode(_) => JobFailure(decode.to_string()),
        }
    }
}

impl Service {
    /// Starts the workers (as many as the video configuration says) and queues every unfinished job of
    /// the store; the number of jobs queued again.
    pub fn start_video_workers(&self, renderer: Arc<dyn VideoRenderer>) -> Result<usize, ServiceError> {
        let mut unfinished = Vec::new();
        self.store.each_unfinished_job(&mut |scope, job| {
            unfinished.push((job.created_at_ms, scope.clone(), job.job_id.clone()));
        })?;
        unfinished.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
        let requeued = unfinished.len();
        for (_, scope, job_id) in unfinished {
            self.jobs.push(scope, job_id);
        }
        for n in 0..self.video_config.workers.max(1) {
            let (service, renderer) = (self.clone(), renderer.clone());
            std::thread::Builder::new()
                .name(format!("video-worker-{n}"))
                .spawn(move || {
                    loop {
                        let (scope, job_id) = service.jobs.pop();
                        service.run_job(&scope, &job_id, renderer.as_ref());
                    }
                })
                .map_err(|e| ServiceError::InvalidRequest(format!("cannot start a video worker: {e}")))?;
        }
        Ok(requeued)
    }

    /// Runs the queued jobs on this thread, oldest first, until none is left (evaluations and tools that
    /// have no workers); how many ran.
    pub fn run_queued_jobs(&self, renderer: &dyn VideoRenderer) -> usize {
        let mut ran = 0;
        while let Some((scope, job_id)) = self.jobs.try_pop() {
            self.run_job(&scope, &job_id, renderer);
            ran += 1;
        }
        ran
    }

    /// Unfinished video jobs: (queued, in progress), for the metrics.
    pub fn video_job_counts(&self) -> Result<(usize, usize), ServiceError> {
        let (mut queued, mut running) = (0, 0);
        self.store.each_unfinished_job(&mut |_, job| match job.status {
            JobStatus::InProgress => running += 1,
            _ => queued += 1,
        })?;
        Ok((queued, running))
    }

    /// Runs one job to its end and stores the outcome.
    pub(crate) fn run_job(&self, scope: &Scope, job_id: &str, renderer: &dyn VideoRenderer) {
        let started = std::time::Instant::now();
        let claimed = self.store.update_job(scope, job_id, &mut |job| {
            if job.status.finished() {
                return Update::Abort;
            }
            job.status = JobStatus::InProgress;
            job.attempts += 1;
            Update::Commit
        });
        let mut job = match claimed {
            Ok(Some(job)) if !job.status.finished() => job,
            Ok(_) => return,
            Err(error) => {
                tracing::error!(%error, job_id, "video job: cannot read the job");
                return;
            }
        };
        let outcome = if job.attempts > MAX_ATTEMPTS {
            Err(JobFailure(format!(
                "The job was interrupted {MAX_ATTEMPTS} times (the server stopped while it ran) and is not tried again."
            )))
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.analyse_job(scope, &mut job, renderer)))
                .unwrap_or_else(|_| Err(JobFailure("Internal error while analysing the video.".into())))
        };
        let mut done = job;
        done.finished_at_ms = Some(now_ms());
        let items = match outcome {
            Ok(items) => {
                done.status = JobStatus::Succeeded;
                done.status_message = None;
                items
            }
            Err(JobFailure(message)) => {
                done.status = JobStatus::Failed;
                done.status_message = Some(message);
                Vec::new()
            }
        };
        let chunks: Vec<Vec<u8>> =
            items.chunks(CHUNK_ITEMS).map(|chunk| serde_json::to_vec(chunk).expect("items serialise")).collect();
        if let Err(error) = self.store.finish_job(scope, &done, &chunks) {
            tracing::error!(%error, job_id, "video job: cannot store the outcome");
            return;
        }
        if let Some(notifier) = &self.notifier {
            notifier.publish(&done, renderer);
        }
        tracing::info!(
            job_id,
            operation = %done.operation,
            status = ?done.status,
            results = items.len(),
            seconds = started.elapsed().as_secs_f32(),
            message = done.status_message.as_deref().unwrap_or(""),
            "video job finished"
        );
    }

    /// The job's video as a local file; an object store that fails is asked again after each of
    /// [`STAGING_PAUSES`].
    fn stage_video(&self, job: &JobRecord) -> Result<crate::objects::LocalObject, JobFailure> {
        let objects = self.objects()?;
        let mut pauses = STAGING_PAUSES.iter();
        loop {
            match objects.local_file(&job.bucket, &job.name, job.version.as_deref()) {
                Err(ServiceError::ObjectStoreUnavailable(why)) => match pauses.next() {
                    Some(pause) => {
                        tracing::warn!(job_id = job.job_id, why, "video job: the object store failed, trying again");
                        std::thread::sleep(*pause);
                    }
                    None => {
                        return Err(JobFailure(format!(
                            "The video could not be read from the object store ({} tries): {why}",
                            STAGING_PAUSES.len() + 1
                        )));
                    }
                },
                other => return Ok(other?),
            }
        }
    }

    /// Reads the video and runs the job's analysis over it; the video's metadata is stored (for `Get*`
    /// while the job runs) and kept in `job`.
    fn analyse_job(
        &self,
        scope: &Scope,
        job: &mut JobRecord,
        renderer: &dyn VideoRenderer,
    ) -> Result<Vec<StoredItem>, JobFailure> {
        let analysis: VideoAnalysis = serde_json::from_value(job.parameters.clone())
            .map_err(|e| JobFailure(format!("The job's settings cannot be read: {e}")))?;
        let video = self.stage_video(job)?;
        let path = video.path();
        let info = reko_video::probe(path)?;
        let metadata = VideoMetadata {
            codec: info.codec.clone(),
            duration_ms: info.duration_ms,
            format: info.format.clone(),
            frame_rate: info.frame_rate,
            frame_width: info.width,
            frame_height: info.height,
            color_range: info.color_range.map(str::to_owned),
            audio: info
                .audio
                .iter()
                .map(|a| super::AudioMetadata {
                    codec: a.codec.clone(),
                    duration_ms: a.duration_ms,
                    channels: a.channels,
                    sample_rate: a.sample_rate,
                })
                .collect(),
        };
        let encoded = serde_json::to_value(&metadata).expect("metadata serialises");
        self.store
            .update_job(scope, &job.job_id, &mut |stored| {
                stored.metadata = Some(encoded.clone());
                Update::Commit
            })
            .map_err(ServiceError::from)?;
        job.metadata = Some(encoded);
        if info.duration_ms > super::MAX_VIDEO_DURATION_MS {
            return Err(JobFailure("The video is longer than 6 hours.".into()));
        }
        self.analyse_video(scope, &analysis, path, &info, renderer)
    }
}
