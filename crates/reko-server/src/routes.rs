//! Routes and the request pipeline: request id and access log around every request; for `POST /`, the
//! SigV4 checks the head allows (before any body is read), room for the body in the node's budget, the
//! body (bounded in size and time), the signature, the target, JSON parsing and model validation before
//! dispatch, which must answer within the request deadline.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use reko_auth::RequestParts;
use reko_protocol::validate::validate_request;
use reko_protocol::{ApiError, CONTENT_TYPE, ErrorCode, ServiceModel, TARGET_PREFIX};
use reko_service::Scope;
use serde_json::Value;

use crate::{AppState, dispatch, errors};

/// The largest request body: two 5 MiB images in base64 (CompareFaces) and the JSON around them fit.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The header carrying each response's request id.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// The request id, set by the outermost middleware for handlers and logs.
#[derive(Clone)]
struct RequestId(String);

/// What a handler tells the access log about a request.
#[derive(Clone, Default)]
struct LogFields {
    operation: Option<String>,
    account: Option<String>,
    error_type: Option<&'static str>,
}

/// The router of the whole service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(rekognition))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(request_context))
        .with_state(Arc::new(state))
}

/// The node's metrics in Prometheus' text format.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let service = state.service.clone();
    let video_jobs = tokio::task::spawn_blocking(move || service.video_job_counts().ok()).await.ok().flatten();
    let text = crate::metrics::render(state.admission.load(), video_jobs);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    response
}

/// 200 while the node can serve, 503 while its store cannot write (a full disk, say).
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let service = state.service.clone();
    match tokio::task::spawn_blocking(move || service.check_store()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "health check: the store cannot write");
            (StatusCode::SERVICE_UNAVAILABLE, format!("the store cannot write: {error}")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the health check failed").into_response(),
    }
}

async fn not_found() -> Response {
    let err = ApiError::new(
        ErrorCode::UnknownOperation,
        "reko serves the Rekognition API at POST / (AWS JSON 1.1), its console at GET /console/ and health at GET /healthz",
    );
    let mut response = error_response(&err);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Gives every request an id (echoed in `x-amzn-RequestId`) and writes one access-log line for it.
async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let mut response = next.run(request).await;
    let fields = response.extensions_mut().remove::<LogFields>().unwrap_or_default();
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER, HeaderValue::from_str(&request_id).expect("a uuid is a valid header value"));
    if path == "/" && method == http::Method::POST {
        let operation = fields.operation.as_deref().unwrap_or("unknown");
        crate::metrics::request(operation, fields.error_type, started.elapsed());
    }
    tracing::info!(
        request_id,
        %method,
        path,
        operation = fields.operation.as_deref().unwrap_or("-"),
        account = fields.account.as_deref().unwrap_or("-"),
        status = response.status().as_u16(),
        error = fields.error_type.unwrap_or("-"),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn rekognition(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let mut fields = LogFields::default();
    let result = handle(&state, request, &request_id, &mut fields).await;
    let mut response = match result {
        Ok(body) => {
            let mut response = (StatusCode::OK, body.to_string()).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(err) => {
            fields.error_type = Some(err.code.type_name());
            error_response(&err)
        }
    };
    response.extensions_mut().insert(fields);
    response
}

async fn handle(
    state: &AppState,
    request: Request,
    request_id: &str,
    fields: &mut LogFields,
) -> Result<Value, ApiError> {
    let (parts, body) = request.into_parts();
    // A client that cannot authenticate is refused from its headers: it never makes the node hold a body.
    let claimed = reko_auth::verify_head(&state.keys, &parts.headers, (state.clock)()).map_err(errors::from_auth)?;
    let model = ServiceModel::get();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|op| model.operation(op).is_some())
        .ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownOperation, format!("Unknown operation: X-Amz-Target '{target}'"))
        })?;
    fields.operation = Some(operation.to_owned());
    // An analysis waits for its turn before its body is read, so a refused one costs the node nothing
    // but its head (the signature is checked once the body is in; an account's share is the account's).
    let ticket = if dispatch::ANALYSES.contains(&operation) {
        Some(state.admission.admit(&claimed.account_id).await?)
    } else {
        None
    };
    let declared = declared_length(&parts.headers)?;
    let _room = state.bodies.reserve(declared.unwrap_or(MAX_BODY_BYTES))?;
    let body = tokio::time::timeout(state.limits.body_timeout, read_body(body)).await.map_err(|_| {
        ApiError::new(
            ErrorCode::RequestTimeout,
            format!("The request body did not arrive within {} s.", state.limits.body_timeout.as_secs()),
        )
    })??;

    let principal = reko_auth::verify(
        &state.keys,
        &RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: &body,
        },
        (state.clock)(),
    )
    .map_err(errors::from_auth)?;
    fields.account = Some(principal.account_id.clone());

    let json: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::Serialization, format!("The request body is not valid JSON: {e}")))?
    };
    validate_request(model, operation, &json)?;

    let scope = Scope { account_id: principal.account_id, region: principal.region };
    let deadline = state.limits.request_timeout;
    match tokio::time::timeout(deadline, dispatch::dispatch(state, scope, operation, json, request_id, ticket)).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(request_id, operation, seconds = deadline.as_secs(), "request deadline passed");
            Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                format!(
                    "The request did not finish within its deadline of {} s; its work was cancelled.",
                    deadline.as_secs()
                ),
            ))
        }
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(
        ErrorCode::ImageTooLarge,
        format!("The request body exceeds the limit of {MAX_BODY_BYTES} bytes (images may be at most 5 MB)."),
    )
}

/// The body length the request declares, refused at once when over [`MAX_BODY_BYTES`].
fn declared_length(headers: &http::HeaderMap) -> Result<Option<usize>, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > MAX_BODY_BYTES as u64 => Err(body_too_large()),
        other => Ok(other.map(|len| len as usize)),
    }
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] without reading the rest.
async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(body_too_large()),
        Err(err) => Err(ApiError::new(ErrorCode::Serialization, format!("Could not read the request body: {err}"))),
    }
}

fn error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, err.to_body().to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(err.code.type_name()));
    if matches!(
        err.code,
        ErrorCode::Throttling | ErrorCode::ProvisionedThroughputExceeded | ErrorCode::ServiceUnavailable
    ) {
        // The SDKs back off on these codes by themselves; other clients get a hint.
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
