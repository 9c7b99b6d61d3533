//! Reading images: list, get, download.

use lambda_http::Request;
use serde::Serialize;

use crate::api::input::{image_id, query};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId};
use crate::services::images::{self, Download};

const DEFAULT_TAKE: usize = 10;
const MAX_TAKE: usize = 100;

#[derive(Serialize)]
struct PageBody {
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

    let page = images::page(app, &caller.owner, from.as_ref(), take).await?;
    let base = list_url(app, &request);
    let link = |id: ImageId| format!("{base}?take={take}&from={id}");
    output::json(
        200,
        &PageBody {
            data: page.images,
            links: Links {
                previous: page.previous.map(link),
                next: page.next.map(link),
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
    output::json(200, &images::find(app, &caller.owner, &id).await?)
}

/// `GET /v1/images/{image_id}/download`: the original bytes, typed by their format, or for a
/// large image a 302 to a presigned URL where the store offers one.
pub async fn download_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    Ok(match images::download(app, &caller.owner, &id).await? {
        Download::Bytes(format, bytes) => output::binary(format.mime_type(), bytes.into()),
        Download::Redirect(url) => output::redirect(&url),
    })
}
