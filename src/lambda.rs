//! Running the API as AWS Lambdas: build the AWS dependencies once per cold start, then hand
//! every event to the shared handler.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use clap::Parser;
pub use lambda_http::Error;
use lambda_http::service_fn;
use lambda_runtime::LambdaEvent;

use crate::api::{self, routes::Route};
use crate::app::App;
use crate::config::{BackendKind, Config};
use crate::engines::Engines;
use crate::services::uploads;
use crate::store::Backend;

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
    crate::sdk::load_with(crate::sdk::lambda_environment);
    lambda_http::tracing::init_default_subscriber();
    let mut config = LambdaConfig::try_parse_from([name])?.config;
    // A Lambda always runs the AWS backend, whatever IMGFORGE_BACKEND says: the engines' defaults
    // (Textract, not a Tesseract the runtime does not have) follow from it.
    config.backend = BackendKind::Aws;
    Ok((config, tokio::runtime::Runtime::new()?))
}

async fn aws_app(config: &Config, engines: Engines) -> Result<Arc<App>, Error> {
    let backend = Backend::open_aws(&config.aws).await?;
    Ok(Arc::new(
        App::from_ports(backend.ports(), config).with_engines(engines),
    ))
}

/// The whole `main` of an endpoint's Lambda whose handler calls no engine: none is opened, and
/// none of their code (ONNX Runtime's bindings, the Textract and Bedrock clients, resampling for
/// models) is linked into its binary.
pub fn start(route: &'static Route) -> Result<(), Error> {
    serve(route, async |_: &Config| Engines::default())
}

/// The whole `main` of an endpoint's Lambda whose handler calls an engine.
pub fn start_with_engines(route: &'static Route) -> Result<(), Error> {
    serve(route, Engines::open)
}

fn serve(
    route: &'static Route,
    engines: impl AsyncFnOnce(&Config) -> Engines,
) -> Result<(), Error> {
    let (config, runtime) = prepare(route.name)?;
    runtime.block_on(async move {
        let engines = engines(&config).await;
        let app = aws_app(&config, engines).await?;
        lambda_http::run(service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(api::serve(&app, route.handler, request).await) }
        }))
        .await
    })
}

/// The `main` of the function S3 invokes when a direct upload lands.
pub fn start_ingest() -> Result<(), Error> {
    let (config, runtime) = prepare("ingest-upload")?;
    runtime.block_on(async move {
        let app = aws_app(&config, Engines::default()).await?;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| {
            let app = Arc::clone(&app);
            async move { ingest_event(&app, event.payload).await }
        }))
        .await
    })
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

/// `fn main` for a file in `functions/`, given its route's handler, and `engines` if the route
/// calls one (`tests/deployment.rs` checks both against the route table): the binary must be
/// named after it (checked at compile time), and links only that route's code.
#[macro_export]
macro_rules! lambda_main {
    ($handler:ident) => {
        $crate::lambda_main!(@named $handler);
        fn main() -> Result<(), $crate::lambda::Error> {
            $crate::lambda::start(&$crate::api::routes::route::$handler)
        }
    };
    ($handler:ident, engines) => {
        $crate::lambda_main!(@named $handler);
        fn main() -> Result<(), $crate::lambda::Error> {
            $crate::lambda::start_with_engines(&$crate::api::routes::route::$handler)
        }
    };
    (@named $handler:ident) => {
        const _: () = assert!(
            $crate::api::routes::names_match(env!("CARGO_BIN_NAME"), stringify!($handler)),
            "a function's binary must be named after its route's handler"
        );
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
