//! The HTTP surface: the route table, authentication, request parsing and responses. Every
//! handler is a plain async function over a `lambda_http::Request`, so a Lambda and the local
//! server run exactly the same code.

pub mod auth;
pub mod handlers;
pub mod idempotency;
mod input;
pub mod output;
pub mod routes;
pub mod transform_params;
mod validate;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, BoxFuture, Request, RequestExt, Response};

use crate::app::App;
use crate::domain::{ApiError, Owner, Stage};

/// Who is calling, once their key has been checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub owner: Owner,
    /// The SHA-256 of the key, which requests are counted by.
    pub key_hash: String,
}

pub type HandlerResult = Result<Response<Body>, ApiError>;

pub type Handler = for<'a> fn(&'a App, Caller, Request) -> BoxFuture<'a, HandlerResult>;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// On 201s for live keys: how many images the request processed, as the reference bills them.
pub const USAGE_HEADER: &str = "x-image-processing-usage";

/// Runs one request through authentication, rate limiting, idempotency and `handler`, turning
/// every failure (a panic included) into the API's error object, and logs the outcome.
pub async fn serve(app: &App, handler: Handler, request: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let time_limit = time_limit(app, &request);
    let caught = AssertUnwindSafe(guarded(app, handler, request)).catch_unwind();
    let outcome = match tokio::time::timeout(time_limit, caught).await {
        Ok(outcome) => outcome.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ApiError::internal(format!("handler panicked: {message}")))
        }),
        Err(_) => Err(ApiError::TimedOut {
            seconds: time_limit.as_secs(),
        }),
    };
    let mut response = outcome.unwrap_or_else(|error| {
        if let ApiError::Internal(source) = &error {
            tracing::error!(%request_id, error = %source, "request failed");
        }
        output::error(&error)
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    tracing::info!(
        %request_id,
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// How long the request may take: on Lambda, until a second before the invocation's deadline
/// (so that it is answered with an error object, not killed); elsewhere, the configured limit.
fn time_limit(app: &App, request: &Request) -> Duration {
    let configured = Duration::from_secs(app.limits.request_timeout);
    let Some(deadline) = request.lambda_context_ref().map(|context| context.deadline) else {
        return configured;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(deadline)
        .saturating_sub(now)
        .saturating_sub(Duration::from_secs(1))
        .min(configured)
}

/// The handler behind the checks every request passes: its key, its rate, its idempotency key.
async fn guarded(app: &App, handler: Handler, request: Request) -> HandlerResult {
    // The local server authenticates before it reads the body, and passes the caller on; on
    // Lambda the key is checked here. (Extensions never come from the wire.)
    let caller = match request.extensions().get::<Caller>() {
        Some(caller) => caller.clone(),
        None => auth::authenticate(app.store.keys.as_ref(), request.headers()).await?,
    };
    auth::admit(app, &caller).await?;
    let live = caller.owner.stage == Stage::Live;
    let mut response = match idempotency::key(&request)? {
        Some(key) => idempotency::run(app, caller, key, request, handler).await?,
        None => handler(app, caller, request).await?,
    };
    let replayed = response
        .headers()
        .contains_key(idempotency::REPLAYED_HEADER);
    // Only a live key's 201 is billed, once per image processed (the handler may count more);
    // a replay processed nothing.
    if live && response.status() == 201 && !replayed {
        if !response.headers().contains_key(USAGE_HEADER) {
            response = output::counted(response, 1);
        }
    } else {
        response.headers_mut().remove(USAGE_HEADER);
    }
    Ok(response)
}
