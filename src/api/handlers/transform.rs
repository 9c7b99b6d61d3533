//! The eight transformations: each reads the source image, runs the engine off the async
//! threads, and stores the result as a new image. The source is never modified.

use chrono::Utc;
use lambda_http::Request;

use super::find_image;
use crate::api::input::{image_id, json_object};
use crate::api::operations::{self, Kind, Parsed};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId, Owner};
use crate::imaging::{ImagingError, Operation, transform};
use crate::store::original_key;

macro_rules! transformations {
    ($($handler:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("`POST /v1/images/{image_id}/", stringify!($kind), "`")]
        pub async fn $handler(app: &App, caller: Caller, request: Request) -> HandlerResult {
            transform_image(app, caller, request, Kind::$kind).await
        }
    )*};
}

transformations! {
    resize_image => Resize,
    crop_image => Crop,
    convert_image => Convert,
    rotate_image => Rotate,
    mirror_image => Mirror,
    blur_image => Blur,
    modulate_image => Modulate,
    watermark_image => Watermark,
}

/// The engine's refusals are the client's input: a 422 naming what was wrong.
pub fn imaging_error(error: ImagingError) -> ApiError {
    ApiError::validation(match error {
        ImagingError::Probe(problem) => format!("the image {problem}"),
        ImagingError::Corrupt(problem) => format!("the image could not be decoded: {problem}"),
        ImagingError::OutputTooLarge { .. } => format!("the result {error}"),
        ImagingError::Invalid(problem) => problem,
    })
}

async fn original(app: &App, owner: &Owner, id: &ImageId) -> Result<bytes::Bytes, ApiError> {
    app.blobs
        .get(&original_key(owner, id))
        .await?
        .ok_or_else(|| ApiError::internal(format!("the original of {id} is missing")))
}

async fn transform_image(app: &App, caller: Caller, request: Request, kind: Kind) -> HandlerResult {
    let id = image_id(&request)?;
    let body = json_object(&request)?;
    let owner = &caller.owner;
    let source = find_image(app, owner, &id).await?;
    let checked = operations::parse(kind, body, (source.width, source.height))?;
    let operation = match checked.parsed {
        Parsed::Operation(operation) => operation,
        Parsed::Watermark(placements) => {
            let mut watermarks = Vec::with_capacity(placements.len());
            for placement in &placements {
                find_image(app, owner, &placement.image).await?;
                watermarks
                    .push(placement.with_image(original(app, owner, &placement.image).await?));
            }
            Operation::Watermark(watermarks)
        }
    };
    let input = original(app, owner, &id).await?;
    let max_pixels = app.limits.max_pixels;
    let output = tokio::task::spawn_blocking(move || transform(&input, &operation, max_pixels))
        .await
        .map_err(ApiError::internal)?
        .map_err(imaging_error)?;

    let image = Image::new(
        ImageId::generate(Utc::now()),
        checked.name.unwrap_or(source.name),
        output.format,
        output.width,
        output.height,
        output.bytes.len() as u64,
    );
    app.blobs
        .put(
            &original_key(owner, &image.id),
            output.bytes.into(),
            image.format,
        )
        .await?;
    app.images.insert(owner, &image).await?;
    output::json(201, &image)
}
