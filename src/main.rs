//! `imgforge`: serve the API locally, and manage API keys.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use imgforge::api::auth::create_key;
use imgforge::api::transform_params::{self, Transformation};
use imgforge::app::App;
#[cfg(feature = "aws")]
use imgforge::config::AwsNames;
use imgforge::config::{BackendKind, Config, ImagineEngine, Limits, TextEngine, VisualizeEngine};
use imgforge::domain::{
    ApiError, Format, ImageId, KEY_ID_LENGTH, Stage, hash_api_key, new_account_id, stage_of_key,
    valid_account_id,
};
use imgforge::engines::onnx::{self, Model};
use imgforge::engines::{BEDROCK_NOT_BUILT, Engines, imagenet, isnet, tesseract};
use imgforge::imaging::{jpeg_simd, probe};
#[cfg(feature = "aws")]
use imgforge::sdk::sdk_config;
use imgforge::server;
use imgforge::services::transform::{self, WatermarkImages};
use imgforge::store::Backend;
#[cfg(feature = "aws")]
use imgforge::store::aws::{emulator, s3_client};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "The IMG Processing API, on AWS Lambda or on your machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole API over HTTP, with published images under /public.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "IMGFORGE_ADDR", default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        #[command(flatten)]
        config: Config,
    },
    /// Apply a transformation to a local file, with the same engine and checks as the API.
    Transform {
        operation: Transformation,
        /// The parameters as the API takes them, e.g. '{"width": 800}'.
        #[arg(long, default_value = "{}")]
        params: String,
        /// For watermark: the file that each watermark id stands for.
        #[arg(long = "watermark", value_name = "IMAGE_ID=PATH")]
        watermarks: Vec<String>,
        #[command(flatten)]
        limits: Limits,
        input: PathBuf,
        output: PathBuf,
    },
    /// Say what this build and configuration can do: one line per capability.
    Doctor {
        #[command(flatten)]
        config: Config,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with a local AWS emulator (moto).
    #[cfg(feature = "aws")]
    Emulator {
        #[command(subcommand)]
        command: EmulatorCommand,
    },
}

