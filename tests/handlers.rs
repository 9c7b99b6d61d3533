//! Handlers called directly with constructed `lambda_http` requests, over the embedded backend,
//! including backends that fail at chosen steps.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use imgforge::domain::{BackendError, Format, ImageId, Stage};
use imgforge::imaging::fixtures;
use imgforge::store::layout::{original_key, public_key};
use imgforge::store::{BackendResult, BlobStore, PresignedRequest, Publisher};
use serde_json::Value;
use support::call::{Call, LocalApp, json, local_app, race_state_changes, upload_png, uploaded_id};

type Harness = LocalApp;

async fn harness() -> Harness {
    local_app("acct_handlers", |config| {
        config.public_base_url = Some("https://cdn.example.com".into());
    })
    .await
}

async fn upload(harness: &Harness, name: &str) -> Value {
    upload_png(&harness.app, &harness.key, name).await
}

#[tokio::test]
async fn upload_creates_an_image_from_the_file_itself() {
    let harness = harness().await;
    let jpeg = fixtures::jpeg_with_orientation(8, 4, 6);
    let response = Call::upload(Some("holiday"), Some(&jpeg), &harness.key)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    let image = json(&response);
    assert_eq!(image["name"], "holiday");
    assert_eq!(image["format"], "jpeg");
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(4), Some(8))
    );
    assert_eq!(image["size"], jpeg.len());
    assert_eq!(image["url"], Value::Null);
    assert!(ImageId::parse(image["id"].as_str().unwrap()).is_some());
}

#[tokio::test]
async fn upload_reports_every_problem_at_once() {
    let harness = harness().await;
    let long_name = "n".repeat(31);
    let response = Call::upload(Some(&long_name), Some(b"<svg/>"), &harness.key)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 422);
    let error = json(&response);
    assert_eq!(
        error["type"],
        "https://docs.img-processing.com/errors/validation-error"
    );
    assert_eq!(
        error["errors"],
        serde_json::json!([
            "name must be between 1 and 30 characters long",
            "image must be a JPEG, PNG or WebP image"
        ])
    );

    let response = Call::upload(None, None, &harness.key)
        .send(&harness.app)
        .await;
    assert_eq!(
        json(&response)["errors"],
        serde_json::json!(["name is required", "image is required"])
    );
}

#[tokio::test]
async fn upload_needs_a_multipart_body() {
    let harness = harness().await;
    let response = Call::new("upload-image", &harness.key)
        .body("application/json", b"{}".to_vec())
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(&response)["error"], "Bad Request");
}

#[tokio::test]
async fn upload_over_the_byte_limit_is_refused_with_413() {
    let mut harness = harness().await;
    let png = fixtures::encode(Format::Png, 64, 64);
    harness.app.limits.max_upload_bytes = png.len() as u64 - 1;
    let response = Call::upload(Some("big"), Some(&png), &harness.key)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(json(&response)["status"], 413);
}

#[tokio::test]
async fn upload_over_the_pixel_limit_is_refused_before_decoding() {
    let mut harness = harness().await;
    harness.app.limits.max_pixels = 100;
    let png = fixtures::encode(Format::Png, 11, 10);
    let response = Call::upload(Some("wide"), Some(&png), &harness.key)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json(&response)["errors"][0],
        "image is 11x10 pixels, more than the limit of 100 pixels"
    );
}

#[tokio::test]
async fn keys_are_checked_before_anything_else() {
    let harness = harness().await;
    for key in [None, Some("test_unknown"), Some("nonsense"), Some("")] {
        let mut call = Call::new("list-images", "");
        call.key = key.map(str::to_owned);
        let response = call.send(&harness.app).await;
        assert_eq!(response.status(), 401, "{key:?}");
        assert_eq!(
            json(&response)["type"],
            "https://docs.img-processing.com/errors/unauthorized"
        );
    }
}

