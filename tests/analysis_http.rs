//! The analysis endpoints end to end over HTTP, on whichever backend the suite runs: the
//! in-process models answer the same on both. (Text is read by Tesseract here on both backends:
//! the emulator has no Textract, whose adapter is tested against recorded answers.)

mod support;

use imgforge::domain::Format;
use imgforge::imaging::{DecodeHint, decode, fixtures};
use serde_json::json;
use support::{Client, Server, status_json};

#[tokio::test]
async fn classify_remove_background_and_read_text_over_http() {
    let server = Server::start_with(&[("IMGFORGE_TEXT_ENGINE", "tesseract")]);
    let client = Client::new(&server, &server.key("live", "acct_analysis_http"));
    let upload = |bytes: Vec<u8>| {
        let client = client.clone();
        async move {
            let response = client.upload_bytes("analysed", bytes).await;
            assert_eq!(response.status(), 201);
            let image: serde_json::Value = response.json().await.unwrap();
            image["id"].as_str().unwrap().to_owned()
        }
    };

    let photo = std::fs::read(".models/photos/ColorfulCups.jpg")
        .expect("the test photographs: run scripts/test-photos.sh");
    let cups = upload(photo).await;
    let (status, labels) = status_json(
        client
            .post(&format!("/v1/images/{cups}/classify"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(
        (status, labels["main_label"].as_str()),
        (201, Some("Cup")),
        "{labels}"
    );

    let jpeg = upload(fixtures::encode(Format::Jpeg, 80, 60)).await;
    let response = client
        .post(&format!("/v1/images/{jpeg}/remove-background"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-image-processing-usage"], "2");
    let cut: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (cut["format"].as_str(), cut["width"].as_u64()),
        (Some("png"), Some(80))
    );
    let png = client
        .get(&format!(
            "/v1/images/{}/download",
            cut["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let decoded = decode(&png, 1 << 20, DecodeHint::default()).unwrap();
    assert!(decoded.image.color().has_alpha());
    assert_eq!((decoded.image.width(), decoded.image.height()), (80, 60));

    let document = upload(std::fs::read("tests/fixtures/document.png").unwrap()).await;
    let (status, text) = status_json(
        client
            .post(&format!("/v1/images/{document}/extract-formatted-text"))
            .json(&json!({"format": "markdown"})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert!(
        text["content"].as_str().unwrap().starts_with("# "),
        "{text}"
    );
}
