//! SageMaker Ground Truth manifest lines, as Custom Labels reads them: `source-ref` and the label
//! attributes of each line (`groundtruth/image-classification`, its multi-label variant, and
//! `groundtruth/object-detection`, whose boxes are counted but not trained on).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One dataset entry: the line as given, what reko read from it, and whether its image's features are
/// stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The JSON line, as given.
    pub line: Value,
    pub source_ref: String,
    /// The image-level labels, in the order the line names them.
    pub labels: Vec<String>,
    /// Bounding boxes of an object-detection attribute, and their labels.
    #[serde(default)]
    pub boxes: Vec<String>,
    /// Why the entry cannot be used (a Rekognition error code and a message), if it cannot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<(String, String)>,
    /// Whether the dataset's features hold this entry's (in entry order).
    #[serde(default)]
    pub has_features: bool,
}

impl Entry {
    /// The line as ListDatasetEntries shows it: as given, with reko's errors added.
    pub fn rendered(&self) -> String {
        let mut line = self.line.clone();
        if !self.errors.is_empty()
            && let Value::Object(map) = &mut line
        {
            let errors: Vec<Value> = self
                .errors
                .iter()
                .map(|(code, message)| serde_json::json!({"code": code, "message": message}))
                .collect();
            map.insert("errors".into(), Value::Array(errors));
        }
        line.to_string()
    }

    pub fn is_labeled(&self) -> bool {
        !self.labels.is_empty() || !self.boxes.is_empty()
    }

    /// Every label the entry names, image-level or on a box, each once.
    pub fn all_labels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for label in self.labels.iter().chain(&self.boxes) {
            if !out.contains(&label.as_str()) {
                out.push(label);
            }
        }
        out
    }
}

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// Reads one manifest line; `Err` (a message) when it is not a JSON object with a `source-ref`.
pub fn parse_line(text: &str) -> Result<Entry, String> {
    let line: Value = serde_json::from_str(text).map_err(|e| format!("the line is not JSON: {e}"))?;
    let Value::Object(map) = &line else { return Err("the line is not a JSON object".into()) };
    let Some(source_ref) = map.get("source-ref").and_then(Value::as_str).map(str::to_owned) else {
        return Err("the line has no source-ref".into());
    };
    let mut entry = Entry {
        line: line.clone(),
        source_ref,
        labels: Vec::new(),
        boxes: Vec::new(),
        errors: Vec::new(),
        has_features: false,
    };
    if parse_s3_uri(&entry.source_ref).is_none() {
        entry
            .errors
            .push(("ERROR_INVALID_SOURCE_REF_FORMAT".into(), "source-ref is not an s3://bucket/key URI".into()));
    }
    let push = |labels: &mut Vec<String>, name: &str| {
        if !labels.iter().any(|l| l == name) {
            labels.push(name.to_owned());
        }
    };
    for (key, value) in map {
        let Some(metadata) = map.get(&format!("{key}-metadata")) else { continue };
        let class_map = |index: &Value| {
            let index = index.as_i64().map(|i| i.to_string()).or_else(|| index.as_str().map(str::to_owned))?;
            metadata.get("class-map")?.get(&index)?.as_str().map(str::to_owned)
        };
        match metadata.get("type").and_then(Value::as_str) {
            Some("groundtruth/image-classification") => match metadata.get("class-name").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => push(&mut entry.labels, name),
                _ => entry.errors.push(("ERROR_MISSING_CLASS_NAME".into(), format!("{key}-metadata has no class-name"))),
            },
            Some("groundtruth/image-classification-multilabel") => {
                for index in value.as_array().into_iter().flatten() {
                    match class_map(index) {
                        Some(name) => push(&mut entry.labels, &name),
                        None => entry
                            .errors
                            .push(("ERROR_INVALID_CLASS_MAP".into(), format!("{key}: class {index} is not in class-map"))),
                    }
                }
            }
            Some("groundtruth/object-detection") => {
                let annotations = value.get("annotations").and_then(Value::as_array);
                for annotation in annotations.into_iter().flatten() {
                    match annotation.get("class_id").and_then(class_map) {
                        Some(name) => entry.boxes.push(name),
                        None => entry.errors.push((
                            "ERROR_INVALID_CLASS_MAP".into(),
                            format!("{key}: an annotation's class_id is not in class-map"),
                        )),
                    }
                }
            }
            Some(other) => entry.errors.push((
                "ERROR_UNSUPPORTED_USE_CASE_TYPE".into(),
                format!("{key}-metadata has type {other}, not groundtruth/image-classification or groundtruth/object-detection"),
            )),
            None => {}
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_label_forms() {
        let one = parse_line(
            r#"{"source-ref":"s3://b/ants/1.jpg","ants":0,"ants-metadata":{"confidence":1,"class-name":"ants","human-annotated":"yes","creation-date":"2024-01-01T00:00:00","type":"groundtruth/image-classification"},"day":1,"day-metadata":{"class-name":"daylight","type":"groundtruth/image-classification"}}"#,
        )
        .unwrap();
        assert_eq!(one.labels, ["ants", "daylight"]);
        assert!(one.errors.is_empty() && one.is_labeled());
        let multi = parse_line(
            r#"{"source-ref":"s3://b/x.jpg","l":[1,0],"l-metadata":{"class-map":{"0":"person","1":"bicycle"},"type":"groundtruth/image-classification-multilabel"}}"#,
        )
        .unwrap();
        assert_eq!(multi.labels, ["bicycle", "person"]);
        let boxes = parse_line(
            r#"{"source-ref":"s3://b/y.png","bb":{"image_size":[{"width":640,"height":480,"depth":3}],"annotations":[{"class_id":1,"top":1,"left":2,"width":3,"height":4},{"class_id":0,"top":1,"left":2,"width":3,"height":4}]},"bb-metadata":{"class-map":{"0":"Echo","1":"Echo Dot"},"type":"groundtruth/object-detection"}}"#,
        )
        .unwrap();
        assert_eq!((boxes.labels.len(), boxes.boxes.clone()), (0, vec!["Echo Dot".to_string(), "Echo".to_string()]));
        let unlabeled = parse_line(r#"{"source-ref":"s3://b/z.jpg"}"#).unwrap();
        assert!(!unlabeled.is_labeled());
    }

    #[test]
    fn refuses_what_is_not_a_line_and_flags_bad_entries() {
        assert!(parse_line("not json").is_err());
        assert!(parse_line("[1]").is_err());
        assert!(parse_line(r#"{"a":1}"#).is_err());
        let bad = parse_line(r#"{"source-ref":"http://x/y.jpg"}"#).unwrap();
        assert_eq!(bad.errors[0].0, "ERROR_INVALID_SOURCE_REF_FORMAT");
        assert!(bad.rendered().contains("\"errors\""));
        assert_eq!(parse_s3_uri("s3://bucket/a/b.jpg"), Some(("bucket".into(), "a/b.jpg".into())));
    }
}
