//! The Bedrock adapters against answers in Bedrock Runtime's wire format, served by
//! aws-smithy-mocks (moto answers `{}` to InvokeModel and has no Converse): what each call sends
//! (model id, body, image block, prompt) and how each answer and error is read.

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelInput;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, ImageFormat, ImageSource};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use imgforge::config::BedrockModels;
use imgforge::domain::{BackendError, Format};
use imgforge::engines::bedrock::{Converse, Stability};
use imgforge::engines::{EncodedImage, Generated, ImageGenerator, ImagePrompt, VisualAnswerer};
use imgforge::imaging::fixtures;
use serde_json::{Value, json};

const SD35_LARGE: &str = "stability.sd3-5-large-v1:0";
const ULTRA: &str = "stability.stable-image-ultra-v1:1";
const NOVA_LITE: &str = "us.amazon.nova-lite-v1:0";

fn client(rules: &[&Rule]) -> aws_sdk_bedrockruntime::Client {
    // Without retries, each rule sees exactly the calls the adapter makes.
    mock_client!(aws_sdk_bedrockruntime, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::disabled()))
}

fn stability(rules: &[&Rule]) -> Stability {
    let models = BedrockModels::imagine(&format!("flux={ULTRA}")).unwrap();
    Stability::new(client(rules).into(), models)
}

