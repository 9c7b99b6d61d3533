//! Failures the emulator cannot produce — throttling, a step failing half-way — with the SDK
//! clients answered by `aws-smithy-mocks`: each maps to a clear error, and the steps after the
//! failure never run, so the image stays consistent for a retry.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use imgforge::api::{self, routes};
use imgforge::app::App;
use imgforge::config::Config;
use imgforge::domain::{Format, hash_api_key};
use imgforge::store::aws::{AwsBackend, AwsResources};
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, RequestExt, Response};
use serde_json::Value;

const KEY: &str = "test_mockedmockedmockedmockedmock";
const ID: &str = "image_00mx0q8z4cmocked00000001";

fn dynamo_error(kind: &str) -> HttpResponse {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"mocked"}}"#);
    HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
}

/// S3 answers errors as a bare `<Error>` document.
fn xml_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Error><Code>{code}</Code><Message>mocked</Message><RequestId>1</RequestId></Error>"
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// CloudFront wraps its errors in an `ErrorResponse`.
fn cloudfront_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>mocked</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key_item() -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("account".to_owned(), s("acct_mocked")),
        ("stage".to_owned(), s("test")),
        ("active".to_owned(), AttributeValue::Bool(true)),
    ])
}

fn image_item(url: Option<&str>) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), s(ID)),
        ("name".to_owned(), s("mocked")),
        ("width".to_owned(), n(4)),
        ("height".to_owned(), n(3)),
        ("format".to_owned(), s("png")),
        ("size".to_owned(), n(99)),
        ("created_at".to_owned(), n(1_764_000_000_000)),
    ]);
    if let Some(url) = url {
        item.insert("url".to_owned(), s(url));
    }
    item
}

fn key_lookup() -> Rule {
    let hash = format!("KEY#{}", hash_api_key(KEY));
    mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(move |request| {
            request.key().and_then(|key| key.get("pk")) == Some(&AttributeValue::S(hash.clone()))
        })
        .then_output(|| GetItemOutput::builder().set_item(Some(key_item())).build())
}

/// An UpdateItem whose expression starts with `prefix`, answering the item `after`.
fn update(prefix: &'static str, after: HashMap<String, AttributeValue>) -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |request| {
            request
                .update_expression()
                .is_some_and(|expression| expression.starts_with(prefix))
        })
        .then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(after.clone()))
                .build()
        })
}

fn resources() -> AwsResources {
    AwsResources {
        table: "table".into(),
        bucket: "bucket".into(),
        cdn_domain: "cdn.example.net".into(),
        distribution_id: "EDISTRIBUTION".into(),
    }
}

/// The rate counters of a key that has used none of its limit: the previous window's count
/// read, this one's counted.
fn unused_rate_limit() -> [Rule; 2] {
    let counter = |request_key: Option<&HashMap<String, AttributeValue>>| matches!(request_key.and_then(|key| key.get("pk")), Some(AttributeValue::S(pk)) if pk.starts_with("RATE#"));
    [
        mock!(aws_sdk_dynamodb::Client::get_item)
            .match_requests(move |request| counter(request.key()))
            .then_output(|| GetItemOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::update_item)
            .match_requests(move |request| counter(request.key()))
            .then_output(|| UpdateItemOutput::builder().build()),
    ]
}

/// The app over clients that answer only by `rules` (and the rate counters).
fn app(dynamo_rules: &[&Rule], s3_rules: &[&Rule], cloudfront_rules: &[&Rule]) -> App {
    let rate_limit = unused_rate_limit();
    let dynamo_rules: Vec<&Rule> = rate_limit
        .iter()
        .chain(dynamo_rules.iter().copied())
        .collect();
    // Without retries, each rule sees exactly the calls the code makes.
    let dynamo = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &dynamo_rules, |b| b
        .retry_config(RetryConfig::disabled()));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3_rules, |b| b
        .retry_config(RetryConfig::disabled()));
    let cloudfront = mock_client!(
        aws_sdk_cloudfront,
        RuleMode::MatchAny,
        cloudfront_rules,
        |b| b.retry_config(RetryConfig::disabled())
    );
    let backend =
        AwsBackend::from_clients(s3.into(), dynamo.into(), cloudfront.into(), &resources());
    App::from_ports(backend.ports(), &Config::default())
}

async fn call(app: &App, route: &str) -> Response<Body> {
    let route = routes::by_name(route).unwrap();
    let request = HttpRequest::builder()
        .method(route.method.clone())
        .uri(format!(
            "https://api.example.com{}",
            route.path.replace("{image_id}", ID)
        ))
        .header("x-api-key", KEY)
        .body(Body::Empty)
        .unwrap()
        .with_path_parameters(HashMap::from([("image_id".to_owned(), ID.to_owned())]));
    api::serve(app, route.handler, request).await
}

fn body(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn a_throttled_table_is_a_503_with_retry_after() {
    let throttled = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_http_response(|| dynamo_error("ProvisionedThroughputExceededException"));
    let app = app(&[&throttled], &[], &[]);
    let response = call(&app, "get-image").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        body(&response)["type"],
        "https://docs.img-processing.com/errors/service-unavailable"
    );
}

