//! The embedded backend: blobs as files, records and keys in SQLite, a publisher over the same
//! files, and the local server's stand-ins for S3 (presigned uploads) and the CDN (published
//! copies), which it serves on routes of its own.

mod blobs;
mod http;
mod presign;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use blobs::FsBlobStore;
pub use presign::UploadSigner;
pub use sqlite::SqliteStore;

use super::layout::{self, public_key};
use super::{BackendResult, BlobStore, Ports, Publisher, UploadHook};
use crate::domain::{BackendError, Format, ImageId};

/// Publishes by copying the original to its public key in the blob store, the layout the AWS
/// bucket uses; the local server answers `{base_url}/images/{id}` from there.
pub struct LocalPublisher {
    blobs: Arc<dyn BlobStore>,
    base_url: String,
}

impl LocalPublisher {
    pub fn new(blobs: Arc<dyn BlobStore>, base_url: &str) -> Self {
        Self {
            blobs,
            base_url: base_url.to_owned(),
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
    ) -> BackendResult<String> {
        self.blobs
            .copy(original_key, &public_key(id), format)
            .await?;
        Ok(layout::public_url(&self.base_url, id))
    }

    async fn unpublish(&self, id: &ImageId) -> BackendResult<()> {
        self.blobs.delete(&public_key(id)).await
    }
}

/// The embedded backend's adapters over one data directory.
pub struct LocalBackend {
    blobs: Arc<FsBlobStore>,
    store: Arc<SqliteStore>,
    public_base_url: String,
}

impl LocalBackend {
    /// Opens the store in `data_dir`. `origin` is the local server's own address, under which it
    /// receives presigned uploads and, unless `public_base_url` says otherwise, serves published
    /// images.
    pub fn open(
        data_dir: &Path,
        origin: &str,
        public_base_url: Option<&str>,
    ) -> BackendResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(BackendError::failed)?;
        let signer = UploadSigner::open(&data_dir.join("upload-signing.key"), origin)?;
        Ok(Self {
            blobs: Arc::new(FsBlobStore::new(data_dir.join("blobs"), signer)),
            store: Arc::new(SqliteStore::open(&data_dir.join("imgforge.sqlite3"))?),
            public_base_url: public_base_url
                .map_or_else(|| layout::local_public_base(origin), str::to_owned),
        })
    }

    pub fn ports(&self) -> Ports {
        let blobs: Arc<dyn BlobStore> = self.blobs.clone();
        Ports {
            publisher: Arc::new(LocalPublisher::new(blobs.clone(), &self.public_base_url)),
            blobs,
            images: self.store.clone(),
            uploads: self.store.clone(),
            keys: self.store.clone(),
            rate_limiter: self.store.clone(),
            idempotency: self.store.clone(),
        }
    }

    /// Whether any API key exists yet: a new store gets a test key on first start.
    pub async fn has_keys(&self) -> BackendResult<bool> {
        self.store.has_keys().await
    }

    /// The routes of the stand-ins for S3 and the CDN; `ingest` is called with the key of every
    /// upload received, as S3 would send an event.
    pub fn routes(&self, ingest: UploadHook) -> axum::Router {
        http::routes(Arc::clone(&self.blobs), ingest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[tokio::test]
    async fn embedded_backend_honours_the_port_contracts() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path(), "http://local", None).unwrap();
        assert!(!backend.has_keys().await.unwrap());
        contract::ports(&backend.ports()).await;
    }

    #[tokio::test]
    async fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path(), "http://local", None).unwrap();
        contract::key_store(backend.store.as_ref()).await;
        drop(backend);
        let reopened = LocalBackend::open(dir.path(), "http://local", None).unwrap();
        assert!(reopened.has_keys().await.unwrap());
    }
}
