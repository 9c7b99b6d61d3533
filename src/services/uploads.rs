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
/// How long after its URL expires a file put at the last moment may still be on its way to an
/// image: the upload event, and Lambda's two retries of a failed ingest with their backoff.
const INGEST_GRACE: chrono::Duration = chrono::Duration::minutes(10);

/// Whether `upload` is still pending when no file can arrive any more: its URL has expired, and
/// any file put with it had time to be ingested. Such an upload has failed, though its record
/// may still say pending (when every ingest attempt failed, say).
fn overdue(upload: &Upload, now: DateTime<Utc>) -> bool {
    let reserved_at = upload.expires_at - UPLOAD_RECORD_TTL;
    let url_ttl = chrono::Duration::from_std(UPLOAD_URL_TTL).unwrap_or(chrono::Duration::MAX);
    upload.status == UploadStatus::Pending && now > reserved_at + url_ttl + INGEST_GRACE
}

const NOT_RECEIVED: &str = "no file was received and ingested while the upload URL was valid";

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
    let mut upload = app
        .store
        .uploads
        .get_upload(owner, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Upload with id {id} not found.")))?;
    if overdue(&upload, Utc::now()) {
        upload.status = UploadStatus::Failed(NOT_RECEIVED.to_owned());
    }
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
    // Too late: the client has been told it failed.
    if pending
        .as_ref()
        .is_some_and(|upload| overdue(upload, Utc::now()))
    {
        let status = UploadStatus::Failed(NOT_RECEIVED.to_owned());
        app.store
            .uploads
            .finish_upload(&owner, &id, &status)
            .await?;
        blobs.delete(key).await?;
        return Ok(Ingested::Refused(NOT_RECEIVED.to_owned()));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved_at(at: DateTime<Utc>, status: UploadStatus) -> Upload {
        Upload {
            id: ImageId::generate(at),
            name: "n".into(),
            size: 1,
            format: Format::Png,
            status,
            expires_at: at + UPLOAD_RECORD_TTL,
        }
    }

    #[test]
    fn a_pending_upload_fails_once_its_url_and_the_grace_for_ingest_are_past() {
        let at = Utc::now();
        let pending = reserved_at(at, UploadStatus::Pending);
        let url_expires = at + chrono::Duration::minutes(15);
        assert!(!overdue(&pending, url_expires));
        assert!(!overdue(&pending, url_expires + INGEST_GRACE));
        assert!(overdue(
            &pending,
            url_expires + INGEST_GRACE + chrono::Duration::seconds(1)
        ));
        let ready = reserved_at(at, UploadStatus::Ready);
        assert!(!overdue(&ready, at + chrono::Duration::days(1)));
    }
}
