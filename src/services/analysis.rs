//! Analysis: classify an image, cut out its foreground, read its text. Each gives the engine an
//! image no larger than it needs, so memory stays bounded whatever was uploaded.

use std::sync::Arc;

use chrono::Utc;

use super::images;
use crate::app::App;
use crate::domain::{ApiError, Document, Image, ImageId, Owner};
use crate::engines::{Classifier, EncodedImage, Label, Segmenter, TextReader};
use crate::imaging::{ImagingError, cut_out, model_input, reader_input};
use crate::runtime::off_the_async_threads;

/// The classifier crops a 224-pixel square from the short side at 256; a longer side of 1024
/// leaves that short side for any aspect ratio up to 4:1.
const CLASSIFIER_INPUT_SIDE: u32 = 1024;
/// The segmenter sees 1024×1024.
const SEGMENTER_INPUT_SIDE: u32 = 1024;

/// The engine, or 501 with `missing`, which says how to enable it.
pub(super) fn engine<'a, T: ?Sized>(
    engine: &'a Option<Arc<T>>,
    missing: &str,
) -> Result<&'a Arc<T>, ApiError> {
    engine
        .as_ref()
        .ok_or_else(|| ApiError::NotImplemented(missing.to_owned()))
}

fn classifier(app: &App) -> Result<&Arc<dyn Classifier>, ApiError> {
    engine(
        &app.engines.classifier,
        "Classification is not enabled on this server: run `make models`, or set \
         IMGFORGE_MODELS_DIR to a directory holding efficientnet-lite0.onnx, \
         imagenet-labels.txt and libonnxruntime.so.",
    )
}

fn segmenter(app: &App) -> Result<&Arc<dyn Segmenter>, ApiError> {
    engine(
        &app.engines.segmenter,
        "Background removal is not enabled on this server: run `make models`, or set \
         IMGFORGE_MODELS_DIR to a directory holding isnet.onnx and libonnxruntime.so.",
    )
}

fn text_reader(app: &App) -> Result<&Arc<dyn TextReader>, ApiError> {
    engine(
        &app.engines.text_reader,
        "Text extraction is not enabled on this server: install Tesseract (apt-get install \
         tesseract-ocr tesseract-ocr-eng) or set IMGFORGE_TEXT_ENGINE=textract.",
    )
}

/// The original of an image found with `images::find`, prepared for an engine off the async
/// threads.
async fn prepared<T: Send + 'static>(
    app: &App,
    owner: &Owner,
    id: &ImageId,
    prepare: impl FnOnce(&[u8], u64) -> Result<T, ImagingError> + Send + 'static,
) -> Result<T, ApiError> {
    let bytes = images::original(app, owner, id).await?;
    let max_pixels = app.limits.max_pixels;
    Ok(off_the_async_threads(move || prepare(&bytes, max_pixels)).await?)
}

/// The `top` most likely ImageNet labels of the image, best first.
pub async fn classify(
    app: &App,
    owner: &Owner,
    id: &ImageId,
    top: usize,
) -> Result<Vec<Label>, ApiError> {
    // An unknown image (404) is found before a missing engine (501).
    images::find(app, owner, id).await?;
    let classifier = classifier(app)?;
    let input = prepared(app, owner, id, |bytes, max_pixels| {
        model_input(bytes, max_pixels, CLASSIFIER_INPUT_SIDE)
    })
    .await?;
    Ok(classifier.classify(input, top).await?)
}

/// A new PNG image: the source with its background transparent.
pub async fn remove_background(
    app: &App,
    owner: &Owner,
    id: &ImageId,
    name: Option<String>,
) -> Result<Image, ApiError> {
    let source = images::find(app, owner, id).await?;
    let segmenter = segmenter(app)?;
    let bytes = images::original(app, owner, id).await?;
    let max_pixels = app.limits.max_pixels;
    let input = {
        let bytes = bytes.clone();
        off_the_async_threads(move || model_input(&bytes, max_pixels, SEGMENTER_INPUT_SIDE)).await?
    };
    let mask = segmenter.foreground(input).await?;
    let output = off_the_async_threads(move || cut_out(&bytes, &mask, max_pixels)).await?;
    let image = Image::new(
        ImageId::generate(Utc::now()),
        name.unwrap_or(source.name),
        output.format,
        output.width,
        output.height,
        output.bytes.len() as u64,
    );
    Ok(images::add(app, owner, image, output.bytes.into()).await?)
}

/// The image as a JPEG or PNG file within an engine's `(bytes, pixels on a side)` limits.
pub(super) async fn encoded_within(
    app: &App,
    owner: &Owner,
    id: &ImageId,
    (max_bytes, max_side): (u64, u32),
) -> Result<EncodedImage, ApiError> {
    let output = prepared(app, owner, id, move |bytes, max_pixels| {
        reader_input(bytes, max_pixels, max_bytes, max_side)
    })
    .await?;
    Ok(EncodedImage {
        bytes: output.bytes.into(),
        format: output.format,
        width: output.width,
        height: output.height,
    })
}

/// The image's text with its structure.
pub async fn read_document(app: &App, owner: &Owner, id: &ImageId) -> Result<Document, ApiError> {
    images::find(app, owner, id).await?;
    let reader = text_reader(app)?;
    let image = encoded_within(app, owner, id, reader.input_limits()).await?;
    Ok(reader.read_document(image).await?)
}

/// The image's lines of text.
pub async fn read_lines(app: &App, owner: &Owner, id: &ImageId) -> Result<Vec<String>, ApiError> {
    images::find(app, owner, id).await?;
    let reader = text_reader(app)?;
    let image = encoded_within(app, owner, id, reader.input_limits()).await?;
    Ok(reader.read_lines(image).await?)
}