fn converse(rules: &[&Rule]) -> Converse {
    Converse::new(client(rules).into(), BedrockModels::visualize("").unwrap())
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

/// Bedrock Runtime speaks REST-JSON: the error's code is in `x-amzn-errortype`.
fn error_response(status: u16, code: &'static str) -> HttpResponse {
    let mut response = json_response(status, &json!({"message": format!("mocked {code}")}));
    response.headers_mut().insert("x-amzn-errortype", code);
    response
}

fn prompt(model: &str, negative_prompt: Option<&str>) -> ImagePrompt {
    ImagePrompt {
        prompt: "a lighthouse at dawn".into(),
        negative_prompt: negative_prompt.map(str::to_owned),
        seed: 4_294_967_294,
        model: model.into(),
    }
}

fn invoked_body(request: &InvokeModelInput) -> Value {
    serde_json::from_slice(request.body().unwrap().as_ref()).unwrap()
}

#[tokio::test]
async fn imagine_invokes_the_configured_model_with_a_square_jpeg_request() {
    let jpeg = fixtures::encode(Format::Jpeg, 1024, 1024);
    let answer = json!({"seeds": [4_294_967_294u32], "finish_reasons": [null], "images": [BASE64.encode(&jpeg)]});
    let invoke = mock!(aws_sdk_bedrockruntime::Client::invoke_model)
        .match_requests(|request| {
            request.model_id() == Some(SD35_LARGE)
                && request.content_type() == Some("application/json")
                && invoked_body(request)
                    == json!({
                        "prompt": "a lighthouse at dawn",
                        "negative_prompt": "fog",
                        "seed": 4_294_967_294u32,
                        "mode": "text-to-image",
                        "aspect_ratio": "1:1",
                        "output_format": "jpeg"
                    })
        })
        .then_http_response(move || json_response(200, &answer));
    let generated = stability(&[&invoke])
        .generate(&prompt("sdxl", Some("fog")))
        .await
        .unwrap();
    assert_eq!(invoke.num_calls(), 1);
    assert_eq!(generated, Generated::Image(Bytes::from(jpeg)));
}

#[tokio::test]
async fn each_api_model_maps_to_its_bedrock_model_and_no_negative_prompt_is_left_out() {
    let invoke = mock!(aws_sdk_bedrockruntime::Client::invoke_model)
        .match_requests(|request| {
            let body = invoked_body(request);
            request.model_id() == Some(ULTRA)
                && body.get("negative_prompt").is_none()
                && body["prompt"] == "a lighthouse at dawn"
        })
        .then_http_response(|| {
            let image = BASE64.encode(fixtures::encode(Format::Jpeg, 8, 8));
            json_response(
                200,
                &json!({"seeds": [1], "finish_reasons": [null], "images": [image]}),
            )
        });
    let generated = stability(&[&invoke])
        .generate(&prompt("flux", None))
        .await
        .unwrap();
    assert_eq!(invoke.num_calls(), 1);
    assert!(matches!(generated, Generated::Image(_)));
}

#[tokio::test]
async fn a_filtered_image_comes_back_with_its_reason_and_an_inference_error_fails() {
    for (reason, filtered) in [
        ("Filter reason: prompt", true),
        ("Filter reason: output image", true),
        ("Inference error", false),
    ] {
        let invoke =
            mock!(aws_sdk_bedrockruntime::Client::invoke_model).then_http_response(move || {
                json_response(
                    200,
                    &json!({"seeds": [7], "finish_reasons": [reason], "images": []}),
                )
            });
        let outcome = stability(&[&invoke]).generate(&prompt("sdxl", None)).await;
        match outcome {
            Ok(Generated::Filtered(given)) if filtered => assert_eq!(given, reason),
            Err(BackendError::Failed(error)) if !filtered => {
                assert!(error.to_string().contains(reason), "{error}")
            }
            other => panic!("{reason}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn throttling_and_a_busy_model_are_unavailable_other_errors_fail() {
    for (status, code, unavailable) in [
        (429, "ThrottlingException", true),
        (503, "ServiceUnavailableException", true),
        (429, "ModelNotReadyException", true),
        (408, "ModelTimeoutException", true),
        (400, "ServiceQuotaExceededException", true),
        (400, "ValidationException", false),
        (403, "AccessDeniedException", false),
    ] {
        let invoke = mock!(aws_sdk_bedrockruntime::Client::invoke_model)
            .then_http_response(move || error_response(status, code));
        let converse_call = mock!(aws_sdk_bedrockruntime::Client::converse)
            .then_http_response(move || error_response(status, code));
        let error = stability(&[&invoke])
            .generate(&prompt("sdxl", None))
            .await
            .unwrap_err();
        assert_eq!(
            matches!(error, BackendError::Unavailable(_)),
            unavailable,
            "{code}: {error:?}"
        );
        let error = converse(&[&converse_call])
            .answer(png_image(), "What is this?", "llava")
            .await
            .unwrap_err();
        assert_eq!(
            matches!(error, BackendError::Unavailable(_)),
            unavailable,
            "{code}: {error:?}"
        );
    }
}

fn png_image() -> EncodedImage {
    EncodedImage {
        bytes: fixtures::encode(Format::Png, 12, 8).into(),
        format: Format::Png,
        width: 12,
        height: 8,
    }
}

/// The one user message of a Converse request: its image block (format, bytes) and its text.
fn asked(request: &ConverseInput) -> Option<(ImageFormat, Vec<u8>, String)> {
    let [message] = request.messages() else {
        return None;
    };
    let [ContentBlock::Image(image), ContentBlock::Text(text)] = message.content() else {
        return None;
    };
    let ImageSource::Bytes(bytes) = image.source()? else {
        return None;
    };
    (message.role() == &ConversationRole::User).then(|| {
        (
            image.format().clone(),
            bytes.as_ref().to_vec(),
            text.clone(),
        )
    })
}

#[tokio::test]
async fn visualize_sends_the_image_block_then_the_prompt_and_reads_the_answer() {
    let image = png_image();
    let expected_bytes = image.bytes.to_vec();
    let converse_call = mock!(aws_sdk_bedrockruntime::Client::converse)
        .match_requests(move |request| {
            request.model_id() == Some(NOVA_LITE)
                && asked(request)
                    == Some((
                        ImageFormat::Png,
                        expected_bytes.clone(),
                        "What is in this image?".to_owned(),
                    ))
        })
        .then_http_response(|| {
            json_response(
                200,
                &json!({
                    "output": {"message": {"role": "assistant", "content": [{"text": "A test pattern."}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 10, "outputTokens": 4, "totalTokens": 14},
                    "metrics": {"latencyMs": 12}
                }),
            )
        });
    let answer = converse(&[&converse_call])
        .answer(image, "What is in this image?", "gemini")
        .await
        .unwrap();
    assert_eq!(converse_call.num_calls(), 1);
    assert_eq!(answer, "A test pattern.");
}

#[tokio::test]
async fn an_answer_without_text_fails() {
    let converse_call = mock!(aws_sdk_bedrockruntime::Client::converse).then_http_response(|| {
        json_response(
            200,
            &json!({
                "output": {"message": {"role": "assistant", "content": []}},
                "stopReason": "content_filtered",
                "usage": {"inputTokens": 10, "outputTokens": 0, "totalTokens": 10},
                "metrics": {"latencyMs": 12}
            }),
        )
    });
    let error = converse(&[&converse_call])
        .answer(png_image(), "What is this?", "uform-gen")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BackendError::Failed(reason) if reason.to_string().contains("content_filtered")),
        "{error:?}"
    );
}