#[tokio::test]
async fn publish_and_unpublish_move_the_public_copy() {
    let harness = harness().await;
    let image = upload(&harness, "public").await;
    let id = image["id"].as_str().unwrap();

    let published = Call::new("publish-image", &harness.key)
        .image(id)
        .send(&harness.app)
        .await;
    assert_eq!(published.status(), 201);
    let url = format!("https://cdn.example.com/images/{id}");
    assert_eq!(json(&published)["url"], url.as_str());
    let public = public_key(&ImageId::parse(id).unwrap());
    assert!(
        harness
            .app
            .store
            .blobs
            .get(&public)
            .await
            .unwrap()
            .is_some()
    );

    let again = Call::new("publish-image", &harness.key)
        .image(id)
        .send(&harness.app)
        .await;
    assert_eq!(
        (again.status().as_u16(), json(&again)["url"].clone()),
        (201, url.into())
    );

    let private = Call::new("unpublish-image", &harness.key)
        .image(id)
        .send(&harness.app)
        .await;
    assert_eq!(private.status(), 201);
    assert_eq!(json(&private)["url"], Value::Null);
    assert!(
        harness
            .app
            .store
            .blobs
            .get(&public)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_empty_json_body_is_a_bad_request_but_an_empty_object_is_fine() {
    let harness = harness().await;
    let id = uploaded_id(&harness.app, &harness.key, "x").await;
    let empty = Call::new("publish-image", &harness.key)
        .image(&id)
        .body("application/json", Vec::new());
    // `body()` with no bytes still sends the JSON content type.
    assert_eq!(empty.send(&harness.app).await.status(), 400);
    let object = Call::new("publish-image", &harness.key)
        .image(&id)
        .body("application/json", b"{}".to_vec());
    assert_eq!(object.send(&harness.app).await.status(), 201);
    let not_json = Call::new("publish-image", &harness.key)
        .image(&id)
        .body("application/json", b"{".to_vec());
    assert_eq!(not_json.send(&harness.app).await.status(), 400);
}

#[tokio::test]
async fn list_validates_take_and_from_together() {
    let harness = harness().await;
    let response = Call::new("list-images", &harness.key)
        .query("take", "0")
        .query("from", "image_nope")
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json(&response)["errors"],
        serde_json::json!([
            "take must be an integer between 1 and 100",
            "from must be a valid image id"
        ])
    );
}

#[tokio::test]
async fn list_links_are_absolute_urls_on_the_requested_host() {
    let harness = harness().await;
    for name in ["a", "b", "c"] {
        upload(&harness, name).await;
    }
    let page = json(
        &Call::new("list-images", &harness.key)
            .query("take", "2")
            .send(&harness.app)
            .await,
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let next = page["links"]["next"].as_str().unwrap();
    assert!(
        next.starts_with("https://api.example.com/v1/images?take=2&from=image_"),
        "{next}"
    );
    assert_eq!(page["links"]["previous"], Value::Null);
}

#[tokio::test]
async fn a_record_whose_original_vanished_is_a_500_that_reveals_nothing() {
    let harness = harness().await;
    let id = uploaded_id(&harness.app, &harness.key, "x").await;
    let owner = imgforge::domain::Owner {
        account: "acct_handlers".into(),
        stage: Stage::Test,
    };
    let key = original_key(&owner, &ImageId::parse(&id).unwrap());
    harness.app.store.blobs.delete(&key).await.unwrap();
    let response = Call::new("download-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 500);
    let error = json(&response);
    assert_eq!(error["message"], "An internal error occurred.");
    assert!(!String::from_utf8_lossy(response.body()).contains("originals/"));
}

/// A blob store whose writes fail, as a full disk or a crash between steps would.
struct FailingWrites(Arc<dyn BlobStore>);

#[async_trait]
impl BlobStore for FailingWrites {
    async fn put(&self, _: &str, _: Bytes, _: Format) -> BackendResult<()> {
        Err(BackendError::failed("disk full"))
    }
    async fn get(&self, key: &str) -> BackendResult<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn exists(&self, key: &str) -> BackendResult<bool> {
        self.0.exists(key).await
    }
    async fn delete(&self, key: &str) -> BackendResult<()> {
        self.0.delete(key).await
    }
    async fn copy(&self, _: &str, _: &str, _: Format) -> BackendResult<()> {
        Err(BackendError::failed("disk full"))
    }
    async fn presign_put(
        &self,
        key: &str,
        format: Format,
        size: u64,
        ttl: Duration,
    ) -> BackendResult<PresignedRequest> {
        self.0.presign_put(key, format, size, ttl).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> BackendResult<Option<String>> {
        self.0.presign_get(key, ttl).await
    }
}

#[tokio::test]
async fn a_failed_blob_write_leaves_no_record() {
    let mut harness = harness().await;
    harness.app.store.blobs = Arc::new(FailingWrites(Arc::clone(&harness.app.store.blobs)));
    let png = fixtures::encode(Format::Png, 2, 2);
    let response = Call::upload(Some("lost"), Some(&png), &harness.key)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 500);
    let list = json(
        &Call::new("list-images", &harness.key)
            .send(&harness.app)
            .await,
    );
    assert_eq!(list["data"], serde_json::json!([]));
}

/// A publisher that works or fails on demand, to interrupt unpublish half-way.
struct FlakyPublisher {
    inner: Arc<dyn Publisher>,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Publisher for FlakyPublisher {
    async fn publish(&self, original: &str, id: &ImageId, format: Format) -> BackendResult<String> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BackendError::failed("copy failed"));
        }
        self.inner.publish(original, id, format).await
    }
    async fn unpublish(&self, id: &ImageId) -> BackendResult<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BackendError::failed("delete failed"));
        }
        self.inner.unpublish(id).await
    }
}

