//! The embedded backend: blobs as files, records and keys in SQLite, and a publisher whose public
//! copies the local server serves itself as the stand-in for CloudFront.

mod blobs;
mod presign;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use blobs::FsBlobStore;
pub use presign::{UPLOADS_PATH, UploadSigner};
pub use sqlite::SqliteStore;

use super::{BlobStore, Publisher, StoreError, StoreResult, public_key};
use crate::domain::{Format, ImageId};

/// Publishes by copying the original to `public/images/{id}` in the same blob store, the layout
/// the AWS bucket uses; the local server answers `{base_url}/images/{id}` from there.
pub struct LocalPublisher {
    blobs: Arc<FsBlobStore>,
    base_url: String,
}

impl LocalPublisher {
    pub fn new(blobs: Arc<FsBlobStore>, base_url: &str) -> Self {
        Self {
            blobs,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

#[async_trait]
impl Publisher for LocalPublisher {
    async fn publish(
        &self,
        original_key: &str,
        id: &ImageId,
        format: Format,
    ) -> StoreResult<String> {
        let original =
            self.blobs.get(original_key).await?.ok_or_else(|| {
                StoreError::backend(format!("original {original_key} is missing"))
            })?;
        self.blobs.put(&public_key(id), original, format).await?;
        Ok(format!("{}/images/{id}", self.base_url))
    }

    async fn unpublish(&self, id: &ImageId) -> StoreResult<()> {
        self.blobs.delete(&public_key(id)).await
    }
}

/// The embedded backend's adapters over one data directory.
pub struct LocalBackend {
    pub blobs: Arc<FsBlobStore>,
    pub store: Arc<SqliteStore>,
}

impl LocalBackend {
    /// Opens the store in `data_dir`; `origin` is the local server's own address, under which
    /// it receives presigned uploads.
    pub fn open(data_dir: &Path, origin: &str) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(StoreError::backend)?;
        let signer = UploadSigner::open(&data_dir.join("upload-signing.key"), origin)?;
        Ok(Self {
            blobs: Arc::new(FsBlobStore::new(data_dir.join("blobs"), signer)),
            store: Arc::new(SqliteStore::open(&data_dir.join("imgforge.sqlite3"))?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[tokio::test]
    async fn embedded_backend_honours_the_port_contracts() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path(), "http://local").unwrap();
        assert!(!backend.store.has_keys().await.unwrap());
        contract::image_index(backend.store.as_ref()).await;
        contract::upload_index(backend.store.as_ref()).await;
        contract::key_store(backend.store.as_ref()).await;
        contract::rate_limiter(backend.store.as_ref()).await;
        contract::idempotency_store(backend.store.as_ref()).await;
        let publisher = LocalPublisher::new(Arc::clone(&backend.blobs), "http://cdn.local/");
        contract::blobs_and_publisher(backend.blobs.as_ref(), &publisher).await;
    }

    #[tokio::test]
    async fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path(), "http://local").unwrap();
        contract::key_store(backend.store.as_ref()).await;
        drop(backend);
        let reopened = LocalBackend::open(dir.path(), "http://local").unwrap();
        assert!(reopened.store.has_keys().await.unwrap());
    }
}
