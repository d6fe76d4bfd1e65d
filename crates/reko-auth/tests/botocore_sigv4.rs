//! SigV4 verification against requests signed by botocore, an implementation independent of reko's own
//! signer: the vectors in `botocore_sigv4_vectors.json` come from `tools/sigv4_vectors.py`.

use http::{HeaderMap, HeaderName, HeaderValue};
use reko_auth::{AccessKey, AuthError, KeyRing, MAX_CLOCK_SKEW_SECS, RequestParts, verify};
use serde_json::Value;

const VECTORS: &str = include_str!("botocore_sigv4_vectors.json");
const ACCOUNT: &str = "111122223333";

fn vectors() -> Vec<Value> {
    let document: Value = serde_json::from_str(VECTORS).expect("the vectors file is JSON");
    assert!(document["botocore_version"].is_string(), "the vectors file names the botocore that signed them");
    document["vectors"].as_array().expect("a list of vectors").clone()
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field].as_str().unwrap_or_else(|| panic!("{}: {field} is not a string", vector["name"]))
}

/// The headers as sent, or with leading and trailing whitespace taken off each value, as an HTTP
/// server's parser delivers them.
fn headers(vector: &Value, trim: bool) -> HeaderMap {
    let mut map = HeaderMap::new();
    for pair in vector["headers"].as_array().expect("headers") {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let value = if trim { value.trim_matches([' ', '\t']) } else { value };
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn ring(vector: &Value) -> KeyRing {
    KeyRing::from_keys([AccessKey {
        access_key_id: text(vector, "access_key_id").into(),
        secret_access_key: text(vector, "secret_access_key").into(),
        account_id: ACCOUNT.into(),
    }])
    .unwrap()
}

fn check(vector: &Value, headers: &HeaderMap, now: i64) -> Result<reko_auth::Principal, AuthError> {
    let request = RequestParts {
        method: text(vector, "method"),
        path: text(vector, "path"),
        query: text(vector, "query"),
        headers,
        body: text(vector, "body").as_bytes(),
    };
    verify(&ring(vector), &request, now)
}

#[test]
fn botocore_signed_requests_are_accepted_and_altered_ones_rejected() {
    let vectors = vectors();
    assert!(vectors.len() >= 15, "{} vectors", vectors.len());
    let mut failures = Vec::new();
    for vector in &vectors {
        let name = text(vector, "name");
        let now = vector["epoch"].as_i64().expect("epoch");
        let expect_valid = vector["expect_valid"].as_bool().expect("expect_valid");
        for trim in [false, true] {
            let outcome = check(vector, &headers(vector, trim), now);
            let as_expected = match &outcome {
                Ok(principal) => {
                    expect_valid
                        && principal.account_id == ACCOUNT
                        && principal.access_key_id == text(vector, "access_key_id")
                        && principal.region == text(vector, "region")
                }
                Err(AuthError::InvalidSignature(message)) => !expect_valid && message.contains("does not match"),
                Err(_) => false,
            };
            if !as_expected {
                failures.push(format!(
                    "{name} (values {}): expected {}, got {outcome:?}\nbotocore's canonical request:\n{}\n",
                    if trim { "trimmed" } else { "as sent" },
                    if expect_valid { "accepted" } else { "rejected" },
                    text(vector, "botocore_canonical_request"),
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} vectors:\n{}", failures.len(), vectors.len(), failures.join("\n"));
}

#[test]
fn the_vectors_cover_both_outcomes_and_the_cases_named() {
    let vectors = vectors();
    let names: Vec<&str> = vectors.iter().map(|v| text(v, "name")).collect();
    for name in [
        "plain-rekognition-post",
        "query-string",
        "header-case-and-whitespace",
        "multi-value-header",
        "session-token",
        "utf8-body",
        "other-region-leap-day",
        "encoded-path",
        "body-changed",
        "signed-header-changed",
        "wrong-secret",
    ] {
        assert!(names.contains(&name), "no vector {name}");
    }
    assert!(vectors.iter().any(|v| v["expect_valid"] == true));
    assert!(vectors.iter().any(|v| v["expect_valid"] == false));
}

#[test]
fn a_botocore_signature_expires_after_the_allowed_skew() {
    let vector = vectors().into_iter().find(|v| v["name"] == "plain-rekognition-post").unwrap();
    let (headers, at) = (headers(&vector, false), vector["epoch"].as_i64().unwrap());
    assert!(check(&vector, &headers, at + MAX_CLOCK_SKEW_SECS).is_ok());
    let late = check(&vector, &headers, at + MAX_CLOCK_SKEW_SECS + 1);
    assert!(matches!(late, Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature expired")));
}
