//! Fuzzes SigV4 verification (`verify`, `verify_head`): arbitrary and mutated `Authorization` headers (byte
//! edits and structured edits of one made by `sign`), arbitrary `X-Amz-Date` values, extra headers, paths,
//! query strings, methods and bodies. Properties: nothing panics, and a signed request verifies exactly when
//! what it means is unchanged. A longer campaign:
//! `REKO_FUZZ_CASES=100000 cargo test --profile fuzz -p reko-auth --test fuzz_sigv4` (or `scripts/fuzz`); the
//! default is 256 cases per property.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;
use reko_auth::{AccessKey, AuthError, KeyRing, RequestParts, sign, verify, verify_head};

/// Cases per property: `REKO_FUZZ_CASES`, 256 when unset.
fn cases() -> u32 {
    std::env::var("REKO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// `cases()` per property; failures are recorded (and replayed first) in the crate's
/// `proptest-regressions/fuzz_sigv4.txt` (the default location needs a `lib.rs` beside the test).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz_sigv4.txt"))),
        ..ProptestConfig::default()
    }
}

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The latest time an `X-Amz-Date` can name (9999-12-31T23:59:59Z); the server's clock stays below it.
const LAST_SECOND: i64 = 253_402_300_799;

fn key() -> AccessKey {
    AccessKey { access_key_id: KEY_ID.into(), secret_access_key: SECRET.into(), account_id: "111122223333".into() }
}

fn ring() -> KeyRing {
    KeyRing::from_keys([key()]).unwrap()
}

/// A request as the server sees it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// What a signed request is made of.
#[derive(Debug, Clone)]
struct Spec {
    now: i64,
    region: String,
    method: String,
    path: String,
    query_pairs: Vec<(String, String)>,
    target: String,
    user_agent: Option<String>,
    body: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        // years 1000 to 9999: what `X-Amz-Date`'s four-digit year can carry
        -30_610_224_000i64..LAST_SECOND,
        "[a-z]{2}-[a-z]{4,9}-[1-3]",
        select(vec!["POST", "GET", "PUT"]),
        prop::collection::vec("[a-zA-Z0-9._~-]{1,6}|%[0-9A-F]{2}|\\.\\.?", 0..4),
        prop::collection::vec(("[a-zA-Z0-9_]{1,5}", "[a-zA-Z0-9_.~-]{0,5}"), 0..4),
        "RekognitionService\\.[A-Za-z]{1,20}",
        prop::option::of("[ -~]{1,20}"),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(now, region, method, segments, query_pairs, target, user_agent, body)| Spec {
            now,
            region,
            method: method.to_owned(),
            path: format!("/{}", segments.join("/")),
            query_pairs,
            target,
            user_agent,
            body,
        })
}

fn query(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Signs `spec` as a client would; the request as it arrives at the server.
fn signed(spec: &Spec) -> Request {
    let query = query(&spec.query_pairs);
    let uri = if query.is_empty() { spec.path.clone() } else { format!("{}?{query}", spec.path) };
    let mut builder = http::Request::builder()
        .method(spec.method.as_str())
        .uri(uri)
        .header("host", "127.0.0.1:9000")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", spec.target.as_str());
    if let Some(agent) = &spec.user_agent {
        builder = builder.header("user-agent", agent.as_str());
    }
    let (mut parts, ()) = builder.body(()).unwrap().into_parts();
    sign(&key(), &spec.region, &mut parts, &spec.body, spec.now);
    Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: spec.body.clone(),
    }
}

fn authorization(request: &Request) -> String {
    request.headers["authorization"].to_str().unwrap().to_owned()
}

/// What an `Authorization` header says, read by the rules SigV4 documents: the algorithm, then
/// comma-separated `name=value` parameters (surrounding whitespace ignored, the last of a name counting).
/// The parameters that decide a signature: (Credential, SignedHeaders, Signature).
fn meaning(header: &str) -> Option<(String, String, String)> {
    let (algorithm, rest) = header.trim().split_once(' ')?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return None;
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        if let Some((name, value)) = part.trim().split_once('=') {
            match name {
                "Credential" => credential = Some(value.to_owned()),
                "SignedHeaders" => signed_headers = Some(value.to_owned()),
                "Signature" => signature = Some(value.to_owned()),
                _ => {}
            }
        }
    }
    Some((credential?, signed_headers?, signature?))
}

