//! Reading images: list, get, download.

use std::time::Duration;

use lambda_http::Request;
use serde::Serialize;

use crate::api::input::{image_id, query};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId};
use crate::store::{ListStart, original_key};

use super::find_image;

const DEFAULT_TAKE: usize = 10;
const MAX_TAKE: usize = 100;

#[derive(Serialize)]
struct Page {
    data: Vec<Image>,
    links: Links,
}

#[derive(Serialize)]
struct Links {
    previous: Option<String>,
    next: Option<String>,
}

/// `GET /v1/images?take=&from=`: newest first; `from` is the id of the page's first image.
pub async fn list_images(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let mut problems = Vec::new();
    let take = match query(&request, "take") {
        None => DEFAULT_TAKE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(take) if (1..=MAX_TAKE).contains(&take) => take,
            _ => {
                problems.push(format!("take must be an integer between 1 and {MAX_TAKE}"));
                DEFAULT_TAKE
            }
        },
    };
    let from = query(&request, "from").and_then(|raw| {
        let id = ImageId::parse(&raw);
        if id.is_none() {
            problems.push("from must be a valid image id".to_owned());
        }
        id
    });
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }

    let owner = &caller.owner;
    let start = from
        .as_ref()
        .map_or(ListStart::Newest, ListStart::AtOrOlderThan);
    let mut data = app.images.list(owner, start, take + 1).await?;
    let next = (data.len() > take)
        .then(|| data.pop())
        .flatten()
        .map(|image| image.id);
    let previous = match &from {
        None => None,
        Some(from) => app
            .images
            .list(owner, ListStart::NewerThan(from), take)
            .await?
            .pop()
            .map(|image| image.id),
    };
    let base = list_url(app, &request);
    let link = |id: ImageId| format!("{base}?take={take}&from={id}");
    output::json(
        200,
        &Page {
            data,
            links: Links {
                previous: previous.map(link),
                next: next.map(link),
            },
        },
    )
}

/// The absolute URL of the list endpoint as the client reached it.
fn list_url(app: &App, request: &Request) -> String {
    let origin = app.api_base_url.clone().unwrap_or_else(|| {
        let uri = request.uri();
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => String::new(),
        }
    });
    format!("{}/v1/images", origin.trim_end_matches('/'))
}

/// `GET /v1/images/{image_id}`
pub async fn get_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    output::json(200, &find_image(app, &caller.owner, &id).await?)
}

/// Larger originals would not fit a Lambda response (6 MB, base64-encoded): they are fetched
/// from the blob store directly, through a short-lived URL.
const DIRECT_DOWNLOAD_MAX_BYTES: u64 = 4 * 1024 * 1024;
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);

/// `GET /v1/images/{image_id}/download`: the original bytes, typed by their format, or for a
/// large image a 302 to a presigned URL where the store offers one.
pub async fn download_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    let image = find_image(app, &caller.owner, &id).await?;
    let key = original_key(&caller.owner, &id);
    if image.size > DIRECT_DOWNLOAD_MAX_BYTES
        && let Some(url) = app.blobs.presign_get(&key, DOWNLOAD_URL_TTL).await?
    {
        return Ok(output::redirect(&url));
    }
    let bytes = app
        .blobs
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::internal(format!("the original of {id} is missing")))?;
    Ok(output::binary(image.format.mime_type(), bytes.into()))
}
