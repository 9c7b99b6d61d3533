//! Opening the adapters a configuration names. Each family builds all of its ports itself, so a
//! new port is one line per family.

use super::Ports;
#[cfg(feature = "aws")]
use super::aws::AwsBackend;
use super::local::LocalBackend;
use crate::config::{BackendKind, Config, ConfigError};
#[cfg(feature = "aws")]
use crate::sdk::sdk_config;

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
                config.public_base_url.as_deref(),
            )?)),
            #[cfg(feature = "aws")]
            BackendKind::Aws => Ok(Self::Aws(AwsBackend::new(
                &sdk_config().await,
                &config.aws.resources()?,
            ))),
            #[cfg(not(feature = "aws"))]
            BackendKind::Aws => Err(ConfigError::NotBuiltIn("aws")),
        }
    }

    pub fn ports(&self) -> Ports {
        match self {
            Self::Local(local) => local.ports(),
            #[cfg(feature = "aws")]
            Self::Aws(aws) => aws.ports(),
        }
    }
}
