//! The analysis endpoints over the embedded backend, with the real engines that `make models`
//! and the system packages provide: classify, remove-background, extract-formatted-text and
//! extract-text, their test-key behaviour, their 404s, 422s and 501s.

mod support;

use imgforge::api::auth::create_key;
use imgforge::domain::{Format, Stage};
use imgforge::engines::Engines;
use imgforge::imaging::{DecodeHint, decode, fixtures};
use serde_json::{Value, json};
use support::call::{Call, LocalApp, json, local_app};

const ACCOUNT: &str = "acct_analysis";

/// An app with every engine, a test key (`app.key`) and a live key of the same account.
async fn app_with_live_key() -> (LocalApp, String) {
    let app = local_app(ACCOUNT, |_| {}).await;
    let live = create_key(app.app.store.keys.as_ref(), ACCOUNT, Stage::Live)
        .await
        .unwrap();
    (app, live)
}

async fn upload(app: &LocalApp, key: &str, bytes: &[u8]) -> String {
    let response = Call::upload(Some("analysed"), Some(bytes), key)
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    json(&response)["id"].as_str().unwrap().to_owned()
}

fn post(route: &'static str, key: &str, id: &str, body: Value) -> Call {
    Call::new(route, key)
        .image(id)
        .body("application/json", body.to_string().into_bytes())
}

