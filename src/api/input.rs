//! Reading requests: path parameters, query strings and bodies, with the API's errors.

use bytes::Bytes;
use lambda_http::http::header;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};

use crate::domain::{ApiError, ImageId};

/// The `{image_id}` of the path. An id that cannot exist is simply not found.
pub fn image_id(request: &Request) -> Result<ImageId, ApiError> {
    let raw = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("image_id"))
        .unwrap_or_default();
    ImageId::parse(raw).ok_or_else(|| ApiError::ImageNotFound(raw.to_owned()))
}

/// A query parameter. An empty value, or exactly `undefined` (what the vendor's Node SDK v1 sends
/// for an argument it was not given), is no value at all.
pub fn query(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|parameters| parameters.first(name))
        .filter(|value| !value.is_empty() && *value != "undefined")
        .map(str::to_owned)
}

pub fn content_type(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

/// The body as bytes, whichever way the runtime delivered it.
pub fn body_bytes(request: Request) -> Bytes {
    match request.into_body() {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        other => Bytes::copy_from_slice(&other),
    }
}

fn is_json(request: &Request) -> bool {
    content_type(request).is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The body as a JSON object. As the reference warns, an empty body sent as `application/json` is
/// a bad request; with no content type at all it reads as `{}`.
pub fn json_object(request: &Request) -> Result<Map<String, Value>, ApiError> {
    let body = request.body();
    if body.is_empty() {
        if is_json(request) {
            return Err(ApiError::BadRequest(
                "The body is empty but the Content-Type is application/json; send {} instead."
                    .into(),
            ));
        }
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "The body must be a JSON object.".into(),
        )),
        Err(error) => Err(ApiError::BadRequest(format!(
            "The body is not valid JSON: {error}."
        ))),
    }
}

/// For endpoints without parameters: no body, or a JSON object whose fields are ignored.
pub fn no_parameters(request: &Request) -> Result<(), ApiError> {
    json_object(request).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with_query(pairs: &[(&str, &str)]) -> Request {
        let parameters: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Request::new(Body::Empty).with_query_string_parameters(parameters)
    }

    #[test]
    fn empty_and_undefined_query_values_are_absent() {
        let request = with_query(&[("take", "undefined"), ("from", ""), ("name", "x")]);
        assert_eq!(query(&request, "take"), None);
        assert_eq!(query(&request, "from"), None);
        assert_eq!(query(&request, "name").as_deref(), Some("x"));
        assert_eq!(query(&request, "missing"), None);
        let request = with_query(&[("take", "Undefined"), ("from", " ")]);
        assert_eq!(query(&request, "take").as_deref(), Some("Undefined"));
        assert_eq!(query(&request, "from").as_deref(), Some(" "));
    }
}
