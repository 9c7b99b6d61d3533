//! Publish, unpublish and delete; the publishing service orders their steps. Publishing has its
//! own hourly limit per key (`IMGFORGE_PUBLISH_LIMIT`).

use lambda_http::Request;

use crate::api::auth;
use crate::api::input::{image_id, no_parameters};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::services::publishing;

/// `POST /v1/images/{image_id}/publish`
pub async fn publish_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    no_parameters(&request)?;
    auth::admit_publishing(app, &caller).await?;
    output::json(201, &publishing::publish(app, &caller.owner, &id).await?)
}

/// `POST /v1/images/{image_id}/unpublish`
pub async fn unpublish_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    no_parameters(&request)?;
    auth::admit_publishing(app, &caller).await?;
    output::json(201, &publishing::unpublish(app, &caller.owner, &id).await?)
}

/// `DELETE /v1/images/{image_id}`
pub async fn delete_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    publishing::delete(app, &caller.owner, &id).await?;
    Ok(output::no_content())
}
