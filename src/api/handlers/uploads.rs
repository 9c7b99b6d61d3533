//! Direct uploads past the API's payload limit: reserve an image id and get a presigned PUT,
//! then the blob store's upload event creates the image, and the client polls for the outcome.

use std::time::Duration;

use chrono::Utc;
use lambda_http::Request;
use serde::Serialize;

use super::inspected;
use crate::api::input::{image_id, json_object};
use crate::api::validate::Fields;
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Format, Image, ImageId, Upload, UploadStatus, format_timestamp};
use crate::store::{StoreError, original_key, parse_upload_key, upload_key};

/// How long a presigned upload URL stays valid.
const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the outcome of an upload can be asked for.
const UPLOAD_RECORD_TTL: chrono::Duration = chrono::Duration::days(7);
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

    let now = Utc::now();
    let upload = Upload {
        id: ImageId::generate(now),
        name,
        size,
        format,
        status: UploadStatus::Pending,
        expires_at: now + UPLOAD_RECORD_TTL,
    };
    let key = upload_key(&caller.owner, &upload.id);
    let presigned = app
        .blobs
        .presign_put(&key, format, size, UPLOAD_URL_TTL)
        .await?;
    app.uploads.reserve(&caller.owner, &upload).await?;
    output::json(
        201,
        &CreatedUpload {
            image_id: upload.id,
            upload_url: presigned.url,
            method: "PUT",
            headers: presigned
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.into()))
                .collect(),
            expires_at: format_timestamp(&(now + UPLOAD_URL_TTL)),
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
    let upload = app
        .uploads
        .get_upload(&caller.owner, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Upload with id {id} not found.")))?;
    let image = match upload.status {
        UploadStatus::Ready => app.images.get(&caller.owner, &id).await?,
        _ => None,
    };
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

/// What ingesting an uploaded file came to.
#[derive(Debug, PartialEq)]
pub enum Ingested {
    Created(Image),
    /// The file was not an acceptable image; it is deleted and the upload marked failed.
    Refused(String),
    /// Nothing to do: not an upload key, no pending reservation, or already ingested (a
    /// repeated event). Any file left there is deleted.
    Ignored,
}

/// Turns the file at `key` into the image its reservation promised. Safe to run again for the
/// same key: every step is idempotent, and the record is only written once the original exists.
pub async fn ingest_upload(app: &App, key: &str) -> Result<Ingested, StoreError> {
    let Some((owner, id)) = parse_upload_key(key) else {
        return Ok(Ingested::Ignored);
    };
    let pending = app
        .uploads
        .get_upload(&owner, &id)
        .await?
        .filter(|upload| upload.status == UploadStatus::Pending);
    let Some(upload) = pending else {
        app.blobs.delete(key).await?;
        return Ok(Ingested::Ignored);
    };
    let Some(bytes) = app.blobs.get(key).await? else {
        return Ok(Ingested::Ignored);
    };

    let size = bytes.len() as u64;
    let probed = if size == upload.size {
        inspected(&bytes, app.limits.max_pixels)
            .await
            .map_err(StoreError::backend)?
            .map_err(|error| format!("image {error}"))
    } else {
        Err(format!(
            "image is {size} bytes, not the {} declared",
            upload.size
        ))
    };
    let probed = match probed {
        Ok(probed) => probed,
        Err(reason) => {
            let status = UploadStatus::Failed(reason.clone());
            app.uploads.finish_upload(&owner, &id, &status).await?;
            app.blobs.delete(key).await?;
            return Ok(Ingested::Refused(reason));
        }
    };

    let image = Image::new(
        id,
        upload.name,
        probed.format,
        probed.width,
        probed.height,
        size,
    );
    app.blobs
        .copy(key, &original_key(&owner, &image.id), image.format)
        .await?;
    match app.images.insert(&owner, &image).await {
        Ok(()) | Err(StoreError::AlreadyExists) => {}
        Err(error) => return Err(error),
    }
    app.uploads
        .finish_upload(&owner, &image.id, &UploadStatus::Ready)
        .await?;
    app.blobs.delete(key).await?;
    Ok(Ingested::Created(image))
}
