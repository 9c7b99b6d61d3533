//! Running the API as AWS Lambdas: build the AWS dependencies once per cold start, then hand
//! every event to the shared handler.

use std::convert::Infallible;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::S3Event;
use clap::Parser;
pub use lambda_http::Error;
use lambda_http::service_fn;
use lambda_runtime::LambdaEvent;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use crate::api::{self, routes::Route};
use crate::app::App;
use crate::config::{BackendKind, Config};
use crate::engines::Engines;
use crate::sdk::from_lambda_environment;
use crate::services::uploads;
use crate::store::PortSet;
use crate::store::aws::AwsBackend;

#[derive(Parser)]
struct LambdaConfig {
    #[command(flatten)]
    config: Config,
}

/// Logs as JSON lines (with the request id of each invocation) under Lambda's JSON log format,
/// and the configuration (ours and the SDK's) from the environment the template and the Lambda
/// runtime set.
fn prepare(name: &str) -> Result<(Config, tokio::runtime::Runtime), Error> {
    crate::runtime::keep_freed_memory();
    init_logging();
    let mut config = LambdaConfig::try_parse_from([name])?.config;
    // A Lambda always runs the AWS backend, whatever IMGFORGE_BACKEND says: the engines' defaults
    // (Textract, not a Tesseract the runtime does not have) follow from it.
    config.backend = BackendKind::Aws;
    Ok((config, tokio::runtime::Runtime::new()?))
}

/// Logs to standard output as `lambda_http`'s default subscriber does, under Lambda's logging
/// controls (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`), but filtered by target
/// (`Targets`), not by `EnvFilter`, whose span and field filters would link a regular
/// expression engine into every function.
fn init_logging() {
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let format = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time();
    let logs = tracing_subscriber::registry().with(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.with(format.json()).init();
    } else {
        logs.with(format).init();
    }
}

/// `RUST_LOG`'s `target=level` directives (a bare level is the default), under Lambda's log
/// level where one is set; INFO otherwise, and where `RUST_LOG` cannot be read.
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let targets: Targets = rust_log
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_default();
    let default = lambda_level
        .and_then(|level| level.parse().ok())
        .or(targets.default_level())
        .unwrap_or(LevelFilter::INFO);
    targets.with_default(default)
}

/// A Lambda function: the route it serves, as a constant its `main` names (see `lambda_main!`),
/// so that the compiler leaves out the engines, ports and SDK clients the route does not use.
pub trait Function {
    const ROUTE: &'static Route;
}

/// The app over the AWS adapters of the ports `open` names; inlined, so that the adapters of
/// the others are not in the binary.
#[inline(always)]
fn aws_app(
    config: &Config,
    sdk: &SdkConfig,
    open: PortSet,
    engines: Engines,
) -> Result<Arc<App>, Error> {
    let backend = AwsBackend::opening(sdk, &config.aws.resources()?, open);
    Ok(Arc::new(
        App::from_ports(backend.ports(), config).with_engines(engines),
    ))
}

/// The whole `main` of an endpoint's Lambda.
pub fn start<F: Function>() -> Result<(), Error> {
    let route = F::ROUTE;
    let (config, runtime) = prepare(route.name)?;
    // What the route uses, as constants given to inlined functions outside any async block:
    // only so does the compiler drop the code the route does not use (an async block keeps a
    // state for each `.await`, taken or not).
    let sdk = from_lambda_environment(|name| std::env::var(name).ok());
    let engines = Engines::opening(&config, const { F::ROUTE.uses.engines }, Some(&sdk));
    let app = aws_app(&config, &sdk, const { F::ROUTE.uses.ports }, engines)?;
    runtime.block_on(lambda_http::run(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(api::serve(&app, route.handler, request).await) }
    })))
}

/// The ports the function S3 invokes opens: it reads the upload and stores the original.
pub const INGEST_PORTS: PortSet = PortSet {
    blobs: true,
    publisher: false,
};

/// The `main` of the function S3 invokes when a direct upload lands.
pub fn start_ingest() -> Result<(), Error> {
    let (config, runtime) = prepare("ingest-upload")?;
    let sdk = from_lambda_environment(|name| std::env::var(name).ok());
    let app = aws_app(&config, &sdk, INGEST_PORTS, Engines::default())?;
    runtime.block_on(lambda_runtime::run(service_fn(
        move |event: LambdaEvent<S3Event>| {
            let app = Arc::clone(&app);
            async move { ingest_event(&app, event.payload).await }
        },
    )))
}

/// Ingests every object an S3 event names. A storage failure fails the invocation, so that
/// Lambda delivers the event again; ingesting is idempotent.
pub async fn ingest_event(app: &App, event: S3Event) -> Result<(), Error> {
    for record in event.records {
        let Some(raw_key) = record.s3.object.key else {
            continue;
        };
        // Keys in S3 events are form-encoded: `+` for spaces, `%XX` for the rest.
        let key: String = form_urlencoded::parse(format!("k={raw_key}").as_bytes())
            .map(|(_, value)| value.into_owned())
            .next()
            .unwrap_or_default();
        let outcome = uploads::ingest(app, &key).await?;
        tracing::info!(key, ?outcome, "ingested upload");
    }
    Ok(())
}

/// `fn main` for a file in `functions/`, given its route's handler: the binary must be named
/// after it (checked at compile time), and links only that route's code and what its line in
/// the route table says it uses.
#[macro_export]
macro_rules! lambda_main {
    ($handler:ident) => {
        const _: () = assert!(
            $crate::api::routes::names_match(env!("CARGO_BIN_NAME"), stringify!($handler)),
            "a function's binary must be named after its route's handler"
        );
        struct Function;
        impl $crate::lambda::Function for Function {
            const ROUTE: &'static $crate::api::routes::Route =
                &$crate::api::routes::route::$handler;
        }
        fn main() -> Result<(), $crate::lambda::Error> {
            $crate::lambda::start::<Function>()
        }
    };
}

/// `fn main` for the function S3 invokes when a direct upload lands.
#[macro_export]
macro_rules! ingest_main {
    () => {
        fn main() -> Result<(), $crate::lambda::Error> {
            $crate::lambda::start_ingest()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_log_filter_takes_rust_log_directives_under_lambdas_log_level() {
        let filter = log_filter(None, None);
        assert!(filter.would_enable("imgforge", &Level::INFO));
        assert!(!filter.would_enable("imgforge", &Level::DEBUG));

        let filter = log_filter(None, Some("warn,imgforge::sdk=debug"));
        assert!(filter.would_enable("imgforge::sdk", &Level::DEBUG));
        assert!(!filter.would_enable("imgforge::api", &Level::INFO));
        assert!(filter.would_enable("imgforge::api", &Level::WARN));

        // Lambda's level is the default; RUST_LOG's targets still apply.
        let filter = log_filter(Some("DEBUG"), Some("warn,aws_smithy_runtime=error"));
        assert!(filter.would_enable("imgforge", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::WARN));

        // What cannot be read leaves INFO.
        let filter = log_filter(Some("FATAL"), Some("[span{field}]=debug"));
        assert!(filter.would_enable("imgforge", &Level::INFO));
        assert!(!filter.would_enable("imgforge", &Level::DEBUG));
    }
}
