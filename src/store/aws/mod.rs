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

use super::{BlobStore, Closed, PortSet, Ports, Publisher};
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

/// The AWS adapters of the ports.
pub struct AwsBackend {
    ports: Ports,
}

impl AwsBackend {
    /// Every port's adapter, over clients made from `sdk`, each when first used.
    pub fn new(sdk: &SdkConfig, resources: &AwsResources) -> Self {
        Self::opening(sdk, resources, PortSet::ALL)
    }

    /// The adapters of the records and of the ports `open` names; the others are [`Closed`].
    /// Always inlined: where `open` is a constant, as in a Lambda's `main`, the compiler leaves
    /// the closed ports' adapters and their SDK clients out of the binary.
    #[inline(always)]
    pub fn opening(sdk: &SdkConfig, resources: &AwsResources, open: PortSet) -> Self {
        Self::assemble(
            open,
            || LazyClient::from_sdk(sdk, s3_client),
            LazyClient::from_sdk(sdk, aws_sdk_dynamodb::Client::new),
            || LazyClient::from_sdk(sdk, aws_sdk_cloudfront::Client::new),
            resources,
        )
    }

    /// Every port's adapter over the given clients (tests give mocked ones, `into()` a
    /// `LazyClient`).
    pub fn from_clients(
        s3: LazyClient<aws_sdk_s3::Client>,
        dynamo: LazyClient<aws_sdk_dynamodb::Client>,
        cloudfront: LazyClient<aws_sdk_cloudfront::Client>,
        resources: &AwsResources,
    ) -> Self {
        Self::assemble(PortSet::ALL, || s3, dynamo, || cloudfront, resources)
    }

    #[inline(always)]
    fn assemble(
        open: PortSet,
        s3: impl FnOnce() -> LazyClient<aws_sdk_s3::Client>,
        dynamo: LazyClient<aws_sdk_dynamodb::Client>,
        cloudfront: impl FnOnce() -> LazyClient<aws_sdk_cloudfront::Client>,
        resources: &AwsResources,
    ) -> Self {
        let store = Arc::new(DynamoStore::new(dynamo, &resources.table));
        // Publishing copies within the bucket, so the publisher has the S3 adapter even where
        // the route's own blobs port is closed.
        let s3 = (open.blobs || open.publisher)
            .then(|| Arc::new(S3BlobStore::new(s3(), &resources.bucket)));
        let blobs: Arc<dyn BlobStore> = match &s3 {
            Some(s3) if open.blobs => s3.clone(),
            _ => Closed::blobs(),
        };
        let publisher: Arc<dyn Publisher> = match s3 {
            Some(s3) if open.publisher => {
                Arc::new(CloudFrontPublisher::new(s3, cloudfront(), resources))
            }
            _ => Closed::publisher(),
        };
        Self {
            ports: Ports {
                blobs,
                images: store.clone(),
                uploads: store.clone(),
                keys: store.clone(),
                publisher,
                rate_limiter: store.clone(),
                idempotency: store,
            },
        }
    }

    pub fn ports(&self) -> Ports {
        self.ports.clone()
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
