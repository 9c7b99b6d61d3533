//! The ports the handlers depend on, and their adapters. Handlers never name an adapter.

#[cfg(feature = "aws")]
pub mod aws;
#[doc(hidden)]
pub mod contract;
pub mod local;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::domain::{ApiError, Format, Image, ImageId, KeyRecord, Owner, Upload, UploadStatus};

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend is throttling us or cannot be reached; the client may retry shortly.
    #[error("the storage backend is throttling or unreachable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// A create found its record already there.
    #[error("the record already exists")]
    AlreadyExists,
    /// Our lease on an image expired and another request took it over.
    #[error("the lease on the image was lost")]
    LeaseLost,
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(source.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "storage backend unavailable");
                Self::Unavailable { retry_after: 1 }
            }
            StoreError::LeaseLost => Self::Conflict(
                "The image was changed by another request at the same time; retry.".into(),
            ),
            StoreError::AlreadyExists | StoreError::Backend(_) => Self::internal(error),
        }
    }
}

/// Where an image's original lives: private, never served directly.
pub fn original_key(owner: &Owner, id: &ImageId) -> String {
    format!("originals/{}/{}/{id}", owner.stage, owner.account)
}

/// Where a published copy lives: the only prefix the CDN may read.
pub fn public_key(id: &ImageId) -> String {
    format!("public/images/{id}")
}

const UPLOADS_PREFIX: &str = "uploads/";

/// Where a direct upload lands before it is ingested.
pub fn upload_key(owner: &Owner, id: &ImageId) -> String {
    format!("{UPLOADS_PREFIX}{}/{}/{id}", owner.stage, owner.account)
}

/// The owner and image id an upload key stands for, if it is one.
pub fn parse_upload_key(key: &str) -> Option<(Owner, ImageId)> {
    let mut parts = key.strip_prefix(UPLOADS_PREFIX)?.split('/');
    let (stage, account, id) = (parts.next()?, parts.next()?, parts.next()?);
    let owner = Owner {
        stage: crate::domain::Stage::parse(stage)?,
        account: account.to_owned(),
    };
    let plain = !account.is_empty() && parts.next().is_none();
    plain.then_some((owner, ImageId::parse(id)?))
}

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
    async fn put(&self, key: &str, body: Bytes, format: Format) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>>;
    /// Deleting a missing blob is not an error.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Copies within the store, without the bytes passing through us where the store allows.
    async fn copy(&self, from: &str, to: &str, format: Format) -> StoreResult<()>;
    /// A URL through which exactly `size` bytes of `format` may be PUT at `key` for `ttl`.
    async fn presign_put(
        &self,
        key: &str,
        format: Format,
        size: u64,
        ttl: Duration,
    ) -> StoreResult<PresignedRequest>;
    /// A URL that serves `key` for `ttl`, where the store can serve directly; `None` where the
    /// bytes must come through the API.
    async fn presign_get(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>>;
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
    async fn insert(&self, owner: &Owner, image: &Image) -> StoreResult<()>;
    async fn get(&self, owner: &Owner, id: &ImageId) -> StoreResult<Option<Image>>;
    async fn list(
        &self,
        owner: &Owner,
        start: ListStart<'_>,
        limit: usize,
    ) -> StoreResult<Vec<Image>>;
    /// Takes the lease if the image exists and no unexpired lease is held.
    async fn lock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> StoreResult<Locked>;
    /// Sets or clears the public URL, only while `lease` is held.
    async fn set_url(
        &self,
        owner: &Owner,
        id: &ImageId,
        lease: &Lease,
        url: Option<&str>,
    ) -> StoreResult<Image>;
    /// Releases `lease` if it is still held; a lost lease is not an error here.
    async fn unlock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> StoreResult<()>;
    /// Removes the record, only while `lease` is held.
    async fn delete(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> StoreResult<()>;
}

/// Upload reservations, scoped by owner like images.
#[async_trait]
pub trait UploadIndex: Send + Sync {
    async fn reserve(&self, owner: &Owner, upload: &Upload) -> StoreResult<()>;
    async fn get_upload(&self, owner: &Owner, id: &ImageId) -> StoreResult<Option<Upload>>;
    async fn finish_upload(
        &self,
        owner: &Owner,
        id: &ImageId,
        status: &UploadStatus,
    ) -> StoreResult<()>;
}

/// API keys, by the SHA-256 of the key.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn find(&self, hash: &str) -> StoreResult<Option<KeyRecord>>;
    async fn insert(&self, record: &KeyRecord) -> StoreResult<()>;
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
    ) -> StoreResult<String>;
    /// Removes the public copy, if there is one, and invalidates cached copies. Idempotent.
    async fn unpublish(&self, id: &ImageId) -> StoreResult<()>;
}

/// Published copies never change under their id: caches may keep them for a year.
pub const PUBLIC_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Requests per API key and minute, counted where every server (or Lambda) sees the same count.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of the key with `key_hash` in minute `window` (minutes since the
    /// epoch); `false` if that would be more than `limit`, and then nothing is counted.
    async fn admit(&self, key_hash: &str, window: i64, limit: u32) -> StoreResult<bool>;
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
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Records the response of the claimed request.
    async fn complete(
        &self,
        owner: &Owner,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    /// Forgets a claim whose request failed on our side, so that a retry runs it again.
    async fn release(&self, owner: &Owner, key: &str) -> StoreResult<()>;
}
