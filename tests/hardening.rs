//! Rate limits, usage reporting and safe retries, over HTTP on whichever backend the suite runs.

mod support;

use std::collections::HashSet;

use imgforge::domain::Format;
use imgforge::imaging::fixtures;
use serde_json::Value;
use support::call::{BOUNDARY, multipart};
use support::{Client, Server, status_json};

#[tokio::test]
async fn the_eleventh_request_of_a_test_key_in_sixty_seconds_is_a_429() {
    let server = Server::start_with(&[("IMGFORGE_RATE_LIMIT_TEST", "10")]);
    let limited = Client::new(&server, &server.key("test", "acct_limited"));
    let other = Client::new(&server, &server.key("test", "acct_other"));
    // The window slides: a minute's edge in the middle changes nothing.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(limited.get("/v1/images").send().await.unwrap());
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|response| response.status() == 200)
    );
    let refused = statuses.pop().unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=66).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://docs.img-processing.com/errors/too-many-requests"
    );
    assert_eq!(
        other.get("/v1/images").send().await.unwrap().status(),
        200,
        "keys count apart"
    );
}

#[tokio::test]
async fn a_limit_of_zero_admits_nothing() {
    let server = Server::start_with(&[("IMGFORGE_RATE_LIMIT_LIVE", "0")]);
    let client = Client::new(&server, &server.key("live", "acct_zero"));
    let refused = client.get("/v1/images").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "60");
}

