//! `POST /v1/images` `{name, url}`: an image fetched from one of the allowed origins.

use lambda_http::Request;

use crate::api::input::json_object;
use crate::api::validate::Fields;
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::ApiError;
use crate::services::images;

pub async fn create_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let mut fields = Fields::new(json_object(&request)?);
    let name = fields.name("name", true);
    let url = fields.string("url", true);
    fields.finish()?;
    let (Some(name), Some(url)) = (name, url) else {
        return Err(ApiError::internal("checked fields are missing"));
    };
    let image = images::create_from_url(app, &caller.owner, name, &url).await?;
    output::json(201, &image)
}