/// Runs both checks with a key ring and in dev mode; neither may panic. `verify` passing implies
/// `verify_head` passing (it runs the same head checks first).
fn check(request: &Request, now: i64) -> Result<reko_auth::Principal, AuthError> {
    let keys = ring();
    let head = verify_head(&keys, &request.headers, now);
    let full = verify(&keys, &request.parts(), now);
    if full.is_ok() {
        assert!(head.is_ok(), "verify passed but verify_head refused: {head:?}");
    }
    let dev_head = verify_head(&KeyRing::Dev, &request.headers, now);
    let dev = verify(&KeyRing::Dev, &request.parts(), now);
    assert_eq!(dev.is_ok(), dev_head.is_ok(), "dev mode checks only the head: {dev:?} vs {dev_head:?}");
    if full.is_ok() {
        assert!(dev.is_ok(), "a request the key ring accepts must pass dev mode: {dev:?}");
    }
    full
}

/// An edit of an `Authorization` header.
#[derive(Debug, Clone)]
enum AuthEdit {
    /// Replace the byte at an index.
    Replace(Index, u8),
    /// Insert a byte at an index.
    Insert(Index, u8),
    /// Delete the byte at an index.
    Delete(Index),
    /// Cut the header at an index.
    Truncate(Index),
    /// Copy a range of the header to another place.
    Splice(Index, Index, Index),
    /// Replace a parameter's value with a string.
    SetParam(usize, String),
    /// Drop a parameter.
    DropParam(usize),
    /// Repeat a parameter (with another value) before or after the original.
    RepeatParam(usize, String, bool),
    /// Reorder the parameters.
    Rotate(usize),
    /// Whitespace around the separators (does not change the meaning).
    Spaces(String, String),
    /// Another algorithm name.
    Algorithm(String),
    /// Upper-case a range (hex digits of the signature, the key id...).
    Upper(Index, Index),
}

const PARAMS: [&str; 3] = ["Credential", "SignedHeaders", "Signature"];

fn auth_edit() -> impl Strategy<Value = AuthEdit> {
    let text = prop_oneof![
        "[ -~]{0,20}",
        "[0-9a-f]{64}",
        "[A-Z0-9]{4,20}/[0-9]{8}/[a-z0-9-]{0,12}/[a-z]{0,12}/aws4_request",
        "[a-z;-]{0,40}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<Index>(), 0x20u8..0x7f).prop_map(|(i, b)| AuthEdit::Replace(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| AuthEdit::Insert(i, b)),
        any::<Index>().prop_map(AuthEdit::Delete),
        any::<Index>().prop_map(AuthEdit::Truncate),
        (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(a, b, c)| AuthEdit::Splice(a, b, c)),
        (0usize..3, text.clone()).prop_map(|(p, v)| AuthEdit::SetParam(p, v)),
        (0usize..3).prop_map(AuthEdit::DropParam),
        (0usize..3, text, any::<bool>()).prop_map(|(p, v, before)| AuthEdit::RepeatParam(p, v, before)),
        (1usize..3).prop_map(AuthEdit::Rotate),
        ("[ \t]{0,3}", "[ \t]{0,3}").prop_map(|(a, b)| AuthEdit::Spaces(a, b)),
        prop_oneof!["AWS4-HMAC-SHA[0-9]{3}", "[ -~]{0,20}", Just("aws4-hmac-sha256".to_owned())]
            .prop_map(AuthEdit::Algorithm),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| AuthEdit::Upper(a, b)),
    ]
}

/// The header's parameters as (name, value) pairs, in order; the algorithm apart.
fn params(header: &str) -> (String, Vec<(String, String)>) {
    let (algorithm, rest) = header.split_once(' ').unwrap();
    let params = rest
        .split(", ")
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    (algorithm.to_owned(), params)
}

fn join_params(algorithm: &str, params: &[(String, String)], before: &str, after: &str) -> String {
    let joined: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
    format!("{algorithm} {}", joined.join(&format!("{before},{after}")))
}

