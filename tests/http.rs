//! End to end over HTTP against a running `imgforge serve`: every endpoint of the core API,
//! every error case, isolation, publishing through the local CDN, restarts and concurrency.

mod support;

use std::collections::HashSet;

use imgforge::domain::Format;
use imgforge::imaging::fixtures;
use serde_json::Value;
use support::{Client, Server, aws_backend, status_json};

const ERRORS: &str = "https://docs.img-processing.com/errors/";

fn assert_error(status: u16, body: &Value, expected: u16, slug: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["type"], format!("{ERRORS}{slug}"), "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn the_image_lifecycle_over_http() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_life"));
    let jpeg = fixtures::encode(Format::Jpeg, 32, 24);

    let response = client.upload_bytes("first", jpeg.clone()).await;
    assert_eq!(response.status(), 201);
    let image: Value = response.json().await.unwrap();
    let keys: HashSet<_> = image
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "name",
            "url",
            "width",
            "height",
            "format",
            "size",
            "created_at"
        ])
    );
    let id = image["id"].as_str().unwrap();
    assert!(id.len() == 30 && id.starts_with("image_"));
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(32), Some(24))
    );
    assert_eq!(
        (image["format"].as_str(), image["size"].as_u64()),
        (Some("jpeg"), Some(jpeg.len() as u64))
    );
    let created_at = image["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 24 && created_at.ends_with('Z') && created_at.as_bytes()[19] == b'.',
        "{created_at}"
    );

    let (status, got) = status_json(client.get(&format!("/v1/images/{id}"))).await;
    assert_eq!((status, &got), (200, &image));
    let (status, list) = status_json(client.get("/v1/images")).await;
    assert_eq!((status, &list["data"][0]), (200, &image));

    let download = client
        .get(&format!("/v1/images/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/jpeg");
    assert_eq!(download.bytes().await.unwrap(), jpeg);

    let deleted = client
        .delete(&format!("/v1/images/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.unwrap().is_empty());
    for path in [
        format!("/v1/images/{id}"),
        format!("/v1/images/{id}/download"),
    ] {
        let (status, body) = status_json(client.get(&path)).await;
        assert_error(status, &body, 404, "not-found");
        assert_eq!(body["message"], format!("Image with id {id} not found."));
    }
    let (status, body) = status_json(client.delete(&format!("/v1/images/{id}"))).await;
    assert_error(status, &body, 404, "not-found");
}

#[tokio::test]
async fn publishing_serves_the_image_on_the_local_cdn_until_unpublished() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_pub"));
    let webp = fixtures::encode(Format::Webp, 9, 7);
    let image: Value = client
        .upload_bytes("shared", webp.clone())
        .await
        .json()
        .await
        .unwrap();
    let id = image["id"].as_str().unwrap();

    let (status, published) = status_json(client.post(&format!("/v1/images/{id}/publish"))).await;
    assert_eq!(status, 201);
    let url = published["url"].as_str().unwrap().to_owned();
    assert_eq!(url, server.public_url(id));
    assert_eq!(published["id"], image["id"]);
    let (status, again) = status_json(client.post(&format!("/v1/images/{id}/publish"))).await;
    assert_eq!(
        (status, &again),
        (201, &published),
        "publishing is idempotent"
    );

    let public = server.fetch_public(&url).await;
    assert_eq!(public.status, 200);
    assert_eq!(public.content_type.as_deref(), Some("image/webp"));
    assert_eq!(
        public.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(public.body, webp);

    let (status, private) = status_json(client.post(&format!("/v1/images/{id}/unpublish"))).await;
    assert_eq!((status, &private["url"]), (201, &Value::Null));
    assert_eq!(server.fetch_public(&url).await.status, 404);
    let download = client
        .get(&format!("/v1/images/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200, "download works after unpublish");
    assert_eq!(download.bytes().await.unwrap(), webp);

    status_json(client.post(&format!("/v1/images/{id}/publish"))).await;
    assert_eq!(server.fetch_public(&url).await.status, 200);
    assert_eq!(
        client
            .delete(&format!("/v1/images/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        server.fetch_public(&url).await.status,
        404,
        "delete unpublishes"
    );
}

#[tokio::test]
async fn every_key_problem_is_a_401_error_object() {
    let server = Server::start();
    let valid = server.key("test", "acct_auth");
    let forged = format!("live{}", &valid[4..]);
    for key in [
        None,
        Some("".to_owned()),
        Some("test_nope".to_owned()),
        Some("sk_123".to_owned()),
        Some(forged),
    ] {
        let mut request = reqwest::Client::new().get(server.url("/v1/images"));
        if let Some(key) = &key {
            request = request.header("x-api-key", key);
        }
        let (status, body) = status_json(request).await;
        assert_error(status, &body, 401, "unauthorized");
    }
}

#[tokio::test]
async fn upload_errors_are_api_error_objects() {
    let server = Server::start_with(&[("IMGFORGE_MAX_UPLOAD_BYTES", "1000")]);
    let key = server.key("test", "acct_upload");
    let client = Client::new(&server, &key);

    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>".to_vec();
    let (status, body) = status_json_response(client.upload_bytes("vector", svg).await).await;
    assert_error(status, &body, 422, "validation-error");
    assert_eq!(
        body["errors"],
        serde_json::json!(["image must be a JPEG, PNG or WebP image"])
    );

    let png = fixtures::encode(Format::Png, 4, 4);
    let (status, body) =
        status_json_response(client.upload_bytes(&"x".repeat(31), png.clone()).await).await;
    assert_error(status, &body, 422, "validation-error");
    assert_eq!(
        body["errors"],
        serde_json::json!(["name must be between 1 and 30 characters long"])
    );

    let (status, body) = status_json_response(client.upload_bytes("", Vec::new()).await).await;
    assert_error(status, &body, 422, "validation-error");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");

    let big = fixtures::encode(Format::Jpeg, 200, 200);
    assert!(big.len() > 1000);
    let (status, body) = status_json_response(client.upload_bytes("big", big).await).await;
    assert_error(status, &body, 413, "payload-too-large");

    // A body past the limit is refused while it is still arriving; a raw socket lets the test
    // read the early answer where an HTTP client would give up on the interrupted upload.
    let (status, body) = raw_oversized_upload(&server.base, &key, 2 * 1024 * 1024);
    assert_error(status, &body, 413, "payload-too-large");

    let (status, body) = status_json(
        client
            .post("/v1/images/upload")
            .json(&serde_json::json!({})),
    )
    .await;
    assert_error(status, &body, 400, "bad-request");
}

fn raw_oversized_upload(base: &str, key: &str, body_bytes: usize) -> (u16, Value) {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/images/upload HTTP/1.1\r\nHost: {address}\r\nx-api-key: {key}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {body_bytes}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).unwrap();
    // The server may stop reading part-way: write what it takes, then read its answer.
    let _ = socket.write_all(&vec![b'a'; body_bytes]);
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let status = answer[9..12].parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn status_json_response(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn request_errors_are_api_error_objects() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_errors"));
    let id = client.upload("x").await["id"].as_str().unwrap().to_owned();

    for query in [
        "take=0",
        "take=101",
        "take=ten",
        "take=1.5",
        "from=image_123",
        "take=undefined&from=image_123",
    ] {
        let (status, body) = status_json(client.get(&format!("/v1/images?{query}"))).await;
        assert_error(status, &body, 422, "validation-error");
    }
    for path in [
        "/v1/images/image_00000000000000000000000000",
        "/v1/images/not-an-id",
    ] {
        let (status, body) = status_json(client.get(path)).await;
        assert_error(status, &body, 404, "not-found");
    }
    let (status, body) = status_json(client.get("/v1/nothing-here")).await;
    assert_error(status, &body, 404, "not-found");
    let (status, body) =
        status_json(client.request(reqwest::Method::PUT, &format!("/v1/images/{id}"))).await;
    assert_error(status, &body, 405, "method-not-allowed");
    let (status, body) = status_json(
        client
            .post(&format!("/v1/images/{id}/publish"))
            .header("content-type", "application/json"),
    )
    .await;
    assert_error(status, &body, 400, "bad-request");
    let (status, _) = status_json(
        client
            .post(&format!("/v1/images/{id}/publish"))
            .json(&serde_json::json!({})),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn pagination_walks_three_pages_forwards_and_back() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_pages"));
    for n in 0..8 {
        client.upload(&format!("image {n}")).await;
    }
    let (_, everything) = status_json(client.get("/v1/images?take=100")).await;
    let all: Vec<Value> = everything["data"].as_array().unwrap().clone();
    assert_eq!(all.len(), 8);
    let created: Vec<&str> = all
        .iter()
        .map(|image| image["created_at"].as_str().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first: {created:?}"
    );

    let mut pages = Vec::new();
    let mut link = Some(server.url("/v1/images?take=3"));
    while let Some(url) = link {
        let (status, page) = status_json(client.follow(&url)).await;
        assert_eq!(status, 200);
        link = page["links"]["next"].as_str().map(str::to_owned);
        pages.push(page);
    }
    assert_eq!(pages.len(), 3);
    let sizes: Vec<usize> = pages
        .iter()
        .map(|page| page["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [3, 3, 2]);
    let walked: Vec<Value> = pages
        .iter()
        .flat_map(|page| page["data"].as_array().unwrap().clone())
        .collect();
    assert_eq!(walked, all, "the pages cover every image once, in order");
    assert_eq!(pages[0]["links"]["previous"], Value::Null);
    let next = pages[0]["links"]["next"].as_str().unwrap();
    assert_eq!(
        next,
        server.url(&format!(
            "/v1/images?take=3&from={}",
            all[3]["id"].as_str().unwrap()
        ))
    );

    let mut back = vec![pages[2].clone()];
    while let Some(url) = back.last().unwrap()["links"]["previous"]
        .as_str()
        .map(str::to_owned)
    {
        let (_, page) = status_json(client.follow(&url)).await;
        back.push(page);
    }
    back.reverse();
    assert_eq!(
        back, pages,
        "previous links lead back through the same pages"
    );
}

#[tokio::test]
async fn owners_and_stages_never_see_each_others_images() {
    let server = Server::start();
    let owner = Client::new(&server, &server.key("test", "acct_owner"));
    let same_account_live = Client::new(&server, &server.key("live", "acct_owner"));
    let stranger = Client::new(&server, &server.key("test", "acct_stranger"));
    let id = owner.upload("mine").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    status_json(owner.post(&format!("/v1/images/{id}/publish"))).await;

    for other in [&same_account_live, &stranger] {
        let (_, list) = status_json(other.get("/v1/images")).await;
        assert_eq!(list["data"], serde_json::json!([]));
        for request in [
            other.get(&format!("/v1/images/{id}")),
            other.get(&format!("/v1/images/{id}/download")),
            other.post(&format!("/v1/images/{id}/publish")),
            other.post(&format!("/v1/images/{id}/unpublish")),
            other.delete(&format!("/v1/images/{id}")),
        ] {
            let (status, body) = status_json(request).await;
            assert_error(status, &body, 404, "not-found");
            assert_eq!(body["message"], format!("Image with id {id} not found."));
        }
    }
    let (status, image) = status_json(owner.get(&format!("/v1/images/{id}"))).await;
    assert_eq!(status, 200);
    assert!(image["url"].is_string(), "others' attempts changed nothing");
}

#[tokio::test]
async fn data_survives_a_restart() {
    let mut server = Server::start();
    let key = server.key("test", "acct_restart");
    let png = fixtures::encode(Format::Png, 12, 10);
    let image: Value = Client::new(&server, &key)
        .upload_bytes("kept", png.clone())
        .await
        .json()
        .await
        .unwrap();
    let id = image["id"].as_str().unwrap().to_owned();

    server.restart();
    assert_eq!(
        server.first_key, None,
        "no new key for a store that has keys"
    );
    let client = Client::new(&server, &key);
    let (status, got) = status_json(client.get(&format!("/v1/images/{id}"))).await;
    assert_eq!((status, got), (200, image));
    let download = client
        .get(&format!("/v1/images/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap(), png);
}

#[tokio::test]
async fn fifty_concurrent_uploads_get_fifty_distinct_ids() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_burst"));
    let uploads = (0..50).map(|n| {
        let client = client.clone();
        tokio::spawn(async move { client.upload(&format!("burst {n}")).await })
    });
    let mut ids = HashSet::new();
    for upload in uploads {
        ids.insert(upload.await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 50);
    let (_, list) = status_json(client.get("/v1/images?take=100")).await;
    let listed: HashSet<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| image["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn a_new_store_gets_one_test_key_printed_once() {
    let mut server = Server::start();
    if aws_backend() {
        // A deployed table gets its keys from `imgforge keys create --backend aws` only: finding
        // out whether it has none would take a scan.
        assert_eq!(server.first_key, None);
        return;
    }
    let key = server
        .first_key
        .clone()
        .expect("serve printed a key for the empty store");
    assert!(key.starts_with("test_"), "{key}");
    let (status, _) = status_json(Client::new(&server, &key).get("/v1/images")).await;
    assert_eq!(status, 200);
    server.restart();
    assert_eq!(server.first_key, None);
}

#[test]
fn keys_create_says_whose_key_it_made_and_where() {
    let server = Server::start();
    let run = server
        .keys("create")
        .args(["--stage", "live"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let key = String::from_utf8(run.stdout).unwrap();
    let key = key.strip_suffix('\n').expect("one line");
    assert!(
        key.starts_with("live_") && key.len() == 37,
        "only the key on stdout: {key:?}"
    );
    let report = String::from_utf8(run.stderr).unwrap();
    assert!(report.contains("a live key of account acct_"), "{report}");
    if !aws_backend() {
        let store = server.data_dir().canonicalize().unwrap();
        assert!(report.contains(store.to_str().unwrap()), "{report}");
    }

    let created = server.create_key("test", None);
    let account = created["account"].as_str().unwrap();
    assert_eq!(created["stage"], "test");
    let joined = server.create_key("live", Some(account));
    assert_eq!(joined["account"], account);

    let unknown = server
        .keys("create")
        .args(["--stage", "test", "--account", "acct_nobody"])
        .output()
        .unwrap();
    assert!(!unknown.status.success(), "an unknown account is refused");
    let refusal = String::from_utf8(unknown.stderr).unwrap();
    assert!(refusal.contains("no account acct_nobody"), "{refusal}");
    assert!(refusal.contains("leave out --account"), "{refusal}");
}

#[tokio::test]
async fn a_direct_upload_goes_through_its_presigned_url() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_direct"));
    let jpeg = fixtures::encode(Format::Jpeg, 40, 30);
    let reserve = |size: usize| {
        client.post("/v1/uploads").json(&serde_json::json!({
            "name": "direct", "size": size, "content_type": "image/jpeg"
        }))
    };
    let (status, created) = status_json(reserve(jpeg.len())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["image_id"].as_str().unwrap().to_owned();
    let url = created["upload_url"].as_str().unwrap().to_owned();
    let (status, body) = status_json(reserve(30 * 1024 * 1024)).await;
    assert_error(status, &body, 422, "validation-error");
    let unknown = "/v1/uploads/image_00000000000000000000000000";
    let (status, body) = status_json(client.get(unknown)).await;
    assert_error(status, &body, 404, "not-found");
    let put = |body: Vec<u8>, content_type: &str| {
        reqwest::Client::new()
            .put(&url)
            .header("content-type", content_type)
            .body(body)
    };

    if !aws_backend() {
        // The local stand-in for S3 checks what the URL was signed for.
        let mut longer = jpeg.clone();
        longer.push(0);
        assert_eq!(
            put(longer, "image/jpeg").send().await.unwrap().status(),
            403
        );
        assert_eq!(
            put(jpeg.clone(), "image/png")
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
    }
    assert_eq!(
        put(jpeg.clone(), "image/jpeg")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Locally the file is ingested as it arrives; in the emulator, which sends no S3 events,
    // the server finds it within a second or two, as the S3 event would deliver it on AWS.
    let mut state = Value::Null;
    for _ in 0..50 {
        let (status, now) = status_json(client.get(&format!("/v1/uploads/{id}"))).await;
        assert_eq!(status, 200, "{now}");
        state = now;
        if state["status"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(state["status"], "ready", "{state}");
    assert_eq!(state["image"]["id"], id.as_str());
    let download = client
        .get(&format!("/v1/images/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap(), jpeg);
}

#[tokio::test]
async fn the_server_serves_its_console_docs_and_description_at_its_own_address() {
    let server = Server::start();
    let described: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["servers"][0]["url"], server.base.as_str());
    assert!(described["paths"]["/v1/images/{image_id}/resize"].is_object());
    for (path, content_type, marker) in [
        ("/", "text/html", "imgforge console"),
        ("/docs", "text/html", "docs.js"),
        ("/console.js", "text/javascript", "INLINE_UPLOAD_LIMIT"),
        ("/docs.js", "text/javascript", "openapi.json"),
        ("/console.css", "text/css", "#grid"),
    ] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let served_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            served_type.starts_with(content_type),
            "{path}: {served_type}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains(marker), "{path}");
        for remote in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!body.contains(remote), "{path} must work offline");
        }
    }
}

#[tokio::test]
async fn browsers_on_other_origins_may_call_the_api() {
    let server = Server::start();
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/v1/images"))
        .header("origin", "https://console.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-api-key")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-api-key")
    );
    let key = server.key("test", "acct_cors");
    let listed = Client::new(&server, &key)
        .get("/v1/images")
        .header("origin", "https://console.example")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["access-control-allow-origin"], "*");
    assert!(
        listed.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-image-processing-usage")
    );
}

/// `keys list` shows every key by id, never the key; `keys revoke` (by key or id) makes its
/// requests 401 from then on, on the server that reads the store.
#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoked_for_good() {
    let server = Server::start();
    let created = server.create_key("live", None);
    let key = created["key"].as_str().unwrap();
    let other = server.key("test", "acct_other");
    let client = Client::new(&server, key);
    assert_eq!(client.get("/v1/images").send().await.unwrap().status(), 200);

    let listed = |server: &Server| {
        let output = server.keys("list").output().unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let listing = listed(&server);
    let id = &imgforge::domain::hash_api_key(key)[..16];
    let line = listing.lines().find(|line| line.starts_with(id)).unwrap();
    assert!(
        line.contains(created["account"].as_str().unwrap()),
        "{line}"
    );
    assert!(line.contains("live") && line.ends_with("yes"), "{line}");
    assert!(
        !listing.contains(key) && !listing.contains(other.as_str()),
        "{listing}"
    );

    let revoked = server.keys("revoke").arg(id).output().unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert!(
        listed(&server)
            .lines()
            .any(|line| line.starts_with(id) && line.ends_with("no"))
    );
    assert_eq!(client.get("/v1/images").send().await.unwrap().status(), 401);
    let still = Client::new(&server, &other);
    assert_eq!(still.get("/v1/images").send().await.unwrap().status(), 200);

    // By the key itself; an unknown one is an error that says what to give.
    assert!(
        server
            .keys("revoke")
            .arg(&other)
            .output()
            .unwrap()
            .status
            .success()
    );
    assert_eq!(still.get("/v1/images").send().await.unwrap().status(), 401);
    let unknown = server
        .keys("revoke")
        .arg("0123456789abcdef")
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("keys list"));
}
