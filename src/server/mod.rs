//! The local server: every route of the table over HTTP on one machine, with the same handlers a
//! Lambda runs, beside the embedded backend's own routes (its stand-ins for S3 and the CDN) and
//! the API's description.

mod bridge;
mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use openapi::OPENAPI;

use crate::app::App;
use crate::services::uploads;
use crate::store::local::{LocalBackend, UploadHook};

/// The whole API; `backend_routes` are those the backend serves itself (the local stand-ins).
pub fn router(app: Arc<App>, backend_routes: Option<Router>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::serve))
        .fallback(bridge::dispatch)
        .with_state(app);
    match backend_routes {
        Some(routes) => api.merge(routes),
        None => api,
    }
}

/// The embedded backend's own routes, with every upload it receives ingested at once.
pub fn local_backend_routes(app: &Arc<App>, backend: &LocalBackend) -> Router {
    let app = Arc::clone(app);
    let ingest: UploadHook = Arc::new(move |key| {
        let app = Arc::clone(&app);
        Box::pin(async move { uploads::ingest(&app, &key).await.map(drop) })
    });
    backend.routes(ingest)
}

/// Serves until Ctrl-C or SIGTERM, finishing the requests in flight.
pub async fn run(
    app: Arc<App>,
    backend_routes: Option<Router>,
    listener: TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, router(app, backend_routes))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
