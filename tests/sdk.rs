//! The requests the vendor's Node SDK v1 (`img-processing-sdk`: ky over Node's fetch) sends, as it
//! sends them: `accept: */*`, bodies made by `JSON.stringify` (arguments not given are dropped,
//! so `{}` when there are none), query values of `undefined` for arguments not given, and uploads
//! as a FormData with `name` before `image`.

mod support;

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use imgforge::domain::Format;
use imgforge::imaging::fixtures;
use reqwest::RequestBuilder;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use support::call::{self, Call, local_app, uploaded_id};
use support::{Client, Server, status_json};

/// The headers Node's fetch adds to every request of the SDK.
fn as_sdk(request: RequestBuilder) -> RequestBuilder {
    request.header("accept", "*/*").header("user-agent", "node")
}

/// `client.uploadImage({name, image})`: the SDK appends `name`, then the file as a Blob typed
/// by its bytes, which FormData names `blob`.
async fn sdk_upload(client: &Client, name: &str, png: Vec<u8>) -> Value {
    let image = Part::bytes(png)
        .file_name("blob")
        .mime_str("image/png")
        .unwrap();
    let form = Form::new()
        .text("name", name.to_owned())
        .part("image", image);
    let (status, image) =
        status_json(as_sdk(client.post("/v1/images/upload")).multipart(form)).await;
    assert_eq!(status, 201, "{image}");
    image
}

async fn sdk_list(client: &Client, query: &str) -> (u16, Value) {
    status_json(as_sdk(client.get(&format!("/v1/images?{query}")))).await
}

fn id(image: &Value) -> &str {
    image["id"].as_str().expect("an id")
}

