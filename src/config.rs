//! Configuration: every setting is an `IMGFORGE_` environment variable and a flag of the same
//! name, defined once here for the server, the CLI and the Lambdas.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::domain::{BackendError, Stage};
use crate::engines::{IMAGINE_MODELS, VISUALIZE_MODELS};
use crate::fetch::FetchConfig;
#[cfg(feature = "aws")]
use crate::store::aws::AwsResources;

const DEFAULT_MAX_UPLOAD_BYTES: u64 = 20 * 1024 * 1024;
const DEFAULT_MAX_PIXELS: u64 = 64 * 1024 * 1024;
const DEFAULT_PUBLISH_LIMIT: u32 = 60;
const DEFAULT_REQUEST_TIMEOUT: u64 = 60;
const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;
const DEFAULT_DATA_DIR: &str = ".data";
const DEFAULT_MODELS_DIR: &str = ".models";
/// Stable Diffusion 3.5 Large for both names: Bedrock has neither SDXL Lightning nor Flux.
const DEFAULT_BEDROCK_IMAGINE_MODELS: &str =
    "sdxl=stability.sd3-5-large-v1:0,flux=stability.sd3-5-large-v1:0";
/// Amazon Nova Lite (its US inference profile) for every name.
const DEFAULT_BEDROCK_VISUALIZE_MODELS: &str = "uform-gen=us.amazon.nova-lite-v1:0,\
     llava=us.amazon.nova-lite-v1:0,gemini=us.amazon.nova-lite-v1:0";
const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";
const DEFAULT_OLLAMA_MODEL: &str = "llava";

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
    /// Requests the local server works on at once; more wait for a turn. Each may hold a body
    /// of up to IMGFORGE_MAX_UPLOAD_BYTES besides its image work.
    #[arg(long, env = "IMGFORGE_MAX_CONCURRENT_REQUESTS", default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS)]
    pub max_concurrent_requests: usize,
    /// Seconds a request may take before it is answered 503 (on Lambda, also never past a
    /// second before the invocation's deadline).
    #[arg(long, env = "IMGFORGE_REQUEST_TIMEOUT", default_value_t = DEFAULT_REQUEST_TIMEOUT)]
    pub request_timeout: u64,
    /// Memory the image work in progress may hold at once, e.g. `1GiB` or `512MiB` (default:
    /// a Lambda's memory less what its runtime needs, else half the machine's memory).
    /// Work waits for its share, briefly, then is answered 503; work that could never fit is
    /// refused with 422.
    #[arg(long, env = "IMGFORGE_MAX_MEMORY", value_parser = parse_bytes)]
    pub max_memory: Option<u64>,
    /// Publishes and unpublishes allowed to each key per hour: each may invalidate a CDN path,
    /// which CloudFront bills past its free thousand a month.
    #[arg(long, env = "IMGFORGE_PUBLISH_LIMIT", default_value_t = DEFAULT_PUBLISH_LIMIT)]
    pub publish_limit: u32,
}

/// What a Lambda keeps for its runtime, its request and response, outside the image work.
const LAMBDA_RESERVED_BYTES: u64 = 160 * MIB;
const MIB: u64 = 1024 * 1024;
/// When the machine's memory cannot be read.
const FALLBACK_MEMORY_BUDGET: u64 = 2048 * MIB;

/// `1073741824`, `1024MiB`, `1GiB` (also `KiB`).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let unit_bytes = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => MIB,
        "GiB" => 1024 * MIB,
        other => return Err(format!("unknown unit {other:?}: use B, KiB, MiB or GiB")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(unit_bytes))
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| format!("{text:?} is not a size such as 512MiB or 2GiB"))
}

/// The machine's memory, from /proc/meminfo.
fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Limits {
    /// The memory budget: as configured, else sized to where the process runs.
    pub fn memory_budget(&self) -> u64 {
        if let Some(bytes) = self.max_memory {
            return bytes;
        }
        let lambda_mib = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .ok()
            .and_then(|mib| mib.parse::<u64>().ok());
        match lambda_mib {
            Some(mib) => (mib * MIB).saturating_sub(LAMBDA_RESERVED_BYTES).max(MIB),
            None => machine_memory().map_or(FALLBACK_MEMORY_BUDGET, |bytes| bytes / 2),
        }
    }

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
            publish_limit: DEFAULT_PUBLISH_LIMIT,
            max_memory: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
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

/// What generates images (imagine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImagineEngine {
    /// Amazon Bedrock's Stability models, with the AWS environment's credentials.
    Bedrock,
    /// None: imagine answers 501.
    Off,
}

/// What answers questions about images (visualize).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VisualizeEngine {
    /// Amazon Bedrock's Converse, with the AWS environment's credentials.
    Bedrock,
    /// An Ollama server the operator runs (`IMGFORGE_OLLAMA_URL`).
    Ollama,
    /// None: visualize answers 501.
    Off,
}

/// The Bedrock model (or inference profile) id behind each of the API's model names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockModels(BTreeMap<String, String>);

impl BedrockModels {
    /// `name=model-id,...` over `defaults` (in the same syntax): every name one of `names`, and
    /// a name left out keeps its default.
    fn parse(text: &str, names: &[&str], defaults: &str) -> Result<Self, String> {
        let mut ids = BTreeMap::new();
        for text in [defaults, text] {
            for pair in text
                .split(',')
                .map(str::trim)
                .filter(|pair| !pair.is_empty())
            {
                let (name, id) = pair
                    .split_once('=')
                    .map(|(name, id)| (name.trim(), id.trim()))
                    .filter(|(_, id)| !id.is_empty())
                    .ok_or_else(|| format!("{pair:?} is not name=model-id"))?;
                if !names.contains(&name) {
                    return Err(format!(
                        "{name:?} is not one of the API's models ({})",
                        names.join(", ")
                    ));
                }
                ids.insert(name.to_owned(), id.to_owned());
            }
        }
        Ok(Self(ids))
    }

