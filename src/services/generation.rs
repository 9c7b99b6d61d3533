//! Generation: a new image drawn from a prompt (imagine), and a model's answer to a prompt about
//! an image (visualize). Test keys never reach an engine: they get a marked stand-in image and a
//! masked answer, free and offline, as the reference masks a test key's analysis.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;

use super::analysis::{encoded_within, engine};
use super::images;
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId, Owner, Stage};
use crate::engines::{Generated, ImageGenerator, ImagePrompt, VisualAnswerer};
use crate::imaging;
use crate::runtime::off_the_async_threads;
use crate::services::memory::ImageWorkError;

/// What a test key's visual question is answered.
pub const MASKED_ANSWER: &str =
    "Test key: result masked. Visual questions are answered with live keys.";

fn image_generator(app: &App) -> Result<&Arc<dyn ImageGenerator>, ApiError> {
    engine(
        &app.engines.image_generator,
        "Image generation is not enabled on this server: set IMGFORGE_IMAGINE_ENGINE=bedrock \
         (with AWS credentials allowed to invoke the models of IMGFORGE_BEDROCK_IMAGINE_MODELS).",
    )
}

fn visual_answerer(app: &App) -> Result<&Arc<dyn VisualAnswerer>, ApiError> {
    engine(
        &app.engines.visual_answerer,
        "Visual questions are not enabled on this server: set IMGFORGE_VISUALIZE_ENGINE=ollama \
         (an Ollama server at IMGFORGE_OLLAMA_URL) or IMGFORGE_VISUALIZE_ENGINE=bedrock (with AWS \
         credentials allowed to invoke the models of IMGFORGE_BEDROCK_VISUALIZE_MODELS).",
    )
}

/// A new image named `name`, drawn from `prompt`. A prompt or image the engine's safety filter
/// withholds is the client's to change: a 422 with the engine's reason.
pub async fn imagine(
    app: &App,
    owner: &Owner,
    name: String,
    prompt: &ImagePrompt,
) -> Result<Image, ApiError> {
    let bytes = match owner.stage {
        Stage::Test => test_image(prompt).await?,
        Stage::Live => match image_generator(app)?.generate(prompt).await? {
            Generated::Image(bytes) => bytes,
            Generated::Filtered(reason) => {
                return Err(ApiError::validation(format!(
                    "prompt: the model withheld the image ({reason})"
                )));
            }
        },
    };
    // The engine's output is checked like any file before it is stored; a bad one is our fault.
    let file = match images::verify_file(app, bytes).await {
        Ok(file) => file,
        Err(ImageWorkError::Refused(error)) => {
            return Err(ApiError::internal(format!("the generated image: {error}")));
        }
        Err(ImageWorkError::Busy(error)) => return Err(error),
    };
    Ok(images::create(app, owner, ImageId::generate(Utc::now()), name, file).await?)
}

/// The model's answer to `prompt` about the image. `model` is one of the API's names.
pub async fn visualize(
    app: &App,
    owner: &Owner,
    id: &ImageId,
    prompt: &str,
    model: &str,
) -> Result<String, ApiError> {
    // An unknown image (404) is found before a missing engine (501).
    images::find(app, owner, id).await?;
    if owner.stage == Stage::Test {
        return Ok(MASKED_ANSWER.to_owned());
    }
    let answerer = visual_answerer(app)?;
    let image = encoded_within(app, owner, id, answerer.input_limits()).await?;
    Ok(answerer.answer(image, prompt, model).await?)
}

/// A test key's image: the same for the same model, seed and prompt (each length-delimited so no
/// two requests share a key), different otherwise.
async fn test_image(prompt: &ImagePrompt) -> Result<Bytes, ApiError> {
    let request = format!(
        "{}:{}:{}:{}",
        prompt.model,
        prompt.seed,
        prompt.prompt.len(),
        prompt.prompt
    );
    off_the_async_threads(move || imaging::test_image(request.as_bytes()))
        .await
        .map(Bytes::from)
        .map_err(|error| ApiError::internal(format!("the test image: {error}")))
}
