//! The HTTP front end of reko: the AWS JSON 1.1 endpoint (`POST /` with `X-Amz-Target`), SigV4
//! authentication, the request body limit, request ids, structured logs and `GET /healthz`.
//!
//! A request flows: [`routes`] reads the body (bounded) and authenticates it → checks the target against
//! the service model and validates the JSON ([`reko_protocol::validate`]) → [`dispatch`] decodes the typed
//! request and calls one [`reko_service::Service`] function → encodes the response. Errors of every layer
//! become an [`reko_protocol::ApiError`] in [`errors`].

pub mod dispatch;
mod errors;
mod routes;
pub mod video;

use std::sync::Arc;

use reko_auth::KeyRing;
use reko_service::Service;

pub use dispatch::IMPLEMENTED_OPERATIONS;
pub use routes::{MAX_BODY_BYTES, REQUEST_ID_HEADER, router};

/// Seconds since the Unix epoch; injectable so tests can move the clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Everything a request handler needs.
pub struct AppState {
    pub service: Service,
    pub keys: KeyRing,
    pub clock: Clock,
}

impl AppState {
    pub fn new(service: Service, keys: KeyRing) -> AppState {
        let clock: Clock = Arc::new(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        });
        AppState { service, keys, clock }
    }
}
