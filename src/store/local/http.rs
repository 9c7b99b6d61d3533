//! The embedded backend's own routes on the local server: the stand-in for the CDN, which serves
//! published copies, and the stand-in for S3's presigned PUTs, which stores a direct upload and
//! hands it to ingestion at once (where S3 would send an event).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};

use super::FsBlobStore;
use crate::domain::{ApiError, Format, ImageId};
use crate::imaging::sniff;
use crate::store::layout::{self, PUBLIC_CACHE_CONTROL, public_key};
use crate::store::{BlobStore, UploadHook};

#[derive(Clone)]
struct Stand {
    blobs: Arc<FsBlobStore>,
    ingest: UploadHook,
}

pub fn routes(blobs: Arc<FsBlobStore>, ingest: UploadHook) -> Router {
    Router::new()
        .route(&layout::local_public_route(), get(public_image))
        .route(&layout::local_uploads_route(), put(receive_upload))
        .with_state(Stand { blobs, ingest })
}

fn error(error: &ApiError) -> Response {
    error.to_response().into_response()
}

/// The local CDN: a published image's public copy, without a key, cacheable for a year.
async fn public_image(State(stand): State<Stand>, Path(raw_id): Path<String>) -> Response {
    let not_found = || error(&ApiError::ImageNotFound(raw_id.clone()));
    let Some(id) = ImageId::parse(&raw_id) else {
        return not_found();
    };
    match stand.blobs.get(&public_key(&id)).await {
        Ok(Some(bytes)) => {
            let mime =
                sniff(&bytes).map_or("application/octet-stream", |format| format.mime_type());
            let headers = [
                (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(PUBLIC_CACHE_CONTROL),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ];
            (headers, bytes).into_response()
        }
        Ok(None) => not_found(),
        Err(failure) => {
            tracing::error!(error = %failure, "reading a public image failed");
            error(&ApiError::from(failure))
        }
    }
}

/// The stand-in for a presigned S3 PUT: checks the signature over key, type and size before
/// reading any of the body, stores the file, and ingests it.
async fn receive_upload(
    State(stand): State<Stand>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let content_type = text(header::CONTENT_TYPE).unwrap_or_default().to_owned();
    let length: Option<u64> = text(header::CONTENT_LENGTH).and_then(|value| value.parse().ok());
    let path = request.uri().path().to_owned();
    let signed = length.and_then(|length| {
        let key = stand
            .blobs
            .signer()
            .verify_request(&path, &query, &content_type, length)?;
        Some((key.to_owned(), length))
    });
    let (Some((key, length)), Some(format)) = (signed, Format::from_mime_type(&content_type))
    else {
        return error(&ApiError::Forbidden(
            "The upload URL is invalid or expired, or the request does not match it: its \
             Content-Length and Content-Type must be exactly the reserved size and type (the \
             headers POST /v1/uploads answered), as S3 requires of a presigned PUT."
                .into(),
        ));
    };
    let limit = usize::try_from(length).unwrap_or(usize::MAX);
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(body) if body.len() as u64 == length => body,
        _ => {
            return error(&ApiError::BadRequest(
                "The body is shorter than its Content-Length.".into(),
            ));
        }
    };
    if let Err(failure) = stand.blobs.put(&key, body, format).await {
        return error(&ApiError::from(failure));
    }
    match (stand.ingest)(key).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(failure) => error(&failure),
    }
}
