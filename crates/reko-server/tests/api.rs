//! In-process tests of the HTTP API: the router driven with signed requests through `oneshot`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use reko_auth::{AccessKey, KeyRing};
use reko_protocol::ServiceModel;
use reko_protocol::validate::check_response;
use reko_server::{AppState, IMPLEMENTED_OPERATIONS, MAX_BODY_BYTES, router};
use reko_service::Service;
use reko_store::EmbeddedStore;
use serde_json::{Value, json};
use tower::ServiceExt;

const NOW: i64 = 1_795_800_000;

fn key(id: &str, secret: &str, account: &str) -> AccessKey {
    AccessKey { access_key_id: id.into(), secret_access_key: secret.into(), account_id: account.into() }
}

struct TestServer {
    _dir: tempfile::TempDir,
    router: axum::Router,
    now: Arc<AtomicI64>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
}

impl TestServer {
    fn new() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let keys = KeyRing::from_keys([
            key("AKIDALICE", "alice-secret", "111111111111"),
            key("AKIDBOB", "bob-secret", "222222222222"),
        ])
        .unwrap();
        let now = Arc::new(AtomicI64::new(NOW));
        let mut state = AppState::new(Service::new(Arc::new(store)), keys);
        let clock = now.clone();
        state.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        TestServer { _dir: dir, router: router(state), now }
    }

    /// A server whose service reads S3 objects from `s3_root` and runs video jobs (no models: only the
    /// analyses that need none succeed).
    fn with_videos(s3_root: &std::path::Path) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let keys = KeyRing::from_keys([key("AKIDALICE", "alice-secret", "111111111111")]).unwrap();
        let service = Service::new(Arc::new(store))
            .with_objects(Arc::new(reko_service::DirectoryObjects::new(s3_root)))
            .with_video_config(reko_service::VideoConfig::default());
        service.start_video_workers(Arc::new(reko_server::Renderer)).unwrap();
        let now = Arc::new(AtomicI64::new(NOW));
        let mut state = AppState::new(service, keys);
        let clock = now.clone();
        state.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        TestServer { _dir: dir, router: router(state), now }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply { status, headers, body }
    }

    fn signed(&self, key: &AccessKey, target: &str, body: &[u8], signed_at: i64) -> Request<Body> {
        let request = Request::post("/")
            .header("host", "127.0.0.1:9000")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        reko_auth::sign(key, "us-east-1", &mut parts, body, signed_at);
        Request::from_parts(parts, Body::from(body.to_vec()))
    }

    async fn call_as(&self, key: &AccessKey, operation: &str, body: Value) -> Reply {
        let bytes = body.to_string().into_bytes();
        let reply = self.send(self.signed(key, &format!("RekognitionService.{operation}"), &bytes, NOW)).await;
        if reply.status == StatusCode::OK {
            check_response(ServiceModel::get(), operation, &reply.body)
                .unwrap_or_else(|e| panic!("{operation} response does not fit the model: {e}"));
        }
        reply
    }

    async fn call(&self, operation: &str, body: Value) -> Reply {
        self.call_as(&alice(), operation, body).await
    }
}

fn alice() -> AccessKey {
    key("AKIDALICE", "alice-secret", "111111111111")
}

