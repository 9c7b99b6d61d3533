//! The storage ports the services depend on, and their two families of adapters: `local` (files
//! and SQLite) and `aws` (S3, DynamoDB, CloudFront). Each family wires all of its ports in one
//! place (`Ports`); services never name an adapter.

#[cfg(feature = "aws")]
pub mod aws;
mod backend;
#[cfg(any(test, feature = "test-support"))]
pub mod contract;
pub mod layout;
pub mod local;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::domain::{BackendError, Format, Image, ImageId, KeyRecord, Owner, Upload, UploadStatus};
pub use backend::Backend;

pub type BackendResult<T> = Result<T, BackendError>;

/// What becomes of a direct upload once its file is stored, given its key: where S3 would send
/// an event, the local stand-in for S3 and the emulator's watcher call this.
pub type UploadHook =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<(), crate::domain::ApiError>> + Send + Sync>;

/// A request anyone may make, once, until it expires: a presigned URL and the headers that must
/// accompany it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// Bytes by key: originals, public copies and direct uploads.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, body: Bytes, format: Format) -> BackendResult<()>;
    async fn get(&self, key: &str) -> BackendResult<Option<Bytes>>;
    async fn exists(&self, key: &str) -> BackendResult<bool>;
    /// Deleting a missing blob is not an error.
    async fn delete(&self, key: &str) -> BackendResult<()>;
    /// Copies within the store, without the bytes passing through us where the store allows.
    async fn copy(&self, from: &str, to: &str, format: Format) -> BackendResult<()>;
    /// A URL through which exactly `size` bytes of `format` may be PUT at `key` for `ttl`.
    async fn presign_put(
        &self,
        key: &str,
        format: Format,
        size: u64,
        ttl: Duration,
    ) -> BackendResult<PresignedRequest>;
    /// A URL that serves `key` for `ttl`, where the store can serve directly; `None` where the
    /// bytes must come through the API.
    async fn presign_get(&self, key: &str, ttl: Duration) -> BackendResult<Option<String>>;
}

/// Where a page of the image list starts.
#[derive(Debug, Clone, Copy)]
pub enum ListStart<'a> {
    /// Newest first.
    Newest,
    /// Newest first, starting at this id (inclusive).
    AtOrOlderThan(&'a ImageId),
    /// Oldest first, starting just after this id: used to find the previous page.
    NewerThan(&'a ImageId),
}

/// A short exclusive claim on one image, so that publish, unpublish and delete of the same image
/// never interleave their steps. It expires by itself if its holder dies.
#[derive(Debug, Clone)]
pub struct Lease {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum Locked {
    Acquired(Image),
    Busy,
    Missing,
}

/// Image records, scoped by owner: one owner never reads another's.
#[async_trait]
pub trait ImageIndex: Send + Sync {
    /// Records a new image; its blob must already be stored. `AlreadyExists` if the id is taken.
    async fn insert(&self, owner: &Owner, image: &Image) -> BackendResult<()>;
    async fn get(&self, owner: &Owner, id: &ImageId) -> BackendResult<Option<Image>>;
    async fn list(
        &self,
        owner: &Owner,
        start: ListStart<'_>,
        limit: usize,
    ) -> BackendResult<Vec<Image>>;
    /// Takes the lease if the image exists and no unexpired lease is held.
    async fn lock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<Locked>;
    /// Sets or clears the public URL, only while `lease` is held.
    async fn set_url(
        &self,
        owner: &Owner,
        id: &ImageId,
        lease: &Lease,
        url: Option<&str>,
    ) -> BackendResult<Image>;
    /// Releases `lease` if it is still held; a lost lease is not an error here.
    async fn unlock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<()>;
    /// Removes the record, only while `lease` is held.
    async fn delete(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<()>;
}

/// Upload reservations, scoped by owner like images.
#[async_trait]
pub trait UploadIndex: Send + Sync {
    async fn reserve(&self, owner: &Owner, upload: &Upload) -> BackendResult<()>;
    async fn get_upload(&self, owner: &Owner, id: &ImageId) -> BackendResult<Option<Upload>>;
    async fn finish_upload(
        &self,
        owner: &Owner,
        id: &ImageId,
        status: &UploadStatus,
    ) -> BackendResult<()>;
}

/// API keys, by the SHA-256 of the key.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn find(&self, hash: &str) -> BackendResult<Option<KeyRecord>>;
    async fn insert(&self, record: &KeyRecord) -> BackendResult<()>;
    /// Whether any key was ever created for `account`: a key is only added to a known account.
    async fn account_exists(&self, account: &str) -> BackendResult<bool>;
    /// Every key, for the operator (on DynamoDB, a scan of the table).
    async fn list(&self) -> BackendResult<Vec<KeyRecord>>;
    /// Makes the key with `hash` inactive for good; `false` if there is no such key.
    async fn revoke(&self, hash: &str) -> BackendResult<bool>;
}

/// The CDN side: public copies of published images.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Copies the original at `original_key` to the public location; returns the public URL.
    async fn publish(
        &self,
        original_key: &str,
        id: &ImageId,
        format: Format,
    ) -> BackendResult<String>;
    /// Removes the public copy, if there is one, and invalidates cached copies. Idempotent.
    async fn unpublish(&self, id: &ImageId) -> BackendResult<()>;
}

/// A span of time a rate is counted over: the `index`th period of `seconds` since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub index: i64,
    pub seconds: u32,
}

