//! Publishing through CloudFront: a copy in the blob store under the public prefix (the only one
//! the distribution may read), and invalidations when it goes away.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

use super::{AwsResources, sdk_error};
use crate::domain::{BackendError, Format, ImageId};
use crate::sdk::LazyClient;
use crate::store::layout::{self, public_key};
use crate::store::{BackendResult, BlobStore, Publisher};

pub struct CloudFrontPublisher {
    blobs: Arc<dyn BlobStore>,
    cloudfront: LazyClient<aws_sdk_cloudfront::Client>,
    distribution_id: String,
    cdn_base_url: String,
}

impl CloudFrontPublisher {
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        cloudfront: LazyClient<aws_sdk_cloudfront::Client>,
        resources: &AwsResources,
    ) -> Self {
        Self {
            blobs,
            cloudfront,
            distribution_id: resources.distribution_id.clone(),
            cdn_base_url: format!("https://{}", resources.cdn_domain),
        }
    }

    async fn invalidate(&self, id: &ImageId) -> BackendResult<()> {
        let paths = Paths::builder()
            .quantity(1)
            .items(layout::public_path(id))
            .build()
            .map_err(BackendError::failed)?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(format!("{id}-{:016x}", rand::random::<u64>()))
            .build()
            .map_err(BackendError::failed)?;
        self.cloudfront
            .get()
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

#[async_trait]
impl Publisher for CloudFrontPublisher {
    /// A server-side copy; the blob store gives it the image's type and the public copies'
    /// long Cache-Control. No ACL: the bucket has them disabled, and CloudFront reads through
    /// origin access control.
    async fn publish(
        &self,
        original_key: &str,
        id: &ImageId,
        format: Format,
    ) -> BackendResult<String> {
        self.blobs
            .copy(original_key, &public_key(id), format)
            .await?;
        Ok(layout::public_url(&self.cdn_base_url, id))
    }

    /// Invalidates before deleting: if the delete then fails, the copy is still there for a
    /// retry to find, invalidate and delete. (Deleting first would leave a retry nothing to tell
    /// it that edge caches may still hold the image.) CloudFront takes seconds to apply an
    /// invalidation; the delete follows within milliseconds, so edges refetch nothing.
    async fn unpublish(&self, id: &ImageId) -> BackendResult<()> {
        let key = public_key(id);
        if !self.blobs.exists(&key).await? {
            return Ok(());
        }
        self.invalidate(id).await?;
        self.blobs.delete(&key).await
    }
}
