//! Publishing through CloudFront: a copy under `public/` (the only prefix the distribution may
//! read), and invalidations when it goes away.

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_s3::types::MetadataDirective;

use super::{AwsResources, sdk_error};
use crate::domain::{Format, ImageId};
use crate::store::{PUBLIC_CACHE_CONTROL, Publisher, StoreError, StoreResult, public_key};

pub struct CloudFrontPublisher {
    s3: aws_sdk_s3::Client,
    cloudfront: aws_sdk_cloudfront::Client,
    bucket: String,
    distribution_id: String,
    cdn_domain: String,
}

impl CloudFrontPublisher {
    pub fn new(
        s3: aws_sdk_s3::Client,
        cloudfront: aws_sdk_cloudfront::Client,
        resources: &AwsResources,
    ) -> Self {
        Self {
            s3,
            cloudfront,
            bucket: resources.bucket.clone(),
            distribution_id: resources.distribution_id.clone(),
            cdn_domain: resources.cdn_domain.clone(),
        }
    }

    /// The path the distribution serves a published image at (its origin path is `/public`).
    fn cdn_path(id: &ImageId) -> String {
        format!("/images/{id}")
    }

    async fn public_copy_exists(&self, key: &str) -> StoreResult<bool> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(error) => Err(sdk_error(error)),
        }
    }
}

#[async_trait]
impl Publisher for CloudFrontPublisher {
    /// A server-side copy with the image's type and a long Cache-Control. No ACL: the bucket has
    /// them disabled, and CloudFront reads through origin access control.
    async fn publish(
        &self,
        original_key: &str,
        id: &ImageId,
        format: Format,
    ) -> StoreResult<String> {
        self.s3
            .copy_object()
            .bucket(&self.bucket)
            .key(public_key(id))
            .copy_source(format!("{}/{original_key}", self.bucket))
            .content_type(format.mime_type())
            .cache_control(PUBLIC_CACHE_CONTROL)
            .metadata_directive(MetadataDirective::Replace)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(format!("https://{}{}", self.cdn_domain, Self::cdn_path(id)))
    }

    /// Invalidates before deleting: if the delete then fails, the copy is still there for a
    /// retry to find, invalidate and delete. (Deleting first would leave a retry nothing to tell
    /// it that edge caches may still hold the image.) CloudFront takes seconds to apply an
    /// invalidation; the delete follows within milliseconds, so edges refetch nothing.
    async fn unpublish(&self, id: &ImageId) -> StoreResult<()> {
        let key = public_key(id);
        if !self.public_copy_exists(&key).await? {
            return Ok(());
        }
        let paths = Paths::builder()
            .quantity(1)
            .items(Self::cdn_path(id))
            .build()
            .map_err(StoreError::backend)?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(format!("{id}-{:016x}", rand::random::<u64>()))
            .build()
            .map_err(StoreError::backend)?;
        self.cloudfront
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(sdk_error)?;
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