/// A file that `make models` prepares: the tests need the real engines.
fn model_file(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(".models").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make models`",
        path.display()
    );
    path
}

#[tokio::test]
async fn test_keys_get_a_masked_classification_without_the_model() {
    let mut app = local_app(ACCOUNT, |_| {}).await;
    // No engines at all: a test key's answer must not need the model.
    app.app.engines = Engines::default();
    let id = upload(&app, &app.key.clone(), &fixtures::encode(Format::Png, 8, 8)).await;
    let response = post("classify-image", &app.key, &id, json!({}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let body = json(&response);
    assert!(
        body["main_label"]
            .as_str()
            .unwrap()
            .contains("esult masked"),
        "{body}"
    );
    let secondary = body["secondary_labels"].as_array().unwrap();
    assert_eq!(secondary.len(), 4);
    assert!(
        secondary
            .iter()
            .all(|label| label["label"].as_str().unwrap().contains("masked"))
    );
    assert!(response.headers().get("x-image-processing-usage").is_none());
}

#[tokio::test]
async fn missing_engines_answer_501_saying_how_to_enable_them() {
    let (mut app, live) = app_with_live_key().await;
    app.app.engines = Engines::default();
    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    for (route, hint) in [
        ("classify-image", "make models"),
        ("remove-image-background", "make models"),
        ("extract-formatted-text", "tesseract"),
        ("extract-text", "tesseract"),
    ] {
        let response = post(route, &live, &id, json!({})).send(&app.app).await;
        assert_eq!(response.status(), 501, "{route}: {:?}", response.body());
        let body = json(&response);
        assert_eq!(body["error"], "Not Implemented");
        assert!(
            body["message"].as_str().unwrap().contains(hint),
            "{route}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_and_other_owners_images_are_404_and_bad_parameters_422() {
    let (app, live) = app_with_live_key().await;
    let others = local_app("acct_someone_else", |_| {}).await;
    let theirs = upload(
        &others,
        &others.key.clone(),
        &fixtures::encode(Format::Png, 8, 8),
    )
    .await;
    let unknown = "image_00000000000000000000000000";
    for route in [
        "classify-image",
        "remove-image-background",
        "extract-formatted-text",
        "extract-text",
    ] {
        for id in [unknown, theirs.as_str()] {
            let response = post(route, &live, id, json!({})).send(&app.app).await;
            assert_eq!(response.status(), 404, "{route} {id}");
        }
    }
    let id = upload(&app, &live, &fixtures::encode(Format::Png, 8, 8)).await;
    let response = post(
        "extract-formatted-text",
        &live,
        &id,
        json!({"format": "html"}),
    )
    .send(&app.app)
    .await;
    assert_eq!(response.status(), 422);
    assert!(
        json(&response)["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("format must be")
    );
    let response = post("remove-image-background", &live, &id, json!({"name": ""}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn text_extraction_is_refused_to_test_keys() {
    let app = local_app(ACCOUNT, |_| {}).await;
    let id = upload(&app, &app.key.clone(), &fixtures::encode(Format::Png, 8, 8)).await;
    for route in ["extract-formatted-text", "extract-text"] {
        let response = post(route, &app.key, &id, json!({})).send(&app.app).await;
        assert_eq!(response.status(), 403, "{route}");
        assert_eq!(json(&response)["error"], "Forbidden");
    }
}

#[tokio::test]
async fn a_document_is_read_with_its_structure() {
    let (app, live) = app_with_live_key().await;
    let document = std::fs::read("tests/fixtures/document.png").unwrap();
    let id = upload(&app, &live, &document).await;

    let response = post(
        "extract-formatted-text",
        &live,
        &id,
        json!({"format": "markdown"}),
    )
    .send(&app.app)
    .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let body = json(&response);
    assert_eq!(body["format"], "markdown");
    let markdown = body["content"].as_str().unwrap();
    let first_line = markdown.lines().next().unwrap();
    assert!(first_line.starts_with("# "), "{markdown}");
    assert!(
        markdown.lines().any(|line| line.starts_with("## ")),
        "{markdown}"
    );
    assert_eq!(
        markdown
            .lines()
            .filter(|line| line.starts_with("- "))
            .count(),
        3,
        "{markdown}"
    );

    let plain = json(
        &post("extract-formatted-text", &live, &id, json!({}))
            .send(&app.app)
            .await,
    );
    assert_eq!(plain["format"], "plain");
    assert!(!plain["content"].as_str().unwrap().contains("# "));

    let lines = json(
        &post("extract-text", &live, &id, json!({}))
            .send(&app.app)
            .await,
    );
    let lines: Vec<&str> = lines["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.len() >= 10, "{lines:?}");
    assert_eq!(
        format!("# {}", lines[0]),
        first_line,
        "the title is the first line"
    );
}

#[tokio::test]
async fn a_webp_document_is_converted_for_the_reader() {
    let (app, live) = app_with_live_key().await;
    let document = std::fs::read("tests/fixtures/document.png").unwrap();
    let webp = imgforge::imaging::transform(
        &document,
        &imgforge::imaging::Operation::Convert {
            format: Format::Webp,
            quality: Some(95),
        },
        1 << 26,
    )
    .unwrap();
    let id = upload(&app, &live, &webp.bytes).await;
    let response = post("extract-text", &live, &id, json!({}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert!(json(&response)["lines"].as_array().unwrap().len() >= 10);
}

#[tokio::test]
async fn background_removal_keeps_the_size_adds_alpha_and_counts_twice() {
    model_file("isnet.onnx");
    let (app, live) = app_with_live_key().await;
    let id = upload(&app, &live, &fixtures::encode(Format::Jpeg, 64, 48)).await;
    let response = post(
        "remove-image-background",
        &live,
        &id,
        json!({"name": "cut out"}),
    )
    .send(&app.app)
    .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert_eq!(response.headers()["x-image-processing-usage"], "2");
    let image = json(&response);
    assert_eq!(
        (
            image["format"].as_str(),
            image["width"].as_u64(),
            image["height"].as_u64()
        ),
        (Some("png"), Some(64), Some(48))
    );
    assert_eq!(image["name"], "cut out");
    let download = Call::new("download-image", &live)
        .image(image["id"].as_str().unwrap())
        .send(&app.app)
        .await;
    let decoded = decode(download.body(), 1 << 20, DecodeHint::default()).unwrap();
    assert!(decoded.image.color().has_alpha());

    // A test key's removal works as a live key's, without a usage header.
    let test_id = upload(
        &app,
        &app.key.clone(),
        &fixtures::encode(Format::Png, 16, 16),
    )
    .await;
    let response = post("remove-image-background", &app.key, &test_id, json!({}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("x-image-processing-usage").is_none());
    assert_eq!(
        json(&response)["name"],
        "analysed",
        "the source's name by default"
    );
}

/// A photograph that `make test` fetches (scripts/test-photos.sh).
fn photo(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(".models/photos").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/test-photos.sh", path.display()))
}

#[tokio::test]
async fn a_photo_of_cups_is_classified_as_a_cup() {
    model_file("efficientnet-lite0.onnx");
    let (app, live) = app_with_live_key().await;
    let id = upload(&app, &live, &photo("ColorfulCups.jpg")).await;
    let first = post("classify-image", &live, &id, json!({}))
        .send(&app.app)
        .await;
    assert_eq!(first.status(), 201, "{:?}", first.body());
    assert_eq!(first.headers()["x-image-processing-usage"], "1");
    let body = json(&first);
    assert_eq!(body["main_label"], "Cup", "{body}");
    let main = body["main_score"].as_f64().unwrap();
    assert!(main > 0.3 && main <= 1.0, "{body}");
    let scores: Vec<f64> = body["secondary_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|label| label["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores.len(), 4);
    assert!(scores.windows(2).all(|pair| pair[0] >= pair[1]) && scores[0] <= main);
    assert!(
        main + scores.iter().sum::<f64>() <= 1.0 + 1e-6,
        "softmax probabilities"
    );
    let labels: Vec<&str> = body["secondary_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|label| label["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"Coffee Mug"), "{labels:?}");

    let again = json(
        &post("classify-image", &live, &id, json!({}))
            .send(&app.app)
            .await,
    );
    assert_eq!(again, body, "the same image, the same answer");
}

/// A cup cut from one photograph, in an ellipse, laid over a lake at dusk: the foreground is
/// known to the pixel.
fn composite() -> (Vec<u8>, image::GrayImage) {
    use image::imageops::{FilterType, overlay, resize};
    use image::{GrayImage, Luma, Rgba, RgbaImage};
    let decoded = |bytes: &[u8]| {
        decode(bytes, 1 << 26, DecodeHint::default())
            .unwrap()
            .image
            .into_rgba8()
    };
    let background = resize(
        &decoded(&photo("DarkestHour.jpg")),
        1600,
        1000,
        FilterType::Triangle,
    );
    let cups = decoded(&photo("ColorfulCups.jpg"));
    let (width, height) = (460, 349);
    let cup = resize(
        &image::imageops::crop_imm(&cups, 1376 - 345, 1180 - 262, 690, 524).to_image(),
        width,
        height,
        FilterType::Triangle,
    );
    let inside = |x: u32, y: u32| {
        let (dx, dy) = (
            (f64::from(x) + 0.5) / f64::from(width) * 2.0 - 1.0,
            (f64::from(y) + 0.5) / f64::from(height) * 2.0 - 1.0,
        );
        dx * dx + dy * dy <= 1.0
    };
    let object = RgbaImage::from_fn(width, height, |x, y| {
        let pixel = cup.get_pixel(x, y);
        Rgba([
            pixel[0],
            pixel[1],
            pixel[2],
            if inside(x, y) { 255 } else { 0 },
        ])
    });
    let mut picture = background;
    overlay(&mut picture, &object, 560, 520);
    let truth = GrayImage::from_fn(1600, 1000, |x, y| {
        let within = (560..560 + width).contains(&x)
            && (520..520 + height).contains(&y)
            && inside(x - 560, y - 520);
        Luma([if within { 255 } else { 0 }])
    });
    let rgb = image::DynamicImage::ImageRgba8(picture).to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(&rgb)
        .unwrap();
    (jpeg, truth)
}

#[tokio::test]
async fn the_foreground_of_a_composite_is_kept_and_its_background_cleared() {
    model_file("isnet.onnx");
    let (app, live) = app_with_live_key().await;
    let (jpeg, truth) = composite();
    let id = upload(&app, &live, &jpeg).await;
    let response = post("remove-image-background", &live, &id, json!({}))
        .send(&app.app)
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let image = json(&response);
    let download = Call::new("download-image", &live)
        .image(image["id"].as_str().unwrap())
        .send(&app.app)
        .await;
    let cut = decode(download.body(), 1 << 26, DecodeHint::default())
        .unwrap()
        .image
        .into_rgba8();
    assert_eq!(cut.dimensions(), truth.dimensions());
    let (mut inside, mut outside) = ((0u64, 0u64), (0u64, 0u64));
    for (pixel, known) in cut.pixels().zip(truth.pixels()) {
        let tally = if known[0] == 255 {
            &mut inside
        } else {
            &mut outside
        };
        tally.0 += u64::from(pixel[3]);
        tally.1 += 1;
    }
    let (inside, outside) = (inside.0 / inside.1, outside.0 / outside.1);
    assert!(inside > 200, "mean alpha inside the cup: {inside}");
    assert!(outside < 20, "mean alpha outside it: {outside}");
}
