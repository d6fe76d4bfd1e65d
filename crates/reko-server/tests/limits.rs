//! The node's limits over real TCP connections (`reko_server::serve` on a loopback port): clients that
//! cannot authenticate are refused from their headers, slow or idle connections are cut off, bodies are
//! bounded in time and memory, and connections beyond the cap are closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reko_auth::{AccessKey, KeyRing};
use reko_server::{AppState, Limits, router};
use reko_service::Service;
use reko_store::EmbeddedStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Node {
    address: SocketAddr,
    _data: tempfile::TempDir,
}

async fn start(keys: KeyRing, limits: Limits) -> Node {
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = AppState::new(Service::new(Arc::new(store)), keys).with_limits(limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(reko_server::serve(listener, router(state), limits, std::future::pending()));
    Node { address, _data: data }
}

fn alice() -> AccessKey {
    AccessKey {
        access_key_id: "AKIDALICE".into(),
        secret_access_key: "alice-secret".into(),
        account_id: "111111111111".into(),
    }
}

/// The head of a `ListCollections` request signed by `key` for `body`, declaring `length` bytes.
fn signed_head(key: &AccessKey, body: &[u8], length: usize) -> String {
    signed_head_of("ListCollections", key, body, length)
}

/// The head of an `operation` request signed by `key` for `body`, declaring `length` bytes.
fn signed_head_of(operation: &str, key: &AccessKey, body: &[u8], length: usize) -> String {
    let request = http::Request::post("/")
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("RekognitionService.{operation}"))
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    reko_auth::sign(key, "us-east-1", &mut parts, body, now);
    let mut head = String::from("POST / HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str(&format!("content-length: {length}\r\n\r\n"));
    head
}

/// What the server sends until it closes the connection or `within` passes (then `None`).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

/// The first response the server sends within `within`.
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Some(text);
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return (!received.is_empty()).then_some(text),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_that_cannot_authenticate_is_refused_before_it_sends_its_body() {
    let node = start(KeyRing::from_keys([alice()]).unwrap(), Limits::default()).await;
    let stranger = AccessKey { access_key_id: "AKIDNOBODY".into(), ..alice() };
    // 15 MiB declared, not one byte sent: the answer must not wait for the body.
    let mut stream = TcpStream::connect(node.address).await.unwrap();
    stream.write_all(signed_head(&stranger, b"", 15 << 20).as_bytes()).await.unwrap();
    let response = read_response(&mut stream, Duration::from_secs(5)).await.expect("answered without the body");
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("UnrecognizedClientException"), "{response}");
}

#[tokio::test]
async fn slow_request_heads_and_idle_connections_are_cut_off() {
    let limits = Limits { header_timeout: Duration::from_secs(1), ..Limits::default() };
    let node = start(KeyRing::Dev, limits).await;
    // Half a head, then nothing (slowloris).
    let mut slow = TcpStream::connect(node.address).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: Rekognition").await.unwrap();
    let started = Instant::now();
    assert!(read_until_closed(&mut slow, Duration::from_secs(5)).await.is_some(), "a half head is cut off");
    assert!(started.elapsed() < Duration::from_secs(4));
    // A kept-alive connection that idles after its request.
    let mut idle = TcpStream::connect(node.address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let response = read_response(&mut idle, Duration::from_secs(5)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(read_until_closed(&mut idle, Duration::from_secs(5)).await.is_some(), "an idle connection is closed");
}

#[tokio::test]
async fn a_body_that_stalls_times_out() {
    let limits = Limits { body_timeout: Duration::from_secs(1), ..Limits::default() };
    let node = start(KeyRing::from_keys([alice()]).unwrap(), limits).await;
    let mut stream = TcpStream::connect(node.address).await.unwrap();
    stream.write_all(signed_head(&alice(), b"{}", 1000).as_bytes()).await.unwrap();
    stream.write_all(b"{\"Next").await.unwrap();
    let response = read_response(&mut stream, Duration::from_secs(5)).await.expect("answered");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("RequestTimeoutException"), "{response}");
}

#[tokio::test]
async fn bodies_beyond_the_memory_budget_are_throttled() {
    let limits = Limits { max_body_bytes_in_flight: 16 << 20, ..Limits::default() };
    let node = start(KeyRing::from_keys([alice()]).unwrap(), limits).await;
    // One authenticated request holds the whole budget with its declared 16 MiB...
    let mut holder = TcpStream::connect(node.address).await.unwrap();
    holder.write_all(signed_head(&alice(), b"", 16 << 20).as_bytes()).await.unwrap();
    holder.write_all(b"{").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... so the next is throttled at once, and told when to come back.
    let mut next = TcpStream::connect(node.address).await.unwrap();
    next.write_all(signed_head(&alice(), b"{}", 2).as_bytes()).await.unwrap();
    next.write_all(b"{}").await.unwrap();
    let response = read_response(&mut next, Duration::from_secs(5)).await.expect("answered");
    assert!(response.contains("ThrottlingException"), "{response}");
    assert!(response.to_ascii_lowercase().contains("retry-after: 1"), "{response}");
    // Once the holder is gone, its room is given back.
    drop(holder);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut later = TcpStream::connect(node.address).await.unwrap();
    later.write_all(signed_head(&alice(), b"{}", 2).as_bytes()).await.unwrap();
    later.write_all(b"{}").await.unwrap();
    let response = read_response(&mut later, Duration::from_secs(5)).await.expect("answered");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let limits = Limits { max_connections: 2, ..Limits::default() };
    let node = start(KeyRing::Dev, limits).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(node.address).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        assert!(read_response(&mut stream, Duration::from_secs(5)).await.unwrap().starts_with("HTTP/1.1 200"));
        open.push(stream);
    }
    let mut third = TcpStream::connect(node.address).await.unwrap();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    let refused = read_until_closed(&mut third, Duration::from_secs(5)).await.expect("closed at once");
    assert!(!refused.contains("200"), "{refused}");
    // A slot comes back when a connection ends.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = TcpStream::connect(node.address).await.unwrap();
    fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    assert!(read_response(&mut fourth, Duration::from_secs(5)).await.unwrap().starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_analysis_beyond_the_accounts_share_is_refused_before_its_body() {
    let limits = Limits { max_analyses_per_account: 1, ..Limits::default() };
    let node = start(KeyRing::from_keys([alice()]).unwrap(), limits).await;
    // One DetectFaces holds the account's only share while its body is (slowly) on its way...
    let mut first = TcpStream::connect(node.address).await.unwrap();
    first.write_all(signed_head_of("DetectFaces", &alice(), b"", 4 << 20).as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... so the next is refused from its head, without a byte of its 4 MiB body.
    let mut second = TcpStream::connect(node.address).await.unwrap();
    second.write_all(signed_head_of("DetectFaces", &alice(), b"", 4 << 20).as_bytes()).await.unwrap();
    let response = read_response(&mut second, Duration::from_secs(5)).await.expect("answered without the body");
    assert!(response.contains("ProvisionedThroughputExceededException"), "{response}");
    // Operations that run no model are not queued.
    let mut listing = TcpStream::connect(node.address).await.unwrap();
    listing.write_all(signed_head(&alice(), b"{}", 2).as_bytes()).await.unwrap();
    listing.write_all(b"{}").await.unwrap();
    assert!(read_response(&mut listing, Duration::from_secs(5)).await.unwrap().starts_with("HTTP/1.1 200"));
}
