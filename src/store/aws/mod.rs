//! The AWS backend: originals and public copies in one private S3 bucket, records and hashed keys
//! in one DynamoDB table, published images on CloudFront.

mod cloudfront;
mod dynamo;
pub mod emulator;
mod s3;

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use cloudfront::CloudFrontPublisher;
use dynamo::DynamoStore;
use s3::S3BlobStore;

use super::Ports;
use crate::domain::BackendError;
use crate::sdk::LazyClient;

/// The names of the deployed resources, from `IMGFORGE_*` variables.
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table: String,
    pub bucket: String,
    pub cdn_domain: String,
    pub distribution_id: String,
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
    blobs: Arc<S3BlobStore>,
    store: Arc<DynamoStore>,
    publisher: Arc<CloudFrontPublisher>,
}

impl AwsBackend {
    /// The adapters over clients made from `sdk`, each when first used.
    pub fn new(sdk: &SdkConfig, resources: &AwsResources) -> Self {
        Self::from_clients(
            LazyClient::from_sdk(sdk, s3_client),
            LazyClient::from_sdk(sdk, aws_sdk_dynamodb::Client::new),
            LazyClient::from_sdk(sdk, aws_sdk_cloudfront::Client::new),
            resources,
        )
    }

    /// The adapters over the given clients (tests give mocked ones, `into()` a `LazyClient`).
    pub fn from_clients(
        s3: LazyClient<aws_sdk_s3::Client>,
        dynamo: LazyClient<aws_sdk_dynamodb::Client>,
        cloudfront: LazyClient<aws_sdk_cloudfront::Client>,
        resources: &AwsResources,
    ) -> Self {
        let blobs = Arc::new(S3BlobStore::new(s3, &resources.bucket));
        Self {
            publisher: Arc::new(CloudFrontPublisher::new(
                blobs.clone(),
                cloudfront,
                resources,
            )),
            blobs,
            store: Arc::new(DynamoStore::new(dynamo, &resources.table)),
        }
    }

    pub fn ports(&self) -> Ports {
        Ports {
            blobs: self.blobs.clone(),
            images: self.store.clone(),
            uploads: self.store.clone(),
            keys: self.store.clone(),
            publisher: self.publisher.clone(),
            rate_limiter: self.store.clone(),
            idempotency: self.store.clone(),
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

/// Whether no connection could be made: the endpoint is down or wrong, which is not throttling.
pub(crate) fn is_unreachable<E, R>(error: &SdkError<E, R>) -> bool {
    matches!(error, SdkError::DispatchFailure(failure) if failure.is_io())
}

pub(crate) fn sdk_error<E, R>(error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if is_unreachable(&error) {
        return BackendError::Unreachable(Box::new(error));
    }
    let transient = matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    ) || error
        .code()
        .is_some_and(|code| RETRYABLE_CODES.contains(&code));
    if transient {
        BackendError::Unavailable(Box::new(error))
    } else {
        BackendError::failed(error)
    }
}
