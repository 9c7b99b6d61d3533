//! Analysis: classify an image, cut out its foreground, read its text. Each gives the engine an
//! image no larger than it needs, so memory stays bounded whatever was uploaded.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;

use super::images;
use crate::app::App;
use crate::domain::{ApiError, Document, Image, ImageId, Owner};
use crate::engines::{Classifier, EncodedImage, Label, Segmenter, TextReader};
use crate::imaging::{
    ImagingError, cut_out, cut_out_memory, model_input, reader_input, reduction_memory,
};

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

/// An original reduced to at most `side` pixels a side by `prepare` off the async threads, once
/// the memory budget admits it.
async fn reduced<T: Send + 'static>(
    app: &App,
    bytes: Bytes,
    side: u32,
    prepare: impl FnOnce(&[u8], u64) -> Result<T, ImagingError> + Send + 'static,
) -> Result<T, ApiError> {
    let max_pixels = app.limits.max_pixels;
    let needed = reduction_memory(&bytes, max_pixels, side)?;
    Ok(app
        .memory
        .run(needed, move || prepare(&bytes, max_pixels))
        .await?)
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
    let original = images::original(app, owner, id).await?;
    let input = reduced(app, original, CLASSIFIER_INPUT_SIDE, |bytes, max_pixels| {
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
    let input = reduced(
        app,
        bytes.clone(),
        SEGMENTER_INPUT_SIDE,
        |bytes, max_pixels| model_input(bytes, max_pixels, SEGMENTER_INPUT_SIDE),
    )
    .await?;
    let mask = segmenter.foreground(input).await?;
    let max_pixels = app.limits.max_pixels;
    let needed = cut_out_memory(&bytes, max_pixels)?;
    let output = app
        .memory
        .run(needed, move || cut_out(&bytes, &mask, max_pixels))
        .await?;
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
    let original = images::original(app, owner, id).await?;
    let output = reduced(app, original, max_side, move |bytes, max_pixels| {
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
