//! Generation: imagine (a new image drawn from a prompt) and visualize (a model's answer to a
//! prompt about an image). Test keys get a marked stand-in image and a masked answer without
//! reaching an engine; only live keys are billed.

use std::ops::RangeInclusive;

use lambda_http::Request;
use serde::Serialize;

use crate::api::input::{image_id, json_object};
use crate::api::validate::Fields;
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::ApiError;
use crate::engines::{IMAGINE_MODELS, ImagePrompt, MAX_SEED, VISUALIZE_MODELS};
use crate::services::generation;

const PROMPT_LENGTH: RangeInclusive<usize> = 1..=1000;

/// `POST /v1/images/imagine` `{name, prompt, negative_prompt?, seed?, model?}`: a new 1024×1024
/// JPEG image. The seed is random when none is given.
pub async fn imagine_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let mut fields = Fields::new(json_object(&request)?);
    let name = fields.name("name", true);
    let prompt = fields.text("prompt", PROMPT_LENGTH, true);
    let negative_prompt = fields.text("negative_prompt", PROMPT_LENGTH, false);
    let seed = fields.integer("seed", 0..=i64::from(MAX_SEED), false);
    let model = fields.choice("model", IMAGINE_MODELS, false);
    fields.finish()?;
    let (Some(name), Some(prompt)) = (name, prompt) else {
        return Err(ApiError::internal("checked fields are missing"));
    };
    let prompt = ImagePrompt {
        prompt,
        negative_prompt,
        seed: seed.map_or_else(|| rand::random_range(0..=MAX_SEED), |seed| seed as u32),
        model: model.unwrap_or_else(|| IMAGINE_MODELS[0].to_owned()),
    };
    let image = generation::imagine(app, &caller.owner, name, &prompt).await?;
    output::json(201, &image)
}

#[derive(Serialize)]
struct Answer {
    response: String,
}

/// `POST /v1/images/{image_id}/visualize` `{prompt, model?}`: `{"response": "<the answer>"}`.
pub async fn visualize_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    let mut fields = Fields::new(json_object(&request)?);
    let prompt = fields.text("prompt", PROMPT_LENGTH, true);
    let model = fields
        .choice("model", VISUALIZE_MODELS, false)
        .unwrap_or_else(|| VISUALIZE_MODELS[0].to_owned());
    fields.finish()?;
    let Some(prompt) = prompt else {
        return Err(ApiError::internal("checked fields are missing"));
    };
    let response = generation::visualize(app, &caller.owner, &id, &prompt, &model).await?;
    output::json(201, &Answer { response })
}
