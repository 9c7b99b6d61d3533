//! The engines: outside services that are not storage — image analysis and generation. One
//! trait per capability; adapters run in-process (ONNX models, shared by both backends), as a
//! local program or server (Tesseract, Ollama) or on AWS (Textract, Bedrock). `Engines` holds
//! those this process has; a capability that is missing makes its endpoints answer 501 with how
//! to enable it.

#[cfg(feature = "aws")]
pub mod bedrock;
pub mod imagenet;
pub mod isnet;
pub mod ollama;
pub mod onnx;
pub mod tesseract;
#[cfg(feature = "aws")]
pub mod textract;

use std::sync::Arc;

use async_trait::async_trait;
use image::RgbImage;

use crate::config::{Config, ImagineEngine, TextEngine, VisualizeEngine};
use crate::domain::{BackendError, Document};
#[cfg(feature = "aws")]
use crate::sdk::LazyClient;

/// A label and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub name: String,
    pub score: f32,
}

/// ImageNet classification.
#[async_trait]
pub trait Classifier: Send + Sync {
    /// The `top` most likely labels, best first, with softmax probabilities.
    async fn classify(&self, image: RgbImage, top: usize) -> Result<Vec<Label>, BackendError>;
}

/// Foreground segmentation.
#[async_trait]
pub trait Segmenter: Send + Sync {
    /// How much each pixel belongs to the foreground (0 background … 255 foreground), at the
    /// size of `image`.
    async fn foreground(&self, image: RgbImage) -> Result<image::GrayImage, BackendError>;
}

/// An image given to an outside reader: its encoded bytes, as a file would hold them.
#[derive(Debug, Clone)]
pub struct EncodedImage {
    pub bytes: bytes::Bytes,
    pub format: crate::domain::Format,
    pub width: u32,
    pub height: u32,
}

/// Text recognition.
#[async_trait]
pub trait TextReader: Send + Sync {
    /// The document's text with its structure (titles, headings, paragraphs, list items), in
    /// reading order.
    async fn read_document(&self, image: EncodedImage) -> Result<Document, BackendError>;
    /// The text's lines, in reading order.
    async fn read_lines(&self, image: EncodedImage) -> Result<Vec<String>, BackendError>;
    /// The largest image it accepts: (bytes, pixels on a side).
    fn input_limits(&self) -> (u64, u32);
}

/// The image models the API names (imagine's `model`), the default first. Each engine maps them
/// to a model of its own.
pub const IMAGINE_MODELS: &[&str] = &["sdxl", "flux"];
/// The vision-language models the API names (visualize's `model`), the default first.
pub const VISUALIZE_MODELS: &[&str] = &["uform-gen", "llava", "gemini"];
/// The largest seed the image models take.
pub const MAX_SEED: u32 = 4_294_967_294;
/// How long a generation engine may take over one request, below every function's timeout (29 s)
/// with room left to store the result.
pub const GENERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);
/// Why Bedrock is off in a build without it.
pub const BEDROCK_NOT_BUILT: &str =
    "this imgforge was built without the aws feature, which Bedrock needs";

/// What to draw: the API's imagine request, its seed chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePrompt {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub seed: u32,
    /// One of [`IMAGINE_MODELS`].
    pub model: String,
}

/// What an image generator made of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Generated {
    /// The image, encoded (a 1024×1024 JPEG).
    Image(bytes::Bytes),
    /// The engine's safety filter withheld the image; its reason.
    Filtered(String),
}

/// Text-to-image generation.
#[async_trait]
pub trait ImageGenerator: Send + Sync {
    async fn generate(&self, prompt: &ImagePrompt) -> Result<Generated, BackendError>;
}

/// Answers to a prompt about an image, from a vision-language model.
#[async_trait]
pub trait VisualAnswerer: Send + Sync {
    /// The model's answer to `prompt` about `image`; `model` is one of [`VISUALIZE_MODELS`].
    async fn answer(
        &self,
        image: EncodedImage,
        prompt: &str,
        model: &str,
    ) -> Result<String, BackendError>;
    /// The largest image it accepts: (bytes, pixels on a side).
    fn input_limits(&self) -> (u64, u32);
}

