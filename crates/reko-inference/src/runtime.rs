//! ONNX Runtime, loaded dynamically from the installed `libonnxruntime` (or `REKO_ORT_DYLIB`): one
//! process-wide environment; sessions of a model built on demand, one for each run in flight at once (a
//! session runs one call at a time), up to min(cores, 4) per model; thread counts configurable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{ArrayD, IxDyn};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use reko_models::{Installed, InstalledModel, ModelKind, TensorInfo};

/// The file name of the runtime library inside the `onnxruntime` model folder.
pub const RUNTIME_MODEL_ID: &str = "onnxruntime";

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "ONNX Runtime is not installed in {0}: run `reko models fetch` (or set REKO_ORT_DYLIB to a libonnxruntime.so)"
    )]
    RuntimeMissing(PathBuf),
    #[error("loading ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("model {0} is not installed: run `reko models fetch`")]
    ModelNotInstalled(String),
    #[error("{0}")]
    Models(#[from] reko_models::ModelError),
    #[error("model {model}: {message}")]
    Ort { model: String, message: String },
    /// The request the work was for was cancelled (its client left, or its deadline passed).
    #[error("the work was cancelled")]
    Cancelled,
}

/// A run's outputs: each output's name and values, in the model's output order.
pub type Outputs = Vec<(String, ArrayD<f32>)>;

/// Called after every model run with the model's id and how long the run took (the server's metrics).
pub type RunObserver = fn(&str, std::time::Duration);

static RUN_OBSERVER: OnceLock<RunObserver> = OnceLock::new();

/// Sets the process-wide observer of model runs (once; later calls are ignored).
pub fn observe_runs(observer: RunObserver) {
    let _ = RUN_OBSERVER.set(observer);
}

/// How sessions are built.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Threads inside one operator (ONNX Runtime's intra-op pool); 0 lets ONNX Runtime choose.
    pub intra_threads: usize,
    /// The library to load instead of the installed one.
    pub dylib: Option<PathBuf>,
    /// Sessions one model may have, so that this many runs of it go on at once (ONNX Runtime runs one
    /// session's calls one at a time here). A model gets a second session only when its first is busy.
    pub max_sessions: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            intra_threads: 1,
            dylib: None,
            max_sessions: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        }
    }
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime from `dylib` once per process. Later calls reuse the first library.
pub fn init_runtime(dylib: &Path) -> Result<(), InferenceError> {
    if !dylib.exists() {
        return Err(InferenceError::RuntimeMissing(dylib.to_path_buf()));
    }
    let result = ENVIRONMENT.get_or_init(|| {
        ort::init_from(dylib)
            .map_err(|e| e.to_string())
            .and_then(|builder| builder.with_name("reko").build().map_err(|e| e.to_string()))
    });
    result
        .as_ref()
        .map(|_| ())
        .map_err(|message| InferenceError::RuntimeLoad { path: dylib.to_path_buf(), message: message.clone() })
}

/// The runtime library path: `REKO_ORT_DYLIB`-style override, else the installed one.
pub fn runtime_library(
    models_dir: &Path,
    installed: &Installed,
    dylib: Option<&Path>,
) -> Result<PathBuf, InferenceError> {
    if let Some(path) = dylib {
        return Ok(path.to_path_buf());
    }
    let model = installed
        .models
        .get(RUNTIME_MODEL_ID)
        .ok_or_else(|| InferenceError::RuntimeMissing(models_dir.to_path_buf()))?;
    let file = model.files.first().ok_or_else(|| InferenceError::RuntimeMissing(models_dir.to_path_buf()))?;
    Ok(Installed::model_dir(models_dir, RUNTIME_MODEL_ID).join(&file.path))
}

/// Input and output tensors of an ONNX file (the runtime must be initialised).
pub fn inspect(onnx: &Path) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), InferenceError> {
    let model = onnx.display().to_string();
    let session = build_session(onnx, 1, &model)?;
    Ok((session.inputs().iter().map(tensor_info).collect(), session.outputs().iter().map(tensor_info).collect()))
}

