//! The HTTP front end of reko: the AWS JSON 1.1 endpoint (`POST /` with `X-Amz-Target`), SigV4
//! authentication, the request body limit, request ids, structured logs and `GET /healthz`.
//!
//! A request flows: [`routes`] reads the body (bounded) and authenticates it → checks the target against
//! the service model and validates the JSON ([`reko_protocol::validate`]) → [`dispatch`] picks the
//! operation's handler (`handlers/`, one module per resource), which decodes the typed request, calls one
//! [`reko_service::Service`] function and maps the result onto the response shape with [`render`]. Errors
//! of every layer become an [`reko_protocol::ApiError`] in [`errors`]. The web console ([`console`]) is
//! static pages at `/console/` that call the same API from the browser.

mod console;
pub mod dispatch;
mod errors;
mod handlers;
pub mod limits;
mod listener;
pub mod metrics;
pub mod render;
mod routes;

use std::sync::Arc;

use reko_auth::KeyRing;
use reko_service::Service;

pub use dispatch::IMPLEMENTED_OPERATIONS;
pub use limits::Limits;
pub use listener::serve;
pub use render::video::Renderer;
pub use routes::{MAX_BODY_BYTES, REQUEST_ID_HEADER, router};

/// Seconds since the Unix epoch; injectable so tests can move the clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Everything a request handler needs.
pub struct AppState {
    pub service: Service,
    pub keys: KeyRing,
    pub clock: Clock,
    limits: Limits,
    admission: Arc<limits::Admission>,
    bodies: limits::BodyBudget,
}

impl AppState {
    /// The state of a node with the default [`Limits`].
    pub fn new(service: Service, keys: KeyRing) -> AppState {
        let clock: Clock = Arc::new(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        });
        let limits = Limits::default();
        AppState {
            service,
            keys,
            clock,
            admission: limits::Admission::new(limits),
            bodies: limits::BodyBudget::new(&limits),
            limits,
        }
    }

    /// The same state with these limits.
    pub fn with_limits(self, limits: Limits) -> AppState {
        AppState { admission: limits::Admission::new(limits), bodies: limits::BodyBudget::new(&limits), limits, ..self }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