/// Applies an edit to a header made by `sign` (`ALG Credential=.., SignedHeaders=.., Signature=..`).
fn apply(header: &str, edit: &AuthEdit) -> Vec<u8> {
    let mut bytes = header.as_bytes().to_vec();
    let (algorithm, mut ps) = params(header);
    let find = |ps: &[(String, String)], p: usize| ps.iter().position(|(n, _)| n == PARAMS[p]).unwrap();
    match edit {
        AuthEdit::Replace(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        AuthEdit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        AuthEdit::Delete(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        AuthEdit::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        AuthEdit::Splice(a, b, at) => {
            let (a, b) = (a.index(bytes.len()), b.index(bytes.len()));
            let piece = bytes[a.min(b)..a.max(b)].to_vec();
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, piece);
        }
        AuthEdit::SetParam(p, v) => {
            let at = find(&ps, *p);
            ps[at].1 = v.clone();
            bytes = join_params(&algorithm, &ps, "", " ").into_bytes();
        }
        AuthEdit::DropParam(p) => {
            ps.remove(find(&ps, *p));
            bytes = join_params(&algorithm, &ps, "", " ").into_bytes();
        }
        AuthEdit::RepeatParam(p, v, before) => {
            let at = find(&ps, *p);
            let extra = (PARAMS[*p].to_owned(), v.clone());
            ps.insert(if *before { at } else { at + 1 }, extra);
            bytes = join_params(&algorithm, &ps, "", " ").into_bytes();
        }
        AuthEdit::Rotate(n) => {
            ps.rotate_left(*n);
            bytes = join_params(&algorithm, &ps, "", " ").into_bytes();
        }
        AuthEdit::Spaces(before, after) => bytes = join_params(&algorithm, &ps, before, after).into_bytes(),
        AuthEdit::Algorithm(name) => bytes = join_params(name, &ps, "", " ").into_bytes(),
        AuthEdit::Upper(a, b) => {
            let (a, b) = (a.index(bytes.len()), b.index(bytes.len()));
            bytes[a.min(b)..a.max(b)].make_ascii_uppercase();
        }
    }
    bytes
}

/// An edit of the rest of a signed request, and whether the request still means the same.
#[derive(Debug, Clone)]
enum RequestEdit {
    Body(Vec<u8>),
    Method(String),
    /// A path: same meaning when it normalises to the same one.
    Path(String),
    /// Query pairs shuffled (same meaning) or replaced.
    ShuffleQuery(usize),
    QueryAmpersands,
    Query(String),
    /// A new `X-Amz-Date` value.
    Date(String),
    /// Sets a header (replacing any value) or appends one.
    Header {
        name: String,
        value: String,
        append: bool,
    },
    /// Removes a header.
    Remove(String),
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(vec![
            "host", "content-type", "x-amz-target", "x-amz-date", "user-agent", "accept", "x-amz-security-token",
            "x-amz-content-sha256", "content-length", "x-amzn-trace-id", "authorization",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z][a-z0-9-]{0,12}",
        1 => "x-amz-[a-z-]{1,8}",
    ]
}

fn request_edit() -> impl Strategy<Value = RequestEdit> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(RequestEdit::Body),
        select(vec!["POST", "GET", "PUT", "post", "DELETE", ""]).prop_map(|m| RequestEdit::Method(m.to_owned())),
        prop::collection::vec("[a-zA-Z0-9._~%-]{0,4}|\\.\\.?|[ -~]{0,3}|\\PC{0,3}", 0..5)
            .prop_map(|s| RequestEdit::Path(format!("/{}", s.join("/")))),
        "[ -~]{0,12}|\\PC{0,6}".prop_map(RequestEdit::Path),
        (1usize..4).prop_map(RequestEdit::ShuffleQuery),
        Just(RequestEdit::QueryAmpersands),
        "[ -~]{0,16}|[a-z]=[a-z%0-9+]{0,6}|%[0-9A-Fa-f]{0,2}|\\PC{0,6}".prop_map(RequestEdit::Query),
        prop_oneof![
            "[0-9]{8}T[0-9]{6}Z",
            "[ -~]{0,20}",
            "[0-9+-]{8}T[0-9]{6}[A-Z]",
            (-62_135_596_800i64..LAST_SECOND)
                .prop_map(|t| { chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y%m%dT%H%M%SZ").to_string() }),
        ]
        .prop_map(RequestEdit::Date),
        (header_name(), "[ -~]{0,16}|[ \t]*application/x-amz-json-1\\.1[ \t]*", any::<bool>())
            .prop_map(|(name, value, append)| RequestEdit::Header { name, value, append }),
        header_name().prop_map(RequestEdit::Remove),
    ]
}

fn collapse(value: &[u8]) -> String {
    String::from_utf8_lossy(value).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 dot-segment removal with empty segments dropped: the path SigV4 signs.
fn normalised(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.ends_with('/') && !segments.is_empty();
    format!("/{}{}", segments.join("/"), if trailing { "/" } else { "" })
}

/// Applies `edit` to `request` (`None` when the edit cannot be made: a header HTTP does not allow).
fn edit_request(request: &mut Request, spec: &Spec, edit: &RequestEdit) -> Option<()> {
    match edit {
        RequestEdit::Body(body) => request.body = body.clone(),
        RequestEdit::Method(method) => request.method = method.clone(),
        RequestEdit::Path(path) => request.path = path.clone(),
        RequestEdit::ShuffleQuery(n) => {
            let mut pairs = spec.query_pairs.clone();
            let len = pairs.len().max(1);
            pairs.rotate_left(*n % len);
            request.query = query(&pairs);
        }
        RequestEdit::QueryAmpersands => request.query = format!("&{}&&", request.query),
        RequestEdit::Query(q) => request.query = q.clone(),
        RequestEdit::Date(date) => {
            request.headers.insert("x-amz-date", HeaderValue::from_str(date).ok()?);
        }
        RequestEdit::Header { name, value, append } => {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_str(value).ok()?;
            if *append {
                request.headers.append(name, value);
            } else {
                request.headers.insert(name, value);
            }
        }
        RequestEdit::Remove(name) => {
            request.headers.remove(HeaderName::from_bytes(name.as_bytes()).ok()?);
        }
    }
    Some(())
}

/// The query's pairs as SigV4 reads them (`k=v`, a missing `=` meaning an empty value, empty pairs
/// dropped), sorted.
fn query_pairs(query: &str) -> Vec<(&str, &str)> {
    let mut pairs: Vec<(&str, &str)> =
        query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect();
    pairs.sort_unstable();
    pairs
}

/// Whether `edited` still means what `original` (as signed, over `signed_names`) meant: the same method, body,
/// normalised path and query pairs, the same values of each signed header (whitespace runs collapsed), one
/// unchanged `Authorization`, and no `Content-Type` or `X-Amz-*` header left unsigned. `None` when that cannot be
/// told without re-implementing percent-decoding (a changed query with escapes or reserved characters).
fn same_meaning(original: &Request, edited: &Request, signed_names: &[&str]) -> Option<bool> {
    let values = |r: &Request, name: &str| -> String {
        r.headers.get_all(name).iter().map(|v| collapse(v.as_bytes())).collect::<Vec<_>>().join(",")
    };
    let auth = |r: &Request| r.headers.get_all("authorization").iter().cloned().collect::<Vec<_>>();
    let unsigned_must_sign = edited.headers.keys().any(|name| {
        let name = name.as_str();
        (name == "content-type" || name.starts_with("x-amz-")) && !signed_names.contains(&name)
    });
    let same_query = query_pairs(&edited.query) == query_pairs(&original.query);
    let plain = |q: &str| q.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.~=&-".contains(&b));
    let judged = plain(&edited.query) && plain(&original.query);
    if !same_query && !judged {
        return None;
    }
    Some(
        edited.method == original.method
            && edited.body == original.body
            && normalised(&edited.path) == normalised(&original.path)
            && same_query
            && signed_names.iter().all(|name| values(edited, name) == values(original, name))
            && auth(edited) == auth(original)
            && !unsigned_must_sign,
    )
}

/// Arbitrary header maps: an `Authorization` header (random, or SigV4-shaped with random parts), an
/// `X-Amz-Date`, and random others.
fn arbitrary_headers() -> impl Strategy<Value = HeaderMap> {
    let authorization = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        (
            prop_oneof![Just("AWS4-HMAC-SHA256".to_owned()), "[ -~]{0,18}"],
            "[ -~]{0,12}",
            "[0-9]{8}|[ -~]{0,10}",
            "[a-z0-9-]{0,12}|[ -~]{0,6}",
            prop_oneof![Just("rekognition".to_owned()), "[ -~]{0,12}"],
            prop_oneof![Just("aws4_request".to_owned()), "[ -~]{0,12}"],
            "[a-z0-9;-]{0,40}|[ -~]{0,20}",
            "[0-9a-f]{64}|[ -~]{0,70}",
            "[ ,=]{1,3}",
        )
            .prop_map(|(alg, key, date, region, service, term, signed, sig, sep)| {
                format!(
                    "{alg} Credential={key}/{date}/{region}/{service}/{term}{sep}SignedHeaders={signed}{sep}Signature={sig}"
                )
                .into_bytes()
            }),
    ];
    let date = prop_oneof!["[0-9]{8}T[0-9]{6}Z", "[ -~]{0,20}", "\\PC{0,16}"];
    let others = prop::collection::vec((header_name(), prop::collection::vec(any::<u8>(), 0..24)), 0..4);
    (prop::option::weighted(0.9, authorization), prop::option::weighted(0.8, date), others).prop_map(
        |(authorization, date, others)| {
            let mut headers = HeaderMap::new();
            for (name, value) in others {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value))
                {
                    headers.append(name, value);
                }
            }
            if let Some(Ok(value)) = authorization.map(|a| HeaderValue::from_bytes(&a)) {
                headers.insert("authorization", value);
            }
            if let Some(Ok(value)) = date.map(|d| HeaderValue::from_str(&d)) {
                headers.insert("x-amz-date", value);
            }
            headers
        },
    )
}

