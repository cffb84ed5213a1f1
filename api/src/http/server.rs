//! The HTTP server: the poem application served by hyper-util's connection builder (HTTP/1.1
//! and HTTP/2), with the protections poem's own `Server` does not offer.
//!
//! - **Header-read timeout.** From the moment a connection is accepted, or the first byte of
//!   a later request arrives, the request head must be complete within it; otherwise the
//!   connection is closed. A client that sends half a header holds a connection only this
//!   long.
//! - **Body-read timeout.** Once the head is in, the body must arrive within it; a handler
//!   reading it past the deadline gets an error (answered 408) and the connection closes.
//! - **Keep-alive idle timeout.** A connection with no request in progress and no byte of a
//!   new one for this long is closed.
//! - **Connection cap.** At most this many connections are served at once; further ones wait
//!   in the kernel's accept queue until one closes.
//! - **Graceful shutdown within a grace.** When shutdown starts, the listener closes, idle
//!   connections and connections still sending a request head close at once, requests in
//!   flight finish (their connections close after the response); whatever is still running
//!   when the grace ends is dropped (its transaction rolls back, its client gets no answer:
//!   nothing unacknowledged was kept).

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use poem::{Addr, Endpoint, IntoResponse, web::LocalAddr, web::RemoteAddr};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore, watch},
    task::JoinSet,
    time::{Instant, Sleep},
};

/// Settings of the server (checked by `settings`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

type ResponseBody = BoxBody<Bytes, io::Error>;

/// Serves `ep` on `listener` until `shutdown` resolves, then shuts down within the grace.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) where
    E: Endpoint + 'static,
{
    let ep = Arc::new(ep);
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, new connections wait in the accept queue.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // E.g. out of file descriptors: wait for some to be released.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let local = stream.local_addr().ok();
        let (ep, settings, stop) = (Arc::clone(&ep), Arc::clone(&settings), stop_rx.clone());
        connections.spawn(async move {
            serve_connection(stream, local, remote, ep, &settings, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    if open > 0 {
        tracing::info!(
            connections = open,
            grace_seconds = settings.shutdown_grace.as_secs_f64(),
            "finishing requests in flight"
        );
    }
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(settings.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "shutdown grace is over: dropping the connections still open"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// Where a connection is, for its timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head since then: accepted, or the first byte
    /// of a request arrived.
    Head(Instant),
    /// This many requests are being answered (their bodies read, handled, responses sent).
    Busy(usize),
    /// Nothing in progress since then.
    Idle(Instant),
}

/// A connection's phase, shared by its socket, its requests and its watcher.
struct Tracker {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Tracker {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn set(&self, update: impl FnOnce(Phase) -> Phase) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = update(*phase);
        }
        self.changed.notify_one();
    }

    fn phase(&self) -> Phase {
        self.phase.lock().map_or(Phase::Busy(0), |phase| *phase)
    }

    /// Bytes arrived: on an idle connection, a new request head has begun.
    fn bytes_read(&self) {
        if matches!(self.phase(), Phase::Idle(_)) {
            self.set(|phase| match phase {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
    }

    fn request_started(&self) {
        self.set(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
    }

    fn request_finished(&self) {
        self.set(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }

    /// When the current phase times out (`None`: it cannot, requests are in flight).
    fn deadline(&self, settings: &ServerSettings) -> Option<Instant> {
        match self.phase() {
            Phase::Head(since) => Some(since + settings.header_read_timeout),
            Phase::Idle(since) => Some(since + settings.keep_alive_timeout),
            Phase::Busy(_) => None,
        }
    }
}

async fn serve_connection<E: Endpoint + 'static>(
    stream: TcpStream,
    local: Option<SocketAddr>,
    remote: SocketAddr,
    ep: Arc<E>,
    settings: &ServerSettings,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let tracker = Arc::new(Tracker::new());
    let io = TokioIo::new(TrackedIo {
        inner: stream,
        tracker: Arc::clone(&tracker),
    });
    let service = {
        let tracker = Arc::clone(&tracker);
        let body_timeout = settings.body_read_timeout;
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let (ep, tracker) = (Arc::clone(&ep), Arc::clone(&tracker));
            async move {
                tracker.request_started();
                let finished = Finished(Arc::clone(&tracker));
                let response = respond(&*ep, req, local, remote, body_timeout).await;
                let (parts, body) = response.into_parts();
                // The request is over when hyper has sent (or dropped) the response body.
                let body = Guarded {
                    inner: body,
                    _finished: finished,
                };
                Ok::<_, Infallible>(hyper::Response::from_parts(parts, body))
            }
        })
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        if *stop.borrow() && !stopping {
            stopping = true;
            // Requests in flight finish and idle connections close once their last
            // response is flushed (hyper's graceful shutdown).
            conn.as_mut().graceful_shutdown();
        }
        if stopping && matches!(tracker.phase(), Phase::Head(_)) {
            // Half a request head (or nothing yet) has no answer pending: close now,
            // whatever the client does.
            return;
        }
        let deadline = tracker.deadline(settings);
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut conn => return,
            () = expiry => {
                if tracker.deadline(settings).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%remote, phase = ?tracker.phase(), "closing a slow or idle connection");
                    return;
                }
            }
            () = tracker.changed.notified() => {}
            changed = stop.changed(), if !stopping => {
                if changed.is_err() {
                    // The server is gone without a shutdown: nothing to finish for.
                    return;
                }
            }
        }
    }
}

/// Answers one request with the poem application; its body must arrive within
/// `body_timeout`.
async fn respond<E: Endpoint>(
    ep: &E,
    req: hyper::Request<Incoming>,
    local: Option<SocketAddr>,
    remote: SocketAddr,
    body_timeout: Duration,
) -> hyper::Response<ResponseBody> {
    let local = LocalAddr(local.map_or_else(Addr::default, Addr::SocketAddr));
    let mut req = poem::Request::from((
        req,
        local,
        RemoteAddr(Addr::SocketAddr(remote)),
        poem::http::uri::Scheme::HTTP,
    ));
    let body: ResponseBody = req.take_body().into();
    if !body.is_end_stream() {
        let limited = WithDeadline {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(body_timeout)),
            timeout: body_timeout,
            rearm: super::STREAMED_BODY_PATHS.contains(&req.uri().path()),
        };
        req.set_body(poem::Body::from(limited.boxed()));
    } else {
        req.set_body(poem::Body::from(body));
    }
    let response = match ep.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    response.into()
}

/// Marks the request finished when dropped.
struct Finished(Arc<Tracker>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request counted until it is dropped.
struct Guarded {
    inner: ResponseBody,
    _finished: Finished,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails with `TimedOut` once its deadline passes. A streamed body
/// (`http::STREAMED_BODY_PATHS`: a bulk import may take minutes to send) has the deadline
/// re-armed by every frame that arrives: it fails only when it stops arriving for that long.
struct WithDeadline {
    inner: ResponseBody,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    rearm: bool,
}

impl HttpBody for WithDeadline {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            if self.rearm {
                let next = tokio::time::Instant::now() + self.timeout;
                self.deadline.as_mut().reset(next);
            }
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let seconds = self.timeout.as_secs_f64();
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the request body did not arrive within {seconds} s"),
            ))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling the tracker when bytes arrive.
struct TrackedIo {
    inner: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.tracker.bytes_read();
        }
        result
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
