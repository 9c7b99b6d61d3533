//! Building responses: JSON bodies, binaries, and the error object.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::USAGE_HEADER;
use crate::domain::ApiError;

pub fn json(status: u16, value: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(ApiError::internal)?;
    Ok(with_body(status, "application/json", Body::Text(body)))
}

pub fn no_content() -> Response<Body> {
    with_body(204, "", Body::Empty)
}

/// Image bytes; browsers must not second-guess the type (a polyglot stays an image).
pub fn binary(content_type: &str, bytes: Vec<u8>) -> Response<Body> {
    let mut response = with_body(200, content_type, Body::Binary(bytes));
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A 302 to `location`, uncached: presigned URLs expire.
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = with_body(302, "", Body::Empty);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A response that counts as `images` processed images (the usage header a live key's 201 gets;
/// one unless the endpoint says otherwise).
pub fn counted(mut response: Response<Body>, images: u8) -> Response<Body> {
    response
        .headers_mut()
        .insert(USAGE_HEADER, HeaderValue::from(u16::from(images)));
    response
}

pub fn error(error: &ApiError) -> Response<Body> {
    error.to_response().map(Body::Text)
}

fn with_body(status: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if !content_type.is_empty() {
        let value = HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