/// The engines this process has; `None` where a capability is not configured.
#[derive(Clone, Default)]
pub struct Engines {
    pub classifier: Option<Arc<dyn Classifier>>,
    pub segmenter: Option<Arc<dyn Segmenter>>,
    pub text_reader: Option<Arc<dyn TextReader>>,
    pub image_generator: Option<Arc<dyn ImageGenerator>>,
    pub visual_answerer: Option<Arc<dyn VisualAnswerer>>,
}

impl Engines {
    /// The engines `config` makes available. Models load on first use; a missing one is logged
    /// and its endpoints answer 501.
    pub async fn open(config: &Config) -> Self {
        let dir = &config.engines.models_dir;
        let runtime = dir.join(onnx::RUNTIME_LIBRARY);
        let make_models = |reason| format!("{reason}; run `make models`");
        let classifier = available(
            "classify",
            imagenet::EfficientNet::open(dir, &runtime).map_err(make_models),
        )
        .map(|engine| Arc::new(engine) as Arc<dyn Classifier>);
        let segmenter = available(
            "remove-background",
            isnet::IsNet::open(dir, &runtime).map_err(make_models),
        )
        .map(|engine| Arc::new(engine) as Arc<dyn Segmenter>);
        Self {
            classifier,
            segmenter,
            text_reader: text_reader(config).await,
            image_generator: image_generator(config).await,
            visual_answerer: visual_answerer(config).await,
        }
    }
}

/// The engine if it opened; why not is logged.
fn available<T>(capability: &str, opened: Result<T, String>) -> Option<T> {
    match opened {
        Ok(engine) => Some(engine),
        Err(reason) => {
            tracing::warn!(capability, %reason, "engine not available");
            None
        }
    }
}

/// How long Tesseract may take over one page, below every function's timeout.
const TESSERACT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

async fn text_reader(config: &Config) -> Option<Arc<dyn TextReader>> {
    match config.engines.text_engine(config.backend) {
        TextEngine::Tesseract => available(
            "text extraction",
            tesseract::Tesseract::new(TESSERACT_TIMEOUT).map_err(|missing| missing.to_string()),
        )
        .map(|reader| Arc::new(reader) as Arc<dyn TextReader>),
        #[cfg(feature = "aws")]
        TextEngine::Textract => {
            let sdk = crate::sdk::sdk_config().await;
            let client = LazyClient::from_sdk(&sdk, aws_sdk_textract::Client::new);
            Some(Arc::new(textract::Textract::new(client)))
        }
        #[cfg(not(feature = "aws"))]
        TextEngine::Textract => available::<Arc<dyn TextReader>>(
            "text extraction",
            Err("this imgforge was built without the aws feature, which Textract needs".into()),
        ),
        TextEngine::Off => None,
    }
}

async fn image_generator(config: &Config) -> Option<Arc<dyn ImageGenerator>> {
    match config.engines.imagine_engine {
        #[cfg(feature = "aws")]
        ImagineEngine::Bedrock => {
            let client = LazyClient::from_sdk(&crate::sdk::sdk_config().await, bedrock::client);
            let models = config.engines.bedrock_imagine_models.clone();
            Some(Arc::new(bedrock::Stability::new(client, models)))
        }
        #[cfg(not(feature = "aws"))]
        ImagineEngine::Bedrock => {
            available::<Arc<dyn ImageGenerator>>("imagine", Err(BEDROCK_NOT_BUILT.into()))
        }
        ImagineEngine::Off => None,
    }
}

async fn visual_answerer(config: &Config) -> Option<Arc<dyn VisualAnswerer>> {
    let engines = &config.engines;
    match engines.visualize_engine {
        #[cfg(feature = "aws")]
        VisualizeEngine::Bedrock => {
            let client = LazyClient::from_sdk(&crate::sdk::sdk_config().await, bedrock::client);
            let models = engines.bedrock_visualize_models.clone();
            Some(Arc::new(bedrock::Converse::new(client, models)))
        }
        #[cfg(not(feature = "aws"))]
        VisualizeEngine::Bedrock => {
            available::<Arc<dyn VisualAnswerer>>("visualize", Err(BEDROCK_NOT_BUILT.into()))
        }
        VisualizeEngine::Ollama => available(
            "visualize",
            ollama::Ollama::new(
                &engines.ollama_url,
                &engines.ollama_model,
                GENERATION_TIMEOUT,
            ),
        )
        .map(|engine| Arc::new(engine) as Arc<dyn VisualAnswerer>),
        VisualizeEngine::Off => None,
    }
}
