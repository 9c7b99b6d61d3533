//! The dependencies every handler gets: the ports, and the limits they enforce.

use std::path::PathBuf;
use std::sync::Arc;

use crate::store::local::{LocalBackend, LocalPublisher};
use crate::store::{BlobStore, ImageIndex, KeyStore, Publisher, StoreResult};

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            max_pixels: 64 * 1024 * 1024,
        }
    }
}

/// Where the data lives and how it is reached. Every flag also reads its `IMGFORGE_` variable, so
/// the server, the CLI and the Lambdas share one definition.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Directory of the embedded backend's files and database.
    #[arg(long, env = "IMGFORGE_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// Base of published images' URLs: `{base}/images/{image_id}`.
    #[arg(long, env = "IMGFORGE_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Base of the API's own absolute URLs (pagination links), when not the request's host.
    #[arg(long, env = "IMGFORGE_API_BASE_URL")]
    pub api_base_url: Option<String>,
    #[command(flatten)]
    pub limits: Limits,
}

pub struct App {
    pub blobs: Arc<dyn BlobStore>,
    pub images: Arc<dyn ImageIndex>,
    pub keys: Arc<dyn KeyStore>,
    pub publisher: Arc<dyn Publisher>,
    pub limits: Limits,
    /// Base of the absolute URLs the API hands out (pagination links), when the request's own
    /// host is not the public one, e.g. behind a custom domain with a base path.
    pub api_base_url: Option<String>,
}

impl App {
    /// Opens the backend `config` names. `default_public_base_url` is used when the config sets
    /// none: the local server passes its own `/public` address.
    pub fn open(config: &Config, default_public_base_url: &str) -> StoreResult<Self> {
        let backend = LocalBackend::open(&config.data_dir)?;
        let public_base_url = config
            .public_base_url
            .as_deref()
            .unwrap_or(default_public_base_url);
        let store = Arc::new(backend.store);
        Ok(Self {
            publisher: Arc::new(LocalPublisher::new(
                Arc::clone(&backend.blobs),
                public_base_url,
            )),
            blobs: backend.blobs,
            images: store.clone(),
            keys: store,
            limits: config.limits.clone(),
            api_base_url: config.api_base_url.clone(),
        })
    }
}
