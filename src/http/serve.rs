//! Serving a router on a listener until a shutdown signal: in-flight requests drain for up
//! to a deadline, then whatever remains is closed.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::connection::{self, InFlight, Limits, Watched};

/// How long connections may rest, send a head, stall, and drain at shutdown.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub connection: Limits,
    pub shutdown: Duration,
}

impl From<&crate::config::Config> for ServeLimits {
    fn from(config: &crate::config::Config) -> Self {
        let c = &config.connections;
        Self {
            connection: Limits {
                keep_alive: c.keep_alive,
                header_read: c.header_read,
                write_stall: c.body_idle,
            },
            shutdown: c.shutdown,
        }
    }
}

/// Serves until `shutdown` resolves; then stops accepting at once, lets in-flight requests
/// finish for up to `limits.shutdown`, and returns, dropping any connection still open.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // The header and keep-alive limits are the socket's (`connection`): hyper's own timer
    // would also close keep-alive connections resting between requests.
    http.timer(TokioTimer::new()).header_read_timeout(None);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Streamed bodies go out in several writes; with Nagle's algorithm the second waits
        // for the client's delayed ACK, adding ~40 ms to every media response.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(error = %err, "cannot set TCP_NODELAY");
        }
        let in_flight = Arc::new(InFlight::default());
        let io = TokioIo::new(Watched::new(tcp, limits.connection, in_flight.clone()));
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            answer(app.clone(), request, peer, &in_flight)
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    match tokio::time::timeout(limits.shutdown, graceful.shutdown()).await {
        Ok(()) => tracing::info!("every connection drained"),
        Err(_) => tracing::warn!(
            deadline_secs = limits.shutdown.as_secs_f64(),
            "shutdown deadline passed; closing the connections still open"
        ),
    }
    Ok(())
}

fn answer(
    app: Router,
    mut request: Request<Incoming>,
    peer: SocketAddr,
    in_flight: &Arc<InFlight>,
) -> impl Future<Output = Result<axum::response::Response, Infallible>> + use<> {
    let guard = in_flight.start();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = app.oneshot(request.map(Body::new));
    async move {
        let response = response.await?;
        Ok(response.map(|body| connection::hold_until_written(body, guard)))
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining in-flight requests");
}
