//! AWS Signature Version 4, header form: canonical request, string to sign, signing key, and the
//! checks AWS front-ends make before and after (scope, date, clock skew, constant-time comparison).

use chrono::{DateTime, NaiveDateTime};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::keys::{AccessKey, DEV_ACCOUNT_ID, KeyRing};

/// The signing name of the service.
pub const SERVICE: &str = "rekognition";

/// How far a request's `X-Amz-Date` may be from the server's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `X-Amz-Date`'s form, `YYYYMMDDTHHMMSSZ`, and its length.
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const AMZ_DATE_FORMAT_LEN: usize = 16;

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub access_key_id: String,
    pub account_id: String,
    /// The region of the credential scope; resources live per account and region, as on AWS.
    pub region: String,
}

/// Why a request was not authenticated. Each maps to the error AWS returns for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    Missing,
    /// An `Authorization` header that is not a complete SigV4 header.
    #[error("{0}")]
    Incomplete(String),
    /// The access key id is not configured.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// Wrong signature, wrong scope, a header that must be signed and is not, or a date outside the
    /// allowed skew.
    #[error("{0}")]
    InvalidSignature(String),
    /// More than one `Authorization` header: which one counts would be a guess.
    #[error("A request may carry only one Authorization header")]
    DuplicateAuthorization,
}

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as sent, e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?`, possibly empty.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

struct ParsedAuthorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// A request head that passed every check but the signature's.
struct Head<'a> {
    principal: Principal,
    /// The key to check the signature with (none in dev mode, where any signature is accepted).
    key: Option<&'a AccessKey>,
    auth: ParsedAuthorization<'a>,
    amz_date: &'a str,
}

/// Checks what the headers alone can show, before the body is read: a complete `Authorization`, a known
/// access key, the credential scope, a date within the allowed skew, and the headers that must be signed.
/// Refusing these early means an unauthenticated client never makes the server hold its body.
pub fn verify_head(keys: &KeyRing, headers: &HeaderMap, now: i64) -> Result<Principal, AuthError> {
    check_head(keys, headers, now).map(|head| head.principal)
}

/// Verifies the request's signature against `keys` at time `now` (seconds since the Unix epoch).
pub fn verify(keys: &KeyRing, request: &RequestParts<'_>, now: i64) -> Result<Principal, AuthError> {
    let Head { principal, key, auth, amz_date } = check_head(keys, request.headers, now)?;
    let Some(key) = key else { return Ok(principal) };
    let expected = signature(
        &key.secret_access_key,
        amz_date,
        auth.region,
        auth.service,
        &canonical_request(request, &auth.signed_headers),
    );
    if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
        Ok(principal)
    } else {
        Err(AuthError::InvalidSignature(
            "The request signature we calculated does not match the signature you provided. Check your AWS \
             Secret Access Key and signing method. Consult the service documentation for details."
                .into(),
        ))
    }
}

fn check_head<'a>(keys: &'a KeyRing, headers: &'a HeaderMap, now: i64) -> Result<Head<'a>, AuthError> {
    let mut authorizations = headers.get_all(http::header::AUTHORIZATION).iter();
    let header = authorizations.next().ok_or(AuthError::Missing)?;
    if authorizations.next().is_some() {
        return Err(AuthError::DuplicateAuthorization);
    }
    let header =
        header.to_str().map_err(|_| AuthError::Incomplete("Authorization header is not valid ASCII".into()))?;
    let auth = parse_authorization(header)?;

    if auth.service != SERVICE {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).ok_or_else(|| {
        AuthError::Incomplete("Authorization header requires existence of a 'X-Amz-Date' header.".into())
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!("X-Amz-Date '{amz_date}' is not of the form YYYYMMDD'T'HHMMSS'Z'"))
    })?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }
    if signed_at < now - MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::InvalidSignature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - MAX_CLOCK_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if signed_at > now + MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now + MAX_CLOCK_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(AuthError::InvalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.".into()));
    }
    // What the request means must be signed, or a captured request could be re-sent as another
    // operation: every x-amz-* header present (X-Amz-Target and X-Amz-Date among them) and the content type.
    if let Some(unsigned) = headers
        .keys()
        .map(http::HeaderName::as_str)
        .find(|name| (*name == "content-type" || name.starts_with("x-amz-")) && !auth.signed_headers.contains(name))
    {
        return Err(AuthError::InvalidSignature(format!(
            "'{unsigned}' must be a 'SignedHeader' in the AWS Authorization."
        )));
    }

    let key = match keys {
        KeyRing::Dev => None,
        KeyRing::Keys(keys) => Some(keys.get(auth.access_key_id).ok_or(AuthError::UnknownKey)?),
    };
    let principal = Principal {
        access_key_id: auth.access_key_id.to_owned(),
        account_id: key.map_or(DEV_ACCOUNT_ID, |k| k.account_id.as_str()).to_owned(),
        region: auth.region.to_owned(),
    };
    Ok(Head { principal, key, auth, amz_date })
}

/// Signs a request as an AWS SDK would: sets `x-amz-date` and `authorization`, signing every header
/// present (which must include `host`). `now` is seconds since the Unix epoch.
pub fn sign(key: &AccessKey, region: &str, request: &mut http::request::Parts, body: &[u8], now: i64) {
    let amz_date = format_amz_date(now);
    let headers = &mut request.headers;
    headers.insert("x-amz-date", amz_date.parse().expect("a date is a valid header value"));
    headers.remove(http::header::AUTHORIZATION);
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let parts = RequestParts {
        method: request.method.as_str(),
        path: request.uri.path(),
        query: request.uri.query().unwrap_or(""),
        headers,
        body,
    };
    let canonical = canonical_request(&parts, &signed);
    let sig = signature(&key.secret_access_key, &amz_date, region, SERVICE, &canonical);
    let value = format!(
        "{ALGORITHM} Credential={}/{}/{region}/{SERVICE}/aws4_request, SignedHeaders={}, Signature={sig}",
        key.access_key_id,
        &amz_date[..8],
        signed.join(";")
    );
    let value = value.parse().expect("an ASCII header value");
    request.headers.insert(http::header::AUTHORIZATION, value);
}

fn incomplete(what: &str) -> AuthError {
    AuthError::Incomplete(format!(
        "Authorization header requires '{what}' parameter. Authorization header requires 'Credential', \
         'SignedHeaders' and 'Signature' parameters."
    ))
}

fn parse_authorization(header: &str) -> Result<ParsedAuthorization<'_>, AuthError> {
    let (algorithm, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            continue;
        };
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(AuthError::Incomplete(format!(
            "Credential should be of the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request, got '{credential}'."
        )));
    };
    if terminator != "aws4_request" || access_key_id.is_empty() || region.is_empty() {
        return Err(AuthError::Incomplete(format!(
            "Credential should be of the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request, got '{credential}'."
        )));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Incomplete("Signature should be 64 hexadecimal characters.".into()));
    }
    Ok(ParsedAuthorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

fn canonical_request(request: &RequestParts<'_>, signed_headers: &[&str]) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .get_all(*name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_path(request.path),
        canonical_query(request.query),
        canonical_headers,
        signed_headers.join(";"),
        hex::encode(Sha256::digest(request.body))
    )
}

fn signature(secret: &str, amz_date: &str, region: &str, service: &str, canonical_request: &str) -> String {
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The path as sent, normalised (RFC 3986 dot segments removed, empty segments dropped) and then
/// URI-encoded once more, so that its `%` escapes become `%25`: SigV4 outside S3 encodes the path twice,
/// and the SDKs (botocore, the Java and Rust SDKs) sign it so.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let trailing = if path.ends_with('/') && !segments.is_empty() { "/" } else { "" };
    uri_encode(format!("/{}{trailing}", segments.join("/")).as_bytes(), false)
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), true), uri_encode(&percent_decode(v), true))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Parses `YYYYMMDDTHHMMSSZ` into seconds since the Unix epoch.
fn parse_amz_date(text: &str) -> Option<i64> {
    if text.len() != AMZ_DATE_FORMAT_LEN {
        return None;
    }
    NaiveDateTime::parse_from_str(text, AMZ_DATE_FORMAT).ok().map(|t| t.and_utc().timestamp())
}

/// `X-Amz-Date` of a time in seconds since the Unix epoch.
fn format_amz_date(epoch: i64) -> String {
    DateTime::from_timestamp(epoch, 0).unwrap_or_default().format(AMZ_DATE_FORMAT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn key(id: &str, secret: &str) -> AccessKey {
        AccessKey { access_key_id: id.into(), secret_access_key: secret.into(), account_id: "111122223333".into() }
    }

    fn ring() -> KeyRing {
        KeyRing::from_keys([key("AKIDEXAMPLE", SECRET)]).unwrap()
    }

    #[test]
    fn matches_the_published_aws_example_signature() {
        // AWS's documented example: IAM ListUsers, 2015-08-30T12:36:00Z, us-east-1.
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap());
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let request = RequestParts {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let canonical = canonical_request(&request, &["content-type", "host", "x-amz-date"]);
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            signature(SECRET, "20150830T123600Z", "us-east-1", "iam", &canonical),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    fn signed(now: i64, key: &AccessKey, body: &[u8]) -> HeaderMap {
        let request = http::Request::post("/")
            .header("host", "127.0.0.1:9000")
            .header("x-amz-target", "RekognitionService.ListCollections")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        sign(key, "eu-west-1", &mut parts, body, now);
        parts.headers
    }

    fn parts<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RequestParts<'a> {
        RequestParts { method: "POST", path: "/", query: "", headers, body }
    }

    const NOW: i64 = 1_764_345_600; // 2025-11-28T16:00:00Z

    #[test]
    fn sign_then_verify_round_trips_and_names_the_account_and_region() {
        let headers = signed(NOW, &key("AKIDEXAMPLE", SECRET), b"{}");
        let principal = verify(&ring(), &parts(&headers, b"{}"), NOW + 60).unwrap();
        assert_eq!(principal.account_id, "111122223333");
        assert_eq!(principal.region, "eu-west-1");
    }

    #[test]
    fn tampering_wrong_secret_and_unknown_keys_are_rejected() {
        let headers = signed(NOW, &key("AKIDEXAMPLE", SECRET), b"{}");
        assert!(matches!(verify(&ring(), &parts(&headers, b"{ }"), NOW), Err(AuthError::InvalidSignature(_))));
        let headers = signed(NOW, &key("AKIDEXAMPLE", "not-the-secret"), b"{}");
        assert!(matches!(verify(&ring(), &parts(&headers, b"{}"), NOW), Err(AuthError::InvalidSignature(_))));
        let headers = signed(NOW, &key("AKIDOTHER", SECRET), b"{}");
        assert_eq!(verify(&ring(), &parts(&headers, b"{}"), NOW), Err(AuthError::UnknownKey));
        // Dev mode accepts any well-formed signature.
        assert_eq!(verify(&KeyRing::Dev, &parts(&headers, b"{}"), NOW).unwrap().account_id, DEV_ACCOUNT_ID);
    }

    #[test]
    fn clock_skew_beyond_15_minutes_is_rejected_both_ways() {
        let headers = signed(NOW, &key("AKIDEXAMPLE", SECRET), b"{}");
        assert!(verify(&ring(), &parts(&headers, b"{}"), NOW + MAX_CLOCK_SKEW_SECS).is_ok());
        let late = verify(&ring(), &parts(&headers, b"{}"), NOW + MAX_CLOCK_SKEW_SECS + 1);
        assert!(matches!(late, Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature expired")));
        let early = verify(&ring(), &parts(&headers, b"{}"), NOW - MAX_CLOCK_SKEW_SECS - 1);
        assert!(matches!(early, Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature not yet current")));
    }

    #[test]
    fn missing_and_malformed_headers() {
        let headers = HeaderMap::new();
        assert_eq!(verify(&KeyRing::Dev, &parts(&headers, b""), NOW), Err(AuthError::Missing));
        for bad in [
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20251128/us-east-1/rekognition/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1, SignedHeaders=host, Signature=aa",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", bad.parse().unwrap());
            headers.insert("x-amz-date", "20251128T160000Z".parse().unwrap());
            assert!(
                matches!(verify(&KeyRing::Dev, &parts(&headers, b""), NOW), Err(AuthError::Incomplete(_))),
                "{bad}"
            );
        }
        let mut headers = signed(NOW, &key("AKIDEXAMPLE", SECRET), b"");
        let auth = headers["authorization"].to_str().unwrap().replace("/rekognition/", "/s3/");
        headers.insert("authorization", auth.parse().unwrap());
        assert!(
            matches!(verify(&ring(), &parts(&headers, b""), NOW), Err(AuthError::InvalidSignature(m)) if m.contains("scoped"))
        );
    }

    /// A request carrying X-Amz-Target and a content type, signed over `signed_headers` only.
    fn signed_over(signed_headers: &[&str], target: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9000".parse().unwrap());
        headers.insert("x-amz-date", format_amz_date(NOW).parse().unwrap());
        headers.insert("x-amz-target", target.parse().unwrap());
        headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        let canonical = canonical_request(&parts(&headers, b"{}"), signed_headers);
        let sig = signature(SECRET, &format_amz_date(NOW), "us-east-1", SERVICE, &canonical);
        let value = format!(
            "{ALGORITHM} Credential=AKIDEXAMPLE/20251128/us-east-1/{SERVICE}/aws4_request, SignedHeaders={}, \
             Signature={sig}",
            signed_headers.join(";")
        );
        headers.insert("authorization", value.parse().unwrap());
        headers
    }

    #[test]
    fn the_target_the_content_type_and_every_x_amz_header_must_be_signed() {
        let all = ["content-type", "host", "x-amz-date", "x-amz-target"];
        let headers = signed_over(&all, "RekognitionService.DescribeCollection");
        assert!(verify(&ring(), &parts(&headers, b"{}"), NOW).is_ok());
        // A captured DescribeCollection signed over host and date only, re-sent as DeleteCollection.
        let mut replayed = signed_over(&["host", "x-amz-date"], "RekognitionService.DescribeCollection");
        replayed.insert("x-amz-target", "RekognitionService.DeleteCollection".parse().unwrap());
        for ring in [ring(), KeyRing::Dev] {
            let refused = verify(&ring, &parts(&replayed, b"{}"), NOW);
            assert!(
                matches!(&refused, Err(AuthError::InvalidSignature(m)) if m.contains("must be a 'SignedHeader'")),
                "{refused:?}"
            );
        }
        for unsigned in all.iter().filter(|h| **h != "host") {
            let signed: Vec<&str> = all.iter().copied().filter(|h| h != unsigned).collect();
            let headers = signed_over(&signed, "RekognitionService.DescribeCollection");
            let refused = verify(&ring(), &parts(&headers, b"{}"), NOW);
            let named = format!("'{unsigned}' must be a 'SignedHeader'");
            assert!(matches!(&refused, Err(AuthError::InvalidSignature(m)) if m.contains(&named)), "{refused:?}");
        }
        // Headers outside those rules may stay unsigned (SDKs leave User-Agent out).
        let mut headers = signed_over(&all, "RekognitionService.DescribeCollection");
        headers.insert("user-agent", "aws-cli/2".parse().unwrap());
        assert!(verify(&ring(), &parts(&headers, b"{}"), NOW).is_ok());
    }

    #[test]
    fn a_second_authorization_header_is_refused() {
        let mut headers = signed(NOW, &key("AKIDEXAMPLE", SECRET), b"{}");
        let first = headers["authorization"].clone();
        headers.append("authorization", first);
        assert_eq!(verify(&ring(), &parts(&headers, b"{}"), NOW), Err(AuthError::DuplicateAuthorization));
    }

    #[test]
    fn paths_are_normalised_and_encoded_once_more() {
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(canonical_path("/a/.."), "/");
        assert_eq!(canonical_path("/my%20coll/a%2Fb"), "/my%2520coll/a%252Fb");
        assert_eq!(canonical_path("/x:y@z~"), "/x%3Ay%40z~");
    }

    #[test]
    fn dates_round_trip() {
        for epoch in [0, 951_782_400, NOW, 4_102_444_799] {
            assert_eq!(parse_amz_date(&format_amz_date(epoch)), Some(epoch));
        }
        assert_eq!(format_amz_date(NOW), "20251128T160000Z");
        assert_eq!(parse_amz_date("2025-11-28T16:00:00Z"), None);
        assert_eq!(parse_amz_date("20250231T160000Z"), None, "no 31 February");
        assert_eq!(parse_amz_date("+2025112T160000Z"), None);
    }
}
