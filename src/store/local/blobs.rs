//! Blobs as files under one root directory, written so that a crash never leaves a partial file
//! under a real key.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::presign::UploadSigner;
use crate::domain::Format;
use crate::store::{BlobStore, PresignedRequest, StoreError, StoreResult};

pub struct FsBlobStore {
    root: PathBuf,
    signer: UploadSigner,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>, signer: UploadSigner) -> Self {
        Self {
            root: root.into(),
            signer,
        }
    }

    /// What the local server checks presigned uploads with.
    pub fn signer(&self) -> &UploadSigner {
        &self.signer
    }

    fn path_of(&self, key: &str) -> StoreResult<PathBuf> {
        let relative = Path::new(key);
        let plain = relative
            .components()
            .all(|part| matches!(part, Component::Normal(_)));
        if key.is_empty() || !plain {
            return Err(StoreError::backend(format!("refusing blob key {key:?}")));
        }
        Ok(self.root.join(relative))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, body: Bytes, _format: Format) -> StoreResult<()> {
        let path = self.path_of(key)?;
        let parent = path.parent().expect("a blob path has a parent");
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(StoreError::backend)?;
        // Write aside, flush to disk, then rename: readers see the whole file or none.
        let staging = path.with_extension(format!("tmp-{}", rand::random::<u64>()));
        let written = async {
            let mut file = tokio::fs::File::create(&staging).await?;
            file.write_all(&body).await?;
            file.sync_all().await?;
            tokio::fs::rename(&staging, &path).await
        }
        .await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&staging).await;
            return Err(StoreError::backend(error));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StoreError::backend(error)),
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(StoreError::backend(error)),
            _ => Ok(()),
        }
    }

    async fn copy(&self, from: &str, to: &str, format: Format) -> StoreResult<()> {
        let bytes = self
            .get(from)
            .await?
            .ok_or_else(|| StoreError::backend(format!("cannot copy missing blob {from}")))?;
        self.put(to, bytes, format).await
    }

    async fn presign_put(
        &self,
        key: &str,
        format: Format,
        size: u64,
        ttl: Duration,
    ) -> StoreResult<PresignedRequest> {
        self.path_of(key)?;
        let expires = chrono::Utc::now() + ttl;
        Ok(PresignedRequest {
            url: self.signer.sign(key, format.mime_type(), size, expires),
            headers: presigned_put_headers(format, size),
        })
    }

    /// The local server streams downloads itself.
    async fn presign_get(&self, _key: &str, _ttl: Duration) -> StoreResult<Option<String>> {
        Ok(None)
    }
}

/// The headers a client must send with a presigned PUT: those that were signed.
fn presigned_put_headers(format: Format, size: u64) -> Vec<(String, String)> {
    vec![
        ("content-type".to_owned(), format.mime_type().to_owned()),
        ("content-length".to_owned(), size.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_store(root: &Path) -> FsBlobStore {
        std::fs::create_dir_all(root).unwrap();
        let signer = UploadSigner::open(&root.join("secret"), "http://local").unwrap();
        FsBlobStore::new(root, signer)
    }

    #[tokio::test]
    async fn stores_reads_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = test_store(dir.path());
        let key = "originals/test/acct/image_1";
        blobs
            .put(key, Bytes::from_static(b"abc"), Format::Png)
            .await
            .unwrap();
        assert_eq!(blobs.get(key).await.unwrap().unwrap(), "abc");
        blobs.delete(key).await.unwrap();
        assert!(blobs.get(key).await.unwrap().is_none());
        blobs.delete(key).await.unwrap();
        let leftovers = std::fs::read_dir(dir.path().join("originals/test/acct")).unwrap();
        assert_eq!(leftovers.count(), 0, "no staging files are left behind");
    }

    #[tokio::test]
    async fn refuses_keys_that_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = test_store(&dir.path().join("root"));
        for key in ["../outside", "/etc/passwd", "a/../../b", ""] {
            assert!(blobs.get(key).await.is_err(), "{key:?}");
        }
    }
}
