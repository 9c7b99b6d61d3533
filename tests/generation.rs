//! imagine and visualize through their handlers, with the real adapters talking to loopback
//! stand-ins that speak each engine's wire format: Bedrock Runtime (InvokeModel and Converse,
//! SigV4-signed by the SDK) and Ollama's `/api/chat`. Also the local server configured to reach
//! them, and what a request gets with no engine at all.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use imgforge::api::auth::create_key;
use imgforge::config::BedrockModels;
use imgforge::domain::{BackendError, Format, Stage};
use imgforge::engines::bedrock::{Converse, Stability};
use imgforge::engines::ollama::Ollama;
use imgforge::engines::{EncodedImage, VisualAnswerer};
use imgforge::imaging::{fixtures, probe};
use serde_json::{Value, json};
use support::call::{Call, LocalApp, json, local_app};
use support::{Client, Server, status_json};

const ACCOUNT: &str = "acct_generation";
const ACCESS_KEY: &str = "AKIDSTANDIN";

/// A request a stand-in received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A loopback HTTP server standing in for an engine: it records every request and answers it
/// with `answer(path, body)`.
struct StandIn {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl StandIn {
    async fn start(answer: fn(&str, &Value) -> Response) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let app = axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap, body: Bytes| async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let reply = answer(uri.path(), &body);
                log.lock().unwrap().push(Received {
                    path: uri.path().to_owned(),
                    authorization: headers
                        .get("authorization")
                        .map(|value| value.to_str().unwrap().to_owned()),
                    body,
                });
                reply
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn last(&self) -> Received {
        self.received()
            .pop()
            .expect("a request reached the stand-in")
    }
}

fn json_reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The width and height of a base64-encoded image.
fn dimensions(base64: &Value) -> (u32, u32) {
    let bytes = BASE64.decode(base64.as_str().unwrap()).unwrap();
    let info = probe(&bytes, 1 << 30).unwrap();
    (info.width, info.height)
}

/// Bedrock Runtime as the SDK sees it: InvokeModel at `/model/{id}/invoke`, Converse at
/// `/model/{id}/converse`. A prompt that says "forbidden" is filtered, one that says "busy" is
/// throttled; Converse says how large the image it was given is.
fn bedrock(path: &str, body: &Value) -> Response {
    let asked = &body["messages"][0]["content"];
    let prompt = body["prompt"]
        .as_str()
        .or_else(|| asked[1]["text"].as_str())
        .unwrap_or_default();
    if prompt.contains("busy") {
        let mut reply = json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "Too many requests, please wait before trying again."}),
        );
        reply
            .headers_mut()
            .insert("x-amzn-errortype", "ThrottlingException".parse().unwrap());
        return reply;
    }
    if path.ends_with("/invoke") {
        let (reason, images) = if prompt.contains("forbidden") {
            (json!("Filter reason: prompt"), json!([]))
        } else {
            let jpeg = fixtures::encode(Format::Jpeg, 1024, 1024);
            (Value::Null, json!([BASE64.encode(jpeg)]))
        };
        let answer = json!({"seeds": [body["seed"]], "finish_reasons": [reason], "images": images});
        return json_reply(StatusCode::OK, answer);
    }
    let (width, height) = dimensions(&asked[0]["image"]["source"]["bytes"]);
    json_reply(
        StatusCode::OK,
        json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": format!("A {width}x{height} test pattern.")}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 20, "outputTokens": 6, "totalTokens": 26},
            "metrics": {"latencyMs": 3}
        }),
    )
}

/// Ollama's `/api/chat`, not streamed: says how large the image it was given is; a prompt that
/// says "crash" fails as a crashed model runner does.
fn ollama(_path: &str, body: &Value) -> Response {
    let message = &body["messages"][0];
    if message["content"]
        .as_str()
        .unwrap_or_default()
        .contains("crash")
    {
        return json_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "llama runner process has terminated"}),
        );
    }
    let (width, height) = dimensions(&message["images"][0]);
    json_reply(
        StatusCode::OK,
        json!({
            "model": body["model"],
            "message": {"role": "assistant", "content": format!("A {width}x{height} test pattern.")},
            "done": true
        }),
    )
}

