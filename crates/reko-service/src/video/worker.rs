//! The job queue and its workers: a bounded pool of threads, each taking the oldest queued job, running
//! its analysis and storing the outcome.
//!
//! Jobs are leased, not owned: a worker claims a job in the store with its node's id and a lease
//! ([`LEASE`]) that it renews while it works, and its outcome is stored only while it still holds the
//! job. A scout looks through the store's unfinished jobs now and then ([`SCOUT_EVERY`]) and queues
//! here the ones a worker may claim: queued ones (whichever node took the request), ones whose owner's
//! lease ran out (that node died), and this node's own from before a restart. So on one node a
//! restart resumes its jobs at once, and in a cluster a node's death leaves its jobs to the others. A
//! job started this many times fails for good after [`MAX_ATTEMPTS`]. The scout also takes over the
//! completion notifications left in the outbox (see [`crate::notify`]). A sweeper deletes finished jobs and
//! request tokens once they are older than the retention (7 days by default, as on Rekognition).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use reko_store::{JobRecord, JobStatus, Update};

use super::{StoredItem, VideoAnalysis, VideoMetadata, VideoRenderer};
use crate::{Scope, Service, ServiceError, now_ms};

/// A job started this many times without finishing (the server stopped each time) is failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// A video the object store fails to hand over is asked for again after these pauses (each try has the
/// S3 client's own retries), then the job fails with the store's error.
const STAGING_PAUSES: [std::time::Duration; 2] = [std::time::Duration::from_secs(2), std::time::Duration::from_secs(8)];
/// How long a worker's claim on a job holds without renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a worker renews its lease while it works.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often the scout looks for jobs to take over.
pub const SCOUT_EVERY: Duration = Duration::from_secs(5);
/// How often the sweeper deletes what outlived its retention.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Records of one kind the sweeper deletes in one transaction.
const SWEEP_BATCH: usize = 1000;
/// Results are stored in chunks of this many items.
const CHUNK_ITEMS: usize = 500;

/// Jobs waiting for a worker here, oldest first, and the ones this node has queued or is running (so that
/// the scout does not queue them twice).
#[derive(Default)]
pub(crate) struct JobQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    queue: VecDeque<(Scope, String)>,
    here: HashSet<(Scope, String)>,
}

impl JobQueue {
    /// Queues a job unless this node has it queued or running already.
    pub(crate) fn push(&self, scope: Scope, job_id: String) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.here.insert((scope.clone(), job_id.clone())) {
            state.queue.push_back((scope, job_id));
            self.ready.notify_one();
        }
    }

    fn try_pop(&self) -> Option<(Scope, String)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).queue.pop_front()
    }

    fn pop(&self) -> (Scope, String) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(job) = state.queue.pop_front() {
                return job;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The job is no longer queued or running here.
    fn done(&self, scope: &Scope, job_id: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).here.remove(&(scope.clone(), job_id.to_owned()));
    }
}

/// Whether a worker of node `me` may claim `job` now.
fn claimable(job: &JobRecord, me: &str, now_ms: i64) -> bool {
    match job.status {
        JobStatus::Queued => true,
        JobStatus::InProgress => job.lease().may_be_taken_by(me, now_ms),
        JobStatus::Succeeded | JobStatus::Failed => false,
    }
}

/// Starts one of the service's long-lived threads.
fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<(), ServiceError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(body)
        .map(drop)
        .map_err(|e| ServiceError::InvalidRequest(format!("cannot start the thread {name}: {e}")))
}

