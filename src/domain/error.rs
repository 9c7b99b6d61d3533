//! The one error type of the API: each variant is one HTTP status and one documented slug. And
//! the one error of every outside service the API depends on (storage, CDN, engines), which maps
//! onto it.

use http::{HeaderValue, Response, StatusCode, header};

type Source = Box<dyn std::error::Error + Send + Sync>;

/// A failure of an outside service behind a port: a store, the CDN, an engine.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The service is throttling us or timed out; the client may retry shortly.
    #[error("the backend is throttling or timed out: {0}")]
    Unavailable(Source),
    /// No connection could be made to the store at all: it is down or misconfigured, which a
    /// client should hear as such rather than as "busy".
    #[error("the backend could not be reached: {0}")]
    Unreachable(Source),
    /// A create found its record already there.
    #[error("the record already exists")]
    AlreadyExists,
    /// Our lease on an image expired and another request took it over.
    #[error("the lease on the image was lost")]
    LeaseLost,
    #[error(transparent)]
    Failed(Source),
}

impl BackendError {
    pub fn failed(source: impl Into<Source>) -> Self {
        Self::Failed(source.into())
    }
}

impl From<BackendError> for ApiError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::Unavailable(source) => {
                tracing::warn!(error = %source, "backend unavailable");
                Self::Unavailable { retry_after: 1 }
            }
            BackendError::Unreachable(source) => {
                tracing::error!(error = %source, "backend unreachable");
                Self::BackendUnreachable { retry_after: 5 }
            }
            BackendError::LeaseLost => Self::Conflict(
                "The image was changed by another request at the same time; retry.".into(),
            ),
            BackendError::AlreadyExists | BackendError::Failed(_) => Self::internal(error),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Image with id {0} not found.")]
    ImageNotFound(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// This server lacks what the endpoint needs (an engine not configured); the message says
    /// how to enable it.
    #[error("{0}")]
    NotImplemented(String),
    #[error("The request is invalid.")]
    Validation(Vec<String>),
    /// A validation error that a retry may not repeat: the origin of create-from-URL timed out,
    /// could not be reached, or failed on its side. Answered as a 422 like `Validation`.
    #[error("The request is invalid.")]
    UpstreamFailed(String),
    #[error("Too many requests. Retry after {retry_after} seconds.")]
    TooManyRequests { retry_after: u64 },
    #[error("The service is busy. Retry after {retry_after} seconds.")]
    Unavailable { retry_after: u64 },
    /// The request ran past its time limit and was answered without its result.
    #[error("The request took longer than the {seconds} seconds it may take, and was stopped.")]
    TimedOut { seconds: u64 },
    #[error(
        "The storage backend could not be reached; the server's operator must start or fix it. \
         Retry after {retry_after} seconds."
    )]
    BackendUnreachable { retry_after: u64 },
    /// A real server fault; the source is logged, never sent.
    #[error("An internal error occurred.")]
    Internal(#[source] Source),
}

impl ApiError {
    pub fn validation(problem: impl Into<String>) -> Self {
        Self::Validation(vec![problem.into()])
    }

    pub fn internal(source: impl Into<Source>) -> Self {
        Self::Internal(source.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::ImageNotFound(_) | Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge(_) => 413,
            Self::Validation(_) | Self::UpstreamFailed(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal(_) => 500,
            Self::NotImplemented(_) => 501,
            Self::Unavailable { .. } | Self::TimedOut { .. } | Self::BackendUnreachable { .. } => {
                503
            }
        }
    }

    /// The last segment of the error's `type` URL.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::ImageNotFound(_) | Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::Validation(_) | Self::UpstreamFailed(_) => "validation-error",
            Self::TooManyRequests { .. } => "too-many-requests",
            Self::Internal(_) => "internal-server-error",
            Self::NotImplemented(_) => "not-implemented",
            Self::Unavailable { .. } | Self::TimedOut { .. } | Self::BackendUnreachable { .. } => {
                "service-unavailable"
            }
        }
    }

    /// The `error` title: the reason phrase, as the reference's examples use.
    pub fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Bad Request",
            Self::Unauthorized(_) => "Unauthorized",
            Self::Forbidden(_) => "Forbidden",
            Self::ImageNotFound(_) | Self::NotFound(_) => "Not Found",
            Self::MethodNotAllowed(_) => "Method Not Allowed",
            Self::Conflict(_) => "Conflict",
            Self::PayloadTooLarge(_) => "Payload Too Large",
            Self::Validation(_) | Self::UpstreamFailed(_) => "Validation Error",
            Self::TooManyRequests { .. } => "Too Many Requests",
            Self::Internal(_) => "Internal Server Error",
            Self::NotImplemented(_) => "Not Implemented",
            Self::Unavailable { .. } | Self::TimedOut { .. } | Self::BackendUnreachable { .. } => {
                "Service Unavailable"
            }
        }
    }

    /// Whether a retry of the same request may well succeed: such outcomes are never kept for
    /// `Idempotency-Key` replays.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Conflict(_)
                | Self::TooManyRequests { .. }
                | Self::UpstreamFailed(_)
                | Self::Internal(_)
                | Self::NotImplemented(_)
                | Self::Unavailable { .. }
                | Self::TimedOut { .. }
                | Self::BackendUnreachable { .. }
        )
    }

    /// Seconds a client should wait before retrying, where that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after }
            | Self::Unavailable { retry_after }
            | Self::BackendUnreachable { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The error object of the reference, keys in its order: `type`, `error`, `status`,
    /// `message`, and `errors` for validation failures.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            kind: format!("https://docs.img-processing.com/errors/{}", self.slug()),
            error: self.title(),
            status: self.status(),
            message: self.to_string(),
            errors: match self {
                Self::Validation(errors) => Some(errors.iter().map(String::as_str).collect()),
                Self::UpstreamFailed(problem) => Some(vec![problem.as_str()]),
                _ => None,
            },
        }
    }

    /// The whole HTTP response: the error object as JSON, and `Retry-After` where it applies.
    /// The API and the local backend's own routes answer errors through this alone.
    pub fn to_response(&self) -> Response<String> {
        let body = serde_json::to_string(&self.body()).expect("error bodies always serialize");
        let mut response = Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[derive(Debug, serde::Serialize)]
pub struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub error: &'static str,
    pub status: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<&'a str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_the_reference_example() {
        let error = ApiError::ImageNotFound("image_exampleid".into());
        assert_eq!(
            serde_json::to_value(error.body()).unwrap(),
            serde_json::json!({
                "type": "https://docs.img-processing.com/errors/not-found",
                "error": "Not Found",
                "status": 404,
                "message": "Image with id image_exampleid not found."
            })
        );
    }

    #[test]
    fn validation_lists_every_problem() {
        let error = ApiError::Validation(vec!["a".into(), "b".into()]);
        let body = serde_json::to_value(error.body()).unwrap();
        assert_eq!(body["status"], 422);
        assert_eq!(body["error"], "Validation Error");
        assert_eq!(body["errors"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn internal_errors_never_reveal_their_source() {
        let error = ApiError::internal("disk /secret/path is full");
        assert!(
            !serde_json::to_string(&error.body())
                .unwrap()
                .contains("secret")
        );
        assert_eq!(error.status(), 500);
    }

    #[test]
    fn an_unreachable_backend_is_not_called_busy() {
        let error = ApiError::from(BackendError::Unreachable("connection refused".into()));
        assert_eq!(error.status(), 503);
        assert_eq!(error.retry_after(), Some(5));
        let message = error.to_string();
        assert!(message.contains("could not be reached"), "{message}");
        assert!(!message.contains("busy"), "{message}");
    }
}
