//! `reko serve`: opens the store, builds the service and router, listens, and shuts down gracefully on
//! SIGINT/SIGTERM (in-flight requests finish; every acknowledged write is already durable).

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use reko_inference::{Runtime, RuntimeOptions};
use reko_server::AppState;
use reko_service::Service;
use reko_store::{EmbeddedStore, PostgresStore, Store};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// How often changed index snapshots of large collections are rewritten.
const SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    if !crate::models::all_current(&config.models_dir)? {
        tracing::info!(models_dir = %config.models_dir.display(), "fetching missing models");
        let (dir, dylib) = (config.models_dir.clone(), config.ort_dylib.clone());
        tokio::task::spawn_blocking(move || crate::models::fetch(&dir, &[], dylib)).await??;
    }
    let options = RuntimeOptions {
        intra_threads: config.inference_threads,
        dylib: config.ort_dylib.clone(),
        ..RuntimeOptions::default()
    };
    let models_dir = config.models_dir.clone();
    let runtime = tokio::task::spawn_blocking(move || -> anyhow::Result<Runtime> {
        let runtime = Runtime::load(&models_dir, options)?;
        let ids: Vec<String> = runtime
            .installed()
            .models
            .iter()
            .filter(|(_, m)| m.kind != reko_models::ModelKind::Runtime)
            .map(|(id, _)| id.clone())
            .collect();
        let started = std::time::Instant::now();
        runtime.warm(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
        tracing::info!(models = ids.len(), seconds = started.elapsed().as_secs_f32(), "models loaded and warmed");
        Ok(runtime)
    })
    .await??;
    let (data_dir, reserve, database) = (config.data_dir.clone(), config.disk_reserve, config.database.clone());
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<Arc<dyn Store>> {
        Ok(match database {
            Some(settings) => {
                let store = PostgresStore::connect(&settings).context("connecting to the database")?;
                tracing::info!("the state is kept in PostgreSQL, shared with the other nodes");
                Arc::new(store)
            }
            None => Arc::new(
                EmbeddedStore::open(&data_dir)
                    .with_context(|| format!("opening the store in {}", data_dir.display()))?
                    .with_disk_reserve(reserve),
            ),
        })
    })
    .await??;
    let node_id = node_id(&config.data_dir)?;
    tracing::info!(node_id, "this node's name in the store");
    let service = Service::new(store)
        .with_node_id(node_id)
        .with_index_snapshots(config.data_dir.join("indexes"))
        .with_vision(reko_service::Vision::new(runtime))
        .with_video_config(config.video);
    let service = match (&config.s3_root, &config.s3) {
        (Some(root), _) => {
            tracing::info!(root = %root.display(), "S3 objects are read from the directory");
            service.with_objects(Arc::new(reko_service::DirectoryObjects::new(root)))
        }
        (None, Some(settings)) => {
            tracing::info!(
                endpoint = settings.endpoint.as_deref().unwrap_or(""),
                "S3 objects are read from the endpoint"
            );
            let staging = config.data_dir.join("staging");
            let objects = reko_service::S3Objects::new(settings.clone(), staging).context("starting the S3 client")?;
            service.with_objects(Arc::new(objects))
        }
        (None, None) => service,
    };
    let service = if config.sns_topics.is_empty() {
        service
    } else {
        tracing::info!(topics = config.sns_topics.len(), "job completions are published to SNS topic endpoints");
        let notifier = reko_service::Notifier::new(config.sns_topics.clone()).context("starting the SNS client")?;
        service.with_notifier(Arc::new(notifier))
    };
    let starting = service.clone();
    let requeued =
        tokio::task::spawn_blocking(move || starting.start_video_workers(Arc::new(reko_server::Renderer))).await??;
    service.start_custom_labels_worker()?;
    tracing::info!(
        workers = config.video.workers,
        sample_fps = config.video.sample_fps,
        requeued,
        "video workers started"
    );
    // Collection indexes load in the background (from their snapshots when current); a search that
    // arrives first loads its own collection's.
    let warming = service.clone();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        match warming.warm_indexes() {
            Ok(n) => {
                tracing::info!(collections = n, seconds = started.elapsed().as_secs_f32(), "collection indexes loaded")
            }
            Err(error) => tracing::error!(%error, "loading collection indexes"),
        }
    });
    let saving = service.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(SNAPSHOT_INTERVAL);
            saving.save_indexes();
        }
    });
    let state = AppState::new(service.clone(), config.keys.clone()).with_limits(config.limits);
    reko_inference::runtime::observe_runs(reko_server::metrics::model_run);
    reko_store::observe_commits(reko_server::metrics::commit);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    if config.keys.is_dev() {
        tracing::warn!(
            "dev mode: no credentials configured, any well-formed SigV4 signature is accepted (account {}); \
             listening on loopback only",
            reko_auth::DEV_ACCOUNT_ID
        );
    } else {
        tracing::info!(keys = config.keys.len(), "SigV4 signatures are verified");
    }
    tracing::info!(
        %address,
        data_dir = %config.data_dir.display(),
        models_dir = %config.models_dir.display(),
        "reko is listening"
    );
    tracing::info!(limits = ?config.limits, "admission limits");
    reko_server::serve(listener, reko_server::router(state), config.limits, shutdown_signal())
        .await
        .context("serving")?;
    tokio::task::spawn_blocking(move || service.save_indexes()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT: finishing in-flight requests"),
        _ = terminate => tracing::info!("SIGTERM: finishing in-flight requests"),
    }
}

/// This node's name in the store, kept in `<data-dir>/node-id` (made on first start): a restarted node
/// resumes the video jobs it had claimed at once, without waiting for their leases to run out.
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}
