//! Transformations: resolve what a request names (watermark images), run the engine off the
//! async threads, and store the result as a new image. The source is never modified.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;

use super::images;
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId, Owner};
use crate::imaging::{Operation, Output, Watermark, transform, transform_memory};
use crate::runtime::off_the_async_threads;

/// A watermark as a request gives it: its image named by id, to be fetched.
pub type Placement = Watermark<ImageId>;

/// What a checked request asks the engine to do.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Ready to run.
    Ready(Operation),
    /// Needs its watermark images first.
    Watermarks(Vec<Placement>),
}

/// A checked transformation request, and the new image's name if one was given.
#[derive(Debug, Clone)]
pub struct TransformRequest {
    pub plan: Plan,
    pub name: Option<String>,
}

/// Where the images that watermarks name come from: the caller's images through the API, files
/// on the command line.
#[async_trait]
pub trait WatermarkImages: Sync {
    async fn watermark_image(&self, id: &ImageId) -> Result<Bytes, ApiError>;
}

/// The operation `plan` stands for, with every watermark image fetched.
pub async fn operation(plan: Plan, images: &dyn WatermarkImages) -> Result<Operation, ApiError> {
    match plan {
        Plan::Ready(operation) => Ok(operation),
        Plan::Watermarks(placements) => {
            let mut watermarks = Vec::with_capacity(placements.len());
            for placement in &placements {
                let image = images.watermark_image(&placement.image).await?;
                watermarks.push(placement.with_image(image));
            }
            Ok(Operation::Watermark(watermarks))
        }
    }
}

/// Runs `operation` on `input` with no memory budget (the CLI's one job); the engine's refusals
/// are 422s.
pub async fn apply(
    input: Bytes,
    operation: Operation,
    max_pixels: u64,
) -> Result<Output, ApiError> {
    let output = off_the_async_threads(move || transform(&input, &operation, max_pixels)).await?;
    Ok(output)
}

/// The owner's own images, as watermarks: another owner's are not found.
struct OwnedImages<'a> {
    app: &'a App,
    owner: &'a Owner,
}

#[async_trait]
impl WatermarkImages for OwnedImages<'_> {
    async fn watermark_image(&self, id: &ImageId) -> Result<Bytes, ApiError> {
        images::find(self.app, self.owner, id).await?;
        images::original(self.app, self.owner, id).await
    }
}

/// Transforms `source` (an image of `owner`) as `request` asks, into a new image.
pub async fn transform_image(
    app: &App,
    owner: &Owner,
    source: Image,
    request: TransformRequest,
) -> Result<Image, ApiError> {
    let operation = operation(request.plan, &OwnedImages { app, owner }).await?;
    let input = images::original(app, owner, &source.id).await?;
    let max_pixels = app.limits.max_pixels;
    let needed = transform_memory(&input, &operation, max_pixels)?;
    let output = app
        .memory
        .run(needed, move || transform(&input, &operation, max_pixels))
        .await?;
    let image = Image::new(
        ImageId::generate(Utc::now()),
        request.name.unwrap_or(source.name),
        output.format,
        output.width,
        output.height,
        output.bytes.len() as u64,
    );
    Ok(images::add(app, owner, image, output.bytes.into()).await?)
}
