//! The AWS backend: originals and public copies in one private S3 bucket, records and hashed keys
//! in one DynamoDB table, published images on CloudFront.

mod cloudfront;
mod dynamo;
pub mod emulator;
mod s3;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

pub use cloudfront::CloudFrontPublisher;
pub use dynamo::DynamoStore;
pub use s3::S3BlobStore;

use super::StoreError;

/// The names of the deployed resources, from `IMGFORGE_*` variables.
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table: String,
    pub bucket: String,
    pub cdn_domain: String,
    pub distribution_id: String,
}

/// The SDK's configuration from the environment (`AWS_REGION`, credentials, and
/// `AWS_ENDPOINT_URL` for an emulator).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when an emulator's endpoint is set, as it has no DNS for
/// virtual-hosted buckets.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The AWS adapters of every port.
pub struct AwsBackend {
    pub blobs: Arc<S3BlobStore>,
    pub store: Arc<DynamoStore>,
    pub publisher: Arc<CloudFrontPublisher>,
}

impl AwsBackend {
    pub fn new(sdk: &SdkConfig, resources: &AwsResources) -> Self {
        let s3 = s3_client(sdk);
        Self {
            blobs: Arc::new(S3BlobStore::new(s3.clone(), &resources.bucket)),
            store: Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &resources.table,
            )),
            publisher: Arc::new(CloudFrontPublisher::new(
                s3,
                aws_sdk_cloudfront::Client::new(sdk),
                resources,
            )),
        }
    }
}

/// Error codes with which AWS services ask callers to slow down or come back later. The SDK has
/// already retried these with backoff by the time we see them.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalServerError",
    "TooManyInvalidationsInProgress",
];

pub(crate) fn sdk_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let transient = matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    ) || error
        .code()
        .is_some_and(|code| RETRYABLE_CODES.contains(&code));
    if transient {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::backend(error)
    }
}
