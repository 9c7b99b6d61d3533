//! Generation on Amazon Bedrock: images from Stability's text-to-image models by `InvokeModel`,
//! answers about images from a vision-language model by `Converse`. The API's model names map to
//! Bedrock model (or inference profile) ids through configuration.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration,
    Message,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{
    EncodedImage, GENERATION_TIMEOUT, Generated, ImageGenerator, ImagePrompt, VisualAnswerer,
};
use crate::config::BedrockModels;
use crate::domain::{BackendError, Format};
use crate::sdk::LazyClient;
use crate::store::aws::sdk_error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Converse's limits for an image block: 3.75 MB, 8000 pixels a side.
const CONVERSE_IMAGE_LIMITS: (u64, u32) = (3_750_000, 8000);

/// An answer, not an essay: it must come back within the timeout.
const MAX_ANSWER_TOKENS: i32 = 1024;

/// Codes with which Bedrock says to come back later, beyond AWS's common throttling codes.
const UNAVAILABLE: &[&str] = &[
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ServiceQuotaExceededException",
    "InternalServerException",
];

/// A Bedrock Runtime client from the environment's SDK configuration
/// (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` included), each call bounded by [`GENERATION_TIMEOUT`],
/// retries included.
pub fn client(sdk: &SdkConfig) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(GENERATION_TIMEOUT)
        .build();
    let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    Client::from_conf(config)
}

fn model_id<'a>(models: &'a BedrockModels, name: &str) -> Result<&'a str, BackendError> {
    models
        .id(name)
        .ok_or_else(|| BackendError::failed(format!("no Bedrock model is configured for {name}")))
}

/// Throttling and a busy model are `Unavailable`; anything else `Failed`.
fn bedrock_error<E, R>(error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error.code() {
        Some(code) if UNAVAILABLE.contains(&code) => BackendError::Unavailable(Box::new(error)),
        _ => sdk_error(error),
    }
}

/// Text to image on a Stability model (Stable Diffusion 3.5 Large by default), by `InvokeModel`.
pub struct Stability {
    client: LazyClient<Client>,
    models: BedrockModels,
}

impl Stability {
    /// Generates through `client` (whose region, credentials and retries are the caller's) on
    /// the models `models` names.
    pub fn new(client: LazyClient<Client>, models: BedrockModels) -> Self {
        Self { client, models }
    }
}

/// The body of a Stability text-to-image request: a square JPEG, 1024×1024.
#[derive(Serialize)]
struct TextToImage<'a> {
    prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    negative_prompt: Option<&'a str>,
    seed: u32,
    mode: &'static str,
    aspect_ratio: &'static str,
    output_format: &'static str,
}

/// What a Stability model answers: a finish reason per image, `null` when it was made.
#[derive(Deserialize)]
struct TextToImageResult {
    #[serde(default)]
    finish_reasons: Vec<Option<String>>,
    #[serde(default)]
    images: Vec<String>,
}

#[async_trait]
impl ImageGenerator for Stability {
    async fn generate(&self, prompt: &ImagePrompt) -> Result<Generated, BackendError> {
        let body = TextToImage {
            prompt: &prompt.prompt,
            negative_prompt: prompt.negative_prompt.as_deref(),
            seed: prompt.seed,
            mode: "text-to-image",
            aspect_ratio: "1:1",
            output_format: "jpeg",
        };
        let body = serde_json::to_vec(&body).map_err(BackendError::failed)?;
        let output = self
            .client
            .get()
            .invoke_model()
            .model_id(model_id(&self.models, &prompt.model)?)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(bedrock_error)?;
        let result: TextToImageResult = serde_json::from_slice(output.body().as_ref())
            .map_err(|error| BackendError::failed(format!("unexpected model output: {error}")))?;
        if let Some(reason) = result.finish_reasons.into_iter().flatten().next() {
            // "Filter reason: prompt" (or output image); "Inference error" is the model's fault.
            return if reason.starts_with("Filter reason") {
                Ok(Generated::Filtered(reason))
            } else {
                Err(BackendError::failed(format!("the model failed: {reason}")))
            };
        }
        let image = result
            .images
            .first()
            .ok_or_else(|| BackendError::failed("the model answered no image"))?;
        let bytes = BASE64
            .decode(image)
            .map_err(|error| BackendError::failed(format!("the image is not base64: {error}")))?;
        Ok(Generated::Image(bytes.into()))
    }
}

/// Questions about an image to a vision-language model (Amazon Nova Lite by default), by
/// `Converse`: the image as an image block, then the prompt as text.
pub struct Converse {
    client: LazyClient<Client>,
    models: BedrockModels,
}

impl Converse {
    /// Asks through `client` (whose region, credentials and retries are the caller's) the models
    /// `models` names.
    pub fn new(client: LazyClient<Client>, models: BedrockModels) -> Self {
        Self { client, models }
    }
}

fn image_format(format: Format) -> ImageFormat {
    match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::Webp,
    }
}

#[async_trait]
impl VisualAnswerer for Converse {
    async fn answer(
        &self,
        image: EncodedImage,
        prompt: &str,
        model: &str,
    ) -> Result<String, BackendError> {
        let image = ImageBlock::builder()
            .format(image_format(image.format))
            .source(ImageSource::Bytes(Blob::new(image.bytes.to_vec())))
            .build()
            .map_err(BackendError::failed)?;
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Image(image))
            .content(ContentBlock::Text(prompt.to_owned()))
            .build()
            .map_err(BackendError::failed)?;
        let output = self
            .client
            .get()
            .converse()
            .model_id(model_id(&self.models, model)?)
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(MAX_ANSWER_TOKENS)
                    .build(),
            )
            .send()
            .await
            .map_err(bedrock_error)?;
        let texts: Vec<&str> = output
            .output()
            .and_then(|output| output.as_message().ok())
            .map(|message| {
                message
                    .content()
                    .iter()
                    .filter_map(|block| block.as_text().ok())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        if texts.is_empty() {
            return Err(BackendError::failed(format!(
                "the model answered no text (stop reason {})",
                output.stop_reason().as_str()
            )));
        }
        Ok(texts.join("\n"))
    }

    fn input_limits(&self) -> (u64, u32) {
        CONVERSE_IMAGE_LIMITS
    }
}
