//! The local server: every route of the table over HTTP on one machine, with the same handlers
//! a Lambda runs, plus the stand-in for the CDN that serves published images.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, Query, Request as AxumRequest, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{get, put};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, RequestExt, Response};
use tokio::net::TcpListener;

use crate::api::handlers::ingest_upload;
use crate::api::{self, output, routes};
use crate::app::App;
use crate::domain::{ApiError, Format, ImageId};
use crate::imaging::sniff;
use crate::store::local::{FsBlobStore, UPLOADS_PATH};
use crate::store::{BlobStore, public_key};

/// Where the local CDN serves published images: `{base}/images/{image_id}`.
pub const PUBLIC_PATH: &str = "/public";
/// Slack for multipart framing on top of the largest accepted image.
const BODY_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// What the receiver of presigned uploads needs: the API, and the store it checks them with.
#[derive(Clone)]
struct UploadTarget {
    app: Arc<App>,
    blobs: Arc<FsBlobStore>,
}

/// The whole API; with `local_uploads`, also the receiver of presigned uploads, as S3 would be.
pub fn router(app: Arc<App>, local_uploads: Option<Arc<FsBlobStore>>) -> Router {
    let mut router = Router::new()
        .route(
            &format!("{PUBLIC_PATH}/images/{{image_id}}"),
            get(public_image),
        )
        .route("/openapi.json", get(openapi))
        .fallback(dispatch)
        .with_state(Arc::clone(&app));
    if let Some(blobs) = local_uploads {
        let uploads = Router::new()
            .route(&format!("{UPLOADS_PATH}/{{*rest}}"), put(receive_upload))
            .with_state(UploadTarget { app, blobs });
        router = router.merge(uploads);
    }
    router
}

/// Serves until Ctrl-C or SIGTERM, finishing the requests in flight.
pub async fn run(
    app: Arc<App>,
    local_uploads: Option<Arc<FsBlobStore>>,
    listener: TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, router(app, local_uploads))
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
    let body = read_body(body, body_limit).await?;
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

async fn read_body(body: axum::body::Body, limit: u64) -> Result<Bytes, ApiError> {
    Ok(
        Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    ApiError::PayloadTooLarge(format!("The request body exceeds {limit} bytes."))
                } else {
                    ApiError::BadRequest("The request body could not be read.".into())
                }
            })?
            .to_bytes(),
    )
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

/// The API's description, from the openapi.yaml at the root of the repository.
pub static OPENAPI: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_yaml_ng::from_str(include_str!("../openapi.yaml")).expect("openapi.yaml is valid YAML")
});

async fn openapi() -> axum::Json<&'static serde_json::Value> {
    axum::Json(&OPENAPI)
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

/// The embedded backend's stand-in for a presigned S3 PUT: checks the signature over key, type
/// and size, stores the file, and ingests it at once (where S3 would send an event).
async fn receive_upload(
    State(target): State<UploadTarget>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: AxumRequest,
) -> AxumResponse {
    let key = format!("{}/{rest}", UPLOADS_PATH.trim_start_matches('/'));
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let content_type = text(header::CONTENT_TYPE).unwrap_or_default().to_owned();
    // The signature is checked against the declared length before any of the body is read.
    let length: Option<u64> = text(header::CONTENT_LENGTH).and_then(|value| value.parse().ok());
    let expires = query.get("expires").and_then(|value| value.parse().ok());
    let signature = query.get("signature").map_or("", String::as_str);
    let signed = match (expires, length) {
        (Some(expires), Some(length)) => {
            target
                .blobs
                .signer()
                .verify(&key, &content_type, length, expires, signature)
        }
        _ => false,
    };
    let (true, Some(length), Some(format)) =
        (signed, length, Format::from_mime_type(&content_type))
    else {
        return respond(output::error(&ApiError::Forbidden(
            "The upload URL is invalid or expired, or the request does not match it.".into(),
        )));
    };
    let body = match read_body(request.into_body(), length).await {
        Ok(body) if body.len() as u64 == length => body,
        Ok(_) => {
            let short = ApiError::BadRequest("The body is shorter than its Content-Length.".into());
            return respond(output::error(&short));
        }
        Err(error) => return respond(output::error(&error)),
    };
    let stored = async {
        target.blobs.put(&key, body, format).await?;
        ingest_upload(&target.app, &key).await
    }
    .await;
    match stored {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => respond(output::error(&ApiError::from(error))),
    }
}
