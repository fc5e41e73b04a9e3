//! Time limits on one client connection, enforced on its socket.
//!
//! hyper has one header-read timer, started as soon as a connection waits for a request head,
//! so it cannot tell a keep-alive connection resting between requests (which may rest long)
//! from a client trickling a head byte by byte (which must not). The socket can: it sees when
//! the first byte of a head arrives, and the service marks when a request is in flight.
//!
//! - between requests: `keep_alive` from the end of the last response (or from connecting);
//! - a request head: `header_read` from its first byte, however slowly the rest arrives;
//! - a response the client stops reading: `write_stall` with no byte accepted by the socket.
//!
//! A request body that stops moving is the body timeout's job (`tower_http::timeout`), since
//! only the body knows when it is complete.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::body::Body;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep, sleep_until},
};

/// The limits of `GALLEY_KEEP_ALIVE_TIMEOUT_SECS`, `GALLEY_HEADER_READ_TIMEOUT_SECS` and
/// `GALLEY_BODY_IDLE_TIMEOUT_SECS` (which also bounds a stalled response write).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub keep_alive: Duration,
    pub header_read: Duration,
    pub write_stall: Duration,
}

/// Requests of one connection whose response has not been written yet.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    /// The connection's task, parked in a read while busy: woken when the last response is
    /// written so that it starts the keep-alive timer.
    reader: Mutex<Option<Waker>>,
}

impl InFlight {
    /// Marks a request in flight until the returned guard (carried by its response body) drops.
    pub fn start(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    fn is_busy(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }

    fn wake_reader_when_done(&self, waker: &Waker) {
        *self.reader.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
        // The last response may have finished between the caller's check and now.
        if !self.is_busy() {
            waker.wake_by_ref();
        }
    }
}

pub struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1
            && let Some(waker) = self
                .0
                .reader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        {
            waker.wake();
        }
    }
}

/// A response body that keeps its request counted until hyper has written it and let it go.
pub fn hold_until_written(body: Body, guard: InFlightGuard) -> Body {
    Body::new(Held {
        body,
        _guard: guard,
    })
}

struct Held {
    body: Body,
    _guard: InFlightGuard,
}

impl http_body::Body for Held {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in flight and no byte of the next one yet, since this instant.
    Resting(Instant),
    /// The first byte of a request head arrived at this instant.
    ReadingHead(Instant),
    Busy,
}

/// A socket that fails with `TimedOut` when one of the [`Limits`] passes.
pub struct Watched<T> {
    io: T,
    limits: Limits,
    in_flight: Arc<InFlight>,
    phase: Phase,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<T> Watched<T> {
    pub fn new(io: T, limits: Limits, in_flight: Arc<InFlight>) -> Self {
        let now = Instant::now();
        Self {
            io,
            limits,
            in_flight,
            phase: Phase::Resting(now),
            read_timer: Box::pin(sleep_until(now + limits.keep_alive)),
            write_timer: None,
        }
    }

    fn read_deadline(&mut self) -> Option<Instant> {
        if self.in_flight.is_busy() {
            self.phase = Phase::Busy;
        } else if let Phase::Busy = self.phase {
            self.phase = Phase::Resting(Instant::now());
        }
        match self.phase {
            Phase::Resting(since) => Some(since + self.limits.keep_alive),
            Phase::ReadingHead(since) => Some(since + self.limits.header_read),
            Phase::Busy => None,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let deadline = this.read_deadline();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && let Phase::Resting(_) = this.phase
                {
                    this.phase = Phase::ReadingHead(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let Some(deadline) = deadline else {
                    this.in_flight.wake_reader_when_done(cx.waker());
                    return Poll::Pending;
                };
                if this.read_timer.deadline() != deadline {
                    this.read_timer.as_mut().reset(deadline);
                }
                match this.read_timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out(match this.phase {
                        Phase::ReadingHead(_) => "the request head took too long",
                        _ => "the connection was idle too long",
                    }))),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => ready,
        }
    }
}

impl<T: AsyncWrite + Unpin> Watched<T> {
    /// Counts a write that made no progress against `write_stall`; any progress resets it.
    fn stalled<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.write_timer = None;
            return poll;
        }
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(sleep_until(Instant::now() + self.limits.write_stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(timed_out("the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.stalled(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.stalled(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.stalled(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_shutdown(cx);
        self.stalled(cx, poll)
    }
}
