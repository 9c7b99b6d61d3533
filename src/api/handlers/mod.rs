//! One async function per endpoint: `(app, caller, request) -> response`.

mod access;
mod create;
mod publishing;
mod transform;
mod upload;
mod uploads;

pub use access::{download_image, get_image, list_images};
pub use create::create_image;
pub use publishing::{delete_image, publish_image, unpublish_image};
pub use transform::{
    blur_image, convert_image, crop_image, imaging_error, mirror_image, modulate_image,
    resize_image, rotate_image, watermark_image,
};
pub use upload::upload_image;
pub use uploads::{Ingested, create_upload, get_upload, ingest_upload};

use crate::app::App;
use crate::domain::{ApiError, Image, ImageId, Owner};
use crate::imaging::{ImagingError, Probe, inspect};

/// Inspects a file off the async threads: decoding a large image takes a while.
async fn inspected(
    bytes: &bytes::Bytes,
    max_pixels: u64,
) -> Result<Result<Probe, ImagingError>, tokio::task::JoinError> {
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || inspect(&bytes, max_pixels)).await
}

/// The caller's image, or the reference's 404: another owner's image is just as unknown.
async fn find_image(app: &App, owner: &Owner, id: &ImageId) -> Result<Image, ApiError> {
    app.images
        .get(owner, id)
        .await?
        .ok_or_else(|| ApiError::ImageNotFound(id.to_string()))
}
