//! Create from URL: fetching from allowed origins only, never from inside the network, with
//! bounded redirects, time and size. A loopback listener counts connections to prove that
//! refused targets are never contacted.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use imgforge::domain::Format;
use imgforge::fetch::FetchConfig;
use imgforge::imaging::fixtures;
use serde_json::{Value, json};
use support::call::{Call, LocalApp, json, local_app};

async fn harness(allowlist: &str, allow_loopback: bool) -> LocalApp {
    local_app("acct_fetch", |config| {
        config.limits.max_upload_bytes = 1024 * 1024;
        config.fetch = FetchConfig {
            url_allowlist: allowlist.to_owned(),
            url_allow_loopback: allow_loopback,
        };
    })
    .await
}

/// Create from URL through its handler.
async fn create(harness: &LocalApp, url: &str) -> (u16, Value) {
    let body = json!({"name": "fetched", "url": url})
        .to_string()
        .into_bytes();
    let response = Call::new("create-image", &harness.key)
        .body("application/json", body)
        .send(&harness.app)
        .await;
    (response.status().as_u16(), json(&response))
}

/// A loopback listener that only counts the connections made to it.
struct Tripwire {
    port: u16,
    connections: Arc<AtomicUsize>,
}

fn tripwire() -> Tripwire {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Tripwire { port, connections }
}

