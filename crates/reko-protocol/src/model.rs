//! The service model: Rekognition's operations and shapes with their constraints, loaded once from the
//! extract of botocore's `service-2.json` that ships inside this crate.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The extract written by `tools/extract_service_model.py`.
const MODEL_JSON: &str = include_str!("../model/rekognition.json");

/// The facts of the service model that validation and dispatch need.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceModel {
    /// Where the extract came from (`botocore==X path`).
    pub source: String,
    pub api_version: String,
    pub target_prefix: String,
    pub operations: BTreeMap<String, Operation>,
    pub shapes: BTreeMap<String, Shape>,
    /// Each shape's pattern, compiled and anchored (the service matches the whole value).
    #[serde(skip)]
    patterns: BTreeMap<String, fancy_regex::Regex>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub input: Option<String>,
    pub output: Option<String>,
    #[serde(default)]
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Blob,
    Timestamp,
}

#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeKind,
    #[serde(default)]
    pub required: Vec<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub fault: bool,
    #[serde(default)]
    pub members: BTreeMap<String, Member>,
    pub member: Option<ShapeRef>,
    pub key: Option<ShapeRef>,
    pub value: Option<ShapeRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub shape: String,
    #[serde(default)]
    pub idempotency_token: bool,
}

#[derive(Debug, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
}

impl ServiceModel {
    /// The model, parsed and compiled on first use.
    pub fn get() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            let mut model: ServiceModel =
                serde_json::from_str(MODEL_JSON).expect("the embedded service model is valid JSON");
            for (name, shape) in &model.shapes {
                if let Some(pattern) = &shape.pattern {
                    let regex = fancy_regex::Regex::new(&format!("^(?:{pattern})$"))
                        .unwrap_or_else(|e| panic!("pattern of shape {name} does not compile: {e}"));
                    model.patterns.insert(name.clone(), regex);
                }
            }
            model
        })
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    /// The shape called `name`. Every name referenced inside the model exists (checked by a test).
    pub fn shape(&self, name: &str) -> &Shape {
        self.shapes.get(name).unwrap_or_else(|| panic!("the service model has no shape {name}"))
    }

    /// The compiled, anchored pattern of shape `name`, if it has one.
    pub fn pattern(&self, name: &str) -> Option<&fancy_regex::Regex> {
        self.patterns.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_has_all_75_operations_and_consistent_references() {
        let model = ServiceModel::get();
        assert_eq!(model.operations.len(), 75);
        assert_eq!(model.target_prefix, crate::TARGET_PREFIX);
        for (name, op) in &model.operations {
            for shape in op.input.iter().chain(&op.output).chain(&op.errors) {
                assert!(model.shapes.contains_key(shape), "{name} refers to missing {shape}");
            }
        }
        for (name, shape) in &model.shapes {
            let refs = shape
                .members
                .values()
                .map(|m| &m.shape)
                .chain([&shape.member, &shape.key, &shape.value].into_iter().flatten().map(|r| &r.shape));
            for target in refs {
                assert!(model.shapes.contains_key(target), "{name} refers to missing {target}");
            }
            for required in &shape.required {
                assert!(shape.members.contains_key(required), "{name} requires unknown {required}");
            }
        }
    }

    #[test]
    fn patterns_match_whole_values_like_the_service() {
        let model = ServiceModel::get();
        let collection = model.pattern("CollectionId").unwrap();
        assert!(collection.is_match("my-photos_1.2").unwrap());
        assert!(!collection.is_match("my photos").unwrap());
        assert!(!collection.is_match("").unwrap());
        let tag_key = model.pattern("TagKey").unwrap();
        assert!(tag_key.is_match("team:owner").unwrap());
        assert!(tag_key.is_match("Équipe 2").unwrap());
        assert!(!tag_key.is_match("aws:reserved").unwrap());
        let token = model.pattern("ClientRequestToken").unwrap();
        assert!(token.is_match("abc-DEF_123").unwrap());
        assert!(!token.is_match("a b").unwrap());
        let face_id = model.pattern("FaceId").unwrap();
        assert!(face_id.is_match("11111111-2222-3333-4444-555555555555").unwrap());
        assert!(!face_id.is_match("11111111-2222-3333-4444-55555555555Z").unwrap());
    }
}
