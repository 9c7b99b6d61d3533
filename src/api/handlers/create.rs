//! `POST /v1/images` `{name, url}`: an image fetched from one of the allowed origins.

use chrono::Utc;
use lambda_http::Request;

use super::inspected;
use crate::api::input::json_object;
use crate::api::validate::Fields;
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId};
use crate::store::original_key;

pub async fn create_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let mut fields = Fields::new(json_object(&request)?);
    let name = fields.name("name", true);
    let url = fields.string("url", true);
    fields.finish()?;
    let (Some(name), Some(url)) = (name, url) else {
        return Err(ApiError::internal("checked fields are missing"));
    };
    let bytes = app
        .fetch
        .fetch(&url, app.limits.max_upload_bytes)
        .await
        .map_err(ApiError::validation)?;
    let probed = inspected(&bytes, app.limits.max_pixels)
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::validation(format!("url {error}")))?;
    let size = bytes.len() as u64;
    let id = ImageId::generate(Utc::now());
    let image = Image::new(id, name, probed.format, probed.width, probed.height, size);
    app.blobs
        .put(&original_key(&caller.owner, &image.id), bytes, image.format)
        .await?;
    app.images.insert(&caller.owner, &image).await?;
    output::json(201, &image)
}