proptest! {
    #![proptest_config(config())]

    /// A request signed by `sign` verifies, within the allowed clock skew, for any path, query, body and region.
    #[test]
    fn signed_requests_verify(spec in spec(), skew in -900i64..=900) {
        let request = signed(&spec);
        let now = spec.now + skew;
        let principal = check(&request, now);
        prop_assert!(principal.is_ok(), "{principal:?}");
        prop_assert_eq!(principal.unwrap().region, spec.region);
    }

    /// An edited `Authorization` header never panics and verifies only when its parameters still say
    /// what was signed (whitespace, order, unknown parameters and repeats that the last one overrides aside).
    #[test]
    fn edited_authorization_verifies_only_when_unchanged(spec in spec(), edits in prop::collection::vec(auth_edit(), 1..4)) {
        let mut request = signed(&spec);
        let original = authorization(&request);
        let mut header = original.clone();
        for edit in &edits {
            header = String::from_utf8_lossy(&apply(&header, edit)).into_owned();
            if params_parse(&header).is_none() {
                break;
            }
        }
        // bytes HTTP does not allow in a header value cannot arrive
        let Ok(value) = HeaderValue::from_bytes(header.as_bytes()) else { return Ok(()) };
        request.headers.insert("authorization", value);
        let result = check(&request, spec.now);
        // what arrives must be visible ASCII (or tabs) to be read at all
        let readable = header.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
        let same = readable && meaning(&header).is_some() && meaning(&header) == meaning(&original);
        prop_assert_eq!(result.is_ok(), same, "{:?} -> {:?}: {:?}", original, header, result);
    }

    /// Edits of the rest of a signed request: it verifies exactly when its meaning is unchanged.
    #[test]
    fn edited_request_verifies_only_when_unchanged(spec in spec(), edits in prop::collection::vec(request_edit(), 1..4)) {
        let original = signed(&spec);
        let mut request = original.clone();
        for edit in &edits {
            if edit_request(&mut request, &spec, edit).is_none() {
                return Ok(());
            }
        }
        let signed_names: Vec<&str> = ["content-type", "host", "x-amz-date", "x-amz-target"]
            .into_iter()
            .chain(spec.user_agent.as_ref().map(|_| "user-agent"))
            .collect();
        let Some(same) = same_meaning(&original, &request, &signed_names) else { return Ok(()) };
        let result = check(&request, spec.now);
        prop_assert_eq!(result.is_ok(), same, "{:?}: {:?}", edits, result);
    }

    /// Arbitrary heads, paths, queries and bodies at any time: no panic, and a key ring never accepts them
    /// (they carry no valid signature).
    #[test]
    fn arbitrary_requests_never_panic(
        headers in arbitrary_headers(),
        method in "[A-Z]{0,7}|[ -~]{0,4}",
        path in "\\PC{0,24}|/[ -~]{0,16}",
        query in "\\PC{0,24}|[a-z%0-9=&+]{0,16}",
        body in prop::collection::vec(any::<u8>(), 0..32),
        now in prop_oneof![0i64..LAST_SECOND, Just(0i64), Just(LAST_SECOND)],
    ) {
        let request = Request { method, path, query, headers, body };
        let result = check(&request, now);
        prop_assert!(result.is_err(), "{result:?}");
    }
}

/// Whether a header still has the `ALG p1, p2, ...` form that the structured edits work on.
fn params_parse(header: &str) -> Option<()> {
    let (_, rest) = header.split_once(' ')?;
    let mut names = Vec::new();
    for p in rest.split(", ") {
        names.push(p.split_once('=')?.0);
    }
    PARAMS.iter().all(|p| names.contains(p)).then_some(())
}
