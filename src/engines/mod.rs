//! The engines: outside services that are not storage — image analysis and generation. One
//! trait per capability; adapters run in-process (ONNX models, shared by both backends), as a
//! local program (Tesseract) or on AWS (Textract). `Engines` holds those this process has; a
//! capability that is missing makes its endpoints answer 501 with how to enable it.

pub mod tesseract;
#[cfg(feature = "aws")]
pub mod textract;

use std::sync::Arc;

use async_trait::async_trait;
use image::RgbImage;

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
