//! Running one endpoint as an AWS Lambda: build the dependencies once per cold start, then hand
//! every API Gateway event to the shared handler.

use std::convert::Infallible;
use std::sync::Arc;

use clap::Parser;
pub use lambda_http::Error;
use lambda_http::service_fn;

use crate::api::{self, routes};
use crate::app::{App, Config};

#[derive(Parser)]
struct LambdaConfig {
    #[command(flatten)]
    config: Config,
}

/// The whole `main` of an endpoint's Lambda, found in the route table by the binary's name.
pub fn start(route_name: &str) -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let route =
        routes::by_name(route_name).ok_or_else(|| format!("no route is named {route_name}"))?;
    let config = LambdaConfig::try_parse_from([route_name])?.config;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let app = Arc::new(App::open(&config, "")?);
        lambda_http::run(service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(api::serve(&app, route.handler, request).await) }
        }))
        .await
    })
}

/// `fn main` for a file in `functions/`: the binary's name is its route's name.
#[macro_export]
macro_rules! lambda_main {
    () => {
        fn main() -> Result<(), $crate::lambda::Error> {
            $crate::lambda::start(env!("CARGO_BIN_NAME"))
        }
    };
}
