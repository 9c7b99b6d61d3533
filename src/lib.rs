//! imgforge: the IMG Processing API v1 as AWS Lambda functions, and the same handlers served
//! locally over an embedded store.
//!
//! Layers, each importing only those below it: entry points (`server`, `lambda`, the CLI in
//! `main.rs`) → `api` (routes, handlers) → `services` (the use cases) → the ports and their
//! adapters (`store`, `fetch`) and the engine (`imaging`) → `domain`. `app` is the set of ports
//! the services are given; `config` the settings everything reads.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod engines;
pub mod fetch;
pub mod imaging;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod runtime;
#[cfg(feature = "aws")]
pub mod sdk;
pub mod server;
pub mod services;
pub mod store;
