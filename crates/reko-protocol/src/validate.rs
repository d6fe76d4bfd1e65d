//! Validation of JSON bodies against the service model: types (a mismatch is a `SerializationException`)
//! and constraints (required, length, range, pattern, enum, list and map sizes: an
//! `InvalidParameterException` whose message names each offending field, in the service's own words).

use base64::Engine as _;
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};
use crate::model::{ServiceModel, ShapeKind};

/// Base64 as AWS clients send blobs: the standard alphabet, padding optional.
pub const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The shape whose oversize values get `ImageTooLargeException` rather than a length violation.
const IMAGE_BLOB_SHAPE: &str = "ImageBlob";

/// Validates the body of a request to `operation` against its input shape.
///
/// Members the model does not define are ignored, as the service does.
pub fn validate_request(model: &ServiceModel, operation: &str, body: &Value) -> Result<(), ApiError> {
    let op = model
        .operation(operation)
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownOperation, format!("Unknown operation {operation}")))?;
    let Some(input) = &op.input else {
        return Ok(());
    };
    let mut validator = Validator::new(model, false);
    validator.visit(input, body, "")?;
    validator.finish()
}

/// Checks a response body against `operation`'s output shape strictly: unknown members are violations
/// too. Used by tests, so that every field name reko writes is one the model defines.
pub fn check_response(model: &ServiceModel, operation: &str, body: &Value) -> Result<(), String> {
    let op = model.operation(operation).ok_or_else(|| format!("unknown operation {operation}"))?;
    let Some(output) = &op.output else {
        return Ok(());
    };
    let mut validator = Validator::new(model, true);
    validator.visit(output, body, "").map_err(|e| e.message)?;
    validator.finish().map_err(|e| e.message)
}

struct Validator<'m> {
    model: &'m ServiceModel,
    /// Unknown members are violations (responses) rather than ignored (requests).
    strict: bool,
    violations: Vec<String>,
    image_too_large: bool,
}

