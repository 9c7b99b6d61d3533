//! The ports the handlers depend on, and their adapters. Handlers never name an adapter.

#[doc(hidden)]
pub mod contract;
pub mod local;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::domain::{ApiError, Format, Image, ImageId, KeyRecord, Owner};

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend asked us to slow down; the client may retry shortly.
    #[error("the storage backend is throttling requests")]
    Throttled,
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
            StoreError::Throttled => Self::Unavailable { retry_after: 1 },
            StoreError::LeaseLost => Self::Conflict(
                "The image was changed by another request at the same time; retry.".into(),
            ),
            StoreError::Backend(source) => Self::Internal(source),
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

/// Bytes by key: originals and public copies.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, body: Bytes, format: Format) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>>;
    /// Deleting a missing blob is not an error.
    async fn delete(&self, key: &str) -> StoreResult<()>;
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
    /// Records a new image; its blob must already be stored.
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

/// API keys, by the SHA-256 of the key.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn find(&self, hash: &str) -> StoreResult<Option<KeyRecord>>;
    async fn insert(&self, record: &KeyRecord) -> StoreResult<()>;
    async fn is_empty(&self) -> StoreResult<bool>;
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
