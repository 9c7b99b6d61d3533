//! Direct uploads past the API's payload limit: reserve an image id and get a presigned PUT,
//! then the blob store's upload event creates the image, and the client polls for the outcome.

use lambda_http::Request;
use serde::Serialize;

use crate::api::input::{image_id, json_object};
use crate::api::validate::Fields;
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Format, Image, ImageId, format_timestamp};
use crate::services::uploads;

const CONTENT_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp"];

#[derive(Serialize)]
struct CreatedUpload {
    image_id: ImageId,
    upload_url: String,
    method: &'static str,
    headers: serde_json::Map<String, serde_json::Value>,
    expires_at: String,
}

/// `POST /v1/uploads` `{name, size, content_type}`: reserves an image id and answers a presigned
/// PUT for exactly that many bytes of that type.
pub async fn create_upload(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let mut fields = Fields::new(json_object(&request)?);
    let name = fields.name("name", true);
    let max = i64::try_from(app.limits.max_upload_bytes).unwrap_or(i64::MAX);
    let size = fields.integer("size", 1..=max, true);
    let content_type = fields.choice("content_type", CONTENT_TYPES, true);
    fields.finish()?;
    let (Some(name), Some(size), Some(format)) = (
        name,
        size.and_then(|size| u64::try_from(size).ok()),
        content_type.as_deref().and_then(Format::from_mime_type),
    ) else {
        return Err(ApiError::internal("validated fields are missing"));
    };

    let reservation = uploads::reserve(app, &caller.owner, name, size, format).await?;
    output::json(
        201,
        &CreatedUpload {
            image_id: reservation.upload.id,
            upload_url: reservation.put.url,
            method: "PUT",
            headers: reservation
                .put
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.into()))
                .collect(),
            expires_at: format_timestamp(&reservation.put_expires_at),
        },
    )
}

#[derive(Serialize)]
struct UploadState<'a> {
    image_id: &'a ImageId,
    status: &'static str,
    error: Option<&'a str>,
    /// The created image, once the upload is ready.
    image: Option<Image>,
}

/// `GET /v1/uploads/{image_id}`: `pending`, `ready` (with the image) or `failed` (with why).
pub async fn get_upload(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    let (upload, image) = uploads::status(app, &caller.owner, &id).await?;
    output::json(
        200,
        &UploadState {
            image_id: &id,
            status: upload.status.as_str(),
            error: upload.status.error(),
            image,
        },
    )
}
