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

/// Which capabilities a process opens, as a route's line in the route table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineSet {
    pub classifier: bool,
    pub segmenter: bool,
    pub text_reader: bool,
    pub image_generator: bool,
    pub visual_answerer: bool,
}

impl EngineSet {
    pub const NONE: Self = Self {
        classifier: false,
        segmenter: false,
        text_reader: false,
        image_generator: false,
        visual_answerer: false,
    };
    pub const ALL: Self = Self {
        classifier: true,
        segmenter: true,
        text_reader: true,
        image_generator: true,
        visual_answerer: true,
    };
}

impl Engines {
    /// Every engine `config` makes available (the CLI and the local server). Models load on
    /// first use; a missing one is logged and its endpoints answer 501. The SDK's configuration
    /// is loaded only if an engine on AWS is chosen.
    pub async fn open(config: &Config) -> Self {
        #[cfg(feature = "aws")]
        {
            let engines = &config.engines;
            let on_aws = engines.text_engine(config.backend) == TextEngine::Textract
                || engines.imagine_engine == ImagineEngine::Bedrock
                || engines.visualize_engine == VisualizeEngine::Bedrock;
            let sdk = if on_aws {
                Some(crate::sdk::sdk_config().await)
            } else {
                None
            };
            Self::opening(config, EngineSet::ALL, sdk.as_ref())
        }
        #[cfg(not(feature = "aws"))]
        Self::opening(config, EngineSet::ALL)
    }

    /// The engines of the capabilities in `open` that `config` makes available, the AWS ones
    /// over `sdk`. Always inlined: where `open` is a constant, as in a Lambda's `main`, the
    /// compiler leaves the other capabilities' adapters (ONNX Runtime's bindings, Bedrock's or
    /// Textract's client, Ollama's HTTP client) out of the binary.
    #[inline(always)]
    pub fn opening(
        config: &Config,
        open: EngineSet,
        #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
    ) -> Self {
        let dir = &config.engines.models_dir;
        let runtime = dir.join(onnx::RUNTIME_LIBRARY);
        let make_models = |reason| format!("{reason}; run `make models`");
        let classifier = match open.classifier {
            true => available(
                "classify",
                imagenet::EfficientNet::open(dir, &runtime).map_err(make_models),
            )
            .map(|engine| Arc::new(engine) as Arc<dyn Classifier>),
            false => None,
        };
        let segmenter = match open.segmenter {
            true => available(
                "remove-background",
                isnet::IsNet::open(dir, &runtime).map_err(make_models),
            )
            .map(|engine| Arc::new(engine) as Arc<dyn Segmenter>),
            false => None,
        };
        Self {
            classifier,
            segmenter,
            text_reader: match open.text_reader {
                true => text_reader(
                    config,
                    #[cfg(feature = "aws")]
                    sdk,
                ),
                false => None,
            },
            image_generator: match open.image_generator {
                true => image_generator(
                    config,
                    #[cfg(feature = "aws")]
                    sdk,
                ),
                false => None,
            },
            visual_answerer: match open.visual_answerer {
                true => visual_answerer(
                    config,
                    #[cfg(feature = "aws")]
                    sdk,
                ),
                false => None,
            },
        }
    }

    /// These engines, but only those of the capabilities in `open`.
    pub fn only(&self, open: EngineSet) -> Self {
        fn keep<T: ?Sized>(engine: &Option<Arc<T>>, open: bool) -> Option<Arc<T>> {
            engine.clone().filter(|_| open)
        }
        Self {
            classifier: keep(&self.classifier, open.classifier),
            segmenter: keep(&self.segmenter, open.segmenter),
            text_reader: keep(&self.text_reader, open.text_reader),
            image_generator: keep(&self.image_generator, open.image_generator),
            visual_answerer: keep(&self.visual_answerer, open.visual_answerer),
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

fn text_reader(
    config: &Config,
    #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
) -> Option<Arc<dyn TextReader>> {
    match config.engines.text_engine(config.backend) {
        TextEngine::Tesseract => available(
            "text extraction",
            tesseract::Tesseract::new(TESSERACT_TIMEOUT).map_err(|missing| missing.to_string()),
        )
        .map(|reader| Arc::new(reader) as Arc<dyn TextReader>),
        #[cfg(feature = "aws")]
        TextEngine::Textract => sdk.map(|sdk| {
            let client = LazyClient::from_sdk(sdk, aws_sdk_textract::Client::new);
            Arc::new(textract::Textract::new(client)) as Arc<dyn TextReader>
        }),
        #[cfg(not(feature = "aws"))]
        TextEngine::Textract => available::<Arc<dyn TextReader>>(
            "text extraction",
            Err("this imgforge was built without the aws feature, which Textract needs".into()),
        ),
        TextEngine::Off => None,
    }
}

fn image_generator(
    config: &Config,
    #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
) -> Option<Arc<dyn ImageGenerator>> {
    match config.engines.imagine_engine {
        #[cfg(feature = "aws")]
        ImagineEngine::Bedrock => sdk.map(|sdk| {
            let client = LazyClient::from_sdk(sdk, bedrock::client);
            let models = config.engines.bedrock_imagine_models.clone();
            Arc::new(bedrock::Stability::new(client, models)) as Arc<dyn ImageGenerator>
        }),
        #[cfg(not(feature = "aws"))]
        ImagineEngine::Bedrock => {
            available::<Arc<dyn ImageGenerator>>("imagine", Err(BEDROCK_NOT_BUILT.into()))
        }
        ImagineEngine::Off => None,
    }
}

fn visual_answerer(
    config: &Config,
    #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
) -> Option<Arc<dyn VisualAnswerer>> {
    let engines = &config.engines;
    match engines.visualize_engine {
        #[cfg(feature = "aws")]
        VisualizeEngine::Bedrock => sdk.map(|sdk| {
            let client = LazyClient::from_sdk(sdk, bedrock::client);
            let models = engines.bedrock_visualize_models.clone();
            Arc::new(bedrock::Converse::new(client, models)) as Arc<dyn VisualAnswerer>
        }),
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
