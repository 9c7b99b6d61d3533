//! Direct uploads past the API's payload limit: reserve an image id and a presigned PUT, then
//! the blob store's upload event ingests the file, and the client asks how it went.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::images;
use super::memory::ImageWorkError;
use crate::app::App;
use crate::domain::{ApiError, BackendError, Format, Image, ImageId, Owner, Upload, UploadStatus};
use crate::store::PresignedRequest;
use crate::store::layout::{parse_upload_key, upload_key};

/// How long a presigned upload URL stays valid.
const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the outcome of an upload can be asked for.
const UPLOAD_RECORD_TTL: chrono::Duration = chrono::Duration::days(7);

pub struct Reservation {
    pub upload: Upload,
    pub put: PresignedRequest,
    /// When the presigned PUT stops working.
    pub put_expires_at: DateTime<Utc>,
}

/// Reserves an image id for `size` bytes of `format`, and a presigned PUT for exactly that.
pub async fn reserve(
    app: &App,
    owner: &Owner,
    name: String,
    size: u64,
    format: Format,
) -> Result<Reservation, ApiError> {
    let now = Utc::now();
    let upload = Upload {
        id: ImageId::generate(now),
        name,
        size,
        format,
        status: UploadStatus::Pending,
        expires_at: now + UPLOAD_RECORD_TTL,
    };
    let put = app
        .store
        .blobs
        .presign_put(&upload_key(owner, &upload.id), format, size, UPLOAD_URL_TTL)
        .await?;
    app.store.uploads.reserve(owner, &upload).await?;
    Ok(Reservation {
        upload,
        put,
        put_expires_at: now + UPLOAD_URL_TTL,
    })
}

/// The upload reserved under `id`, and its image once it is ready.
pub async fn status(
    app: &App,
    owner: &Owner,
    id: &ImageId,
) -> Result<(Upload, Option<Image>), ApiError> {
    let upload = app
        .store
        .uploads
        .get_upload(owner, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Upload with id {id} not found.")))?;
    let image = match upload.status {
        UploadStatus::Ready => app.store.images.get(owner, id).await?,
        _ => None,
    };
    Ok((upload, image))
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

/// Turns the file at `key` into the image its reservation promised, storing exactly the bytes
/// it verified. Safe to run again for the same key: every step is idempotent, and the record is
/// only written once the original exists.
pub async fn ingest(app: &App, key: &str) -> Result<Ingested, ApiError> {
    let Some((owner, id)) = parse_upload_key(key) else {
        return Ok(Ingested::Ignored);
    };
    let blobs = &app.store.blobs;
    let pending = app
        .store
        .uploads
        .get_upload(&owner, &id)
        .await?
        .filter(|upload| upload.status == UploadStatus::Pending);
    let Some(upload) = pending else {
        blobs.delete(key).await?;
        return Ok(Ingested::Ignored);
    };
    let Some(bytes) = blobs.get(key).await? else {
        return Ok(Ingested::Ignored);
    };

    let size = bytes.len() as u64;
    let verified = if size == upload.size {
        match images::verify_file(app, bytes).await {
            Ok(file) => Ok(file),
            Err(ImageWorkError::Refused(error)) => Err(error.about("image")),
            // Not the file's fault: the event is retried.
            Err(ImageWorkError::Busy(error)) => return Err(error),
        }
    } else {
        Err(format!(
            "image is {size} bytes, not the {} declared",
            upload.size
        ))
    };
    let file = match verified {
        Ok(file) => file,
        Err(reason) => {
            let status = UploadStatus::Failed(reason.clone());
            app.store
                .uploads
                .finish_upload(&owner, &id, &status)
                .await?;
            blobs.delete(key).await?;
            return Ok(Ingested::Refused(reason));
        }
    };

    let image = match images::create(app, &owner, id.clone(), upload.name, file).await {
        Ok(image) => image,
        // A repeated event finds the record there from the first delivery.
        Err(BackendError::AlreadyExists) => images::find(app, &owner, &id).await?,
        Err(error) => return Err(error.into()),
    };
    app.store
        .uploads
        .finish_upload(&owner, &id, &UploadStatus::Ready)
        .await?;
    blobs.delete(key).await?;
    Ok(Ingested::Created(image))
}
