//! The requests the vendor's Node SDK v1 (`img-processing-sdk`: ky over Node's fetch) sends, as it
//! sends them: `accept: */*`, bodies made by `JSON.stringify` (arguments not given are dropped,
//! so `{}` when there are none), query values of `undefined` for arguments not given, and uploads
//! as a FormData with `name` before `image`.

mod support;

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