#[tokio::test]
async fn list_arguments_the_sdk_was_not_given_arrive_as_undefined_and_count_as_absent() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_sdk_list"));
    let mut newest_first = Vec::new();
    for n in 0..3 {
        let png = fixtures::encode(Format::Png, 4, 3);
        newest_first.insert(0, sdk_upload(&client, &format!("image {n}"), png).await);
    }

    // listImages({}), and its empty-valued spelling: the first page of the default size.
    for query in ["take=undefined&from=undefined", "take=&from="] {
        let (status, page) = sdk_list(&client, query).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page["data"], json!(newest_first), "{query}");
        assert_eq!(page["links"], json!({"previous": null, "next": null}));
    }
    // listImages({take: 2})
    let (status, page) = sdk_list(&client, "take=2&from=undefined").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"], json!(newest_first[..2]));
    let next = server.url(&format!("/v1/images?take=2&from={}", id(&newest_first[2])));
    assert_eq!(page["links"]["next"], json!(next));
    // listImages({from}): the page starting there, of the default size.
    let from = id(&newest_first[1]);
    let (status, page) = sdk_list(&client, &format!("take=undefined&from={from}")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"], json!(newest_first[1..]));

    // Any other bad value is still a 422, next to an `undefined`.
    for (query, problem) in [
        (
            "take=ten&from=undefined",
            "take must be an integer between 1 and 100",
        ),
        (
            "take=undefined&from=image_nope",
            "from must be a valid image id",
        ),
    ] {
        let (status, error) = sdk_list(&client, query).await;
        assert_eq!(
            (status, &error["errors"]),
            (422, &json!([problem])),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_list_lambda_reads_undefined_as_absent_too() {
    let local = local_app("acct_sdk_lambda", |_| {}).await;
    for name in ["a", "b"] {
        uploaded_id(&local.app, &local.key, name).await;
    }
    let response = Call::new("list-images", &local.key)
        .query("take", "undefined")
        .query("from", "undefined")
        .send(&local.app)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        call::json(&response)["data"].as_array().map(Vec::len),
        Some(2)
    );
}

/// A muted gradient from dark to mid grey with a warm cast: pale and dark enough that halving its
/// lightness, or adding 40 to it, keeps every pixel inside sRGB.
fn muted_png() -> Vec<u8> {
    let pixels = RgbImage::from_fn(48, 32, |x, y| {
        let v = (24 + x + 2 * y) as u8;
        Rgb([v + 8, v, v - 8])
    });
    let mut png = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(pixels)
        .write_to(&mut png, ImageFormat::Png)
        .unwrap();
    png.into_inner()
}

/// CIE L*, from 0 (black) to 100 (white), of an sRGB pixel: the lightness that sharp's
/// `brightness` multiplies and its `lightness` shifts. It depends on luminance alone.
fn lightness([r, g, b]: [u8; 3]) -> f64 {
    let linear = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let y = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    if y > 216.0 / 24389.0 {
        116.0 * y.cbrt() - 16.0
    } else {
        y * 24389.0 / 27.0
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0.0), |(sum, count), value| (sum + value, count + 1.0));
    sum / count
}

/// An uploaded source and the SDK's view of it.
struct Source {
    _server: Server,
    client: Client,
    image: Value,
    pixels: RgbImage,
}

impl Source {
    async fn upload(png: Vec<u8>) -> Self {
        let server = Server::start();
        let client = Client::new(&server, &server.key("test", "acct_sdk_modulate"));
        let pixels = image::load_from_memory(&png).unwrap().to_rgb8();
        let image = sdk_upload(&client, "test_image", png).await;
        Self {
            _server: server,
            client,
            image,
            pixels,
        }
    }

    /// `image.modulate({...})`: `body` is what `JSON.stringify` made of its arguments.
    async fn modulate(&self, body: &'static str) -> (u16, Value) {
        let path = format!("/v1/images/{}/modulate", id(&self.image));
        let request = as_sdk(self.client.post(&path))
            .header("content-type", "application/json")
            .body(body);
        status_json(request).await
    }

    /// The pixels of the new image a modulate made.
    async fn modulated(&self, body: &'static str) -> RgbImage {
        let (status, image) = self.modulate(body).await;
        assert_eq!(status, 201, "{body}: {image}");
        assert_eq!(image["name"], "test_image", "the source's name");
        let path = format!("/v1/images/{}/download", id(&image));
        let download = as_sdk(self.client.get(&path)).send().await.unwrap();
        assert_eq!(download.status(), 200);
        let bytes = download.bytes().await.unwrap();
        image::load_from_memory(&bytes).unwrap().to_rgb8()
    }

    /// Each source pixel beside what `body` made of it.
    async fn pairs(&self, body: &'static str) -> Vec<([u8; 3], [u8; 3])> {
        let modulated = self.modulated(body).await;
        assert_eq!(modulated.dimensions(), self.pixels.dimensions());
        self.pixels
            .pixels()
            .zip(modulated.pixels())
            .map(|(before, after)| (before.0, after.0))
            .collect()
    }
}

/// How far rounding each channel to a whole level can move a pixel's L*: a level is worth at
/// most about 0.4 of L*, and rounding moves by half a level at most.
const L_ROUNDING: f64 = 0.25;

#[tokio::test]
async fn the_sdks_older_modulate_halves_lightness_and_adds_to_it() {
    let source = Source::upload(muted_png()).await;

    // The SDK's own modulate test; the hue turn and halved chroma leave L* alone.
    let pairs = source
        .pairs(r#"{"brightness":0.5,"saturation":0.5,"hue":120}"#)
        .await;
    for (before, after) in &pairs {
        let (before_l, after_l) = (lightness(*before), lightness(*after));
        assert!(
            (after_l - before_l / 2.0).abs() <= L_ROUNDING,
            "{before:?} (L* {before_l}) became {after:?} (L* {after_l})"
        );
    }
    let before = mean(pairs.iter().map(|(before, _)| lightness(*before)));
    let after = mean(pairs.iter().map(|(_, after)| lightness(*after)));
    assert!(
        (after - before / 2.0).abs() <= L_ROUNDING,
        "mean L* {before} became {after}, not half"
    );

    let pairs = source.pairs(r#"{"lightness":40}"#).await;
    for (before, after) in &pairs {
        let (before_l, after_l) = (lightness(*before), lightness(*after));
        assert!(
            (after_l - (before_l + 40.0)).abs() <= L_ROUNDING,
            "{before:?} (L* {before_l}) became {after:?} (L* {after_l})"
        );
    }
}

#[tokio::test]
async fn without_hue_or_lightness_modulate_keeps_the_current_scale() {
    let source = Source::upload(muted_png()).await;
    let unchanged = source.modulated("{}").await;
    assert_eq!(unchanged, source.pixels, "{{}} changes nothing");

    // brightness multiplies every channel by 1 + b/100: -50 halves them, 0.5 is a 0.5 % change.
    for (body, factor) in [
        (r#"{"brightness":-50}"#, 0.5),
        (r#"{"brightness":0.5}"#, 1.005),
    ] {
        for (before, after) in source.pairs(body).await {
            for (v, out) in before.into_iter().zip(after) {
                let expected = f64::from(v) * factor;
                assert!(
                    (f64::from(out) - expected).abs() <= 0.5 + 1e-9,
                    "{body}: {v} became {out}, not {expected} rounded"
                );
            }
        }
    }
}

#[tokio::test]
async fn older_modulate_bodies_are_checked_whole() {
    let source = Source::upload(muted_png()).await;
    // The SDK's test of a non-integer hue.
    let (status, error) = source
        .modulate(r#"{"brightness":0.5,"saturation":0.5,"hue":120.5}"#)
        .await;
    assert_eq!(
        (status, &error["errors"]),
        (422, &json!(["hue must be an integer between -360 and 360"]))
    );
    let (status, error) = source
        .modulate(r#"{"exposure":10,"contrast":5,"brightness":-1,"hue":30,"lightness":500}"#)
        .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["errors"],
        json!([
            "exposure cannot be combined with hue or lightness: those select the older modulate, \
             where brightness and saturation are multipliers and there is no exposure",
            "contrast cannot be combined with hue or lightness: those select the older modulate, \
             where brightness and saturation are multipliers and there is no contrast",
            "brightness must be a number between 0 and 100",
            "lightness must be a number between -100 and 100"
        ])
    );
}