fn assert_error(reply: &Reply, status: u16, error_type: &str) {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    assert_eq!(reply.error_type(), error_type, "{:?}", reply.body);
    assert_eq!(reply.headers["x-amzn-ErrorType"], error_type);
    assert!(reply.body["Message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(reply.headers.contains_key("x-amzn-RequestId"));
}

#[tokio::test]
async fn collection_lifecycle_has_the_rekognition_shapes() {
    let server = TestServer::new();
    let created = server.call("CreateCollection", json!({"CollectionId": "badges", "Tags": {"site": "hq"}})).await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.headers["content-type"], "application/x-amz-json-1.1");
    insta::assert_json_snapshot!("create_collection", created.body);

    let described = server.call("DescribeCollection", json!({"CollectionId": "badges"})).await;
    insta::assert_json_snapshot!("describe_collection", described.body, {".CreationTimestamp" => "[epoch seconds]"});
    let created_at = described.body["CreationTimestamp"].as_f64().unwrap();
    assert!(created_at > 1.7e9, "{created_at}");

    let tags = server.call("ListTagsForResource", json!({"ResourceArn": created.body["CollectionArn"]})).await;
    insta::assert_json_snapshot!("list_tags_for_resource", tags.body);

    let listed = server.call("ListCollections", json!({})).await;
    insta::assert_json_snapshot!("list_collections", listed.body);

    let deleted = server.call("DeleteCollection", json!({"CollectionId": "badges"})).await;
    insta::assert_json_snapshot!("delete_collection", deleted.body);
    let gone = server.call("DescribeCollection", json!({"CollectionId": "badges"})).await;
    assert_error(&gone, 400, "ResourceNotFoundException");
    let again = server.call("DeleteCollection", json!({"CollectionId": "badges"})).await;
    assert_error(&again, 400, "ResourceNotFoundException");
}

#[tokio::test]
async fn duplicate_collections_and_pagination() {
    let server = TestServer::new();
    for i in 0..5 {
        let reply = server.call("CreateCollection", json!({"CollectionId": format!("c{i}")})).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_error(
        &server.call("CreateCollection", json!({"CollectionId": "c0"})).await,
        400,
        "ResourceAlreadyExistsException",
    );

    let mut seen = Vec::new();
    let mut body = json!({"MaxResults": 2});
    loop {
        let page = server.call("ListCollections", body.clone()).await;
        let ids = page.body["CollectionIds"].as_array().unwrap();
        assert!(ids.len() <= 2);
        assert_eq!(ids.len(), page.body["FaceModelVersions"].as_array().unwrap().len());
        seen.extend(ids.iter().map(|v| v.as_str().unwrap().to_owned()));
        match page.body.get("NextToken") {
            Some(token) => body["NextToken"] = token.clone(),
            None => break,
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4"]);
    let bad = server.call("ListCollections", json!({"NextToken": "!!not-a-token"})).await;
    assert_error(&bad, 400, "InvalidPaginationTokenException");
}

#[tokio::test]
async fn accounts_do_not_see_each_others_collections() {
    let server = TestServer::new();
    let bob = key("AKIDBOB", "bob-secret", "222222222222");
    let created = server.call("CreateCollection", json!({"CollectionId": "mine"})).await;
    assert!(created.body["CollectionArn"].as_str().unwrap().contains(":111111111111:collection/mine"));
    assert_error(
        &server.call_as(&bob, "DescribeCollection", json!({"CollectionId": "mine"})).await,
        400,
        "ResourceNotFoundException",
    );
    let listed = server.call_as(&bob, "ListCollections", json!({})).await;
    assert_eq!(listed.body["CollectionIds"], json!([]));
    let tags = server.call_as(&bob, "ListTagsForResource", json!({"ResourceArn": created.body["CollectionArn"]})).await;
    assert_error(&tags, 400, "ResourceNotFoundException");
    // Bob may use the same id for his own collection.
    let own = server.call_as(&bob, "CreateCollection", json!({"CollectionId": "mine"})).await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn tags_are_merged_removed_and_limited() {
    let server = TestServer::new();
    let arn = server.call("CreateCollection", json!({"CollectionId": "t"})).await.body["CollectionArn"].clone();
    assert_eq!(
        server.call("TagResource", json!({"ResourceArn": arn, "Tags": {"a": "1", "b": "2"}})).await.body,
        json!({})
    );
    assert_eq!(server.call("UntagResource", json!({"ResourceArn": arn, "TagKeys": ["a"]})).await.body, json!({}));
    let listed = server.call("ListTagsForResource", json!({"ResourceArn": arn})).await;
    assert_eq!(listed.body, json!({"Tags": {"b": "2"}}));
    let many: serde_json::Map<String, Value> = (0..60).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_error(
        &server.call("TagResource", json!({"ResourceArn": arn, "Tags": many})).await,
        400,
        "ServiceQuotaExceededException",
    );
    let missing = "aws:rekognition:us-east-1:111111111111:collection/none";
    assert_error(
        &server.call("TagResource", json!({"ResourceArn": missing, "Tags": {"a": "b"}})).await,
        400,
        "ResourceNotFoundException",
    );
    assert_error(
        &server.call("ListTagsForResource", json!({"ResourceArn": "not-an-arn-at-all-really"})).await,
        400,
        "InvalidParameterException",
    );
}

#[tokio::test]
async fn protocol_errors_have_the_rekognition_classes() {
    let server = TestServer::new();
    assert_error(&server.call("NoSuchThing", json!({})).await, 400, "UnknownOperationException");
    let wrong_prefix = server.send(server.signed(&alice(), "OtherService.CreateCollection", b"{}", NOW)).await;
    assert_error(&wrong_prefix, 400, "UnknownOperationException");
    let malformed = server.send(server.signed(&alice(), "RekognitionService.CreateCollection", b"{\"Coll", NOW)).await;
    assert_error(&malformed, 400, "SerializationException");
    assert_error(&server.call("ListCollections", json!({"MaxResults": "ten"})).await, 400, "SerializationException");
    let invalid = server.call("CreateCollection", json!({"CollectionId": "has space"})).await;
    assert_error(&invalid, 400, "InvalidParameterException");
    assert!(invalid.body["Message"].as_str().unwrap().contains("'collectionId'"));
    assert_error(&server.call("CreateCollection", json!({})).await, 400, "InvalidParameterException");
    assert_error(&server.call("ListCollections", json!({"MaxResults": 4097})).await, 400, "InvalidParameterException");
    let not_yet = server.call("RecognizeCelebrities", json!({"Image": {"Bytes": "aGVsbG8="}})).await;
    assert_error(&not_yet, 400, "UnsupportedOperationException");
    assert!(not_yet.body["Message"].as_str().unwrap().contains("RecognizeCelebrities"));
}

#[tokio::test]
async fn every_model_operation_is_routed_and_validated() {
    let server = TestServer::new();
    let model = ServiceModel::get();
    assert_eq!(model.operations.len(), 75);
    for (name, op) in &model.operations {
        let input = model.shape(op.input.as_deref().unwrap());
        let reply = server.call(name, json!({})).await;
        assert_ne!(reply.status.as_u16(), 500, "{name}: {:?}", reply.body);
        if !input.required.is_empty() {
            assert_error(&reply, 400, "InvalidParameterException");
        } else if !IMPLEMENTED_OPERATIONS.contains(&name.as_str()) {
            assert_error(&reply, 400, "UnsupportedOperationException");
        }
    }
    for name in IMPLEMENTED_OPERATIONS {
        assert!(model.operation(name).is_some(), "{name} is not in the model");
    }
}

#[tokio::test]
async fn authentication_failures() {
    let server = TestServer::new();
    let body = br#"{"CollectionId":"x"}"#;
    let target = "RekognitionService.DescribeCollection";

    let mut unsigned = server.signed(&alice(), target, body, NOW);
    unsigned.headers_mut().remove("authorization");
    assert_error(&server.send(unsigned).await, 400, "MissingAuthenticationTokenException");

    let mut tampered = server.signed(&alice(), target, body, NOW);
    *tampered.body_mut() = Body::from(r#"{"CollectionId":"y"}"#);
    assert_error(&server.send(tampered).await, 400, "InvalidSignatureException");

    let wrong_secret = key("AKIDALICE", "guess", "111111111111");
    assert_error(&server.send(server.signed(&wrong_secret, target, body, NOW)).await, 400, "InvalidSignatureException");
    let unknown = key("AKIDMALLORY", "x", "111111111111");
    assert_error(&server.send(server.signed(&unknown, target, body, NOW)).await, 400, "UnrecognizedClientException");

    let mut garbled = server.signed(&alice(), target, body, NOW);
    garbled.headers_mut().insert("authorization", "AWS4-HMAC-SHA256 Credential=x".parse().unwrap());
    assert_error(&server.send(garbled).await, 400, "IncompleteSignatureException");

    let stale = server.signed(&alice(), target, body, NOW - 16 * 60);
    let reply = server.send(stale).await;
    assert_error(&reply, 400, "InvalidSignatureException");
    assert!(reply.body["Message"].as_str().unwrap().starts_with("Signature expired"));
    server.now.store(NOW - 14 * 60, Ordering::SeqCst);
    let within = server.send(server.signed(&alice(), target, body, NOW)).await;
    assert_error(&within, 400, "ResourceNotFoundException");
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_being_read() {
    let server = TestServer::new();
    let mut request = server.signed(&alice(), "RekognitionService.DetectFaces", b"{}", NOW);
    request.headers_mut().insert("content-length", (MAX_BODY_BYTES + 1).to_string().parse().unwrap());
    assert_error(&server.send(request).await, 400, "ImageTooLargeException");

    // A streamed body without a length is cut off at the limit.
    let chunks = (0..17).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024 * 1024])));
    let mut request = server.signed(&alice(), "RekognitionService.DetectFaces", b"{}", NOW);
    *request.body_mut() = Body::from_stream(futures_util::stream::iter(chunks));
    request.headers_mut().remove("content-length");
    assert_error(&server.send(request).await, 400, "ImageTooLargeException");

    // A 5 MiB image in base64 with its JSON fits, passes validation and reaches the operation, which
    // finds that zeros are no image.
    let image = "A".repeat(5 * 1024 * 1024 / 3 * 4);
    let body = json!({"Image": {"Bytes": image}}).to_string();
    let reply = server.send(server.signed(&alice(), "RekognitionService.DetectFaces", body.as_bytes(), NOW)).await;
    assert_error(&reply, 400, "InvalidImageFormatException");
}

#[tokio::test]
async fn health_and_request_ids() {
    let server = TestServer::new();
    let reply = server.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let first = reply.headers["x-amzn-RequestId"].clone();
    let other = server.send(Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_ne!(other.headers["x-amzn-RequestId"], first);
}

#[tokio::test]
async fn users_and_face_listings_have_the_rekognition_shapes() {
    let server = TestServer::new();
    let ok = |reply: &Reply| assert_eq!(reply.status, 200, "{:?}", reply.body);
    ok(&server.call("CreateCollection", json!({"CollectionId": "c"})).await);
    ok(&server.call("CreateUser", json!({"CollectionId": "c", "UserId": "u1", "ClientRequestToken": "t1"})).await);
    ok(&server.call("CreateUser", json!({"CollectionId": "c", "UserId": "u1", "ClientRequestToken": "t1"})).await);
    assert_error(
        &server.call("CreateUser", json!({"CollectionId": "c", "UserId": "u1"})).await,
        400,
        "ConflictException",
    );
    let reused =
        server.call("CreateUser", json!({"CollectionId": "c", "UserId": "u2", "ClientRequestToken": "t1"})).await;
    assert_error(&reused, 400, "IdempotentParameterMismatchException");
    assert_error(
        &server.call("CreateUser", json!({"CollectionId": "zz", "UserId": "u1"})).await,
        400,
        "ResourceNotFoundException",
    );
    for id in ["u2", "u3"] {
        ok(&server.call("CreateUser", json!({"CollectionId": "c", "UserId": id})).await);
    }
    let page = server.call("ListUsers", json!({"CollectionId": "c", "MaxResults": 2})).await;
    ok(&page);
    assert_eq!(
        page.body["Users"],
        json!([{"UserId": "u1", "UserStatus": "CREATED"}, {"UserId": "u2", "UserStatus": "CREATED"}])
    );
    let token = page.body["NextToken"].as_str().unwrap();
    let rest = server.call("ListUsers", json!({"CollectionId": "c", "NextToken": token})).await;
    assert_eq!(rest.body["Users"], json!([{"UserId": "u3", "UserStatus": "CREATED"}]));
    assert!(rest.body.get("NextToken").is_none());
    assert_eq!(server.call("DescribeCollection", json!({"CollectionId": "c"})).await.body["UserCount"], 3);

    let missing = "00000000-0000-4000-8000-000000000000";
    let deleted = server.call("DeleteFaces", json!({"CollectionId": "c", "FaceIds": [missing]})).await;
    ok(&deleted);
    assert_eq!(deleted.body["UnsuccessfulFaceDeletions"], json!([{"FaceId": missing, "Reasons": ["FACE_NOT_FOUND"]}]));
    let associated =
        server.call("AssociateFaces", json!({"CollectionId": "c", "UserId": "u1", "FaceIds": [missing]})).await;
    ok(&associated);
    assert_eq!(associated.body["UserStatus"], "CREATED");
    assert_error(
        &server.call("AssociateFaces", json!({"CollectionId": "c", "UserId": "nobody", "FaceIds": [missing]})).await,
        400,
        "ResourceNotFoundException",
    );
    let listed = server.call("ListFaces", json!({"CollectionId": "c"})).await;
    ok(&listed);
    assert_eq!(listed.body["Faces"], json!([]));
    assert_error(
        &server.call("ListFaces", json!({"CollectionId": "c", "NextToken": "!!"})).await,
        400,
        "InvalidPaginationTokenException",
    );
    assert_error(
        &server.call("SearchFaces", json!({"CollectionId": "c", "FaceId": missing})).await,
        400,
        "InvalidParameterException",
    );
    assert_error(&server.call("SearchUsers", json!({"CollectionId": "c"})).await, 400, "InvalidParameterException");
    ok(&server.call("DeleteUser", json!({"CollectionId": "c", "UserId": "u1"})).await);
    assert_error(
        &server.call("DeleteUser", json!({"CollectionId": "c", "UserId": "u1"})).await,
        400,
        "ResourceNotFoundException",
    );
    // Another account sees none of it.
    let bob = key("AKIDBOB", "bob-secret", "222222222222");
    let other = server.call_as(&bob, "ListUsers", json!({"CollectionId": "c"})).await;
    assert_error(&other, 400, "ResourceNotFoundException");
}

/// Polls a `Get*` operation until the job is no longer IN_PROGRESS (every answer checked against the model).
async fn finished(server: &TestServer, operation: &str, job_id: &str) -> Reply {
    for _ in 0..300 {
        let reply = server.call(operation, json!({"JobId": job_id})).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        if reply.body["JobStatus"] != "IN_PROGRESS" {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{job_id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_jobs_have_the_rekognition_shapes() {
    let s3 = tempfile::tempdir().unwrap();
    let bucket = s3.path().join("videos");
    std::fs::create_dir_all(&bucket).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1"])
        .args(["-f", "lavfi", "-i", "color=black:size=160x120:rate=10:duration=1"])
        .args([
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(bucket.join("clip.mp4"))
        .status()
        .expect("ffmpeg is installed");
    assert!(status.success());
    std::fs::write(bucket.join("notes.mp4"), "not a video").unwrap();
    // A sparse file just over Rekognition's 10 GiB limit.
    std::fs::File::create(bucket.join("huge.mp4")).unwrap().set_len((10 << 30) + 1).unwrap();
    let server = TestServer::with_videos(s3.path());
    let video = |name: &str| json!({"S3Object": {"Bucket": "videos", "Name": name}});

    let started = server
        .call(
            "StartSegmentDetection",
            json!({"Video": video("clip.mp4"), "SegmentTypes": ["SHOT", "TECHNICAL_CUE"], "JobTag": "t"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    let job_id = started.body["JobId"].as_str().unwrap().to_owned();
    let done = finished(&server, "GetSegmentDetection", &job_id).await;
    assert_eq!(done.body["JobStatus"], "SUCCEEDED", "{:?}", done.body);
    assert_eq!(done.body["JobTag"], "t");
    let kinds: Vec<&str> =
        done.body["Segments"].as_array().unwrap().iter().map(|s| s["Type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["SHOT", "TECHNICAL_CUE", "SHOT"]);

    let failed = server.call("StartFaceDetection", json!({"Video": video("notes.mp4")})).await;
    let done = finished(&server, "GetFaceDetection", failed.body["JobId"].as_str().unwrap()).await;
    assert_eq!(
        (done.body["JobStatus"].as_str(), done.body["StatusMessage"].as_str()),
        (Some("FAILED"), Some("Unsupported codec/format."))
    );

    let too_large = server.call("StartLabelDetection", json!({"Video": video("huge.mp4")})).await;
    assert_error(&too_large, 400, "VideoTooLargeException");
    let missing = server.call("StartTextDetection", json!({"Video": video("none.mp4")})).await;
    assert_error(&missing, 400, "InvalidS3ObjectException");
    let unknown = server.call("GetPersonTracking", json!({"JobId": "x".repeat(64)})).await;
    assert_error(&unknown, 400, "ResourceNotFoundException");
    // Without models the analyses that need them fail the job, not the request.
    let labels = server.call("StartLabelDetection", json!({"Video": video("clip.mp4")})).await;
    let done = finished(&server, "GetLabelDetection", labels.body["JobId"].as_str().unwrap()).await;
    assert_eq!(done.body["JobStatus"], "FAILED");
    assert_eq!(done.body["StatusMessage"], "Internal error while analysing the video.");
}

#[tokio::test]
async fn an_image_with_both_bytes_and_an_s3_object_is_refused() {
    let server = TestServer::new();
    let image = json!({"Bytes": "aGVsbG8=", "S3Object": {"Bucket": "photos", "Name": "cat.jpg"}});
    for (operation, body) in [
        ("DetectFaces", json!({"Image": image})),
        ("DetectLabels", json!({"Image": image})),
        ("CompareFaces", json!({"SourceImage": image, "TargetImage": {"Bytes": "aGVsbG8="}})),
    ] {
        assert_error(&server.call(operation, body).await, 400, "InvalidParameterException");
    }
}

#[tokio::test]
async fn a_second_authorization_header_is_refused() {
    let server = TestServer::new();
    let mut request = server.signed(&alice(), "RekognitionService.ListCollections", b"{}", NOW);
    let first = request.headers()["authorization"].clone();
    request.headers_mut().append("authorization", first);
    assert_error(&server.send(request).await, 400, "InvalidParameterException");
}

#[tokio::test]
async fn a_request_whose_target_is_not_signed_is_refused() {
    let server = TestServer::new();
    server.call("CreateCollection", json!({"CollectionId": "kept"})).await;
    // A DescribeCollection signed before its target was set (so not over it), re-sent as DeleteCollection.
    let request = Request::post("/").header("host", "127.0.0.1:9000").body(()).unwrap();
    let (mut parts, ()) = request.into_parts();
    let body = br#"{"CollectionId": "kept"}"#;
    reko_auth::sign(&alice(), "us-east-1", &mut parts, body, NOW);
    parts.headers.insert("x-amz-target", "RekognitionService.DeleteCollection".parse().unwrap());
    parts.headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    let reply = server.send(Request::from_parts(parts, Body::from(body.to_vec()))).await;
    assert_error(&reply, 400, "InvalidSignatureException");
    assert_eq!(server.call("DescribeCollection", json!({"CollectionId": "kept"})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_in_prometheus_text() {
    reko_store::observe_commits(reko_server::metrics::commit);
    let server = TestServer::new();
    server.call("CreateCollection", json!({"CollectionId": "counted"})).await;
    server.call("DescribeCollection", json!({"CollectionId": "missing"})).await;
    let reply = server.send(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = reply.body.as_str().unwrap();
    for expected in [
        r#"reko_requests_total{operation="CreateCollection",error="none"}"#,
        r#"reko_requests_total{operation="DescribeCollection",error="ResourceNotFoundException"}"#,
        r#"reko_request_duration_seconds_bucket{le="+Inf",operation="CreateCollection"}"#,
        "reko_analyses_running 0",
        "reko_analyses_queued 0",
        r#"reko_video_jobs{state="queued"} 0"#,
        "# TYPE reko_store_commit_duration_seconds histogram",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // The collection's commit was observed (families without samples yet, such as model runs on this
    // server without models, are listed once they have one).
    assert!(!text.contains("reko_store_commit_duration_seconds_count 0\n"), "{text}");
}

#[tokio::test]
async fn the_health_check_commits_to_the_store() {
    let server = TestServer::new();
    let reply = server.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
}
