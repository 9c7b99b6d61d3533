//! Blobs in one private S3 bucket.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use bytes::Bytes;

use super::sdk_error;
use crate::domain::Format;
use crate::store::{BlobStore, PresignedRequest, StoreError, StoreResult};

pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
        }
    }
}

fn presigning(ttl: Duration) -> StoreResult<PresigningConfig> {
    PresigningConfig::expires_in(ttl).map_err(StoreError::backend)
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, body: Bytes, format: Format) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(format.mime_type())
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        let object = match self
            .client
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
        let body = object.body.collect().await.map_err(StoreError::backend)?;
        Ok(Some(body.into_bytes()))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str, format: Format) -> StoreResult<()> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{from}", self.bucket))
            .content_type(format.mime_type())
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
    ) -> StoreResult<PresignedRequest> {
        let size = i64::try_from(size).map_err(StoreError::backend)?;
        let request = self
            .client
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

    async fn presign_get(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_error)?;
        Ok(Some(request.uri().to_owned()))
    }
}
