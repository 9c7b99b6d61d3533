//! What every service and handler is given: the ports, and the limits and policies they apply.

use crate::config::{Config, Limits};
use crate::engines::Engines;
use crate::fetch::FetchPolicy;
use crate::services::memory::MemoryBudget;
use crate::store::Ports;

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
}