fn lease_end(now_ms: i64) -> i64 {
    now_ms + LEASE.as_millis() as i64
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
    /// Starts the workers (as many as the video configuration says) and the scout, which queues at once
    /// the unfinished jobs of the store that this node may claim; how many there were.
    pub fn start_video_workers(&self, renderer: Arc<dyn VideoRenderer>) -> Result<usize, ServiceError> {
        let found = self.scout_jobs()?;
        self.scout_notifications(renderer.as_ref())?;
        for n in 0..self.video_config.workers.max(1) {
            let (service, renderer) = (self.clone(), renderer.clone());
            spawn(format!("video-worker-{n}"), move || {
                loop {
                    let (scope, job_id) = service.jobs.pop();
                    service.run_job(&scope, &job_id, renderer.as_ref());
                }
            })?;
        }
        let sweeper = self.clone();
        spawn("retention-sweeper".into(), move || {
            loop {
                match sweeper.expire_old_records() {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(records = n, "expired video results and request tokens deleted"),
                    Err(error) => tracing::warn!(%error, "cannot delete expired records"),
                }
                std::thread::sleep(SWEEP_EVERY);
            }
        })?;
        let (scout, scout_renderer) = (self.clone(), renderer.clone());
        spawn("video-scout".into(), move || {
            loop {
                std::thread::sleep(SCOUT_EVERY);
                if let Err(error) = scout.scout_jobs() {
                    tracing::warn!(%error, "video jobs: cannot look for jobs to run");
                }
                if let Err(error) = scout.scout_notifications(scout_renderer.as_ref()) {
                    tracing::warn!(%error, "video jobs: cannot look for notifications to deliver");
                }
            }
        })?;
        Ok(found)
    }

    /// Deletes the finished jobs (with their results) and the request tokens older than the retention,
    /// in batches (other writes go on between them); how many records went.
    pub fn expire_old_records(&self) -> Result<usize, ServiceError> {
        let before = now_ms().saturating_sub(self.video_config.retention.as_millis() as i64);
        let mut total = 0;
        loop {
            let expired = self.store.expire(before, SWEEP_BATCH)?;
            total += expired;
            if expired == 0 {
                return Ok(total);
            }
        }
    }

    /// Queues here, oldest first, the store's unfinished jobs that this node may claim (those it has
    /// queued or running already stay as they are); how many there are.
    pub(crate) fn scout_jobs(&self) -> Result<usize, ServiceError> {
        let now = now_ms();
        let mut claimable_jobs = Vec::new();
        self.store.each_unfinished_job(&mut |scope, job| {
            if claimable(job, &self.node_id, now) {
                claimable_jobs.push((job.created_at_ms, scope.clone(), job.job_id.clone()));
            }
        })?;
        claimable_jobs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
        let found = claimable_jobs.len();
        for (_, scope, job_id) in claimable_jobs {
            self.jobs.push(scope, job_id);
        }
        Ok(found)
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

    /// Runs one job to its end and stores the outcome, if this node can claim it.
    pub(crate) fn run_job(&self, scope: &Scope, job_id: &str, renderer: &dyn VideoRenderer) {
        self.claim_and_run(scope, job_id, renderer);
        self.jobs.done(scope, job_id);
    }

    fn claim_and_run(&self, scope: &Scope, job_id: &str, renderer: &dyn VideoRenderer) {
        let started = std::time::Instant::now();
        let me = self.node_id.as_ref();
        let mut won = false;
        let claimed = self.store.update_job(scope, job_id, &mut |job| {
            let now = now_ms();
            // Finished, or claimed by another node since it was queued here: not this worker's. (One of
            // this node's own in progress is from before a restart: what runs here is never queued twice.)
            if !claimable(job, me, now) {
                return Update::Abort;
            }
            job.status = JobStatus::InProgress;
            job.owner = Some(me.to_owned());
            job.lease_until_ms = Some(lease_end(now));
            job.attempts += 1;
            won = true;
            Update::Commit
        });
        let mut job = match claimed {
            Ok(Some(job)) if won => job,
            Ok(_) => return,
            Err(error) => {
                tracing::error!(%error, job_id, "video job: cannot claim the job");
                return;
            }
        };
        let outcome = if job.attempts > MAX_ATTEMPTS {
            Err(JobFailure(format!(
                "The job was interrupted {MAX_ATTEMPTS} times (the server stopped while it ran) and is not tried again."
            )))
        } else {
            // The lease is renewed until the analysis ends.
            let (stop, stopped) = std::sync::mpsc::channel::<()>();
            std::thread::scope(|threads| {
                threads.spawn(|| self.renew_lease(scope, job_id, stopped));
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.analyse_job(scope, &mut job, renderer)
                }))
                .unwrap_or_else(|_| Err(JobFailure("Internal error while analysing the video.".into())));
                drop(stop);
                outcome
            })
        };
        let mut done = job;
        done.finished_at_ms = Some(now_ms());
        done.lease_until_ms = None;
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
        // The completion notification goes into the outbox with the outcome, held by this node.
        let notification = done.notification.is_some().then(|| crate::notify::outbox_entry(me));
        match self.store.finish_job(scope, &done, &chunks, Some(me), notification.as_ref()) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id, "video job: another node took the job over (this node's lease ran out)");
                return;
            }
            Err(error) => {
                tracing::error!(%error, job_id, "video job: cannot store the outcome");
                return;
            }
        }
        if notification.is_some() {
            self.deliver_notification(scope, job_id, renderer);
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

    /// Renews this node's lease on a job every [`RENEW_EVERY`] until `stopped` closes.
    fn renew_lease(&self, scope: &Scope, job_id: &str, stopped: std::sync::mpsc::Receiver<()>) {
        let me = self.node_id.as_ref();
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(RENEW_EVERY) {
            let renewed = self.store.update_job(scope, job_id, &mut |job| {
                if job.status.finished() || job.owner.as_deref() != Some(me) {
                    return Update::Abort;
                }
                job.lease_until_ms = Some(lease_end(now_ms()));
                Update::Commit
            });
            if let Err(error) = renewed {
                tracing::warn!(%error, job_id, "video job: cannot renew the lease");
            }
        }
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