fn tensor_info(outlet: &ort::value::Outlet) -> TensorInfo {
    let dtype = outlet.dtype();
    TensorInfo {
        name: outlet.name().to_owned(),
        dtype: dtype.tensor_type().map(|t| t.to_string()).unwrap_or_else(|| "non-tensor".into()),
        shape: dtype.tensor_shape().map(|s| s.iter().copied().collect()).unwrap_or_default(),
    }
}

fn build_session(path: &Path, intra_threads: usize, model: &str) -> Result<Session, InferenceError> {
    build_session_with(path, intra_threads, true, model)
}

fn build_session_with(
    path: &Path,
    intra_threads: usize,
    spinning: bool,
    model: &str,
) -> Result<Session, InferenceError> {
    let ort_error = |message: String| InferenceError::Ort { model: model.to_owned(), message };
    let environment = match ENVIRONMENT.get() {
        Some(Ok(environment)) => environment,
        _ => return Err(ort_error("ONNX Runtime is not loaded".into())),
    };
    let builder = Session::builder(environment).map_err(|e| ort_error(e.to_string()))?;
    let builder =
        builder.with_optimization_level(GraphOptimizationLevel::Level3).map_err(|e| ort_error(e.to_string()))?;
    let builder = if intra_threads > 0 {
        builder.with_intra_threads(intra_threads).map_err(|e| ort_error(e.to_string()))?
    } else {
        builder
    };
    let builder =
        if spinning { builder } else { builder.with_intra_op_spinning(false).map_err(|e| ort_error(e.to_string()))? };
    // With the `cuda` feature and a CUDA build of ONNX Runtime (REKO_ORT_DYLIB), sessions prefer the GPU
    // and fall back to the CPU provider for anything it cannot run.
    #[cfg(feature = "cuda")]
    let builder =
        builder.with_execution_providers([ort::ep::CUDA::default().build()]).map_err(|e| ort_error(e.to_string()))?;
    let mut builder = builder;
    builder.commit_from_file(path).map_err(|e| ort_error(e.to_string()))
}

/// ONNX Runtime calls in flight in this process, every model's together: a wide run
/// ([`ModelSession::run_batch_wide`]) takes the other cores only when no other call is using them.
static RUNS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts a call in [`RUNS_IN_FLIGHT`] while it lives.
struct InFlight;

