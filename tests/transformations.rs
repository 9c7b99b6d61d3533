//! The eight transformations end to end over HTTP, on whichever backend the suite runs.

mod support;

use imgforge::domain::Format;
use imgforge::imaging::{DecodeHint, decode, fixtures};
use serde_json::{Value, json};
use support::{Client, Server, status_json};

struct Setup {
    _server: Server,
    client: Client,
    source: Value,
    bytes: Vec<u8>,
}

async fn setup(format: Format, width: u32, height: u32) -> Setup {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_transform"));
    let bytes = fixtures::encode(format, width, height);
    let response = client.upload_bytes("source", bytes.clone()).await;
    assert_eq!(response.status(), 201);
    let source = response.json().await.unwrap();
    Setup {
        _server: server,
        client,
        source,
        bytes,
    }
}

impl Setup {
    fn id(&self) -> &str {
        self.source["id"].as_str().unwrap()
    }

    async fn apply(&self, operation: &str, body: Value) -> (u16, Value) {
        let path = format!("/v1/images/{}/{operation}", self.id());
        status_json(self.client.post(&path).json(&body)).await
    }

    /// Applies `operation`, expects a new image, and returns it with its decoded pixels.
    async fn created(&self, operation: &str, body: Value) -> (Value, image::DynamicImage) {
        let (status, image) = self.apply(operation, body.clone()).await;
        assert_eq!(status, 201, "{operation} {body}: {image}");
        assert_ne!(image["id"], self.source["id"], "a new image");
        assert_eq!(image["url"], Value::Null);
        let id = image["id"].as_str().unwrap();
        let bytes = self
            .client
            .get(&format!("/v1/images/{id}/download"))
            .send()
            .await
            .unwrap();
        let bytes = bytes.bytes().await.unwrap();
        assert_eq!(image["size"], bytes.len(), "size is the stored size");
        let decoded = decode(&bytes, 1 << 26, DecodeHint::default()).unwrap();
        assert_eq!(image["format"], decoded.format.as_str());
        let dimensions = (decoded.image.width(), decoded.image.height());
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (Some(u64::from(dimensions.0)), Some(u64::from(dimensions.1)))
        );
        (image, decoded.image)
    }

    async fn assert_source_untouched(&self) {
        let (status, now) =
            status_json(self.client.get(&format!("/v1/images/{}", self.id()))).await;
        assert_eq!((status, &now), (200, &self.source));
        let bytes = self
            .client
            .get(&format!("/v1/images/{}/download", self.id()))
            .send()
            .await
            .unwrap();
        assert_eq!(bytes.bytes().await.unwrap(), self.bytes);
    }
}

