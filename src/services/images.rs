//! Images in and out: verify a file, store it as a new image (the blob first, then the record),
//! find an image and its original, list a page, download.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;

use crate::app::App;
use crate::domain::{ApiError, BackendError, Format, Image, ImageId, Owner};
use crate::imaging::{ImageInfo, verify, verify_memory};
use crate::services::memory::ImageWorkError;
use crate::store::ListStart;
use crate::store::layout::original_key;

/// Larger originals would not fit a Lambda response (6 MB, base64-encoded): they are fetched
/// from the blob store directly, through a short-lived URL.
const DIRECT_DOWNLOAD_MAX_BYTES: u64 = 4 * 1024 * 1024;
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);

/// A file checked to be a whole, decodable image within the pixel limit: one that may be stored.
pub struct Verified {
    bytes: Bytes,
    info: ImageInfo,
}

/// Checks a file before it may become an image (every way in: upload, URL, direct upload),
/// once the memory budget admits the check.
pub async fn verify_file(app: &App, bytes: Bytes) -> Result<Verified, ImageWorkError> {
    let max_pixels = app.limits.max_pixels;
    let needed = verify_memory(&bytes, max_pixels)?;
    let info = {
        let bytes = bytes.clone();
        app.memory
            .run(needed, move || verify(&bytes, max_pixels))
            .await?
    };
    Ok(Verified { bytes, info })
}

/// Stores a verified file as the image `id` named `name`. `AlreadyExists` if the id is taken.
pub async fn create(
    app: &App,
    owner: &Owner,
    id: ImageId,
    name: String,
    file: Verified,
) -> Result<Image, BackendError> {
    let Verified { bytes, info } = file;
    let size = bytes.len() as u64;
    let image = Image::new(id, name, info.format, info.width, info.height, size);
    add(app, owner, image, bytes).await
}

/// Fetches `url` from an allowed origin, and stores it as a new image named `name`.
pub async fn create_from_url(
    app: &App,
    owner: &Owner,
    name: String,
    url: &str,
) -> Result<Image, ApiError> {
    let bytes = app.fetch.fetch(url, app.limits.max_upload_bytes).await?;
    let file = verify_file(app, bytes)
        .await
        .map_err(|error| error.about("url"))?;
    Ok(create(app, owner, ImageId::generate(Utc::now()), name, file).await?)
}

/// Stores `bytes` as the original of `image`, then its record: a failure in between leaves an
/// unreferenced file, never a record without its bytes. `AlreadyExists` if the id is taken.
pub async fn add(
    app: &App,
    owner: &Owner,
    image: Image,
    bytes: Bytes,
) -> Result<Image, BackendError> {
    app.store
        .blobs
        .put(&original_key(owner, &image.id), bytes, image.format)
        .await?;
    app.store.images.insert(owner, &image).await?;
    Ok(image)
}

/// The caller's image, or the reference's 404: another owner's image is just as unknown.
pub async fn find(app: &App, owner: &Owner, id: &ImageId) -> Result<Image, ApiError> {
    app.store
        .images
        .get(owner, id)
        .await?
        .ok_or_else(|| ApiError::ImageNotFound(id.to_string()))
}

/// The bytes of an image found with [`find`].
pub async fn original(app: &App, owner: &Owner, id: &ImageId) -> Result<Bytes, ApiError> {
    app.store
        .blobs
        .get(&original_key(owner, id))
        .await?
        .ok_or_else(|| ApiError::internal(format!("the original of {id} is missing")))
}

/// One page of the list, newest first, and where the pages beside it start.
pub struct Page {
    pub images: Vec<Image>,
    pub previous: Option<ImageId>,
    pub next: Option<ImageId>,
}

/// The page of `take` images starting at `from` (the newest when `None`).
pub async fn page(
    app: &App,
    owner: &Owner,
    from: Option<&ImageId>,
    take: usize,
) -> Result<Page, ApiError> {
    let start = from.map_or(ListStart::Newest, ListStart::AtOrOlderThan);
    let mut images = app.store.images.list(owner, start, take + 1).await?;
    let next = (images.len() > take)
        .then(|| images.pop())
        .flatten()
        .map(|image| image.id);
    let previous = match from {
        None => None,
        Some(from) => app
            .store
            .images
            .list(owner, ListStart::NewerThan(from), take)
            .await?
            .pop()
            .map(|image| image.id),
    };
    Ok(Page {
        images,
        previous,
        next,
    })
}

pub enum Download {
    /// The original's bytes.
    Bytes(Format, Bytes),
    /// A short-lived URL that serves it, for originals too large to answer directly.
    Redirect(String),
}

pub async fn download(app: &App, owner: &Owner, id: &ImageId) -> Result<Download, ApiError> {
    let image = find(app, owner, id).await?;
    if image.size > DIRECT_DOWNLOAD_MAX_BYTES
        && let Some(url) = app
            .store
            .blobs
            .presign_get(&original_key(owner, id), DOWNLOAD_URL_TTL)
            .await?
    {
        return Ok(Download::Redirect(url));
    }
    Ok(Download::Bytes(
        image.format,
        original(app, owner, id).await?,
    ))
}
