//! The engines: outside services that are not storage — image analysis and generation. One
//! trait per capability; adapters run in-process (ONNX models, shared by both backends), as a
//! local program (Tesseract) or on AWS (Textract). `Engines` holds those this process has; a
//! capability that is missing makes its endpoints answer 501 with how to enable it.

pub mod imagenet;
pub mod isnet;
pub mod onnx;
pub mod tesseract;
#[cfg(feature = "aws")]
pub mod textract;

use std::sync::Arc;

use async_trait::async_trait;
use image::RgbImage;

use crate::config::{Config, TextEngine};
use crate::domain::{BackendError, Document};

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

/// The engines this process has; `None` where a capability is not configured.
#[derive(Clone, Default)]
pub struct Engines {
    pub classifier: Option<Arc<dyn Classifier>>,
    pub segmenter: Option<Arc<dyn Segmenter>>,
    pub text_reader: Option<Arc<dyn TextReader>>,
}

impl Engines {
    /// The engines `config` makes available. Models load on first use; a missing one is logged
    /// and its endpoints answer 501.
    pub async fn open(config: &Config) -> Self {
        let dir = &config.engines.models_dir;
        let runtime = dir.join(onnx::RUNTIME_LIBRARY);
        let classifier = available("classify", imagenet::EfficientNet::open(dir, &runtime))
            .map(|engine| Arc::new(engine) as Arc<dyn Classifier>);
        let segmenter = available("remove-background", isnet::IsNet::open(dir, &runtime))
            .map(|engine| Arc::new(engine) as Arc<dyn Segmenter>);
        Self {
            classifier,
            segmenter,
            text_reader: text_reader(config).await,
        }
    }
}

/// The engine if it opened; why not is logged.
fn available<T>(capability: &str, opened: Result<T, String>) -> Option<T> {
    match opened {
        Ok(engine) => Some(engine),
        Err(reason) => {
            tracing::warn!(capability, %reason, "engine not available (run `make models`)");
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
            let sdk = crate::store::aws::sdk_config().await;
            let client = aws_sdk_textract::Client::new(&sdk);
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
