//! The dependencies every handler gets: the ports, and the limits they enforce.

use std::path::PathBuf;
use std::sync::Arc;

use crate::domain::Stage;
use crate::fetch::{FetchConfig, FetchPolicy};
#[cfg(feature = "aws")]
use crate::store::aws::{AwsBackend, AwsResources, sdk_config};
use crate::store::local::{LocalBackend, LocalPublisher};
use crate::store::{
    BlobStore, IdempotencyStore, ImageIndex, KeyStore, Publisher, RateLimiter, StoreError,
    UploadIndex,
};

/// Size limits, from the environment or the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest accepted upload, in bytes (default 20 MiB).
    #[arg(long, env = "IMGFORGE_MAX_UPLOAD_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Largest image, in pixels, accepted as input or produced as output (default 64 Mi pixels,
    /// so 8192×8192 fits).
    #[arg(long, env = "IMGFORGE_MAX_PIXELS", default_value_t = 64 * 1024 * 1024)]
    pub max_pixels: u64,
    /// Requests per minute allowed to each test key (unlimited when unset).
    #[arg(long, env = "IMGFORGE_RATE_LIMIT_TEST")]
    pub rate_limit_test: Option<u32>,
    /// Requests per minute allowed to each live key (unlimited when unset).
    #[arg(long, env = "IMGFORGE_RATE_LIMIT_LIVE")]
    pub rate_limit_live: Option<u32>,
}

impl Limits {
    pub fn rate_limit(&self, stage: Stage) -> Option<u32> {
        match stage {
            Stage::Test => self.rate_limit_test,
            Stage::Live => self.rate_limit_live,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            max_pixels: 64 * 1024 * 1024,
            rate_limit_test: None,
            rate_limit_live: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Files and SQLite under the data directory.
    Local,
    /// S3, DynamoDB and CloudFront, from the AWS environment.
    Aws,
}

/// The names of the AWS resources, as the SAM template passes them to every function.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsNames {
    /// DynamoDB table of records and keys.
    #[arg(long, env = "IMGFORGE_TABLE")]
    pub table: Option<String>,
    /// S3 bucket of originals and public copies.
    #[arg(long, env = "IMGFORGE_BUCKET")]
    pub bucket: Option<String>,
    /// Domain of the CloudFront distribution that serves published images.
    #[arg(long, env = "IMGFORGE_CDN_DOMAIN")]
    pub cdn_domain: Option<String>,
    /// Id of that distribution, for invalidations.
    #[arg(long, env = "IMGFORGE_DISTRIBUTION_ID")]
    pub distribution_id: Option<String>,
}

impl AwsNames {
    /// The bucket and table an emulator is to create (the distribution is made there).
    #[cfg(feature = "aws")]
    pub fn resources_for_emulator(&self) -> Result<(String, String), ConfigError> {
        Ok((
            self.bucket
                .clone()
                .ok_or(ConfigError::Missing("IMGFORGE_BUCKET"))?,
            self.table
                .clone()
                .ok_or(ConfigError::Missing("IMGFORGE_TABLE"))?,
        ))
    }

    #[cfg(feature = "aws")]
    pub fn resources(&self) -> Result<AwsResources, ConfigError> {
        let required = |value: &Option<String>, variable: &'static str| {
            value.clone().ok_or(ConfigError::Missing(variable))
        };
        Ok(AwsResources {
            table: required(&self.table, "IMGFORGE_TABLE")?,
            bucket: required(&self.bucket, "IMGFORGE_BUCKET")?,
            cdn_domain: required(&self.cdn_domain, "IMGFORGE_CDN_DOMAIN")?,
            distribution_id: required(&self.distribution_id, "IMGFORGE_DISTRIBUTION_ID")?,
        })
    }
}

/// Where the data lives and how it is reached. Every flag also reads its `IMGFORGE_` variable, so
/// the server, the CLI and the Lambdas share one definition.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Which adapters serve the ports.
    #[arg(long, env = "IMGFORGE_BACKEND", value_enum, default_value_t = BackendKind::Local)]
    pub backend: BackendKind,
    /// Directory of the embedded backend's files and database.
    #[arg(long, env = "IMGFORGE_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// Base of published images' URLs on the embedded backend: `{base}/images/{image_id}`.
    #[arg(long, env = "IMGFORGE_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Base of the API's own absolute URLs (pagination links), when not the request's host.
    #[arg(long, env = "IMGFORGE_API_BASE_URL")]
    pub api_base_url: Option<String>,
    #[command(flatten)]
    pub aws: AwsNames,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub fetch: FetchConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set for the AWS backend")]
    Missing(&'static str),
    #[error("this imgforge was built without the {0} feature")]
    NotBuiltIn(&'static str),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
}

/// The adapters behind the ports, of one family or the other.
pub enum Backend {
    Local(LocalBackend),
    #[cfg(feature = "aws")]
    Aws(AwsBackend),
}

impl Backend {
    /// Opens what `config` names. `local_origin` is the local server's own address, which the
    /// embedded backend hands out for published images and presigned uploads.
    pub async fn open(config: &Config, local_origin: &str) -> Result<Self, ConfigError> {
        match config.backend {
            BackendKind::Local => Ok(Self::Local(LocalBackend::open(
                &config.data_dir,
                local_origin,
            )?)),
            #[cfg(feature = "aws")]
            BackendKind::Aws => Self::open_aws(&config.aws).await,
            #[cfg(not(feature = "aws"))]
            BackendKind::Aws => Err(ConfigError::NotBuiltIn("aws")),
        }
    }

    #[cfg(feature = "aws")]
    pub async fn open_aws(names: &AwsNames) -> Result<Self, ConfigError> {
        let resources = names.resources()?;
        Ok(Self::Aws(AwsBackend::new(&sdk_config().await, &resources)))
    }
}

pub struct App {
    pub blobs: Arc<dyn BlobStore>,
    pub images: Arc<dyn ImageIndex>,
    pub uploads: Arc<dyn UploadIndex>,
    pub keys: Arc<dyn KeyStore>,
    pub publisher: Arc<dyn Publisher>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub limits: Limits,
    /// Where create-from-URL may fetch.
    pub fetch: FetchPolicy,
    /// Base of the absolute URLs the API hands out (pagination links), when the request's own
    /// host is not the public one, e.g. behind a custom domain with a base path.
    pub api_base_url: Option<String>,
}

impl App {
    pub fn new(backend: &Backend, config: &Config, local_origin: &str) -> Self {
        let limits = config.limits.clone();
        let fetch = FetchPolicy::new(&config.fetch);
        let api_base_url = config.api_base_url.clone();
        match backend {
            Backend::Local(local) => {
                let public_base_url = config
                    .public_base_url
                    .clone()
                    .unwrap_or_else(|| format!("{local_origin}{}", crate::server::PUBLIC_PATH));
                Self {
                    blobs: local.blobs.clone(),
                    images: local.store.clone(),
                    uploads: local.store.clone(),
                    keys: local.store.clone(),
                    publisher: Arc::new(LocalPublisher::new(local.blobs.clone(), &public_base_url)),
                    rate_limiter: local.store.clone(),
                    idempotency: local.store.clone(),
                    limits,
                    fetch,
                    api_base_url,
                }
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => Self {
                blobs: aws.blobs.clone(),
                images: aws.store.clone(),
                uploads: aws.store.clone(),
                keys: aws.store.clone(),
                publisher: aws.publisher.clone(),
                rate_limiter: aws.store.clone(),
                idempotency: aws.store.clone(),
                limits,
                fetch,
                api_base_url,
            },
        }
    }
}
