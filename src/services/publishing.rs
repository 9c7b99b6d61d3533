//! Publish, unpublish and delete: the state changes that span the record, the original and the
//! public copy. Each runs under a lease on the image, so two of them never interleave, and each
//! orders its steps so that a failure anywhere leaves a consistent image that a retry completes:
//! a `url` is only ever set while the public copy exists, and a record only exists with its
//! original.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;

use crate::app::App;
use crate::domain::{ApiError, Image, ImageId, Owner};
use crate::store::layout::original_key;
use crate::store::{Lease, Locked};

/// Long enough for the slowest step; short enough that a crashed holder does not block for long.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a request waits for a concurrent change of the same image before answering 409.
const LEASE_WAIT_ATTEMPTS: u32 = 8;

/// Copies the original to the public location, then records the URL. Idempotent.
pub async fn publish(app: &App, owner: &Owner, id: &ImageId) -> Result<Image, ApiError> {
    with_lease(app, owner, id, |image, lease| async move {
        let url = app
            .store
            .publisher
            .publish(&original_key(owner, &image.id), &image.id, image.format)
            .await?;
        Ok(app
            .store
            .images
            .set_url(owner, &image.id, &lease, Some(&url))
            .await?)
    })
    .await
}

/// Forgets the URL, then removes the public copy.
pub async fn unpublish(app: &App, owner: &Owner, id: &ImageId) -> Result<Image, ApiError> {
    with_lease(app, owner, id, |image, lease| async move {
        make_private(app, owner, image, &lease).await
    })
    .await
}

/// Unpublishes, forgets the record, then removes the original.
pub async fn delete(app: &App, owner: &Owner, id: &ImageId) -> Result<(), ApiError> {
    with_lease(app, owner, id, |image, lease| async move {
        let image = make_private(app, owner, image, &lease).await?;
        app.store.images.delete(owner, &image.id, &lease).await?;
        let key = original_key(owner, &image.id);
        // The image is gone for the client either way; a leftover file is only wasted space.
        if let Err(error) = app.store.blobs.delete(&key).await {
            tracing::warn!(%key, %error, "deleted image left its original behind");
        }
        Ok(())
    })
    .await
}

/// Clears the URL first (so it never points at nothing), then removes the public copy; the
/// removal runs even for a private image, so that a retry finishes an interrupted unpublish.
async fn make_private(
    app: &App,
    owner: &Owner,
    image: Image,
    lease: &Lease,
) -> Result<Image, ApiError> {
    let image = match image.url {
        Some(_) => {
            app.store
                .images
                .set_url(owner, &image.id, lease, None)
                .await?
        }
        None => image,
    };
    app.store.publisher.unpublish(&image.id).await?;
    Ok(image)
}

/// Runs `steps` while holding the image's lease, waiting briefly for a concurrent holder.
async fn with_lease<T, Steps, Fut>(
    app: &App,
    owner: &Owner,
    id: &ImageId,
    steps: Steps,
) -> Result<T, ApiError>
where
    Steps: FnOnce(Image, Lease) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let lease = Lease {
        token: format!("{:032x}", rand::random::<u128>()),
        expires_at: Utc::now() + LEASE_TTL,
    };
    let mut backoff = Duration::from_millis(20);
    let mut attempt = 0;
    let image = loop {
        match app.store.images.lock(owner, id, &lease).await? {
            Locked::Acquired(image) => break image,
            Locked::Missing => return Err(ApiError::ImageNotFound(id.to_string())),
            Locked::Busy if attempt + 1 < LEASE_WAIT_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Locked::Busy => {
                return Err(ApiError::Conflict(
                    "Another request is changing this image; retry shortly.".into(),
                ));
            }
        }
    };
    let outcome = steps(image, lease.clone()).await;
    if let Err(error) = app.store.images.unlock(owner, id, &lease).await {
        tracing::warn!(%id, %error, "could not release an image lease; it will expire");
    }
    outcome
}
