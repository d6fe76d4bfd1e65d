//! The operations' handlers, one module per resource. Each handler decodes its typed request into the
//! service's terms, makes one service call and renders the result ([`crate::render`]); the rules and
//! defaults that change results live in the service.

pub mod analysis;
pub mod collections;
pub mod custom_labels;
pub mod faces;
pub mod stored_faces;
pub mod users;
pub mod video;

use reko_service::QualityFilter;

/// A request's `QualityFilter`, or `default` when it gives none.
fn quality_filter(value: Option<&str>, default: QualityFilter) -> QualityFilter {
    match value {
        None => default,
        Some("AUTO") => QualityFilter::Auto,
        Some("LOW") => QualityFilter::Low,
        Some("MEDIUM") => QualityFilter::Medium,
        Some("HIGH") => QualityFilter::High,
        // NONE; the model's validation refuses anything else.
        Some(_) => QualityFilter::None,
    }
}