#[tokio::test]
async fn publishing_has_its_own_hourly_limit_per_key() {
    let server = Server::start_with(&[("IMGFORGE_PUBLISH_LIMIT", "3")]);
    let client = Client::new(&server, &server.key("live", "acct_publisher"));
    let other = Client::new(&server, &server.key("live", "acct_publisher"));
    let image = client.upload("published").await;
    let id = image["id"].as_str().unwrap();
    let mut statuses = Vec::new();
    for action in ["publish", "unpublish", "publish", "unpublish"] {
        let response = client
            .post(&format!("/v1/images/{id}/{action}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429]);
    assert_eq!(
        client
            .get(&format!("/v1/images/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "other requests go on"
    );
    let response = other
        .post(&format!("/v1/images/{id}/unpublish"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "another key of the account has its own"
    );
}

#[tokio::test]
async fn live_keys_see_how_many_images_a_request_processed() {
    let server = Server::start();
    let live = Client::new(&server, &server.key("live", "acct_usage"));
    let test = Client::new(&server, &server.key("test", "acct_usage"));
    let png = fixtures::encode(Format::Png, 4, 4);
    let created = live.upload_bytes("billed", png.clone()).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-image-processing-usage"], "1");
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = live.get("/v1/images").send().await.unwrap();
    assert!(
        !listed.headers().contains_key("x-image-processing-usage"),
        "only 201s count"
    );
    let mirrored = live
        .post(&format!("/v1/images/{id}/mirror"))
        .json(&serde_json::json!({"mode": "both"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mirrored.headers()["x-image-processing-usage"], "1");
    let free = test.upload_bytes("free", png).await;
    assert_eq!(free.status(), 201);
    assert!(
        !free.headers().contains_key("x-image-processing-usage"),
        "test keys are not billed"
    );
}

/// An upload's status, body, and whether it was a replay.
async fn outcome(response: reqwest::Response) -> (u16, Value, bool) {
    let replayed = response.headers().contains_key("idempotent-replayed");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap(), replayed)
}

async fn upload_with_key(client: &Client, key: &str, name: &str) -> (u16, Value, bool) {
    // A fixed boundary, so that retries send byte-identical bodies as a real client would.
    let body = multipart(Some(name), Some(&fixtures::encode(Format::Png, 6, 6)));
    let response = client
        .post("/v1/images/upload")
        .header("idempotency-key", key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    outcome(response).await
}

#[tokio::test]
async fn a_retried_upload_with_the_same_key_creates_one_image() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_retry"));
    let (status, first, replayed) = upload_with_key(&client, "upload-1", "once").await;
    assert_eq!((status, replayed), (201, false));
    let (status, again, replayed) = upload_with_key(&client, "upload-1", "once").await;
    assert_eq!(
        (status, &again, replayed),
        (201, &first, true),
        "the first response, replayed"
    );
    let (_, list) = status_json(client.get("/v1/images")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let (status, error, _) = upload_with_key(&client, "upload-1", "different").await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["errors"][0],
        "Idempotency-Key was already used for a different request"
    );
    let (status, _, _) = upload_with_key(&client, "upload-2", "different").await;
    assert_eq!(status, 201, "a new key is a new request");

    let bad = client
        .post("/v1/images/upload")
        .header("idempotency-key", "");
    assert_eq!(status_json(bad).await.0, 400);
}

#[tokio::test]
async fn twenty_concurrent_retries_create_one_image() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_burst_retry"));
    let retries = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { upload_with_key(&client, "burst", "one").await })
    });
    let mut ids = HashSet::new();
    for retry in retries {
        let (status, body, _) = retry.await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every retry got the same image");
    let (_, list) = status_json(client.get("/v1/images")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

/// An upload as a real client sends it: each try with a boundary of its own.
async fn upload_fresh_boundary(client: &Client, key: &str, png: &[u8]) -> (u16, Value, bool) {
    let form = reqwest::multipart::Form::new()
        .text("name", "retried")
        .part(
            "image",
            reqwest::multipart::Part::bytes(png.to_vec()).file_name("retried.png"),
        );
    let response = client
        .post("/v1/images/upload")
        .header("idempotency-key", key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    outcome(response).await
}

#[tokio::test]
async fn a_retry_with_a_new_multipart_boundary_is_the_same_request() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_boundaries"));
    let png = fixtures::encode(Format::Png, 7, 5);
    let (status, first, replayed) = upload_fresh_boundary(&client, "fresh", &png).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = upload_fresh_boundary(&client, "fresh", &png).await;
    assert_eq!((status, &again, replayed), (201, &first, true));
    let other = fixtures::encode(Format::Png, 7, 6);
    let (status, error, _) = upload_fresh_boundary(&client, "fresh", &other).await;
    assert_eq!(status, 422, "another file is another request: {error}");
}

#[tokio::test]
async fn a_failure_of_the_origin_is_not_replayed_to_the_retry() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // An origin that fails its first request, then serves a PNG.
    let tries = Arc::new(AtomicUsize::new(0));
    let png = fixtures::encode(Format::Png, 5, 5);
    let origin = axum::Router::new().route(
        "/flaky.png",
        axum::routing::get({
            let tries = Arc::clone(&tries);
            move || async move {
                if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    Ok(png)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, origin).await.unwrap() });

    let server = Server::start_with(&[
        ("IMGFORGE_URL_ALLOWLIST", "http://127.0.0.1:*/*"),
        ("IMGFORGE_URL_ALLOW_LOOPBACK", "true"),
    ]);
    let client = Client::new(&server, &server.key("test", "acct_flaky_origin"));
    let create = || {
        client
            .post("/v1/images")
            .header("idempotency-key", "flaky")
            .json(
                &serde_json::json!({"name": "flaky", "url": format!("http://{address}/flaky.png")}),
            )
    };
    let (status, failed) = status_json(create()).await;
    assert_eq!(status, 422, "{failed}");
    assert_eq!(failed["errors"][0], "url answered HTTP 503");
    let (status, created) = status_json(create()).await;
    assert_eq!(status, 201, "the retry ran again: {created}");
    let (status, replayed) = status_json(create()).await;
    assert_eq!(
        (status, &replayed),
        (201, &created),
        "and is kept from then on"
    );
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

/// A request without a valid key is refused from its headers: the server answers 401 without
/// waiting for the body it announced (a client that never sends it holds nothing).
#[tokio::test]
async fn a_request_without_a_valid_key_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Server::start();
    let address = server.base.trim_start_matches("http://").to_owned();
    for key_header in ["", "x-api-key: live_notakeynotakeynotakeynotakey00\r\n"] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /v1/images/upload HTTP/1.1\r\nHost: {address}\r\n{key_header}\
             Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 10000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0; 1024];
        // No body follows: only an answer from the headers alone arrives at all.
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
                .await
                .expect("an answer without the body")
                .unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
}

#[tokio::test]
async fn a_request_past_its_time_limit_is_a_503_error_object() {
    let server = Server::start_with(&[("IMGFORGE_REQUEST_TIMEOUT", "0")]);
    let client = Client::new(&server, &server.key("live", "acct_slow"));
    // Checking the file runs off the async threads: the request waits for it, past 0 s.
    let response = client
        .upload_bytes("slow", fixtures::encode(Format::Png, 64, 64))
        .await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "Service Unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("took longer"),
        "{body}"
    );
}

/// With room for one request, a second waits until the first is done.
#[tokio::test]
async fn the_local_server_works_on_at_most_its_limit_of_requests_at_once() {
    use tokio::io::AsyncWriteExt;

    let server = Server::start_with(&[("IMGFORGE_MAX_CONCURRENT_REQUESTS", "1")]);
    let key = server.key("live", "acct_busy");
    let address = server.base.trim_start_matches("http://").to_owned();
    // A request whose body is still arriving holds the one place.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/images/upload HTTP/1.1\r\nHost: {address}\r\nx-api-key: {key}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000\r\n\r\n--x"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let client = Client::new(&server, &key);
    let waiting = tokio::spawn(async move { client.get("/v1/images").send().await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "the second request waits its turn");
    drop(slow);
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("an answer once the first is gone")
        .unwrap();
    assert_eq!(answered.status(), 200);
}
