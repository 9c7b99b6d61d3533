//! What every service and handler is given: the ports, and the limits and policies they apply.

use crate::config::{Config, Limits};
use crate::engines::{EngineSet, Engines};
use crate::fetch::FetchPolicy;
use crate::services::memory::MemoryBudget;
use crate::store::{PortSet, Ports};

pub struct App {
    /// The storage ports, served by one backend's adapters.
    pub store: Ports,
    /// The analysis engines this process has.
    pub engines: Engines,
    pub limits: Limits,
    /// What image work in progress may hold.
    pub memory: MemoryBudget,
    /// Where create-from-URL may fetch.
    pub fetch: FetchPolicy,
    /// Base of the absolute URLs the API hands out (pagination links), when the request's own
    /// host is not the public one, e.g. behind a custom domain with a base path.
    pub api_base_url: Option<String>,
}

impl App {
    /// The app over `store`, without engines.
    pub fn from_ports(store: Ports, config: &Config) -> Self {
        Self {
            store,
            engines: Engines::default(),
            limits: config.limits.clone(),
            memory: MemoryBudget::new(config.limits.memory_budget()),
            fetch: FetchPolicy::new(&config.fetch),
            api_base_url: config.api_base_url.clone(),
        }
    }
}

impl App {
    pub fn with_engines(self, engines: Engines) -> Self {
        Self { engines, ..self }
    }

    /// This app with only what `uses` names: the other ports closed, the other engines absent.
    pub fn only(&self, uses: Uses) -> Self {
        Self {
            store: self.store.only(uses.ports),
            engines: self.engines.only(uses.engines),
            limits: self.limits.clone(),
            memory: self.memory.clone(),
            fetch: self.fetch.clone(),
            api_base_url: self.api_base_url.clone(),
        }
    }
}

/// What of the app a route's handler calls beyond the records every request reads (keys, rate
/// limits, idempotency, images and uploads), as its line in the route table says. Only that is
/// opened for its Lambda, and linked into its binary (see `lambda_main!`); the local server
/// gives each route no more ([`App::only`]), so that the tests show every line names all its
/// route calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uses {
    pub ports: PortSet,
    /// The analysis and generation capabilities: models, Tesseract, Textract, Bedrock, Ollama.
    pub engines: EngineSet,
}

impl Uses {
    pub const NOTHING: Self = Self {
        ports: PortSet::NONE,
        engines: EngineSet::NONE,
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::{BackendError, ImageId};
    use crate::engines::{Generated, ImageGenerator, ImagePrompt};
    use crate::store::local::LocalBackend;

    struct Unused;

    #[async_trait]
    impl ImageGenerator for Unused {
        async fn generate(&self, _: &ImagePrompt) -> Result<Generated, BackendError> {
            Ok(Generated::Filtered("never asked".into()))
        }
    }

    #[tokio::test]
    async fn a_route_is_given_only_the_ports_and_engines_its_line_names() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path(), "http://local", None).unwrap();
        let engines = Engines {
            image_generator: Some(Arc::new(Unused)),
            ..Engines::default()
        };
        let app = App::from_ports(backend.ports(), &Config::default()).with_engines(engines);
        let publishing = app.only(Uses {
            ports: PortSet {
                blobs: false,
                publisher: true,
            },
            engines: EngineSet::NONE,
        });

        let refused = publishing.store.blobs.get("originals/x").await.unwrap_err();
        assert!(refused.to_string().contains("blobs port"), "{refused}");
        let id = ImageId::generate(chrono::Utc::now());
        publishing.store.publisher.unpublish(&id).await.unwrap();
        assert!(publishing.engines.image_generator.is_none());

        let everything = app.only(Uses {
            ports: PortSet::ALL,
            engines: EngineSet::ALL,
        });
        assert_eq!(
            everything.store.blobs.get("originals/x").await.unwrap(),
            None
        );
        assert!(everything.engines.image_generator.is_some());
    }
}
