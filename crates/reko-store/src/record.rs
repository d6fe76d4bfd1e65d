//! The records the store keeps, serialised as JSON values so that fields can be added compatibly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a record lives: resources belong to one account in one region, as on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
}

/// A face collection's metadata. Its faces and users are separate records under the same key prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionRecord {
    pub collection_id: String,
    /// The face model the collection was created with; searches must use the same one.
    pub face_model_version: String,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    #[serde(default)]
    pub face_count: u64,
    #[serde(default)]
    pub user_count: u64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}
