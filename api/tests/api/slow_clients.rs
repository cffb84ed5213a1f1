//! Slow and idle clients (`http::server`): half-sent headers and bodies, idle keep-alive
//! connections and the connection cap are bounded in time, and none of them delays a
//! shutdown beyond its grace. The bounds asserted here are the configured timeouts plus a
//! generous margin for a loaded machine; what they measured is in RELIABILITY.md.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{deployment, spawn_app_with};

/// The start of a request head, never finished.
const HALF_HEADER: &[u8] = b"POST /api/v1/deployments HTTP/1.1\r\nHost: dora\r\nContent-Ty";

/// Reads until the server closes the connection (EOF or reset), for at most `within`;
/// `Some(bytes read)` when it closed.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut out)).await {
        Ok(_) => Some(out),
        Err(_) => None,
    }
}

/// 20 connections that send half a request head are closed once the header-read timeout
/// passes; meanwhile the service answers others. (poem's server kept them open forever.)
#[tokio::test]
async fn half_sent_headers_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(|args| args.server.header_read_timeout_seconds = 1).await;
    let addr = app.socket_addr();
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(HALF_HEADER).await.unwrap();
        slow.push(stream);
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "others are served meanwhile");
    let mut closed_after = Vec::new();
    for stream in &mut slow {
        let read = closed_within(stream, Duration::from_secs(15)).await;
        assert!(read.is_some(), "a half-sent header was kept open");
        closed_after.push(started.elapsed());
    }
    let last = closed_after.iter().max().copied().unwrap_or_default();
    assert!(
        closed_after
            .iter()
            .all(|t| *t >= Duration::from_millis(900)),
        "closed before the timeout: {closed_after:?}"
    );
    eprintln!("RELIABILITY slow headers: 20 connections closed by {last:?} (timeout 1 s)");
}

/// A body that stops arriving is answered 408 once the body-read timeout passes, and
/// nothing is recorded.
#[tokio::test]
async fn a_body_that_stops_arriving_is_408() {
    let app = spawn_app_with(|args| args.server.body_read_timeout_seconds = 1).await;
    let token = app.rw_token("acme");
    let body = serde_json::to_vec(&deployment("https://github.com/acme/web", 1)).unwrap();
    let mut stream = TcpStream::connect(app.socket_addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/deployments HTTP/1.1\r\nHost: dora\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let answer = closed_within(&mut stream, Duration::from_secs(15))
        .await
        .expect("the connection is answered and closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-read-timeout"), "{answer}");
    assert_eq!(app.deployment_rows().await, 0);
}

/// A kept-alive connection with nothing to send is closed after the keep-alive timeout.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = spawn_app_with(|args| args.server.keep_alive_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(app.socket_addr()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: dora\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(15))
            .await
            .is_some(),
        "an idle connection was kept open"
    );
    assert!(idle.elapsed() >= Duration::from_millis(900));
}

/// At the connection cap, a new connection waits until one closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let app = spawn_app_with(|args| {
        args.server.max_connections = 2;
        args.server.header_read_timeout_seconds = 60;
    })
    .await;
    let addr = app.socket_addr();
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(HALF_HEADER).await.unwrap();
        holders.push(stream);
    }
    // Give the server a moment to take both (it accepts in the background).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = tokio::spawn({
        let addr = addr.clone();
        async move {
            crate::process::raw_exchange(
                &addr,
                b"GET /healthz HTTP/1.1\r\nHost: dora\r\nConnection: close\r\n\r\n",
                Duration::from_secs(20),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !third.is_finished(),
        "the third connection was served at the cap"
    );
    drop(holders.pop());
    let answer = third.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// At shutdown a request in flight finishes, a half-sent header closes at once, a request
/// that is still running when the grace ends is dropped, and the service stops within the
/// grace. (poem's server waited the full 30 s for the half-sent header.)
#[tokio::test]
async fn shutdown_finishes_in_flight_requests_within_the_grace() {
    let mut app = spawn_app_with(|args| {
        args.server.shutdown_grace_seconds = 2;
        args.server.header_read_timeout_seconds = 60;
        args.server.body_read_timeout_seconds = 60;
    })
    .await;
    let token = app.rw_token("acme");
    let addr = app.socket_addr();
    let post_head = |body: &[u8]| {
        format!(
            "POST /api/v1/deployments HTTP/1.1\r\nHost: dora\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
    };
    // In flight: head and half the body sent; the rest follows during the shutdown.
    let finishing_body = serde_json::to_vec(&deployment("https://github.com/acme/web", 1)).unwrap();
    let mut finishing = TcpStream::connect(&addr).await.unwrap();
    finishing
        .write_all(post_head(&finishing_body).as_bytes())
        .await
        .unwrap();
    finishing
        .write_all(&finishing_body[..finishing_body.len() / 2])
        .await
        .unwrap();
    // Never finished: its body stops half-way.
    let stuck_body = serde_json::to_vec(&deployment("https://github.com/acme/web", 2)).unwrap();
    let mut stuck = TcpStream::connect(&addr).await.unwrap();
    stuck
        .write_all(post_head(&stuck_body).as_bytes())
        .await
        .unwrap();
    stuck.write_all(&stuck_body[..10]).await.unwrap();
    // Half a header.
    let mut slowloris = TcpStream::connect(&addr).await.unwrap();
    slowloris.write_all(HALF_HEADER).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let shutdown = tokio::spawn(async move {
        let took = app.shut_down().await;
        (took, app)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        closed_within(&mut slowloris, Duration::from_secs(1))
            .await
            .is_some(),
        "a half-sent header is closed at once when shutdown starts"
    );
    finishing
        .write_all(&finishing_body[finishing_body.len() / 2..])
        .await
        .unwrap();
    let answer = closed_within(&mut finishing, Duration::from_secs(10))
        .await
        .expect("the finished request is answered, then its connection closes");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (took, app) = shutdown.await.unwrap();
    assert!(
        took < Duration::from_millis(2000 + 3000),
        "shutdown took {took:?} with a 2 s grace"
    );
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "the listener is closed"
    );
    assert_eq!(
        crate::helpers::count_deployments(&app.database_url).await,
        1,
        "only the finished request wrote"
    );
    eprintln!(
        "RELIABILITY shutdown: stopped in {took:?} (grace 2 s) with a stuck body and a half header"
    );
}