/// A Bedrock Runtime client for the stand-in, signing with made-up credentials.
fn bedrock_client(stand_in: &StandIn) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new(
            ACCESS_KEY,
            "stand-in-secret",
            None,
            None,
            "stand-in",
        ))
        .endpoint_url(&stand_in.url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

/// An app with a test key (`app.key`) and a live key, and no generation engine.
async fn app_with_live_key() -> (LocalApp, String) {
    let app = local_app(ACCOUNT, |_| {}).await;
    let live = create_key(app.app.store.keys.as_ref(), ACCOUNT, Stage::Live)
        .await
        .unwrap();
    (app, live)
}

/// The same, generating and answering on Bedrock through `stand_in`.
async fn bedrock_app(stand_in: &StandIn) -> (LocalApp, String) {
    let (mut app, live) = app_with_live_key().await;
    let client = bedrock_client(stand_in);
    app.app.engines.image_generator = Some(Arc::new(Stability::new(
        client.clone().into(),
        BedrockModels::imagine("").unwrap(),
    )));
    app.app.engines.visual_answerer = Some(Arc::new(Converse::new(
        client.into(),
        BedrockModels::visualize("").unwrap(),
    )));
    (app, live)
}

async fn upload(app: &LocalApp, key: &str, bytes: &[u8]) -> String {
    let response = Call::upload(Some("asked about"), Some(bytes), key)
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    json(&response)["id"].as_str().unwrap().to_owned()
}

fn imagine(key: &str, body: Value) -> Call {
    Call::new("imagine-image", key).body("application/json", body.to_string().into_bytes())
}

fn visualize(key: &str, id: &str, body: Value) -> Call {
    Call::new("visualize-image", key)
        .image(id)
        .body("application/json", body.to_string().into_bytes())
}

fn errors(response: &lambda_http::Response<lambda_http::Body>) -> Vec<String> {
    serde_json::from_value(json(response)["errors"].clone()).unwrap()
}

fn usage(response: &lambda_http::Response<lambda_http::Body>) -> Option<&str> {
    response
        .headers()
        .get("x-image-processing-usage")
        .map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn every_problem_of_a_body_is_in_one_422() {
    let (app, live) = app_with_live_key().await;
    let response = imagine(
        &live,
        json!({"seed": 42.1, "model": "dalle", "negative_prompt": ""}),
    )
    .send(&app.app)
    .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        errors(&response),
        [
            "name is required",
            "prompt is required",
            "negative_prompt must be between 1 and 1000 characters long",
            "seed must be an integer between 0 and 4294967294",
            "model must be one of sdxl, flux"
        ]
    );
    let response = imagine(
        &live,
        json!({"name": "n".repeat(31), "prompt": "p".repeat(1001), "seed": -1}),
    )
    .send(&app.app)
    .await;
    assert_eq!(
        errors(&response),
        [
            "name must be between 1 and 30 characters long",
            "prompt must be between 1 and 1000 characters long",
            "seed must be an integer between 0 and 4294967294"
        ]
    );

    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = visualize(&live, &id, json!({"model": "gpt-4"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        errors(&response),
        [
            "prompt is required",
            "model must be one of uform-gen, llava, gemini"
        ]
    );
}

#[tokio::test]
async fn without_an_engine_a_live_key_gets_501_naming_the_setting_after_a_404() {
    let (app, live) = app_with_live_key().await;
    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = imagine(&live, json!({"name": "n", "prompt": "a lighthouse"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 501, "{:?}", response.body());
    let body = json(&response);
    assert_eq!(body["error"], "Not Implemented");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("IMGFORGE_IMAGINE_ENGINE="),
        "{body}"
    );
    let unknown = "image_00000000000000000000000000";
    for key in [live.as_str(), app.key.as_str()] {
        let response = visualize(key, unknown, json!({"prompt": "What is this?"}))
            .send(&app.app)
            .await;
        assert_eq!(response.status(), 404, "an unknown image before the engine");
    }
    let response = visualize(&live, &id, json!({"prompt": "What is this?"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 501);
    assert!(
        json(&response)["message"]
            .as_str()
            .unwrap()
            .contains("IMGFORGE_VISUALIZE_ENGINE=")
    );
}

async fn downloaded(app: &LocalApp, key: &str, image: &Value) -> Bytes {
    let response = Call::new("download-image", key)
        .image(image["id"].as_str().unwrap())
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 200);
    Bytes::copy_from_slice(response.body().as_ref())
}

#[tokio::test]
async fn test_keys_get_a_marked_image_and_a_masked_answer_without_an_engine() {
    // Engines are configured, and the stand-in records any call a test key would wrongly make.
    let stand_in = StandIn::start(bedrock).await;
    let (app, _live) = bedrock_app(&stand_in).await;
    let test_key = app.key.clone();
    let mut images = Vec::new();
    for body in [
        json!({"name": "n", "prompt": "a lighthouse", "seed": 7}),
        json!({"name": "again", "prompt": "a lighthouse", "seed": 7}),
        json!({"name": "n", "prompt": "a lighthouse", "seed": 8}),
        json!({"name": "n", "prompt": "a lighthouse", "seed": 7, "model": "flux"}),
        json!({"name": "n", "prompt": "a lighthouse at night", "seed": 7}),
    ] {
        let response = imagine(&test_key, body).send(&app.app).await;
        assert_eq!(response.status(), 201, "{:?}", response.body());
        assert_eq!(usage(&response), None, "test keys are not billed");
        let image = json(&response);
        assert_eq!(
            (&image["format"], &image["width"], &image["height"]),
            (&json!("jpeg"), &json!(1024), &json!(1024))
        );
        images.push(downloaded(&app, &test_key, &image).await);
    }
    assert_eq!(
        images[0], images[1],
        "the same request draws the same image"
    );
    for other in &images[2..] {
        assert_ne!(&images[0], other, "seed, model and prompt each change it");
    }

    let id = upload(&app, &test_key, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = visualize(&test_key, &id, json!({"prompt": "What is this?"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(usage(&response), None);
    assert!(
        json(&response)["response"]
            .as_str()
            .unwrap()
            .contains("result masked")
    );
    assert!(stand_in.received().is_empty(), "no engine was called");
}

#[tokio::test]
async fn test_keys_need_no_engine() {
    let (app, _live) = app_with_live_key().await;
    let response = imagine(&app.key, json!({"name": "n", "prompt": "a lighthouse"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let id = upload(&app, &app.key, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = visualize(&app.key, &id, json!({"prompt": "What is this?"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
}

/// A request the stand-in received was signed by the SDK with SigV4 for Bedrock.
fn assert_signed(received: &Received) {
    let authorization = received.authorization.as_deref().unwrap_or_default();
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"))
            && authorization.contains("/us-west-2/bedrock/aws4_request"),
        "{authorization:?}"
    );
}

#[tokio::test]
async fn imagine_stores_the_jpeg_that_bedrock_draws() {
    let stand_in = StandIn::start(bedrock).await;
    let (app, live) = bedrock_app(&stand_in).await;
    let body = json!({
        "name": "lighthouse",
        "prompt": "A lighthouse on a cliff at dawn",
        "negative_prompt": "people",
        "seed": 42,
        "model": "flux"
    });
    let response = imagine(&live, body).send(&app.app).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert_eq!(usage(&response), Some("1"));
    let image = json(&response);
    assert_eq!(
        (
            &image["name"],
            &image["format"],
            &image["width"],
            &image["height"]
        ),
        (
            &json!("lighthouse"),
            &json!("jpeg"),
            &json!(1024),
            &json!(1024)
        )
    );

    let sent = stand_in.last();
    assert_eq!(sent.path, "/model/stability.sd3-5-large-v1%3A0/invoke");
    assert_signed(&sent);
    assert_eq!(
        sent.body,
        json!({
            "prompt": "A lighthouse on a cliff at dawn",
            "negative_prompt": "people",
            "seed": 42,
            "mode": "text-to-image",
            "aspect_ratio": "1:1",
            "output_format": "jpeg"
        })
    );

    assert_eq!(
        downloaded(&app, &live, &image).await,
        fixtures::encode(Format::Jpeg, 1024, 1024),
        "the stored image is the one the model drew"
    );
}

#[tokio::test]
async fn an_omitted_seed_is_drawn_at_random() {
    let stand_in = StandIn::start(bedrock).await;
    let (app, live) = bedrock_app(&stand_in).await;
    for _ in 0..2 {
        let response = imagine(&live, json!({"name": "n", "prompt": "a lighthouse"}))
            .send(&app.app)
            .await;
        assert_eq!(response.status(), 201);
    }
    let seeds: Vec<u64> = stand_in
        .received()
        .iter()
        .map(|received| received.body["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds.len(), 2);
    assert!(seeds.iter().all(|&seed| seed <= 4_294_967_294));
    assert_ne!(seeds[0], seeds[1]);
    assert_eq!(stand_in.last().body["negative_prompt"], Value::Null);
}

#[tokio::test]
async fn a_filtered_prompt_is_a_422_with_the_reason_and_stores_nothing() {
    let stand_in = StandIn::start(bedrock).await;
    let (app, live) = bedrock_app(&stand_in).await;
    let response = imagine(&live, json!({"name": "n", "prompt": "something forbidden"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        errors(&response)[0].contains("Filter reason: prompt"),
        "{:?}",
        errors(&response)
    );
    let listed = Call::new("list-images", &live).send(&app.app).await;
    assert_eq!(json(&listed)["data"], json!([]));
}

#[tokio::test]
async fn throttling_is_a_503_with_retry_after() {
    let stand_in = StandIn::start(bedrock).await;
    let (app, live) = bedrock_app(&stand_in).await;
    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    let responses = [
        imagine(&live, json!({"name": "n", "prompt": "busy"}))
            .send(&app.app)
            .await,
        visualize(&live, &id, json!({"prompt": "busy?"}))
            .send(&app.app)
            .await,
    ];
    for response in responses {
        assert_eq!(response.status(), 503, "{:?}", response.body());
        assert!(response.headers().contains_key("retry-after"));
    }
    assert_eq!(stand_in.received().len(), 2);
}

/// Uploads a 12×8 PNG and asks `model` "What is in this image?" about it with a live key: the
/// stand-ins describe the pattern they were sent, and the answer is billed. Returns the PNG.
async fn ask_about_a_12x8_png(app: &LocalApp, live: &str, model: &str) -> Vec<u8> {
    let png = fixtures::encode(Format::Png, 12, 8);
    let id = upload(app, live, &png).await;
    let response = visualize(
        live,
        &id,
        json!({"prompt": "What is in this image?", "model": model}),
    )
    .send(&app.app)
    .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert_eq!(usage(&response), Some("1"), "a live key's answer is billed");
    assert_eq!(json(&response), json!({"response": "A 12x8 test pattern."}));
    png
}

#[tokio::test]
async fn visualize_gives_converse_the_image_within_its_limits_and_the_prompt() {
    let stand_in = StandIn::start(bedrock).await;
    let (app, live) = bedrock_app(&stand_in).await;
    let small = ask_about_a_12x8_png(&app, &live, "llava").await;
    let sent = stand_in.last();
    assert_eq!(sent.path, "/model/us.amazon.nova-lite-v1%3A0/converse");
    assert_signed(&sent);
    let content = &sent.body["messages"][0]["content"];
    assert_eq!(sent.body["messages"][0]["role"], "user");
    assert_eq!(content[0]["image"]["format"], "png");
    assert_eq!(
        BASE64
            .decode(content[0]["image"]["source"]["bytes"].as_str().unwrap())
            .unwrap(),
        small,
        "an image within the limits is sent as it is"
    );
    assert_eq!(content[1]["text"], "What is in this image?");

    // Past Converse's 8000 pixels a side, the image is reduced to fit.
    let wide = upload(&app, &live, &fixtures::encode(Format::Png, 8100, 4)).await;
    let response = visualize(&live, &wide, json!({"prompt": "How wide?"}))
        .send(&app.app)
        .await;
    assert_eq!(
        json(&response),
        json!({"response": "A 8000x4 test pattern."})
    );
}

/// An app answering visual questions on Ollama at `url`.
async fn ollama_app(url: &str, timeout: Duration) -> (LocalApp, String) {
    let (mut app, live) = app_with_live_key().await;
    let engine = Ollama::new(&url.parse().unwrap(), "llava", timeout).unwrap();
    app.app.engines.visual_answerer = Some(Arc::new(engine));
    (app, live)
}

#[tokio::test]
async fn visualize_asks_ollama_with_the_image_and_prompt() {
    let stand_in = StandIn::start(ollama).await;
    let (app, live) = ollama_app(&stand_in.url, Duration::from_secs(5)).await;
    let png = ask_about_a_12x8_png(&app, &live, "gemini").await;
    let sent = stand_in.last();
    assert_eq!(sent.path, "/api/chat");
    let message = &sent.body["messages"][0];
    assert_eq!(
        (&sent.body["model"], &sent.body["stream"], &message["role"]),
        (&json!("llava"), &json!(false), &json!("user"))
    );
    assert_eq!(message["content"], "What is in this image?");
    assert_eq!(
        BASE64
            .decode(message["images"][0].as_str().unwrap())
            .unwrap(),
        png
    );

    // Ollama's vision models need no more than 2048 pixels a side.
    let large = upload(&app, &live, &fixtures::encode(Format::Png, 3000, 30)).await;
    let response = visualize(&live, &large, json!({"prompt": "How wide?"}))
        .send(&app.app)
        .await;
    assert_eq!(
        json(&response),
        json!({"response": "A 2048x20 test pattern."})
    );
}

#[tokio::test]
async fn a_failing_or_unreachable_ollama_is_a_503_that_names_no_address() {
    let stand_in = StandIn::start(ollama).await;
    let (app, live) = ollama_app(&stand_in.url, Duration::from_secs(5)).await;
    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = visualize(&live, &id, json!({"prompt": "crash, please"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));

    // A port nothing listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let (app, live) = ollama_app(&format!("http://{address}"), Duration::from_secs(5)).await;
    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = visualize(&live, &id, json!({"prompt": "anyone there?"}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 503);
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(!body.contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn an_ollama_that_does_not_answer_is_given_up_on_within_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("http://{address}").parse().unwrap();
    let engine = Ollama::new(&url, "llava", Duration::from_millis(300)).unwrap();
    let image = EncodedImage {
        bytes: fixtures::encode(Format::Png, 4, 4).into(),
        format: Format::Png,
        width: 4,
        height: 4,
    };
    let started = Instant::now();
    let error = engine.answer(image, "hello?", "llava").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(error, BackendError::Unavailable(_)), "{error:?}");
    assert!(!error.to_string().contains(&address.to_string()), "{error}");
}

#[tokio::test]
async fn the_local_server_reaches_the_engines_its_configuration_names() {
    let bedrock_stand_in = StandIn::start(bedrock).await;
    let ollama_stand_in = StandIn::start(ollama).await;
    let aws = [
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            bedrock_stand_in.url.as_str(),
        ),
        ("AWS_REGION", "us-west-2"),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", "stand-in-secret"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let mut env = aws.to_vec();
    env.extend([
        ("IMGFORGE_IMAGINE_ENGINE", "bedrock"),
        ("IMGFORGE_VISUALIZE_ENGINE", "bedrock"),
        (
            "IMGFORGE_BEDROCK_VISUALIZE_MODELS",
            "gemini=us.amazon.nova-pro-v1:0",
        ),
    ]);
    let server = Server::start_with(&env);
    let client = Client::new(&server, &server.key("live", ACCOUNT));
    let (status, image) = status_json(
        client
            .post("/v1/images/imagine")
            .json(&json!({"name": "over http", "prompt": "a lighthouse", "seed": 7})),
    )
    .await;
    assert_eq!((status, &image["width"]), (201, &json!(1024)), "{image}");
    let sent = bedrock_stand_in.last();
    assert_signed(&sent);
    assert_eq!(sent.body["seed"], 7);

    let id = client.upload("asked about").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = status_json(
        client
            .post(&format!("/v1/images/{id}/visualize"))
            .json(&json!({"prompt": "What is this?", "model": "gemini"})),
    )
    .await;
    assert_eq!(
        (status, answer["response"].as_str()),
        (201, Some("A 5x3 test pattern."))
    );
    assert_eq!(
        bedrock_stand_in.last().path,
        "/model/us.amazon.nova-pro-v1%3A0/converse"
    );

    let ollama_url = ollama_stand_in.url.as_str();
    let server = Server::start_with(&[
        ("IMGFORGE_VISUALIZE_ENGINE", "ollama"),
        ("IMGFORGE_OLLAMA_URL", ollama_url),
        ("IMGFORGE_OLLAMA_MODEL", "llava:13b"),
    ]);
    let client = Client::new(&server, &server.key("live", ACCOUNT));
    let id = client.upload("asked about").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = status_json(
        client
            .post(&format!("/v1/images/{id}/visualize"))
            .json(&json!({"prompt": "What is this?"})),
    )
    .await;
    assert_eq!(
        (status, answer["response"].as_str()),
        (201, Some("A 5x3 test pattern."))
    );
    assert_eq!(ollama_stand_in.last().body["model"], "llava:13b");
}

#[test]
fn doctor_names_each_generation_engine_and_its_models_without_credentials() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgforge"))
        .arg("doctor")
        .env("IMGFORGE_IMAGINE_ENGINE", "bedrock")
        .env(
            "IMGFORGE_BEDROCK_IMAGINE_MODELS",
            "flux=stability.stable-image-ultra-v1:1",
        )
        .env("IMGFORGE_VISUALIZE_ENGINE", "ollama")
        .env(
            "IMGFORGE_OLLAMA_URL",
            "http://operator:secret@127.0.0.1:11434",
        )
        .output()
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    let line = |capability: &str| {
        printed
            .lines()
            .find(|line| line.starts_with(&format!("{capability} ")))
            .unwrap_or_else(|| panic!("no {capability} line in:\n{printed}"))
            .to_owned()
    };
    assert!(
        line("imagine").ends_with(
            "Amazon Bedrock InvokeModel, with the AWS environment's credentials: \
             flux=stability.stable-image-ultra-v1:1,sdxl=stability.sd3-5-large-v1:0"
        ),
        "{printed}"
    );
    assert!(
        line("visualize").ends_with("Ollama at http://127.0.0.1:11434/, model llava"),
        "{printed}"
    );
    assert!(!printed.contains("secret"));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgforge"))
        .arg("doctor")
        .env_remove("IMGFORGE_IMAGINE_ENGINE")
        .env_remove("IMGFORGE_VISUALIZE_ENGINE")
        .output()
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("off (IMGFORGE_IMAGINE_ENGINE=off)"),
        "{printed}"
    );
    assert!(
        printed.contains("off (IMGFORGE_VISUALIZE_ENGINE=off)"),
        "{printed}"
    );
}
