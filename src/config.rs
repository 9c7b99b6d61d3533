//! Configuration: every setting is an `IMGFORGE_` environment variable and a flag of the same
//! name, defined once here for the server, the CLI and the Lambdas.

use std::path::PathBuf;

use crate::domain::{BackendError, Stage};
use crate::fetch::FetchConfig;
#[cfg(feature = "aws")]
use crate::store::aws::AwsResources;

const DEFAULT_MAX_UPLOAD_BYTES: u64 = 20 * 1024 * 1024;
const DEFAULT_MAX_PIXELS: u64 = 64 * 1024 * 1024;
const DEFAULT_DATA_DIR: &str = ".data";
const DEFAULT_MODELS_DIR: &str = ".models";

/// Size limits, from the environment or the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest accepted upload, in bytes (default 20 MiB).
    #[arg(long, env = "IMGFORGE_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,
    /// Largest image, in pixels, accepted as input or produced as output (default 64 Mi pixels,
    /// so 8192×8192 fits).
    #[arg(long, env = "IMGFORGE_MAX_PIXELS", default_value_t = DEFAULT_MAX_PIXELS)]
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
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_pixels: DEFAULT_MAX_PIXELS,
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

/// Which program reads text from images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextEngine {
    /// Tesseract, a program on this machine (`apt-get install tesseract-ocr tesseract-ocr-eng`).
    Tesseract,
    /// Amazon Textract, with the AWS environment's credentials.
    Textract,
    /// None: text extraction answers 501.
    Off,
}

/// The analysis engines.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineConfig {
    /// Directory of the model files and of ONNX Runtime, which `make models` prepares.
    #[arg(long, env = "IMGFORGE_MODELS_DIR", default_value = DEFAULT_MODELS_DIR)]
    pub models_dir: PathBuf,
    /// Which program reads text; by default Tesseract on the local backend and Textract on AWS.
    #[arg(long, env = "IMGFORGE_TEXT_ENGINE", value_enum)]
    pub text_engine: Option<TextEngine>,
}

impl EngineConfig {
    /// The text engine in force: the one configured, else the backend's own.
    pub fn text_engine(&self, backend: BackendKind) -> TextEngine {
        self.text_engine.unwrap_or(match backend {
            BackendKind::Local => TextEngine::Tesseract,
            BackendKind::Aws => TextEngine::Textract,
        })
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::from(DEFAULT_MODELS_DIR),
            text_engine: None,
        }
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
    #[arg(long, env = "IMGFORGE_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
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
    #[command(flatten)]
    pub engines: EngineConfig,
}

/// Every flag's default, without reading the environment.
impl Default for Config {
    fn default() -> Self {
        Self {
            backend: BackendKind::Local,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            public_base_url: None,
            api_base_url: None,
            aws: AwsNames::default(),
            limits: Limits::default(),
            fetch: FetchConfig::default(),
            engines: EngineConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set for the AWS backend")]
    Missing(&'static str),
    #[error("this imgforge was built without the {0} feature")]
    NotBuiltIn(&'static str),
    #[error("cannot open the store: {0}")]
    Store(#[from] BackendError),
}
