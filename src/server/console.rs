//! The web console at `/` and the API's documentation at `/docs`: plain HTML, CSS and JS from
//! `console/`, compiled into the binary so that they need no build step and no network. They are
//! routes of the local server only: the console calls the API like any client, with the key the
//! user pastes, so it can as well be hosted as static files next to a deployed API.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// Each file of `console/` and the path it is served at; the pages name each other relatively.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "/docs",
        "text/html; charset=utf-8",
        include_str!("../../console/docs.html"),
    ),
    (
        "/console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/console.css"),
    ),
    (
        "/console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/console.js"),
    ),
    (
        "/docs.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/docs.js"),
    ),
];

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(
                path,
                get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, content_type),
                            (header::CACHE_CONTROL, "no-cache"),
                        ],
                        body,
                    )
                        .into_response()
                }),
            )
        })
}