impl<'m> Validator<'m> {
    fn new(model: &'m ServiceModel, strict: bool) -> Self {
        Validator { model, strict, violations: Vec::new(), image_too_large: false }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.image_too_large {
            return Err(ApiError::new(ErrorCode::ImageTooLarge, "Image size is too large."));
        }
        match self.violations.len() {
            0 => Ok(()),
            n => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "{n} validation error{} detected: {}",
                    if n == 1 { "" } else { "s" },
                    self.violations.join("; ")
                ),
            )),
        }
    }

    fn violation(&mut self, value: Option<&str>, path: &str, constraint: String) {
        let shown = match value {
            Some(v) => format!("Value '{}'", truncate(v, 100)),
            None => "Value".to_owned(),
        };
        self.violations.push(format!("{shown} at '{path}' failed to satisfy constraint: Member must {constraint}"));
    }

    fn visit(&mut self, shape_name: &str, value: &Value, path: &str) -> Result<(), ApiError> {
        let shape = self.model.shape(shape_name);
        match shape.kind {
            ShapeKind::Structure => {
                let object = expect(value.as_object(), "an object", path)?;
                for required in &shape.required {
                    if object.get(required).is_none_or(Value::is_null) {
                        let at = join(path, required);
                        self.violations.push(format!(
                            "Value null at '{at}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                }
                for (name, member_value) in object {
                    match shape.members.get(name) {
                        Some(member) if !member_value.is_null() => {
                            self.visit(&member.shape, member_value, &join(path, name))?
                        }
                        Some(_) => {}
                        None if self.strict => {
                            self.violations.push(format!("'{}' is not a member of {shape_name}", join(path, name)))
                        }
                        None => {}
                    }
                }
            }
            ShapeKind::List => {
                let items = expect(value.as_array(), "a list", path)?;
                self.check_size(shape_name, items.len(), path);
                let member = &shape.member.as_ref().expect("list shapes have a member").shape;
                for (i, item) in items.iter().enumerate() {
                    self.visit(member, item, &format!("{path}.{}.member", i + 1))?;
                }
            }
            ShapeKind::Map => {
                let entries = expect(value.as_object(), "a map", path)?;
                self.check_size(shape_name, entries.len(), path);
                let key_shape = &shape.key.as_ref().expect("map shapes have a key").shape;
                let value_shape = &shape.value.as_ref().expect("map shapes have a value").shape;
                for (i, (key, entry)) in entries.iter().enumerate() {
                    let at = format!("{path}.{}.member", i + 1);
                    self.visit(key_shape, &Value::String(key.clone()), &format!("{at}.key"))?;
                    self.visit(value_shape, entry, &format!("{at}.value"))?;
                }
            }
            ShapeKind::String => {
                let text = expect(value.as_str(), "a string", path)?;
                let length = text.chars().count();
                if let Some(min) = shape.min.filter(|&min| (length as f64) < min) {
                    self.violation(Some(text), path, format!("have length greater than or equal to {}", num(min)));
                }
                if let Some(max) = shape.max.filter(|&max| (length as f64) > max) {
                    self.violation(Some(text), path, format!("have length less than or equal to {}", num(max)));
                }
                if let Some(values) = &shape.enum_values
                    && !values.iter().any(|v| v == text)
                {
                    self.violation(Some(text), path, format!("satisfy enum value set: [{}]", values.join(", ")));
                }
                if let (Some(regex), Some(pattern)) = (self.model.pattern(shape_name), &shape.pattern)
                    && !regex.is_match(text).unwrap_or(false)
                {
                    self.violation(Some(text), path, format!("satisfy regular expression pattern: {pattern}"));
                }
            }
            ShapeKind::Integer | ShapeKind::Long => {
                let number = expect(value.as_i64().or_else(|| value.as_u64().map(|_| i64::MAX)), "an integer", path)?;
                self.check_range(shape_name, number as f64, &number.to_string(), path);
            }
            ShapeKind::Float | ShapeKind::Double => {
                let number = expect(value.as_f64(), "a number", path)?;
                self.check_range(shape_name, number, &number.to_string(), path);
            }
            ShapeKind::Boolean => {
                expect(value.as_bool(), "a boolean", path)?;
            }
            ShapeKind::Timestamp => {
                expect(value.as_f64(), "a timestamp (epoch seconds)", path)?;
            }
            ShapeKind::Blob => {
                let encoded = expect(value.as_str(), "a base64-encoded string", path)?;
                let length = decoded_len(encoded)
                    .ok_or_else(|| ApiError::new(ErrorCode::Serialization, format!("'{path}' is not valid base64")))?;
                if let Some(min) = shape.min.filter(|&min| (length as f64) < min) {
                    self.violation(None, path, format!("have length greater than or equal to {}", num(min)));
                }
                if let Some(max) = shape.max.filter(|&max| (length as f64) > max) {
                    if shape_name == IMAGE_BLOB_SHAPE {
                        self.image_too_large = true;
                    } else {
                        self.violation(None, path, format!("have length less than or equal to {}", num(max)));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_size(&mut self, shape_name: &str, size: usize, path: &str) {
        let shape = self.model.shape(shape_name);
        if let Some(min) = shape.min.filter(|&min| (size as f64) < min) {
            self.violation(None, path, format!("have length greater than or equal to {}", num(min)));
        }
        if let Some(max) = shape.max.filter(|&max| (size as f64) > max) {
            self.violation(None, path, format!("have length less than or equal to {}", num(max)));
        }
    }

    fn check_range(&mut self, shape_name: &str, number: f64, shown: &str, path: &str) {
        let shape = self.model.shape(shape_name);
        if let Some(min) = shape.min.filter(|&min| number < min) {
            self.violation(Some(shown), path, format!("have value greater than or equal to {}", num(min)));
        }
        if let Some(max) = shape.max.filter(|&max| number > max) {
            self.violation(Some(shown), path, format!("have value less than or equal to {}", num(max)));
        }
    }
}

/// A type mismatch is a `SerializationException`, as the service's deserializer reports it.
fn expect<T>(value: Option<T>, what: &str, path: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        let at = if path.is_empty() { "the request body".to_owned() } else { format!("'{path}'") };
        ApiError::new(ErrorCode::Serialization, format!("Expected {what} at {at}"))
    })
}

/// The field path in the service's style: lowerCamelCase member names joined by dots.
fn join(path: &str, member: &str) -> String {
    let mut chars = member.chars();
    let camel: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    if path.is_empty() { camel } else { format!("{path}.{camel}") }
}

fn num(value: f64) -> String {
    if value.fract() == 0.0 { format!("{}", value as i64) } else { value.to_string() }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The decoded length of a base64 string, or `None` when it is not valid base64.
fn decoded_len(encoded: &str) -> Option<usize> {
    BASE64.decode(encoded).ok().map(|bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(operation: &str, body: Value) -> Result<(), ApiError> {
        validate_request(ServiceModel::get(), operation, &body)
    }

    fn message(operation: &str, body: Value, code: ErrorCode) -> String {
        let err = check(operation, body).unwrap_err();
        assert_eq!(err.code, code, "{}", err.message);
        err.message
    }

    #[test]
    fn valid_requests_pass() {
        check("CreateCollection", json!({"CollectionId": "a-b_c.1", "Tags": {"team": "x"}})).unwrap();
        check("ListCollections", json!({"MaxResults": 10})).unwrap();
        check("ListCollections", json!({})).unwrap();
        check("DetectFaces", json!({"Image": {"Bytes": "aGVsbG8="}, "Attributes": ["ALL"]})).unwrap();
        // Unknown members and explicit nulls of optional members are ignored.
        check("ListCollections", json!({"Extra": 1, "NextToken": null})).unwrap();
    }

    #[test]
    fn missing_required_member_names_the_field() {
        let msg = message("CreateCollection", json!({}), ErrorCode::InvalidParameter);
        assert_eq!(
            msg,
            "1 validation error detected: Value null at 'collectionId' failed to satisfy constraint: \
             Member must not be null"
        );
    }

    #[test]
    fn pattern_length_range_and_enum_violations_are_all_reported() {
        let msg = message(
            "SearchFaces",
            json!({"CollectionId": "bad id", "FaceId": "nope", "MaxFaces": 0, "FaceMatchThreshold": 101.5}),
            ErrorCode::InvalidParameter,
        );
        assert!(msg.starts_with("4 validation errors detected: "), "{msg}");
        assert!(
            msg.contains(
                "at 'collectionId' failed to satisfy constraint: Member must satisfy regular expression pattern"
            ),
            "{msg}"
        );
        assert!(msg.contains("at 'faceId'"), "{msg}");
        assert!(msg.contains("Value '0' at 'maxFaces' failed to satisfy constraint: Member must have value greater than or equal to 1"), "{msg}");
        assert!(msg.contains("Value '101.5' at 'faceMatchThreshold'"), "{msg}");

        let msg = message(
            "DetectFaces",
            json!({"Image": {"Bytes": "aGk="}, "Attributes": ["EVERYTHING"]}),
            ErrorCode::InvalidParameter,
        );
        assert!(msg.contains("at 'attributes.1.member' failed to satisfy constraint: Member must satisfy enum value set: [DEFAULT, ALL"), "{msg}");

        let long = "x".repeat(256);
        let msg = message("CreateCollection", json!({"CollectionId": long}), ErrorCode::InvalidParameter);
        assert!(msg.contains("Member must have length less than or equal to 255"), "{msg}");
    }

    #[test]
    fn list_and_map_sizes_are_checked() {
        let keys: Vec<String> = (0..201).map(|i| format!("k{i}")).collect();
        let msg = message(
            "UntagResource",
            json!({"ResourceArn": "aws:rekognition:us-east-1:000000000000:collection/x", "TagKeys": keys}),
            ErrorCode::InvalidParameter,
        );
        assert!(
            msg.contains("'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 200"),
            "{msg}"
        );
        let msg = message(
            "TagResource",
            json!({"ResourceArn": "aws:rekognition:us-east-1:000000000000:collection/x", "Tags": {"aws:x": "v"}}),
            ErrorCode::InvalidParameter,
        );
        assert!(msg.contains("'tags.1.member.key'"), "{msg}");
    }

    #[test]
    fn type_mismatches_are_serialization_errors() {
        message("ListCollections", json!({"MaxResults": "ten"}), ErrorCode::Serialization);
        message("ListCollections", json!({"MaxResults": 1.5}), ErrorCode::Serialization);
        message("CreateCollection", json!({"CollectionId": 7}), ErrorCode::Serialization);
        message("CreateCollection", json!([1, 2]), ErrorCode::Serialization);
        message("DetectFaces", json!({"Image": {"Bytes": "***"}}), ErrorCode::Serialization);
        message("DetectFaces", json!({"Image": "x"}), ErrorCode::Serialization);
    }

    #[test]
    fn images_over_5_mib_are_too_large() {
        let big = BASE64.encode(vec![0u8; 5 * 1024 * 1024 + 1]);
        message("DetectFaces", json!({"Image": {"Bytes": big}}), ErrorCode::ImageTooLarge);
        message("DetectFaces", json!({"Image": {"Bytes": ""}}), ErrorCode::InvalidParameter);
    }

    #[test]
    fn every_operation_rejects_a_non_object_body() {
        let model = ServiceModel::get();
        for name in model.operations.keys() {
            let err = validate_request(model, name, &json!("text")).unwrap_err();
            assert_eq!(err.code, ErrorCode::Serialization, "{name}");
        }
    }

    #[test]
    fn response_check_rejects_names_the_model_does_not_have() {
        let model = ServiceModel::get();
        check_response(model, "DescribeCollection", &json!({"CollectionARN": "a", "FaceCount": 0})).unwrap();
        let err = check_response(model, "DescribeCollection", &json!({"CollectionArn": "a"})).unwrap_err();
        assert!(err.contains("collectionArn"), "{err}");
    }
}
