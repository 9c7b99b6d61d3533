//! imgforge: the IMG Processing API v1 as AWS Lambda functions, and the same handlers served
//! locally over an embedded store.

pub mod api;
pub mod app;
pub mod domain;
pub mod fetch;
pub mod imaging;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod server;
pub mod store;
