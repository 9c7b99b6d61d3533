//! Blobs as files under one root directory, written so that a crash never leaves a partial file
//! under a real key.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::presign::UploadSigner;
use crate::domain::BackendError;
use crate::domain::Format;
use crate::store::{BackendResult, BlobStore, PresignedRequest};

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

    fn path_of(&self, key: &str) -> BackendResult<PathBuf> {
        let relative = Path::new(key);
        let plain = relative
            .components()
            .all(|part| matches!(part, Component::Normal(_)));
        if key.is_empty() || !plain {
            return Err(BackendError::failed(format!("refusing blob key {key:?}")));
        }
        Ok(self.root.join(relative))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, body: Bytes, _format: Format) -> BackendResult<()> {
        let path = self.path_of(key)?;
        let parent = path.parent().expect("a blob path has a parent");
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(BackendError::failed)?;
        // Write aside, flush to disk, then rename: readers see the whole file or none. The
        // directory is flushed too, so that the rename itself survives a crash.
        let staging = path.with_extension(format!("tmp-{}", rand::random::<u64>()));
        let written = async {
            let mut file = tokio::fs::File::create(&staging).await?;
            file.write_all(&body).await?;
            file.sync_all().await?;
            tokio::fs::rename(&staging, &path).await?;
            tokio::fs::File::open(parent).await?.sync_all().await
        }
        .await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&staging).await;
            return Err(BackendError::failed(error));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> BackendResult<Option<Bytes>> {
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(BackendError::failed(error)),
        }
    }

    async fn exists(&self, key: &str) -> BackendResult<bool> {
        tokio::fs::try_exists(self.path_of(key)?)
            .await
            .map_err(BackendError::failed)
    }

    async fn delete(&self, key: &str) -> BackendResult<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(BackendError::failed(error)),
            _ => Ok(()),
        }
    }

    async fn copy(&self, from: &str, to: &str, format: Format) -> BackendResult<()> {
        let bytes = self
            .get(from)
            .await?
            .ok_or_else(|| BackendError::failed(format!("cannot copy missing blob {from}")))?;
        self.put(to, bytes, format).await
    }

    async fn presign_put(
        &self,
        key: &str,
        format: Format,
        size: u64,
        ttl: Duration,
    ) -> BackendResult<PresignedRequest> {
        self.path_of(key)?;
        let expires = chrono::Utc::now() + ttl;
        Ok(PresignedRequest {
            url: self.signer.sign(key, format.mime_type(), size, expires),
            headers: presigned_put_headers(format, size),
        })
    }

    /// The local server streams downloads itself.
    async fn presign_get(&self, _key: &str, _ttl: Duration) -> BackendResult<Option<String>> {
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