fn size(image: &Value) -> (u64, u64) {
    (
        image["width"].as_u64().unwrap(),
        image["height"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn every_transformation_creates_a_new_image_and_leaves_the_source() {
    let setup = setup(Format::Jpeg, 160, 90).await;
    let cases = [
        ("resize", json!({"width": 80}), (80, 45)),
        (
            "resize",
            json!({"width": 50, "height": 50, "fit": "contain", "position": "top"}),
            (50, 50),
        ),
        (
            "resize",
            json!({"height": 30, "width": 30, "fit": "cover"}),
            (30, 30),
        ),
        (
            "crop",
            json!({"x1": 10, "y1": 20, "x2": 110, "y2": 70}),
            (100, 50),
        ),
        ("rotate", json!({"angle": 90}), (90, 160)),
        (
            "rotate",
            json!({"angle": -std::f64::consts::FRAC_PI_2, "unit": "radians"}),
            (90, 160),
        ),
        ("rotate", json!({"angle": 45}), (177, 177)),
        ("mirror", json!({"mode": "both"}), (160, 90)),
        ("blur", json!({}), (160, 90)),
        (
            "modulate",
            json!({"brightness": 10, "contrast": -20}),
            (160, 90),
        ),
    ];
    for (operation, body, expected) in cases {
        let (image, _) = setup.created(operation, body.clone()).await;
        assert_eq!(size(&image), expected, "{operation} {body}");
        assert_eq!(image["name"], "source", "the source's name by default");
        assert_eq!(image["format"], "jpeg", "the source's format");
    }
    let (named, _) = setup
        .created("mirror", json!({"mode": "vertical", "name": "flipped"}))
        .await;
    assert_eq!(named["name"], "flipped");
    setup.assert_source_untouched().await;
}

#[tokio::test]
async fn convert_changes_the_format_and_keeps_the_pixels() {
    let setup = setup(Format::Png, 40, 20).await;
    for (format, expected) in [("jpg", "jpeg"), ("webp", "webp"), ("png", "png")] {
        let (image, pixels) = setup
            .created("convert", json!({"format": format, "quality": 95}))
            .await;
        assert_eq!(image["format"], expected);
        assert_eq!(size(&image), (40, 20));
        let [r, g, _] = pixels.to_rgb8().get_pixel(30, 15).0;
        assert!(r > 170 && g > 170, "{format}: colours survive ({r}, {g})");
    }
}

#[tokio::test]
async fn crop_is_pixel_exact_and_checked_against_the_image() {
    let setup = setup(Format::Png, 64, 48).await;
    let original = decode(&setup.bytes, 1 << 26, DecodeHint::default())
        .unwrap()
        .image
        .to_rgb8();
    let (_, cropped) = setup
        .created("crop", json!({"x1": 5, "y1": 6, "x2": 25, "y2": 16}))
        .await;
    let cropped = cropped.to_rgb8();
    for (x, y, pixel) in cropped.enumerate_pixels() {
        assert_eq!(pixel, original.get_pixel(x + 5, y + 6));
    }
    let (status, error) = setup
        .apply("crop", json!({"x1": 0, "y1": 0, "x2": 65, "y2": 48}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error["errors"],
        json!(["x2 must be at most the image width (64)"])
    );
}

#[tokio::test]
async fn watermarks_come_from_the_same_owner_only() {
    let setup = setup(Format::Png, 60, 40).await;
    let mark: Value = setup
        .client
        .upload_bytes("mark", fixtures::encode(Format::Png, 10, 10))
        .await
        .json()
        .await
        .unwrap();
    let body = json!({"watermarks": [
        {"id": mark["id"], "left": 5, "top": 5, "width": 20, "repetition_mode": "repeat_x"},
        {"id": mark["id"], "left": -3, "top": 30}
    ]});
    let (image, _) = setup.created("watermark", body).await;
    assert_eq!(size(&image), (60, 40));

    let unknown = json!({"watermarks": [{"id": "image_000000000000000000000000"}]});
    let (status, error) = setup.apply("watermark", unknown).await;
    assert_eq!(
        (status, error["message"].as_str()),
        (
            404,
            Some("Image with id image_000000000000000000000000 not found.")
        )
    );

    let stranger = Client::new(&setup._server, &setup._server.key("test", "acct_stranger"));
    let theirs: Value = stranger
        .upload_bytes("theirs", fixtures::encode(Format::Png, 10, 10))
        .await
        .json()
        .await
        .unwrap();
    let (status, _) = setup
        .apply("watermark", json!({"watermarks": [{"id": theirs["id"]}]}))
        .await;
    assert_eq!(status, 404, "another account's image cannot be a watermark");
}

#[tokio::test]
async fn bad_requests_get_every_problem_at_once() {
    let setup = setup(Format::Jpeg, 32, 32).await;
    let (status, error) = setup
        .apply(
            "resize",
            json!({"width": 0, "height": 99999, "fit": "squash", "name": ""}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error["errors"],
        json!([
            "name must be between 1 and 30 characters long",
            "width must be an integer between 1 and 10000",
            "height must be an integer between 1 and 10000",
            "fit must be one of fill, contain, cover"
        ])
    );
    let (status, error) = setup
        .apply("convert", json!({"format": "png", "quality": 101}))
        .await;
    assert_eq!(
        (status, &error["errors"]),
        (
            422,
            &json!(["quality must be an integer between 1 and 100"])
        )
    );
    let (status, error) = setup
        .apply("resize", json!({"width": 10000, "height": 10000}))
        .await;
    assert_eq!(status, 422);
    assert!(
        error["errors"][0]
            .as_str()
            .unwrap()
            .contains("more than the limit"),
        "{error}"
    );

    let empty = setup
        .client
        .post(&format!("/v1/images/{}/blur", setup.id()))
        .header("content-type", "application/json");
    assert_eq!(status_json(empty).await.0, 400);
    for operation in ["blur", "modulate"] {
        assert_eq!(
            setup.apply(operation, json!({})).await.0,
            201,
            "{operation} takes {{}}"
        );
    }
    let missing = setup
        .client
        .post("/v1/images/image_000000000000000000000000/rotate")
        .json(&json!({"angle": 90}));
    assert_eq!(status_json(missing).await.0, 404);
}

#[tokio::test]
async fn exif_oriented_sources_are_transformed_as_displayed() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_exif"));
    // Stored 80×40, displayed 40×80.
    let response = client
        .upload_bytes("tall", fixtures::jpeg_with_orientation(80, 40, 6))
        .await;
    let source: Value = response.json().await.unwrap();
    assert_eq!(size(&source), (40, 80));
    let path = format!("/v1/images/{}/crop", source["id"].as_str().unwrap());
    let (status, cropped) = status_json(
        client
            .post(&path)
            .json(&json!({"x1": 0, "y1": 0, "x2": 40, "y2": 60})),
    )
    .await;
    assert_eq!((status, size(&cropped)), (201, (40, 60)));
}
