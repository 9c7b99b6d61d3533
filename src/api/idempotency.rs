//! `Idempotency-Key`: a POST retried with the same key within a day gets the first response
//! again, and creates nothing more; the same key on a different request is refused.

use std::time::Duration;

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use super::{Caller, Handler, HandlerResult, output};
use crate::app::App;
use crate::domain::ApiError;
use crate::store::StoredResponse;

pub const HEADER: &str = "idempotency-key";
/// Marks a response that is a replay of the first one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const KEEP_FOR: chrono::Duration = chrono::Duration::hours(24);
/// A claim held this long without a response belongs to a request that died.
const STALE_AFTER: Duration = Duration::from_secs(60);
/// How long a retry waits for the first request to finish before answering 409.
const WAIT_FOR: Duration = Duration::from_secs(20);

/// The request's key, if it is a POST that carries one.
pub fn key(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let printable = key.bytes().all(|byte| (0x21..=0x7e).contains(&byte));
    if key.is_empty() || key.len() > 255 || !printable {
        return Err(ApiError::BadRequest(
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters.".into(),
        ));
    }
    Ok((request.method() == Method::POST).then(|| key.to_owned()))
}

/// What makes two requests the same: method, path, content type and body. A multipart body
/// counts by its fields (names, file names, types and the SHA-256 of each value), not its bytes:
/// a client makes a new boundary for every retry.
async fn fingerprint(request: &Request) -> String {
    let mut hash = Sha256::new();
    hash.update(request.method().as_str());
    hash.update(b"\n");
    hash.update(request.uri().path());
    hash.update(b"\n");
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match multipart_fields(content_type, request.body()).await {
        Some(fields) => {
            hash.update(b"multipart/form-data\n");
            hash.update(fields);
        }
        None => {
            hash.update(content_type);
            hash.update(b"\n");
            hash.update(request.body().as_ref());
        }
    }
    hex::encode(hash.finalize())
}

/// A multipart body's fields, each as its name, file name, type and SHA-256; `None` for a body
/// that is not well-formed multipart (it is then compared byte for byte).
async fn multipart_fields(content_type: &str, body: &[u8]) -> Option<Vec<u8>> {
    let boundary = multer::parse_boundary(content_type).ok()?;
    let body = bytes::Bytes::copy_from_slice(body);
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let described = format!(
            "{:?}\n{:?}\n{:?}\n",
            field.name(),
            field.file_name(),
            field.content_type().map(ToString::to_string)
        );
        fields.extend_from_slice(described.as_bytes());
        fields.extend_from_slice(&Sha256::digest(field.bytes().await.ok()?));
    }
    Some(fields)
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let mut response = Response::new(Body::Binary(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(value) = stored
        .content_type
        .and_then(|value| HeaderValue::from_str(&value).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// Runs `handler` once per key: the first request runs and its response is kept; retries wait
/// for it and get the same response.
pub async fn run(
    app: &App,
    caller: Caller,
    key: String,
    request: Request,
    handler: Handler,
) -> HandlerResult {
    let fingerprint = fingerprint(&request).await;
    let owner = caller.owner.clone();
    let mut pause = Duration::from_millis(25);
    let deadline = tokio::time::Instant::now() + WAIT_FOR;
    loop {
        let expires_at = Utc::now() + KEEP_FOR;
        let held = app
            .store
            .idempotency
            .claim(&owner, &key, &fingerprint, expires_at, STALE_AFTER)
            .await?;
        match held {
            None => break,
            Some(record) if record.fingerprint != fingerprint => {
                return Err(ApiError::validation(
                    "Idempotency-Key was already used for a different request",
                ));
            }
            Some(record) => {
                if let Some(response) = record.response {
                    return Ok(replay(response));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApiError::Conflict(
                        "A request with this Idempotency-Key is still running; retry shortly."
                            .into(),
                    ));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }

    let response = match handler(app, caller, request).await {
        Ok(response) => response,
        Err(error) if !error.is_transient() => output::error(&error),
        Err(error) => {
            // Not the request's fault, and maybe not the next try's: let a retry run it again.
            if let Err(release) = app.store.idempotency.release(&owner, &key).await {
                tracing::warn!(%release, "could not release an idempotency key");
            }
            return Err(error);
        }
    };
    let stored = StoredResponse {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        body: response.body().to_vec(),
    };
    app.store
        .idempotency
        .complete(&owner, &key, &fingerprint, &stored)
        .await?;
    Ok(response)
}
