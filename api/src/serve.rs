//! Serving HTTP connections, with the limits poem's `Server` lacks: a header-read timeout, an
//! idle timeout and a connection limit (issue 13, finding 8). poem 3.1's server hands each
//! connection to hyper without a timer, so a client that sends half a request head and stalls
//! holds its connection (and a task) forever; enough of them exhaust file descriptors.
//!
//! Each accepted connection is served by hyper (HTTP/1.1 and HTTP/2, as poem does) with the
//! poem endpoint as its service, and watched by its own task:
//! - **header read** (`HTTP_HEADER_READ_TIMEOUT`): from the moment a request starts (the
//!   connection is accepted, or the first byte after the previous response arrives) its whole
//!   head must arrive within the timeout, however slowly it trickles in;
//! - **idle** (`HTTP_IDLE_TIMEOUT`): a connection with no byte read or written for this long
//!   is closed, whether it waits between requests (keep-alive) or a request stalled mid-body;
//!   the live-update streams write a heartbeat more often (checked by the configuration);
//! - **connection limit** (`MAX_CONNECTIONS`): a permit per open connection. At the limit the
//!   server stops accepting: further connections wait in the kernel's listen backlog (the client
//!   sees no answer yet, not a refusal) until one closes, so a burst is served late rather than
//!   reset, and the process never runs out of file descriptors.
//!
//! A timed-out connection is closed without an answer (there is no request to answer).
//! Graceful shutdown: the listener closes first (new connections are refused), every
//! connection finishes its request in flight and closes, and after the grace period whatever is
//! left is dropped.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use poem::{
    Endpoint, EndpointExt, Response,
    endpoint::BoxEndpoint,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};

use crate::config::ConnectionConfig;

/// What the serving loop tells its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Serving.
    No,
    /// Shutting down: finish the request in flight, then close.
    Gracefully,
    /// The grace period is over: close now.
    Now,
}

/// Serves `endpoint` on every connection `acceptor` accepts until `shutdown` completes, then
/// shuts down gracefully (at most `grace`) and returns.
pub(crate) async fn serve<A, E>(
    mut acceptor: A,
    endpoint: E,
    limits: &ConnectionConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    A: Acceptor,
    A::Io: Unpin,
    E: Endpoint + 'static,
{
    let endpoint: Arc<BoxEndpoint<'static, Response>> = Arc::new(endpoint.map_to_response().boxed());
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(Stop::No);
    tokio::pin!(shutdown);
    loop {
        // At the limit, wait for a connection to close before accepting another.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => permit.map_err(io::Error::other)?,
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = acceptor.accept() => accepted,
        };
        match accepted {
            Ok((io, local, remote, scheme)) => {
                let connection = Connection {
                    local,
                    remote,
                    scheme,
                    endpoint: Arc::clone(&endpoint),
                    limits: limits.clone(),
                    stopping: stopping.clone(),
                };
                tokio::spawn(connection.serve(io, permit));
            }
            Err(err) => {
                // Typically out of file descriptors: let connections close before trying again.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(acceptor);
    let _ = stop.send(Stop::Gracefully);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, permits.acquire_many(all)).await.is_err() {
        tracing::warn!("grace period over: closing the connections still open");
        let _ = stop.send(Stop::Now);
        let _ = permits.acquire_many(all).await;
    }
    Ok(())
}

/// One accepted connection and what serving it needs.
struct Connection {
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: poem::http::uri::Scheme,
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    limits: ConnectionConfig,
    stopping: watch::Receiver<Stop>,
}

impl Connection {
    /// Serves the connection until it ends, times out or shutdown closes it; the permit is
    /// released when this returns.
    async fn serve<I>(self, io: I, _permit: OwnedSemaphorePermit)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let Self { local, remote, scheme, endpoint, limits, mut stopping } = self;
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = Arc::clone(&activity);
            let remote = remote.clone();
            hyper::service::service_fn(move |request: poem::http::Request<Incoming>| {
                let endpoint = Arc::clone(&endpoint);
                let request = poem::Request::from((request, local.clone(), remote.clone(), scheme.clone()));
                let in_flight = InFlight::start(&activity);
                async move {
                    let response: hyper::Response<_> = endpoint.get_response(request).await.into();
                    // The request counts as in flight until hyper has sent (and dropped) its body.
                    let response = response.map(|body| {
                        body.map_frame(move |frame| {
                            let _ = &in_flight;
                            frame
                        })
                    });
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http2().max_header_list_size(16_384).max_pending_accept_reset_streams(Some(20));
        let io = TokioIo::new(Tracked { inner: io, activity: Arc::clone(&activity) });
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut draining = false;
        loop {
            let deadline = activity.deadline(&limits);
            tokio::select! {
                _ = connection.as_mut() => return,
                () = tokio::time::sleep_until(deadline.into()) => {
                    if activity.deadline(&limits) <= Instant::now() {
                        tracing::debug!(remote = %remote, "connection timed out; closed");
                        return;
                    }
                }
                changed = stopping.changed() => {
                    let stop = if changed.is_ok() { *stopping.borrow_and_update() } else { Stop::Now };
                    match stop {
                        Stop::Gracefully if !draining => {
                            draining = true;
                            connection.as_mut().graceful_shutdown();
                        }
                        Stop::Now => return,
                        _ => {}
                    }
                }
            }
        }
    }
}

/// When a connection last moved, and whether it is reading a request head.
struct Activity {
    /// When the connection was accepted; the other times are milliseconds after it.
    start: Instant,
    /// The last byte read or written.
    last_io: AtomicU64,
    /// When the request head being read started ([`NOT_READING_HEAD`] between requests).
    head_started: AtomicU64,
    /// Requests received whose response is not yet sent.
    in_flight: AtomicUsize,
}

/// [`Activity::head_started`] while no head is being read.
const NOT_READING_HEAD: u64 = u64::MAX;

impl Activity {
    /// A new connection: reading its first head from now on.
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Bytes arrived: a request starts if none was in flight or being read.
    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_started.compare_exchange(NOT_READING_HEAD, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// When the connection times out unless something happens before.
    fn deadline(&self, limits: &ConnectionConfig) -> Instant {
        let idle = self.start + Duration::from_millis(self.last_io.load(Ordering::Relaxed)) + limits.idle_timeout;
        match self.head_started.load(Ordering::Acquire) {
            NOT_READING_HEAD => idle,
            started => idle.min(self.start + Duration::from_millis(started) + limits.header_read_timeout),
        }
    }
}

/// A request in flight, from its parsed head until its response body is dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_started.store(NOT_READING_HEAD, Ordering::Release);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Idle from now on (between requests).
            self.0.wrote();
        }
    }
}

/// A connection's IO, recording its activity.
struct Tracked<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionConfig {
        ConnectionConfig {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10,
        }
    }

    #[test]
    fn a_new_connection_must_send_its_head_within_the_header_timeout() {
        let activity = Activity::new();
        assert_eq!(activity.deadline(&limits()), activity.start + Duration::from_secs(10));
    }

    #[test]
    fn between_requests_the_idle_timeout_applies_until_the_next_request_starts() {
        let activity = Arc::new(Activity::new());
        let in_flight = InFlight::start(&activity);
        assert_eq!(activity.deadline(&limits()), activity.start + Duration::from_secs(60), "in flight: idle only");
        drop(in_flight);
        assert!(activity.deadline(&limits()) >= activity.start + Duration::from_secs(60), "idle between requests");
        activity.read();
        assert!(activity.deadline(&limits()) < activity.start + Duration::from_secs(60), "a new head is timed");
    }
}
