//! The bridge between axum and the handlers: an HTTP request becomes the `lambda_http::Request`
//! API Gateway would deliver, and the handler's response goes back as it came.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request as AxumRequest, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, RequestExt, Response};

use crate::api::{self, auth, output, routes};
use crate::app::App;
use crate::domain::ApiError;

/// Slack for multipart framing on top of the largest accepted image.
const BODY_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// Each route's view of the app: only what its line in the route table names, as its Lambda
/// has it.
pub struct RouteApps(HashMap<&'static str, Arc<App>>);

impl RouteApps {
    pub fn new(app: &App) -> Self {
        Self(
            routes::ROUTES
                .iter()
                .map(|route| (route.name, Arc::new(app.only(route.uses))))
                .collect(),
        )
    }
}

/// Finds the request's route and runs its handler, as API Gateway and a Lambda would.
pub async fn dispatch(State(apps): State<Arc<RouteApps>>, request: AxumRequest) -> AxumResponse {
    let (route, path_parameters) = match routes::find(request.method(), request.uri().path()) {
        Ok(found) => found,
        Err(routes::Miss::NoSuchPath) => {
            return into_axum(output::error(&ApiError::NotFound(format!(
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
            return into_axum(response);
        }
    };
    // Every route of the table has its app.
    let app = &apps.0[route.name];
    // A request without a valid key costs no more than its headers: refused before its body
    // is read. The caller found goes with the request, so the key is looked up once.
    let caller = match auth::authenticate(app.store.keys.as_ref(), request.headers()).await {
        Ok(caller) => caller,
        Err(error) => return into_axum(output::error(&error)),
    };
    let limit = app.limits.max_upload_bytes + BODY_OVERHEAD_BYTES;
    let mut request = match to_lambda_request(request, path_parameters, limit).await {
        Ok(request) => request,
        Err(error) => return into_axum(output::error(&error)),
    };
    request.extensions_mut().insert(caller);
    into_axum(api::serve(app, route.handler, request).await)
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

fn into_axum(response: Response<Body>) -> AxumResponse {
    response
        .map(|body| match body {
            Body::Empty => axum::body::Body::empty(),
            Body::Text(text) => axum::body::Body::from(text),
            Body::Binary(bytes) => axum::body::Body::from(bytes),
            other => axum::body::Body::from(other.to_vec()),
        })
        .into_response()
}