impl InFlight {
    fn enter() -> InFlight {
        RUNS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        RUNS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The installed models and their sessions.
pub struct Runtime {
    models_dir: PathBuf,
    installed: Installed,
    options: RuntimeOptions,
    sessions: Mutex<HashMap<String, Arc<ModelSession>>>,
}

/// One model's sessions, shared across requests: a run takes a session that is free, or builds another
/// (up to [`RuntimeOptions::max_sessions`]), or waits for the first.
pub struct ModelSession {
    pub id: String,
    pub info: InstalledModel,
    path: PathBuf,
    intra_threads: usize,
    max_sessions: usize,
    sessions: Mutex<Vec<Arc<Mutex<Session>>>>,
    /// A session whose operators use `max_sessions` threads, for runs that cannot be split
    /// ([`ModelSession::run_batch_wide`]); built on first use.
    wide: Mutex<Option<Arc<Mutex<Session>>>>,
}

impl Runtime {
    /// Loads ONNX Runtime and reads `models.json`; sessions are created on first use or by [`warm`].
    ///
    /// [`warm`]: Runtime::warm
    pub fn load(models_dir: &Path, options: RuntimeOptions) -> Result<Runtime, InferenceError> {
        let installed = Installed::load(models_dir)?;
        let dylib = runtime_library(models_dir, &installed, options.dylib.as_deref())?;
        init_runtime(&dylib)?;
        Ok(Runtime { models_dir: models_dir.to_path_buf(), installed, options, sessions: Mutex::new(HashMap::new()) })
    }

    /// How many runs of one model may go on at once: the threads worth giving one request's independent
    /// runs ([`crate::parallel::map`]).
    pub fn parallelism(&self) -> usize {
        self.options.max_sessions.max(1)
    }

    pub fn installed(&self) -> &Installed {
        &self.installed
    }

    /// The session of model `id`, created once.
    pub fn session(&self, id: &str) -> Result<Arc<ModelSession>, InferenceError> {
        let mut sessions = self.sessions.lock().expect("session map lock");
        if let Some(session) = sessions.get(id) {
            return Ok(session.clone());
        }
        let info = self
            .installed
            .models
            .get(id)
            .filter(|m| m.kind != ModelKind::Runtime)
            .ok_or_else(|| InferenceError::ModelNotInstalled(id.to_owned()))?;
        let path = Installed::model_dir(&self.models_dir, id).join("model.onnx");
        let session = build_session(&path, self.options.intra_threads, id)?;
        let model = Arc::new(ModelSession {
            id: id.to_owned(),
            info: info.clone(),
            path,
            intra_threads: self.options.intra_threads,
            max_sessions: self.options.max_sessions.max(1),
            sessions: Mutex::new(vec![Arc::new(Mutex::new(session))]),
            wide: Mutex::new(None),
        });
        sessions.insert(id.to_owned(), model.clone());
        tracing::info!(model = id, "model loaded");
        Ok(model)
    }

    /// Creates the sessions of `ids` and runs each once on zeros, so that the first request is not slow.
    pub fn warm(&self, ids: &[&str]) -> Result<(), InferenceError> {
        for id in ids {
            let session = self.session(id)?;
            let inputs: Vec<(String, ArrayD<f32>)> = session
                .info
                .inputs
                .iter()
                .map(|t| {
                    let shape: Vec<usize> = t
                        .shape
                        .iter()
                        .enumerate()
                        .map(|(axis, &d)| if d > 0 { d as usize } else { warm_dim(axis) })
                        .collect();
                    (t.name.clone(), ArrayD::zeros(IxDyn(&shape)))
                })
                .collect();
            session.run(inputs.iter().map(|(n, a)| (n.as_str(), a.view())).collect())?;
        }
        Ok(())
    }
}

/// The size used for a dynamic dimension when warming up: batch 1, spatial 64.
fn warm_dim(axis: usize) -> usize {
    if axis == 0 { 1 } else { 64 }
}

impl ModelSession {
    /// The model's normalisation from the manifest (identity when it gives none).
    pub fn normalization(&self) -> crate::preprocess::Normalization {
        match &self.info.preprocessing {
            Some(spec) => crate::preprocess::Normalization { mean: spec.mean, std: spec.std },
            None => crate::preprocess::Normalization { mean: [0.0; 3], std: [1.0; 3] },
        }
    }

    /// A custom metadata entry of the model (e.g. PP-OCR's recogniser keeps its character set there).
    pub fn custom_metadata(&self, key: &str) -> Result<Option<String>, InferenceError> {
        let slot = self.free_session()?;
        let session = slot.lock().unwrap_or_else(|p| p.into_inner());
        let metadata = session
            .metadata()
            .map_err(|e| InferenceError::Ort { model: self.id.clone(), message: format!("metadata: {e}") })?;
        Ok(metadata.custom(key))
    }

    /// Runs a single-input model on a batch: `items` (each a batch of one) are stacked along the first
    /// axis and fed to the model's first input.
    pub fn run_batch(&self, items: &[ndarray::Array4<f32>]) -> Result<Outputs, InferenceError> {
        let batch = self.stacked(items)?;
        let name = self.info.inputs[0].name.clone();
        self.run(vec![(name.as_str(), batch.view().into_dyn())])
    }

    /// `items` stacked along the first axis; a lone item is used as it is, not copied (a text detector's
    /// input is 12 MB).
    fn stacked<'a>(
        &self,
        items: &'a [ndarray::Array4<f32>],
    ) -> Result<ndarray::CowArray<'a, f32, ndarray::Ix4>, InferenceError> {
        if let [item] = items {
            return Ok(item.view().into());
        }
        let views: Vec<_> = items.iter().map(|t| t.view()).collect();
        ndarray::concatenate(ndarray::Axis(0), &views)
            .map(Into::into)
            .map_err(|e| InferenceError::Ort { model: self.id.clone(), message: format!("batch: {e}") })
    }

