//! The local server: every route of the table over HTTP on one machine, with the same handlers
//! a Lambda runs, plus the stand-in for the CDN that serves published images.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request as AxumRequest, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use http_body_util::{BodyExt, Limited};
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, RequestExt, Response};
use tokio::net::TcpListener;

use crate::api::{self, output, routes};
use crate::app::App;
use crate::domain::{ApiError, ImageId};
use crate::imaging::sniff;
use crate::store::public_key;

/// Where the local CDN serves published images: `{base}/images/{image_id}`.
pub const PUBLIC_PATH: &str = "/public";
/// Slack for multipart framing on top of the largest accepted image.
const BODY_OVERHEAD_BYTES: u64 = 1024 * 1024;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            &format!("{PUBLIC_PATH}/images/{{image_id}}"),
            get(public_image),
        )
        .fallback(dispatch)
        .with_state(app)
}

/// Serves until Ctrl-C or SIGTERM, finishing the requests in flight.
pub async fn run(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(app))
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

async fn dispatch(State(app): State<Arc<App>>, request: AxumRequest) -> AxumResponse {
    let (route, path_parameters) = match routes::find(request.method(), request.uri().path()) {
        Ok(found) => found,
        Err(routes::Miss::NoSuchPath) => {
            return respond(output::error(&ApiError::NotFound(format!(
                "No endpoint {} {}.",
                request.method(),
                request.uri().path()
            ))));
        }
        Err(routes::Miss::WrongMethod(allowed)) => {
            let allowed: Vec<_> = allowed.iter().map(|method| method.as_str()).collect();
            let mut response = output::error(&ApiError::MethodNotAllowed(format!(
                "{} is not allowed here; use {}.",
                request.method(),
                allowed.join(" or ")
            )));
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return respond(response);
        }
    };
    let limit = app.limits.max_upload_bytes + BODY_OVERHEAD_BYTES;
    let request = match to_lambda_request(request, path_parameters, limit).await {
        Ok(request) => request,
        Err(error) => return respond(output::error(&error)),
    };
    respond(api::serve(&app, route.handler, request).await)
}

/// Builds the request exactly as `lambda_http` does from an API Gateway event: absolute URI,
/// path and query parameters as extensions, body as bytes.
async fn to_lambda_request(
    request: AxumRequest,
    path_parameters: HashMap<String, String>,
    body_limit: u64,
) -> Result<lambda_http::Request, ApiError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, usize::try_from(body_limit).unwrap_or(usize::MAX))
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge(format!("The request body exceeds {body_limit} bytes."))
            } else {
                ApiError::BadRequest("The request body could not be read.".into())
            }
        })?
        .to_bytes();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        query
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    let mut builder = HttpRequest::builder()
        .method(parts.method)
        .uri(format!("http://{host}{path_and_query}"));
    if let Some(headers) = builder.headers_mut() {
        *headers = parts.headers;
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Binary(body.into())
    };
    let request = builder
        .body(body)
        .map_err(|_| ApiError::BadRequest("The request line or Host header is invalid.".into()))?;
    Ok(request
        .with_raw_http_path(parts.uri.path())
        .with_path_parameters(path_parameters)
        .with_query_string_parameters(query))
}

fn respond(response: Response<Body>) -> AxumResponse {
    response
        .map(|body| match body {
            Body::Empty => axum::body::Body::empty(),
            Body::Text(text) => axum::body::Body::from(text),
            Body::Binary(bytes) => axum::body::Body::from(bytes),
            other => axum::body::Body::from(other.to_vec()),
        })
        .into_response()
}

/// The local CDN: a published image's public copy, without a key, cacheable for a year.
async fn public_image(State(app): State<Arc<App>>, Path(raw_id): Path<String>) -> AxumResponse {
    let not_found = || respond(output::error(&ApiError::ImageNotFound(raw_id.clone())));
    let Some(id) = ImageId::parse(&raw_id) else {
        return not_found();
    };
    match app.blobs.get(&public_key(&id)).await {
        Ok(Some(bytes)) => {
            let mime =
                sniff(&bytes).map_or("application/octet-stream", |format| format.mime_type());
            let mut response = output::binary(mime, bytes.into());
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(crate::store::PUBLIC_CACHE_CONTROL),
            );
            respond(response)
        }
        Ok(None) => not_found(),
        Err(error) => {
            tracing::error!(%error, "reading a public image failed");
            respond(output::error(&ApiError::from(error)))
        }
    }
}