impl Window {
    /// The window of `seconds` that holds the instant `epoch_seconds`.
    pub fn at(epoch_seconds: i64, seconds: u32) -> Self {
        Self {
            index: epoch_seconds.div_euclid(i64::from(seconds)),
            seconds,
        }
    }

    pub fn previous(self) -> Self {
        Self {
            index: self.index - 1,
            ..self
        }
    }

    /// When the window after this one ends: until then its count is still needed.
    pub fn needed_until(self) -> i64 {
        (self.index + 2) * i64::from(self.seconds)
    }
}

/// Requests counted per subject (an API key, or a key's use of one costly operation) and time
/// window, where every server (or Lambda) sees the same count.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `subject` in `window`; `false` if that would be more than `limit`
    /// (at least 1), and then nothing is counted.
    async fn admit(&self, subject: &str, window: Window, limit: u32) -> BackendResult<bool>;

    /// The requests counted for `subject` in `window` (0 once it is forgotten, which is never
    /// before the window after it has ended).
    async fn count(&self, subject: &str, window: Window) -> BackendResult<u32>;
}

/// A response kept for retries of the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What is known of an idempotency key already used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The hash of the request that first used the key.
    pub fingerprint: String,
    /// Its response, or `None` while that request is still running.
    pub response: Option<StoredResponse>,
}

/// `Idempotency-Key`s, scoped by owner.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request with `fingerprint`, keeping it until `expires_at`. Returns
    /// `None` when the claim is new, else the record that holds the key. A claim whose request
    /// has run for longer than `stale_after` without completing is taken over.
    async fn claim(
        &self,
        owner: &Owner,
        key: &str,
        fingerprint: &str,
        expires_at: DateTime<Utc>,
        stale_after: Duration,
    ) -> BackendResult<Option<IdempotencyRecord>>;
    /// Records the response of the claimed request: only while its claim (with `fingerprint`)
    /// is there and has no response yet, so that a released or expired claim is never revived
    /// and a first response is never overwritten.
    async fn complete(
        &self,
        owner: &Owner,
        key: &str,
        fingerprint: &str,
        response: &StoredResponse,
    ) -> BackendResult<()>;
    /// Forgets a claim whose request failed on our side, so that a retry runs it again.
    async fn release(&self, owner: &Owner, key: &str) -> BackendResult<()>;
}

/// Every storage port, as one backend's adapters serve them.
#[derive(Clone)]
pub struct Ports {
    pub blobs: Arc<dyn BlobStore>,
    pub images: Arc<dyn ImageIndex>,
    pub uploads: Arc<dyn UploadIndex>,
    pub keys: Arc<dyn KeyStore>,
    pub publisher: Arc<dyn Publisher>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub idempotency: Arc<dyn IdempotencyStore>,
}

/// Which of the ports that not every route calls are open. The records (images, uploads, keys,
/// rate limits, idempotency) always are: every request is authenticated and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSet {
    pub blobs: bool,
    pub publisher: bool,
}

impl PortSet {
    pub const NONE: Self = Self {
        blobs: false,
        publisher: false,
    };
    pub const ALL: Self = Self {
        blobs: true,
        publisher: true,
    };
}

impl Ports {
    /// These ports with those `open` leaves out replaced by [`Closed`], as a Lambda that
    /// opens only its route's ports has them: the local server runs every route this way, so
    /// that the tests show each route declares what it calls.
    pub fn only(&self, open: PortSet) -> Self {
        Self {
            blobs: if open.blobs {
                self.blobs.clone()
            } else {
                Closed::blobs()
            },
            publisher: if open.publisher {
                self.publisher.clone()
            } else {
                Closed::publisher()
            },
            ..self.clone()
        }
    }
}

/// A port this process did not open, named: every call fails, as a 500 that names the route's
/// missing declaration.
pub struct Closed(&'static str);

impl Closed {
    pub fn blobs() -> Arc<dyn BlobStore> {
        Arc::new(Self("blobs"))
    }

    pub fn publisher() -> Arc<dyn Publisher> {
        Arc::new(Self("publisher"))
    }

    fn refuse<T>(&self) -> BackendResult<T> {
        Err(BackendError::failed(format!(
            "the {} port is not open to this route: add it to the route's line in the route table",
            self.0
        )))
    }
}

#[async_trait]
impl BlobStore for Closed {
    async fn put(&self, _: &str, _: Bytes, _: Format) -> BackendResult<()> {
        self.refuse()
    }
    async fn get(&self, _: &str) -> BackendResult<Option<Bytes>> {
        self.refuse()
    }
    async fn exists(&self, _: &str) -> BackendResult<bool> {
        self.refuse()
    }
    async fn delete(&self, _: &str) -> BackendResult<()> {
        self.refuse()
    }
    async fn copy(&self, _: &str, _: &str, _: Format) -> BackendResult<()> {
        self.refuse()
    }
    async fn presign_put(
        &self,
        _: &str,
        _: Format,
        _: u64,
        _: Duration,
    ) -> BackendResult<PresignedRequest> {
        self.refuse()
    }
    async fn presign_get(&self, _: &str, _: Duration) -> BackendResult<Option<String>> {
        self.refuse()
    }
}

#[async_trait]
impl Publisher for Closed {
    async fn publish(&self, _: &str, _: &ImageId, _: Format) -> BackendResult<String> {
        self.refuse()
    }
    async fn unpublish(&self, _: &ImageId) -> BackendResult<()> {
        self.refuse()
    }
}
