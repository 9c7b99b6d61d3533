//! Visual questions to an Ollama server that the operator runs (llava by default): `POST
//! {url}/api/chat` with the prompt and the image in base64, not streamed; the answer is the
//! reply's `message.content`.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{EncodedImage, VisualAnswerer};
use crate::domain::BackendError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Vision models see a few hundred pixels a side (llava 336 to 672); more would only cost
/// transfer and decoding.
const IMAGE_LIMITS: (u64, u32) = (10_000_000, 2048);

/// A `VisualAnswerer` over one model of one Ollama server.
pub struct Ollama {
    http: reqwest::Client,
    chat_url: Url,
    model: String,
}

impl Ollama {
    /// Asks `model` on the server at `url`, each answer within `timeout`.
    pub fn new(url: &Url, model: &str, timeout: Duration) -> Result<Self, String> {
        // `join` replaces a last segment without its slash: the server may sit under a path.
        let mut base = url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let chat_url = base
            .join("api/chat")
            .map_err(|error| format!("IMGFORGE_OLLAMA_URL: {error}"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            http,
            chat_url,
            model: model.to_owned(),
        })
    }
}

#[derive(Serialize)]
struct Chat<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 1],
    stream: bool,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
    images: [String; 1],
}

#[derive(Deserialize)]
struct ChatReply {
    message: ReplyMessage,
}

#[derive(Deserialize)]
struct ReplyMessage {
    content: String,
}

/// A request that did not get through (refused, timed out) may succeed later; its URL, which
/// names an internal address, is left out.
fn transport_error(error: reqwest::Error) -> BackendError {
    BackendError::Unavailable(Box::new(error.without_url()))
}

#[async_trait]
impl VisualAnswerer for Ollama {
    /// Ollama runs one model, whichever the request names.
    async fn answer(
        &self,
        image: EncodedImage,
        prompt: &str,
        _model: &str,
    ) -> Result<String, BackendError> {
        let chat = Chat {
            model: &self.model,
            messages: [ChatMessage {
                role: "user",
                content: prompt,
                images: [BASE64.encode(&image.bytes)],
            }],
            stream: false,
        };
        let body = serde_json::to_vec(&chat).map_err(BackendError::failed)?;
        let response = self
            .http
            .post(self.chat_url.clone())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(BackendError::Unavailable(
                format!("Ollama answered {status}").into(),
            ));
        }
        if !status.is_success() {
            return Err(BackendError::failed(format!(
                "Ollama answered {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let reply: ChatReply = serde_json::from_slice(&body)
            .map_err(|error| BackendError::failed(format!("unexpected Ollama reply: {error}")))?;
        Ok(reply.message.content)
    }

    fn input_limits(&self) -> (u64, u32) {
        IMAGE_LIMITS
    }
}