#[tokio::test]
async fn interrupted_publishing_never_leaves_a_dead_url_and_a_retry_completes() {
    let mut harness = harness().await;
    let publisher = Arc::new(FlakyPublisher {
        inner: Arc::clone(&harness.app.store.publisher),
        failing: false.into(),
    });
    harness.app.store.publisher = publisher.clone();
    let id = uploaded_id(&harness.app, &harness.key, "x").await;
    let public = public_key(&ImageId::parse(&id).unwrap());
    let get = || Call::new("get-image", &harness.key).image(&id);
    let set_failing = |on: bool| {
        publisher
            .failing
            .store(on, std::sync::atomic::Ordering::SeqCst)
    };

    set_failing(true);
    let failed = Call::new("publish-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(failed.status(), 500);
    assert_eq!(json(&get().send(&harness.app).await)["url"], Value::Null);

    set_failing(false);
    let published = Call::new("publish-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(published.status(), 201);

    set_failing(true);
    let failed = Call::new("unpublish-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(failed.status(), 500);
    assert_eq!(
        json(&get().send(&harness.app).await)["url"],
        Value::Null,
        "the URL is cleared before the copy is removed, so it never points at nothing"
    );
    assert!(
        harness
            .app
            .store
            .blobs
            .get(&public)
            .await
            .unwrap()
            .is_some()
    );

    set_failing(false);
    let retried = Call::new("unpublish-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(retried.status(), 201);
    assert!(
        harness
            .app
            .store
            .blobs
            .get(&public)
            .await
            .unwrap()
            .is_none(),
        "the retry removed the copy"
    );

    let deleted = Call::new("delete-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(deleted.status(), 204);
    assert!(deleted.body().is_empty());
}

#[tokio::test]
async fn concurrent_publish_unpublish_and_delete_end_consistent() {
    let harness = harness().await;
    race_state_changes(&harness.app, &harness.key).await;
}

/// A blob store with a bug: reading panics.
struct Panicking;

#[async_trait]
impl BlobStore for Panicking {
    async fn put(&self, _: &str, _: Bytes, _: Format) -> BackendResult<()> {
        Ok(())
    }
    async fn get(&self, _: &str) -> BackendResult<Option<Bytes>> {
        panic!("a bug in a blob store")
    }
    async fn exists(&self, _: &str) -> BackendResult<bool> {
        panic!("a bug in a blob store")
    }
    async fn delete(&self, _: &str) -> BackendResult<()> {
        Ok(())
    }
    async fn copy(&self, _: &str, _: &str, _: Format) -> BackendResult<()> {
        Ok(())
    }
    async fn presign_put(
        &self,
        _: &str,
        _: Format,
        _: u64,
        _: Duration,
    ) -> BackendResult<PresignedRequest> {
        Err(BackendError::failed("unused"))
    }
    async fn presign_get(&self, _: &str, _: Duration) -> BackendResult<Option<String>> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_panic_in_a_handler_is_a_500_and_the_next_request_is_served() {
    let mut harness = harness().await;
    let id = uploaded_id(&harness.app, &harness.key, "x").await;
    harness.app.store.blobs = Arc::new(Panicking);
    let response = Call::new("download-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["message"], "An internal error occurred.");
    let next = Call::new("get-image", &harness.key)
        .image(&id)
        .send(&harness.app)
        .await;
    assert_eq!(next.status(), 200);
}