#[tokio::test]
async fn a_failed_copy_never_records_a_url_and_releases_the_lease() {
    for (status, code, expected) in [(403, "AccessDenied", 500), (503, "SlowDown", 503)] {
        let lock = update("SET lease_token", image_item(None));
        let record_url = update("SET #url", image_item(Some("https://cdn.example.net/x")));
        let unlock = update("REMOVE lease_token", image_item(None));
        let copy = mock!(aws_sdk_s3::Client::copy_object)
            .then_http_response(move || xml_error(status, code));
        let app = app(&[&key_lookup(), &lock, &record_url, &unlock], &[&copy], &[]);

        let response = call(&app, "publish-image").await;
        assert_eq!(response.status(), expected, "{code}");
        assert_eq!(copy.num_calls(), 1);
        assert_eq!(record_url.num_calls(), 0, "no URL without its public copy");
        assert_eq!(unlock.num_calls(), 1, "the lease is released for a retry");
        assert!(!format!("{:?}", response.body()).contains("AccessDenied"));
    }
}

#[tokio::test]
async fn a_publish_that_succeeds_copies_then_records() {
    let lock = update("SET lease_token", image_item(None));
    let url = format!("https://cdn.example.net/images/{ID}");
    let record_url = update("SET #url", image_item(Some(&url)));
    let unlock = update("REMOVE lease_token", image_item(Some(&url)));
    let copy = mock!(aws_sdk_s3::Client::copy_object)
        .match_requests(|request| {
            request.key() == Some(&format!("public/images/{ID}"))
                && request.copy_source() == Some(&format!("bucket/originals/test/acct_mocked/{ID}"))
                && request.cache_control() == Some("public, max-age=31536000, immutable")
                && request.content_type() == Some("image/png")
        })
        .then_output(|| CopyObjectOutput::builder().build());
    let app = app(&[&key_lookup(), &lock, &record_url, &unlock], &[&copy], &[]);
    let response = call(&app, "publish-image").await;
    assert_eq!(response.status(), 201);
    assert_eq!(body(&response)["url"], url.as_str());
    assert_eq!((copy.num_calls(), record_url.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_failed_invalidation_keeps_the_copy_for_the_retry_to_finish() {
    let url = format!("https://cdn.example.net/images/{ID}");
    let lock = update("SET lease_token", image_item(Some(&url)));
    let clear_url = update("REMOVE #url", image_item(None));
    let unlock = update("REMOVE lease_token", image_item(None));
    let public_key = format!("public/images/{ID}");
    let head = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(move |request| request.prefix() == Some(&public_key))
        .then_output(move || {
            let copy = Object::builder().key(format!("public/images/{ID}")).build();
            ListObjectsV2Output::builder().contents(copy).build()
        });
    let delete = mock!(aws_sdk_s3::Client::delete_object)
        .then_output(|| DeleteObjectOutput::builder().build());
    let invalidate = mock!(aws_sdk_cloudfront::Client::create_invalidation)
        .then_http_response(|| cloudfront_error(400, "TooManyInvalidationsInProgress"));
    let app = app(
        &[&key_lookup(), &lock, &clear_url, &unlock],
        &[&head, &delete],
        &[&invalidate],
    );
    let response = call(&app, "unpublish-image").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(clear_url.num_calls(), 1, "the URL is cleared first");
    assert_eq!(invalidate.num_calls(), 1);
    assert_eq!(
        delete.num_calls(),
        0,
        "the copy stays until it is invalidated"
    );
    assert_eq!(unlock.num_calls(), 1);
}

#[tokio::test]
async fn presigned_urls_sign_size_and_type_and_expire() {
    // Presigning sends nothing: clients with test credentials and no mock suffice.
    let backend = AwsBackend::from_clients(
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .with_test_defaults_v2()
                .build(),
        )
        .into(),
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .with_test_defaults_v2()
                .build(),
        )
        .into(),
        aws_sdk_cloudfront::Client::from_conf(
            aws_sdk_cloudfront::Config::builder()
                .with_test_defaults_v2()
                .build(),
        )
        .into(),
        &resources(),
    );
    let blobs = backend.ports().blobs;
    let put = blobs
        .presign_put(
            "uploads/test/a/image_x",
            Format::Webp,
            7_340_032,
            Duration::from_secs(900),
        )
        .await
        .unwrap();
    assert!(put.url.contains("X-Amz-Expires=900"), "{}", put.url);
    let signed = put
        .url
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap();
    assert_eq!(signed, "content-length%3Bcontent-type%3Bhost");
    let header = |name: &str| {
        put.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(header("content-type"), Some("image/webp"));
    assert_eq!(header("content-length"), Some("7340032"));

    let get = blobs
        .presign_get("originals/test/a/image_x", Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert!(get.contains("X-Amz-Expires=300"), "{get}");
}
