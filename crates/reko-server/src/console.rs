//! The web console at `/console/`: static pages (embedded in the binary, no CDN) that call the public API
//! from the browser, SigV4-signed with keys the user enters; `config.json` tells them whether the node
//! runs in dev mode (any key works). It has no other way in.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use crate::AppState;

/// The console's files: (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../console/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../console/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../console/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../console/api.js")),
    ("draw.js", "text/javascript; charset=utf-8", include_bytes!("../console/draw.js")),
    ("ui.js", "text/javascript; charset=utf-8", include_bytes!("../console/ui.js")),
    ("faces.js", "text/javascript; charset=utf-8", include_bytes!("../console/faces.js")),
    ("collections.js", "text/javascript; charset=utf-8", include_bytes!("../console/collections.js")),
    ("video.js", "text/javascript; charset=utf-8", include_bytes!("../console/video.js")),
    ("custom.js", "text/javascript; charset=utf-8", include_bytes!("../console/custom.js")),
    ("sigv4.js", "text/javascript; charset=utf-8", include_bytes!("../console/sigv4.js")),
];

/// Only this origin's scripts, styles and connections; images from the page's own blobs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The console's routes, merged into the service's router.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(|| async { file("index.html") }))
        .route("/console/config.json", get(config))
        .route("/console/{name}", get(|Path(name): Path<String>| async move { file(&name) }))
}

fn file(name: &str) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What the pages need to know of the node: whether any key works (dev mode).
async fn config(State(state): State<Arc<AppState>>) -> Response {
    let body = serde_json::json!({ "devMode": state.keys.is_dev() });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the pages import is served, and every file served is listed once.
    #[test]
    fn every_imported_module_is_served() {
        let names: Vec<&str> = FILES.iter().map(|(n, _, _)| *n).collect();
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).unwrap();
            for import in text.split("from \"./").skip(1) {
                let module = import.split('"').next().unwrap();
                assert!(names.contains(&module), "{name} imports {module}, which is not served");
            }
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1);
        }
        let index = std::str::from_utf8(FILES[0].2).unwrap();
        for asset in ["style.css", "app.js"] {
            assert!(index.contains(asset));
        }
    }
}