    /// For imagine: `sdxl` and `flux`.
    pub fn imagine(text: &str) -> Result<Self, String> {
        Self::parse(text, IMAGINE_MODELS, DEFAULT_BEDROCK_IMAGINE_MODELS)
    }

    /// For visualize: `uform-gen`, `llava` and `gemini`.
    pub fn visualize(text: &str) -> Result<Self, String> {
        Self::parse(text, VISUALIZE_MODELS, DEFAULT_BEDROCK_VISUALIZE_MODELS)
    }

    /// The model id for an API model name.
    pub fn id(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `name=model-id` pairs, comma-separated, as configured.
    pub fn describe(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(name, id)| format!("{name}={id}"))
            .collect();
        pairs.join(",")
    }
}

/// The analysis and generation engines.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineConfig {
    /// Directory of the model files and of ONNX Runtime, which `make models` prepares.
    #[arg(long, env = "IMGFORGE_MODELS_DIR", default_value = DEFAULT_MODELS_DIR)]
    pub models_dir: PathBuf,
    /// Which program reads text; by default Tesseract on the local backend and Textract on AWS.
    #[arg(long, env = "IMGFORGE_TEXT_ENGINE", value_enum)]
    pub text_engine: Option<TextEngine>,
    /// What generates images; off unless set (the SAM template sets bedrock).
    #[arg(long, env = "IMGFORGE_IMAGINE_ENGINE", value_enum, default_value_t = ImagineEngine::Off)]
    pub imagine_engine: ImagineEngine,
    /// What answers questions about images; off unless set (the SAM template sets bedrock).
    #[arg(long, env = "IMGFORGE_VISUALIZE_ENGINE", value_enum, default_value_t = VisualizeEngine::Off)]
    pub visualize_engine: VisualizeEngine,
    /// The Bedrock text-to-image model behind each imagine model: `sdxl=ID,flux=ID`; a name left
    /// out keeps its default.
    #[arg(long, env = "IMGFORGE_BEDROCK_IMAGINE_MODELS", default_value = DEFAULT_BEDROCK_IMAGINE_MODELS, value_parser = BedrockModels::imagine)]
    pub bedrock_imagine_models: BedrockModels,
    /// The Bedrock model behind each visualize model: `uform-gen=ID,llava=ID,gemini=ID`; a name
    /// left out keeps its default.
    #[arg(long, env = "IMGFORGE_BEDROCK_VISUALIZE_MODELS", default_value = DEFAULT_BEDROCK_VISUALIZE_MODELS, value_parser = BedrockModels::visualize)]
    pub bedrock_visualize_models: BedrockModels,
    /// The Ollama server visualize asks, when its engine is ollama.
    #[arg(long, env = "IMGFORGE_OLLAMA_URL", default_value = DEFAULT_OLLAMA_URL)]
    pub ollama_url: url::Url,
    /// The Ollama model visualize asks, whichever model the request names.
    #[arg(long, env = "IMGFORGE_OLLAMA_MODEL", default_value = DEFAULT_OLLAMA_MODEL)]
    pub ollama_model: String,
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
            imagine_engine: ImagineEngine::Off,
            visualize_engine: VisualizeEngine::Off,
            bedrock_imagine_models: BedrockModels::imagine("").expect("valid defaults"),
            bedrock_visualize_models: BedrockModels::visualize("").expect("valid defaults"),
            ollama_url: DEFAULT_OLLAMA_URL.parse().expect("a valid default URL"),
            ollama_model: DEFAULT_OLLAMA_MODEL.to_owned(),
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
    #[error(
        "this imgforge was built without the {0} feature; build one with it: \
         `cargo build --release --bin imgforge` (it is a default feature)"
    )]
    NotBuiltIn(&'static str),
    #[error("cannot open the store: {0}")]
    Store(#[from] BackendError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_models_default_per_name_and_reject_unknown_names() {
        let defaults = BedrockModels::imagine("").unwrap();
        assert_eq!(defaults.id("sdxl"), Some("stability.sd3-5-large-v1:0"));
        assert_eq!(defaults.id("flux"), Some("stability.sd3-5-large-v1:0"));
        let tuned = BedrockModels::imagine(" flux = stability.stable-image-ultra-v1:1 ").unwrap();
        assert_eq!(tuned.id("flux"), Some("stability.stable-image-ultra-v1:1"));
        assert_eq!(tuned.id("sdxl"), Some("stability.sd3-5-large-v1:0"));
        let visualize = BedrockModels::visualize("").unwrap();
        for name in VISUALIZE_MODELS {
            assert_eq!(visualize.id(name), Some("us.amazon.nova-lite-v1:0"));
        }
        assert!(
            BedrockModels::imagine("dalle=x")
                .unwrap_err()
                .contains("sdxl, flux")
        );
        assert!(BedrockModels::visualize("llava").is_err());
        assert!(BedrockModels::visualize("llava=").is_err());
    }

    #[test]
    fn sizes_are_read_in_binary_units() {
        assert_eq!(super::parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(super::parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(super::parse_bytes("4096"), Ok(4096));
        assert!(super::parse_bytes("1GB").is_err());
        assert!(super::parse_bytes("0MiB").is_err());
        assert!(super::parse_bytes("lots").is_err());
    }
}