    /// Runs a single-input model on each item (a batch of one) alone, on up to as many threads as the
    /// model may have sessions; the outputs in item order. On these CPUs one item a run is the fastest
    /// per item: the face networks at 112 × 112 take 1.3–1.5× as long per face in batches of 16 as
    /// alone, and 3–6× in batches of 200, whose activations outgrow the caches and are page-faulted in
    /// afresh on every run.
    pub fn run_each(&self, items: &[ndarray::Array4<f32>]) -> Result<Vec<Outputs>, InferenceError> {
        let name = self.info.inputs[0].name.clone();
        crate::parallel::map(items, self.max_sessions, |item| self.run(vec![(name.as_str(), item.view().into_dyn())]))
            .into_iter()
            .collect()
    }

    /// [`ModelSession::run_batch`] on the wide session (operators on as many threads as the model may
    /// have sessions) when no other ONNX Runtime call of any model is in flight, so that a request alone
    /// uses the idle cores for a run that cannot be split; else as `run_batch`, on one thread (another
    /// request is using the cores: going wide then would put three threads on two cores; measured on
    /// 2026-12-04, two DetectFaces at once on LFW photos went from 112–117 to 138–141 a second).
    pub fn run_batch_wide(&self, items: &[ndarray::Array4<f32>]) -> Result<Outputs, InferenceError> {
        if self.max_sessions <= 1 || RUNS_IN_FLIGHT.load(Ordering::SeqCst) > 0 {
            return self.run_batch(items);
        }
        let wide = {
            let mut wide = self.wide.lock().unwrap_or_else(|p| p.into_inner());
            if wide.is_none() {
                let session = build_session_with(&self.path, self.max_sessions, false, &self.id)?;
                *wide = Some(Arc::new(Mutex::new(session)));
            }
            wide.clone().expect("built above")
        };
        let Ok(session) = wide.try_lock() else { return self.run_batch(items) };
        let batch = self.stacked(items)?;
        let name = self.info.inputs[0].name.clone();
        self.run_on(session, vec![(name.as_str(), batch.view().into_dyn())])
    }

    /// Runs the model on f32 inputs (by name) and returns every output as an owned f32 array, in the
    /// model's output order.
    pub fn run(&self, inputs: Vec<(&str, ndarray::ArrayViewD<'_, f32>)>) -> Result<Outputs, InferenceError> {
        let slot = self.free_session()?;
        let session = slot.lock().unwrap_or_else(|p| p.into_inner());
        self.run_on(session, inputs)
    }

    fn run_on(
        &self,
        mut session: std::sync::MutexGuard<'_, Session>,
        inputs: Vec<(&str, ndarray::ArrayViewD<'_, f32>)>,
    ) -> Result<Outputs, InferenceError> {
        crate::cancel::check()?;
        let ort_error = |message: String| InferenceError::Ort { model: self.id.clone(), message };
        let mut values = Vec::with_capacity(inputs.len());
        for (name, array) in inputs {
            let tensor = TensorRef::from_array_view(array).map_err(|e| ort_error(e.to_string()))?;
            values.push((std::borrow::Cow::Borrowed(name), ort::session::SessionInputValue::from(tensor)));
        }
        let started = std::time::Instant::now();
        let in_flight = InFlight::enter();
        let outputs = session.run(values).map_err(|e| ort_error(e.to_string()))?;
        drop(in_flight);
        if let Some(observe) = RUN_OBSERVER.get() {
            observe(&self.id, started.elapsed());
        }
        let mut result = Vec::new();
        for (name, value) in outputs.iter() {
            let array = value.try_extract_array::<f32>().map_err(|e| ort_error(format!("output {name}: {e}")))?;
            result.push((name.to_owned(), array.to_owned()));
        }
        Ok(result)
    }

    /// A session to run on: a free one, else a new one while the model may have more, else the first
    /// (the caller then waits for it).
    fn free_session(&self) -> Result<Arc<Mutex<Session>>, InferenceError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(free) = sessions.iter().find(|s| s.try_lock().is_ok()) {
            return Ok(free.clone());
        }
        if sessions.len() < self.max_sessions {
            let session = Arc::new(Mutex::new(build_session(&self.path, self.intra_threads, &self.id)?));
            sessions.push(session.clone());
            tracing::debug!(model = %self.id, sessions = sessions.len(), "another session for concurrent runs");
            return Ok(session);
        }
        Ok(sessions[0].clone())
    }

    /// How many sessions the model has now.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
