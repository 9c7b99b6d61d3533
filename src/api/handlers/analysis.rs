//! Analysis: classify, remove-background, extract-formatted-text and the older extract-text.
//! Test keys get what the reference gives them: classification masked without running the
//! model, text extraction refused, background removal as for live keys.

use lambda_http::Request;
use serde::Serialize;

use crate::api::input::{image_id, json_object, no_parameters};
use crate::api::validate::Fields;
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Stage};
use crate::engines::Label;
use crate::services::{analysis, images};

/// The main label and the four after it, as the reference answers.
const SECONDARY_LABELS: usize = 4;
const MASKED_LABEL: &str = "Result masked: classification runs with live keys";

#[derive(Serialize)]
struct ScoredLabel {
    label: String,
    score: f32,
}

#[derive(Serialize)]
struct Classification {
    main_label: String,
    main_score: f32,
    secondary_labels: Vec<ScoredLabel>,
}

impl Classification {
    fn from_ranked(mut labels: Vec<Label>) -> Result<Self, ApiError> {
        if labels.is_empty() {
            return Err(ApiError::internal("the classifier answered no label"));
        }
        let main = labels.remove(0);
        Ok(Self {
            main_label: main.name,
            main_score: main.score,
            secondary_labels: labels
                .into_iter()
                .map(|label| ScoredLabel {
                    label: label.name,
                    score: label.score,
                })
                .collect(),
        })
    }

    /// What a test key gets: the shape of a result, and no result.
    fn masked() -> Self {
        let share = 1.0 / (1 + SECONDARY_LABELS) as f32;
        Self {
            main_label: MASKED_LABEL.to_owned(),
            main_score: share,
            secondary_labels: (0..SECONDARY_LABELS)
                .map(|_| ScoredLabel {
                    label: MASKED_LABEL.to_owned(),
                    score: share,
                })
                .collect(),
        }
    }
}

/// `POST /v1/images/{image_id}/classify`
pub async fn classify_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    no_parameters(&request)?;
    let classification = match caller.owner.stage {
        Stage::Test => {
            images::find(app, &caller.owner, &id).await?;
            Classification::masked()
        }
        Stage::Live => Classification::from_ranked(
            analysis::classify(app, &caller.owner, &id, 1 + SECONDARY_LABELS).await?,
        )?,
    };
    output::json(201, &classification)
}

/// `POST /v1/images/{image_id}/remove-background` `{name?}`: a new PNG image. Counts as two.
pub async fn remove_image_background(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    let mut fields = Fields::new(json_object(&request)?);
    let name = fields.name("name", false);
    fields.finish()?;
    let image = analysis::remove_background(app, &caller.owner, &id, name).await?;
    Ok(output::counted(output::json(201, &image)?, 2))
}

/// Text extraction is not available to test keys, as in the reference.
fn live_only(caller: &Caller) -> Result<(), ApiError> {
    match caller.owner.stage {
        Stage::Live => Ok(()),
        Stage::Test => Err(ApiError::Forbidden(
            "Text extraction is not available in test mode; use a live key.".into(),
        )),
    }
}

const FORMATS: &[&str] = &["plain", "markdown"];

#[derive(Serialize)]
struct FormattedText {
    format: String,
    content: String,
}

/// `POST /v1/images/{image_id}/extract-formatted-text` `{format?: plain | markdown}`
pub async fn extract_formatted_text(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    let mut fields = Fields::new(json_object(&request)?);
    let format = fields
        .choice("format", FORMATS, false)
        .unwrap_or_else(|| FORMATS[0].to_owned());
    fields.finish()?;
    live_only(&caller)?;
    let document = analysis::read_document(app, &caller.owner, &id).await?;
    let content = match format.as_str() {
        "markdown" => document.markdown(),
        _ => document.plain(),
    };
    output::json(201, &FormattedText { format, content })
}

#[derive(Serialize)]
struct Lines {
    lines: Vec<String>,
}

/// `POST /v1/images/{image_id}/extract-text`: the older API's lines of text.
pub async fn extract_text(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let id = image_id(&request)?;
    no_parameters(&request)?;
    live_only(&caller)?;
    let lines = analysis::read_lines(app, &caller.owner, &id).await?;
    output::json(201, &Lines { lines })
}
