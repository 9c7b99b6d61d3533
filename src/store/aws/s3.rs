//! Blobs in one private S3 bucket.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use bytes::Bytes;

use super::sdk_error;
use crate::domain::{BackendError, Format};
use crate::sdk::LazyClient;
use crate::store::layout;
use crate::store::{BackendResult, BlobStore, PresignedRequest};

pub struct S3BlobStore {
    client: LazyClient<Client>,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: LazyClient<Client>, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
        }
    }
}

fn presigning(ttl: Duration) -> BackendResult<PresigningConfig> {
    PresigningConfig::expires_in(ttl).map_err(BackendError::failed)
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, body: Bytes, format: Format) -> BackendResult<()> {
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(format.mime_type())
            .set_cache_control(layout::cache_control(key).map(str::to_owned))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> BackendResult<Option<Bytes>> {
        let object = match self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(error) => return Err(sdk_error(error)),
        };
        let body = object.body.collect().await.map_err(BackendError::failed)?;
        Ok(Some(body.into_bytes()))
    }

    /// A listing of `key` as a prefix, not a HeadObject: S3 answers a HeadObject of a missing
    /// object 403 unless the role may list the whole bucket, while a listing needs
    /// `s3:ListBucket` only for the prefixes it names.
    async fn exists(&self, key: &str) -> BackendResult<bool> {
        let listed = self
            .client
            .get()
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(listed
            .contents()
            .first()
            .is_some_and(|object| object.key() == Some(key)))
    }

    async fn delete(&self, key: &str) -> BackendResult<()> {
        self.client
            .get()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str, format: Format) -> BackendResult<()> {
        self.client
            .get()
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{from}", self.bucket))
            .content_type(format.mime_type())
            .set_cache_control(layout::cache_control(to).map(str::to_owned))
            .metadata_directive(MetadataDirective::Replace)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        format: Format,
        size: u64,
        ttl: Duration,
    ) -> BackendResult<PresignedRequest> {
        let size = i64::try_from(size).map_err(BackendError::failed)?;
        let request = self
            .client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(format.mime_type())
            .content_length(size)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_error)?;
        Ok(PresignedRequest {
            url: request.uri().to_owned(),
            headers: request
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        })
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> BackendResult<Option<String>> {
        let request = self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_error)?;
        Ok(Some(request.uri().to_owned()))
    }
}