#[cfg(feature = "aws")]
#[derive(Subcommand)]
enum EmulatorCommand {
    /// Create the bucket, table and distribution the environment names, in the emulator at
    /// AWS_ENDPOINT_URL (which must be a loopback address), and print the `export` lines for the
    /// distribution the emulator made.
    Init {
        #[command(flatten)]
        names: AwsNames,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it: the only time it is shown.
    Create {
        #[arg(long, value_enum)]
        stage: StageArg,
        /// Add the key to this existing account instead of a new one.
        #[arg(long)]
        account: Option<String>,
        /// Print {"key", "account", "stage", "store"} as JSON instead of the key alone.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: Config,
    },
    /// List every key: its id (the start of its hash), stage, account, creation time and
    /// whether it is active. Keys themselves are never stored, so never shown.
    List {
        #[command(flatten)]
        config: Config,
    },
    /// Revoke a key for good: its requests get 401 from then on.
    Revoke {
        /// The key itself, or its id as `keys list` shows it.
        key: String,
        #[command(flatten)]
        config: Config,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StageArg {
    Test,
    Live,
}

impl From<StageArg> for Stage {
    fn from(stage: StageArg) -> Self {
        match stage {
            StageArg::Test => Stage::Test,
            StageArg::Live => Stage::Live,
        }
    }
}

fn main() -> ExitCode {
    imgforge::runtime::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("imgforge: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("imgforge: {error}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn run(command: Command) -> CliResult {
    match command {
        Command::Serve { addr, config } => serve(addr, config).await,
        Command::Transform {
            operation,
            params,
            watermarks,
            limits,
            input,
            output,
        } => transform_file(operation, &params, &watermarks, &limits, &input, &output).await,
        Command::Doctor { config } => {
            doctor(&config);
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    stage,
                    account,
                    json,
                    config,
                },
        } => create_key_command(stage.into(), account, json, &config).await,
        Command::Keys {
            command: KeysCommand::List { config },
        } => list_keys_command(&config).await,
        Command::Keys {
            command: KeysCommand::Revoke { key, config },
        } => revoke_key_command(&key, &config).await,
        #[cfg(feature = "aws")]
        Command::Emulator {
            command: EmulatorCommand::Init { names },
        } => {
            let (bucket, table) = names.resources_for_emulator()?;
            let distribution = emulator::init(&sdk_config().await, &bucket, &table).await?;
            println!("export IMGFORGE_DISTRIBUTION_ID={}", distribution.id);
            println!("export IMGFORGE_CDN_DOMAIN={}", distribution.domain);
            Ok(())
        }
    }
}

/// `imgforge keys list`: one line per key, oldest first.
async fn list_keys_command(config: &Config) -> CliResult {
    use std::io::Write;

    let backend = Backend::open(config, "").await?;
    let keys = backend.ports().keys.list().await.map_err(ApiError::from)?;
    // Written, not printed: a reader that stops early (`| head`) ends the listing, neither a
    // panic nor an error.
    let listed = (|| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<16}  {:<5}  {:<32}  {:<20}  ACTIVE",
            "ID", "STAGE", "ACCOUNT", "CREATED"
        )?;
        for key in &keys {
            let created = key.created_at.map_or_else(
                || "unknown".to_owned(),
                |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
            writeln!(
                out,
                "{:<16}  {:<5}  {:<32}  {:<20}  {}",
                key.id(),
                key.owner.stage.as_str(),
                key.owner.account,
                created,
                if key.active { "yes" } else { "no" }
            )?;
        }
        out.flush()
    })();
    match listed {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other?,
    }
    eprintln!(
        "{} keys in the store at {}",
        keys.len(),
        store_description(config)
    );
    Ok(())
}

/// `imgforge keys revoke KEY`: by the key itself, or by its id from `keys list`.
async fn revoke_key_command(key: &str, config: &Config) -> CliResult {
    let backend = Backend::open(config, "").await?;
    let keys = backend.ports().keys;
    let hash = if stage_of_key(key).is_some() {
        hash_api_key(key)
    } else {
        let matching: Vec<_> = keys
            .list()
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .filter(|record| key.len() >= KEY_ID_LENGTH && record.hash.starts_with(key))
            .collect();
        match matching.as_slice() {
            [record] => record.hash.clone(),
            [] => {
                return Err(format!(
                    "no key {key} in the store at {}: give the key itself, or its id as                      `imgforge keys list` shows it",
                    store_description(config)
                )
                .into());
            }
            _ => return Err(format!("{key} names more than one key: give more of it").into()),
        }
    };
    if !keys.revoke(&hash).await.map_err(ApiError::from)? {
        return Err(format!("no such key in the store at {}", store_description(config)).into());
    }
    eprintln!(
        "revoked key {}: its requests now get 401",
        &hash[..KEY_ID_LENGTH]
    );
    Ok(())
}

/// `imgforge keys create`: the key on stdout (alone, so that `KEY=$(…)` takes it), and on
/// stderr which account, stage and store it belongs to, since a key is only good on the server
/// that reads that store.
async fn create_key_command(
    stage: Stage,
    account: Option<String>,
    json: bool,
    config: &Config,
) -> CliResult {
    let backend = Backend::open(config, "").await?;
    let keys = backend.ports().keys;
    let store = store_description(config);
    let account = match account {
        None => new_account_id(),
        Some(account) if !valid_account_id(&account) => {
            return Err(format!(
                "account ids are 1 to 64 letters, digits, '_' or '-'; not {account:?}"
            )
            .into());
        }
        Some(account)
            if !keys
                .account_exists(&account)
                .await
                .map_err(ApiError::from)? =>
        {
            return Err(format!(
                "no account {account} in the store at {store}: leave out --account to create a \
                 new account (its id is printed), or check IMGFORGE_DATA_DIR / --data-dir names \
                 the store the server uses"
            )
            .into());
        }
        Some(account) => account,
    };
    let key = create_key(keys.as_ref(), &account, stage)
        .await
        .map_err(ApiError::from)?;
    if json {
        let created = serde_json::json!({
            "key": key,
            "account": account,
            "stage": stage.as_str(),
            "store": store,
        });
        println!("{created}");
    } else {
        println!("{key}");
        eprintln!(
            "a {} key of account {account}, in the store at {store} \
             (add another key to this account with --account {account})",
            stage.as_str()
        );
    }
    Ok(())
}

/// Where a configuration's data is: the absolute data directory, or the AWS resources.
fn store_description(config: &Config) -> String {
    match config.backend {
        BackendKind::Local => std::path::absolute(&config.data_dir)
            .unwrap_or_else(|_| config.data_dir.clone())
            .display()
            .to_string(),
        BackendKind::Aws => format!(
            "DynamoDB table {} and S3 bucket {}{}",
            config.aws.table.as_deref().unwrap_or("(unset)"),
            config.aws.bucket.as_deref().unwrap_or("(unset)"),
            std::env::var("AWS_ENDPOINT_URL")
                .map(|endpoint| format!(" at {endpoint}"))
                .unwrap_or_default()
        ),
    }
}

/// Watermark images given on the command line as `IMAGE_ID=PATH`.
struct WatermarkFiles(HashMap<String, PathBuf>);

#[async_trait]
impl WatermarkImages for WatermarkFiles {
    async fn watermark_image(&self, id: &ImageId) -> Result<Bytes, ApiError> {
        let path = self
            .0
            .get(id.as_str())
            .ok_or_else(|| ApiError::validation(format!("no --watermark {id}=PATH was given")))?;
        read(path).map(Bytes::from).map_err(ApiError::validation)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

/// `imgforge transform`: prints the new image's format, size and byte count as JSON.
async fn transform_file(
    kind: Transformation,
    params: &str,
    watermarks: &[String],
    limits: &Limits,
    input: &Path,
    output: &Path,
) -> CliResult {
    let bytes = read(input)?;
    let source = probe(&bytes, limits.max_pixels).map_err(|error| format!("the input {error}"))?;
    let body = match serde_json::from_str(params) {
        Ok(serde_json::Value::Object(body)) => body,
        _ => return Err("--params must be a JSON object".into()),
    };
    let files = WatermarkFiles(
        watermarks
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .map(|(id, path)| (id.to_owned(), PathBuf::from(path)))
            .collect(),
    );
    let result = async {
        let request = transform_params::parse(kind, body, (source.width, source.height))?;
        let operation = transform::operation(request.plan, &files).await?;
        transform::apply(bytes.into(), operation, limits.max_pixels).await
    }
    .await
    .map_err(|error| describe(&error))?;
    refuse_contradicting_extension(output, result.format)?;
    std::fs::write(output, &result.bytes)
        .map_err(|error| format!("cannot write {}: {error}", output.display()))?;
    let summary = serde_json::json!({
        "format": result.format,
        "width": result.width,
        "height": result.height,
        "size": result.bytes.len(),
    });
    println!("{summary}");
    Ok(())
}

/// An output named `.jpg` must hold a JPEG: a viewer trusts the name. Unknown or missing
/// extensions are the caller's business.
fn refuse_contradicting_extension(output: &Path, format: Format) -> Result<(), String> {
    let extension = output
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    let named = match extension.as_deref() {
        Some("jpg" | "jpeg") => Format::Jpeg,
        Some("png") => Format::Png,
        Some("webp") => Format::Webp,
        _ => return Ok(()),
    };
    if named == format {
        return Ok(());
    }
    Err(format!(
        "the result is {} but {} names another format: name the output .{} (or ask for {} with \
         `convert`)",
        format.as_str(),
        output.display(),
        format.as_str().replace("jpeg", "jpg"),
        named.as_str()
    ))
}

/// `imgforge doctor`: each capability and its state, so that what this server can do is seen at
/// once.
fn doctor(config: &Config) {
    let line = |capability: &str, state: &str| println!("{capability:<19} {state}");
    line(
        "JPEG SIMD",
        if jpeg_simd() {
            "yes"
        } else {
            "no: JPEG work is up to 2.7x slower; install nasm, `cargo clean -p mozjpeg-sys`, rebuild"
        },
    );
    let dir = &config.engines.models_dir;
    let runtime = dir.join(onnx::RUNTIME_LIBRARY);
    line("ONNX Runtime", &file_state(&runtime));
    let model = |opened: Result<&Model, String>, file: &str| match opened {
        Ok(model) => match model.load() {
            Ok(took) => format!(
                "{}, loaded in {} ms",
                file_state(&dir.join(file)),
                took.as_millis()
            ),
            Err(error) => format!("cannot load: {error}"),
        },
        Err(reason) => format!("off: {reason}; run `make models`"),
    };
    let classifier = imagenet::EfficientNet::open(dir, &runtime);
    line(
        "classify",
        &model(
            classifier
                .as_ref()
                .map(|engine| engine.model())
                .map_err(Clone::clone),
            imagenet::MODEL_FILE,
        ),
    );
    let segmenter = isnet::IsNet::open(dir, &runtime);
    line(
        "remove-background",
        &model(
            segmenter
                .as_ref()
                .map(|engine| engine.model())
                .map_err(Clone::clone),
            isnet::MODEL_FILE,
        ),
    );
    let text = match config.engines.text_engine(config.backend) {
        TextEngine::Tesseract => tesseract::version().map_or_else(
            || {
                "off: Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)"
                    .to_owned()
            },
            |version| format!("Tesseract ({version})"),
        ),
        TextEngine::Textract => {
            "Amazon Textract, with the AWS environment's credentials".to_owned()
        }
        TextEngine::Off => "off (IMGFORGE_TEXT_ENGINE=off)".to_owned(),
    };
    line("extract-text", &text);
    let engines = &config.engines;
    let bedrock = |call: &str, models: String| {
        if cfg!(feature = "aws") {
            format!("Amazon Bedrock {call}, with the AWS environment's credentials: {models}")
        } else {
            format!("off: {BEDROCK_NOT_BUILT}")
        }
    };
    let imagine = match engines.imagine_engine {
        ImagineEngine::Bedrock => bedrock("InvokeModel", engines.bedrock_imagine_models.describe()),
        ImagineEngine::Off => "off (IMGFORGE_IMAGINE_ENGINE=off)".to_owned(),
    };
    line("imagine", &imagine);
    let visualize = match engines.visualize_engine {
        VisualizeEngine::Bedrock => {
            bedrock("Converse", engines.bedrock_visualize_models.describe())
        }
        VisualizeEngine::Ollama => format!(
            "Ollama at {}, model {}",
            without_credentials(&engines.ollama_url),
            engines.ollama_model
        ),
        VisualizeEngine::Off => "off (IMGFORGE_VISUALIZE_ENGINE=off)".to_owned(),
    };
    line("visualize", &visualize);
}

/// A URL as it may be shown: without a user name or password.
fn without_credentials(url: &url::Url) -> url::Url {
    let mut shown = url.clone();
    // Only URLs that cannot have credentials refuse these, and they have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown
}

/// A file's path and size, or that it is missing.
fn file_state(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(metadata) => format!("{} ({:.1} MB)", path.display(), metadata.len() as f64 / 1e6),
        Err(_) => format!("missing: {}", path.display()),
    }
}

/// An API error as a command-line message: its problems, one per line.
fn describe(error: &ApiError) -> String {
    match error {
        ApiError::Validation(problems) => problems.join("\n"),
        other => other.to_string(),
    }
}

async fn serve(addr: SocketAddr, config: Config) -> CliResult {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    let origin = format!("http://{}", listener.local_addr()?);
    let backend = Backend::open(&config, &origin).await?;
    let engines = Engines::open(&config).await;
    let app = Arc::new(App::from_ports(backend.ports(), &config).with_engines(engines));
    let backend_routes = match &backend {
        Backend::Local(local) => {
            if !local.has_keys().await? {
                let key =
                    create_key(app.store.keys.as_ref(), &new_account_id(), Stage::Test).await?;
                println!("Created a test API key for this new store (shown only once): {key}");
            }
            Some(server::local_backend_routes(&app, local))
        }
        #[cfg(feature = "aws")]
        Backend::Aws(_) => {
            let sdk = sdk_config().await;
            if emulator::endpoint_is_loopback(&sdk) {
                let bucket = config.aws.resources()?.bucket;
                emulator::deliver_uploads(s3_client(&sdk), bucket, server::ingest_hook(&app));
                println!(
                    "Emulator at {}: direct uploads are ingested by this server, which looks for \
                     them every second (moto sends no S3 events)",
                    sdk.endpoint_url().unwrap_or_default()
                );
            }
            None
        }
    };
    // The line that says the server is up comes last: scripts wait for it, then may stop
    // reading.
    println!("Store: {}", store_description(&config));
    println!("Console: {origin}/  API docs: {origin}/docs  Stop: Ctrl-C");
    println!("imgforge is serving the API at {origin}");
    server::run(app, backend_routes, listener).await?;
    Ok(())
}
