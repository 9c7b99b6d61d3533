//! The local server: every route of the table over HTTP on one machine, with the same handlers a
//! Lambda runs, beside the embedded backend's own routes (its stand-ins for S3 and the CDN) and
//! the API's description.

mod bridge;
mod console;
mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;

pub use openapi::{OPENAPI, served_at};

use crate::api::USAGE_HEADER;
use crate::app::App;
use crate::services::uploads;
use crate::store::UploadHook;
use crate::store::local::LocalBackend;

/// The whole API, its description, the console and the docs; `backend_routes` are those the
/// backend serves itself (the local stand-ins). `origin` is where the server listens.
pub fn router(app: Arc<App>, backend_routes: Option<Router>, origin: &str) -> Router {
    let description = Arc::new(served_at(origin));
    let in_progress = GlobalConcurrencyLimitLayer::new(app.limits.max_concurrent_requests.max(1));
    let api = Router::new()
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(description.as_ref().clone()) }),
        )
        .merge(console::routes())
        .fallback(bridge::dispatch)
        .with_state(Arc::new(bridge::RouteApps::new(&app)));
    let all = match backend_routes {
        Some(routes) => api.merge(routes),
        None => api,
    };
    all.layer(middleware::from_fn(allow_browsers))
        .layer(in_progress)
}

/// CORS for every origin, so that the console can be hosted anywhere: the API authenticates by
/// a header the page sets, never by cookies, so another site gains nothing it lacks already.
async fn allow_browsers(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("x-api-key, content-type, idempotency-key"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_str(&format!("{USAGE_HEADER}, retry-after, x-request-id"))
            .expect("a valid header value"),
    );
    response
}

/// Ingestion of a stored direct upload, for what stands in for S3's event.
pub fn ingest_hook(app: &Arc<App>) -> UploadHook {
    let app = Arc::clone(app);
    Arc::new(move |key| {
        let app = Arc::clone(&app);
        Box::pin(async move { uploads::ingest(&app, &key).await.map(drop) })
    })
}

/// The embedded backend's own routes, with every upload it receives ingested at once.
pub fn local_backend_routes(app: &Arc<App>, backend: &LocalBackend) -> Router {
    backend.routes(ingest_hook(app))
}

/// Serves until Ctrl-C or SIGTERM, finishing the requests in flight.
pub async fn run(
    app: Arc<App>,
    backend_routes: Option<Router>,
    listener: TcpListener,
) -> std::io::Result<()> {
    let origin = format!("http://{}", listener.local_addr()?);
    axum::serve(listener, router(app, backend_routes, &origin))
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