/// An origin on loopback serving a PNG, redirects, a slow answer, a huge one and non-images.
async fn origin() -> SocketAddr {
    let png = fixtures::encode(Format::Png, 30, 20);
    let app = Router::new()
        .route(
            "/image.png",
            get(move || async move { ([(header::CONTENT_TYPE, "image/png")], png) }),
        )
        .route(
            "/hop/{n}",
            get(
                |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                    if n == 0 {
                        Redirect::temporary("/image.png").into_response()
                    } else {
                        Redirect::temporary(&format!("/hop/{}", n - 1)).into_response()
                    }
                },
            ),
        )
        .route(
            "/to-metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/huge", get(|| async { vec![0u8; 2 * 1024 * 1024] }))
        .route("/text", get(|| async { "<html>not an image</html>" }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

fn problem(body: &Value) -> &str {
    body["errors"][0].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_spelling_of_an_internal_address_is_refused_without_connecting() {
    let trap = tripwire();
    // Everything is on the allowlist: only the address checks stand in the way.
    let harness = harness("http://*:*/*", false).await;
    let port = trap.port;
    for url in [
        format!("http://127.0.0.1:{port}/x.png"),
        format!("http://localhost:{port}/x.png"),
        format!("http://2130706433:{port}/x.png"),
        format!("http://0x7f000001:{port}/x.png"),
        format!("http://0x7f.1:{port}/x.png"),
        format!("http://017700000001:{port}/x.png"),
        format!("http://0177.0.0.1:{port}/x.png"),
        format!("http://127.1:{port}/x.png"),
        format!("http://[::1]:{port}/x.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/x.png"),
        format!("http://[::ffff:7f00:1]:{port}/x.png"),
        format!("http://0.0.0.0:{port}/x.png"),
        format!("http://[::]:{port}/x.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/x.png".to_owned(),
        "http://172.16.5.4/x.png".to_owned(),
        "http://192.168.1.1/x.png".to_owned(),
        "http://100.64.0.1/x.png".to_owned(),
        "http://224.0.0.1/x.png".to_owned(),
        "http://[fc00::1]/x.png".to_owned(),
        "http://[fe80::1]/x.png".to_owned(),
        "http://[ff02::1]/x.png".to_owned(),
        "http://[64:ff9b::a9fe:a9fe]/x.png".to_owned(),
        "http://[64:ff9b:1::a9fe:a9fe]/x.png".to_owned(),
        "http://[2002:a9fe:a9fe::1]/x.png".to_owned(),
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x.png".to_owned(),
        "http://[100::1]/x.png".to_owned(),
        "http://[::ffff:0:a9fe:a9fe]/x.png".to_owned(),
    ] {
        let (status, body) = create(&harness, &url).await;
        assert_eq!(status, 422, "{url}: {body}");
        let problem = problem(&body);
        assert!(problem.contains("not allowed"), "{url}: {body}");
        // What a name resolved to stays on the server.
        assert!(!problem.contains("127.0.0.1"), "{url}: {body}");
    }
    assert_eq!(
        trap.connections.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

#[tokio::test]
async fn only_listed_https_origins_pass_by_default() {
    let trap = tripwire();
    let harness = harness(imgforge::fetch::DEFAULT_ALLOWLIST, false).await;
    for (url, expected) in [
        (
            format!("http://127.0.0.1:{}/x.png", trap.port),
            "url must be an https URL",
        ),
        (
            "https://example.com/image.jpg".to_owned(),
            "url is not on an allowed origin (https://example.com is not accepted; the server's \
             IMGFORGE_URL_ALLOWLIST lists the allowed ones)",
        ),
        (
            "https://user:pw@storage.googleapis.com/x.png".to_owned(),
            "url must not carry credentials",
        ),
        ("not a url".to_owned(), "url must be a valid URL"),
    ] {
        let (status, body) = create(&harness, &url).await;
        assert_eq!(status, 422, "{url}");
        assert!(problem(&body).starts_with(expected), "{url}: {body}");
    }
    let (status, body) = create(&harness, "").await;
    assert_eq!((status, problem(&body)), (422, "url must be a valid URL"));
    let missing = Call::new("create-image", &harness.key)
        .body(
            "application/json",
            br#"{"url": "https://storage.googleapis.com/b/x.png"}"#.to_vec(),
        )
        .send(&harness.app)
        .await;
    assert_eq!(json(&missing)["errors"], json!(["name is required"]));
    assert_eq!(trap.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_listed_origin_is_fetched_and_becomes_an_image() {
    let address = origin().await;
    let harness = harness(&format!("http://127.0.0.1:{}/*", address.port()), true).await;
    let (status, image) = create(&harness, &format!("http://{address}/image.png")).await;
    assert_eq!(status, 201, "{image}");
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(30), Some(20))
    );
    assert_eq!(
        (image["format"].as_str(), image["name"].as_str()),
        (Some("png"), Some("fetched"))
    );
}

#[tokio::test]
async fn redirects_are_followed_three_times_and_each_is_checked() {
    let address = origin().await;
    let harness = harness(&format!("http://127.0.0.1:{}/*", address.port()), true).await;
    let (status, body) = create(&harness, &format!("http://{address}/hop/2")).await;
    assert_eq!(status, 201, "three redirects are fine: {body}");
    let (status, body) = create(&harness, &format!("http://{address}/hop/3")).await;
    assert_eq!(
        (status, problem(&body)),
        (422, "url redirected more than 3 times")
    );
    let (status, body) = create(&harness, &format!("http://{address}/to-metadata")).await;
    assert_eq!(status, 422);
    assert!(
        problem(&body).contains("not"),
        "a redirect to a refused target is refused: {body}"
    );
}

#[tokio::test]
async fn bad_answers_are_clear_refusals() {
    let address = origin().await;
    let harness = harness(&format!("http://127.0.0.1:{}/*", address.port()), true).await;
    for (path, expected) in [
        ("/huge", "url holds more than the 1048576-byte limit"),
        ("/text", "url must be a JPEG, PNG or WebP image"),
        ("/missing", "url answered HTTP 404"),
    ] {
        let (status, body) = create(&harness, &format!("http://{address}{path}")).await;
        assert_eq!((status, problem(&body)), (422, expected), "{path}");
    }
}

#[tokio::test]
async fn a_fetch_that_hangs_is_cut_off() {
    let address = origin().await;
    let harness = harness(&format!("http://127.0.0.1:{}/*", address.port()), true).await;
    let started = std::time::Instant::now();
    let (status, body) = create(&harness, &format!("http://{address}/slow")).await;
    assert_eq!(
        (status, problem(&body)),
        (422, "url took more than 20 seconds")
    );
    assert!(started.elapsed() < Duration::from_secs(25));
}
