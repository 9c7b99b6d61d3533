//! The AWS backend against the emulator (moto) that `make test` starts: the port contracts, and
//! what only S3, DynamoDB and CloudFront can show — object metadata, invalidations, presigned
//! transfers and the upload event.

mod support;

use aws_config::SdkConfig;
use imgforge::api::auth::create_key;
use imgforge::app::App;
use imgforge::config::{AwsNames, BackendKind, Config};
use imgforge::domain::{Format, ImageId, Owner, Stage};
use imgforge::imaging::fixtures;
use imgforge::lambda::ingest_event;
use imgforge::sdk::{from_lambda_environment, sdk_config};
use imgforge::store::aws::{emulator, s3_client};
use imgforge::store::layout::{original_key, public_key};
use imgforge::store::{Backend, contract};
use serde_json::Value;
use support::call::{Call, json, race_state_changes, uploaded_id};
use support::emulator_endpoint;

const ACCOUNT: &str = "acct_aws";

struct Stack {
    app: App,
    backend: Backend,
    names: AwsNames,
    sdk: SdkConfig,
    key: String,
}

impl Stack {
    fn bucket(&self) -> &str {
        self.names.bucket.as_deref().expect("a bucket")
    }

    fn owner(&self) -> Owner {
        Owner {
            account: ACCOUNT.into(),
            stage: Stage::Test,
        }
    }

    /// Every key in the bucket.
    async fn objects(&self) -> Vec<String> {
        let listed = s3_client(&self.sdk)
            .list_objects_v2()
            .bucket(self.bucket())
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|object| object.key().map(str::to_owned))
            .collect()
    }
}

/// A bucket, table and distribution of their own in the emulator, and a key.
async fn stack() -> Stack {
    emulator_endpoint();
    let sdk = sdk_config().await;
    let name = format!("imgforge-aws-{:016x}", rand::random::<u64>());
    let distribution = emulator::init(&sdk, &name, &name).await.unwrap();
    let names = AwsNames {
        table: Some(name.clone()),
        bucket: Some(name),
        cdn_domain: Some(distribution.domain),
        distribution_id: Some(distribution.id),
    };
    let config = Config {
        backend: BackendKind::Aws,
        aws: names.clone(),
        ..Config::default()
    };
    let backend = Backend::open(&config, "").await.unwrap();
    let app = App::from_ports(backend.ports(), &config);
    let key = create_key(app.store.keys.as_ref(), ACCOUNT, Stage::Test)
        .await
        .unwrap();
    Stack {
        app,
        backend,
        names,
        sdk,
        key,
    }
}

/// The names `make test` gives the emulator, but with a Lambda's other region.
fn lambda_variable(endpoint: &str, name: &str) -> Option<String> {
    match name {
        "AWS_REGION" => Some("eu-west-3".into()),
        "AWS_ENDPOINT_URL" => Some(endpoint.into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        "AWS_SESSION_TOKEN" => Some("session".into()),
        _ => None,
    }
}

#[tokio::test]
async fn a_lambda_takes_region_credentials_and_endpoint_from_its_environment() {
    let endpoint = emulator_endpoint();
    let lambda = from_lambda_environment(|name| lambda_variable(&endpoint, name));
    assert_eq!(
        lambda.region().map(|region| region.as_ref()),
        Some("eu-west-3")
    );

    let table = format!("imgforge-lambda-{:016x}", rand::random::<u64>());
    emulator::create_table(&lambda, &table).await.unwrap();
    let tables = |client: aws_sdk_dynamodb::Client| async move {
        client
            .list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .to_vec()
    };
    let in_lambda_region = aws_sdk_dynamodb::Client::new(&lambda);
    assert!(tables(in_lambda_region).await.contains(&table));
    let elsewhere = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    assert!(
        !tables(elsewhere).await.contains(&table),
        "the table was made in the Lambda's region, not the suite's"
    );

    let without_credentials = from_lambda_environment(|name| {
        lambda_variable(&endpoint, name).filter(|_| !name.starts_with("AWS_ACCESS_KEY"))
    });
    let unsigned = aws_sdk_dynamodb::Client::new(&without_credentials)
        .list_tables()
        .send()
        .await;
    assert!(unsigned.is_err(), "no request goes out unsigned");
}

#[tokio::test]
async fn adapters_honour_the_port_contracts() {
    let stack = stack().await;
    contract::ports(&stack.backend.ports()).await;
}

#[tokio::test]
async fn publishing_copies_with_type_and_cache_control_and_unpublishing_invalidates() {
    let stack = stack().await;
    let (app, key) = (&stack.app, stack.key.as_str());
    let id = uploaded_id(app, key, "cdn").await;
    let image_id = ImageId::parse(&id).unwrap();
    let s3 = s3_client(&stack.sdk);
    let head = || {
        s3.head_object()
            .bucket(stack.bucket())
            .key(public_key(&image_id))
            .send()
    };

    let published = Call::new("publish-image", key).image(&id).send(app).await;
    assert_eq!(published.status(), 201);
    let domain = stack.names.cdn_domain.as_deref().unwrap();
    assert_eq!(
        json(&published)["url"],
        format!("https://{domain}/images/{id}")
    );
    let copy = head().await.expect("the public copy exists");
    assert_eq!(copy.content_type(), Some("image/png"));
    assert_eq!(
        copy.cache_control(),
        Some("public, max-age=31536000, immutable")
    );

    let private = Call::new("unpublish-image", key).image(&id).send(app).await;
    assert_eq!(json(&private)["url"], Value::Null);
    assert!(head().await.is_err(), "the public copy is gone");

    let cloudfront = aws_sdk_cloudfront::Client::new(&stack.sdk);
    let distribution = stack.names.distribution_id.as_deref().unwrap();
    let listed = invalidations(&cloudfront, distribution).await;
    let summaries = listed
        .invalidation_list()
        .map(|list| list.items())
        .unwrap_or_default();
    assert_eq!(summaries.len(), 1);
    let invalidation = cloudfront
        .get_invalidation()
        .distribution_id(distribution)
        .id(summaries[0].id())
        .send()
        .await
        .unwrap();
    let paths = invalidation
        .invalidation()
        .and_then(|found| found.invalidation_batch())
        .and_then(|batch| batch.paths())
        .map(|paths| paths.items().to_vec())
        .unwrap_or_default();
    assert_eq!(paths, [format!("/images/{id}")]);

    let again = Call::new("unpublish-image", key).image(&id).send(app).await;
    assert_eq!(again.status(), 201);
    let listed = invalidations(&cloudfront, distribution).await;
    assert_eq!(
        listed.invalidation_list().map(|list| list.items().len()),
        Some(1),
        "unpublishing a private image invalidates nothing"
    );
}

async fn invalidations(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution: &str,
) -> aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput {
    cloudfront
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn delete_leaves_no_object_and_no_record() {
    let stack = stack().await;
    let (app, key) = (&stack.app, stack.key.as_str());
    let id = uploaded_id(app, key, "gone").await;
    Call::new("publish-image", key).image(&id).send(app).await;
    assert_eq!(stack.objects().await.len(), 2, "original and public copy");

    let deleted = Call::new("delete-image", key).image(&id).send(app).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(stack.objects().await, Vec::<String>::new());
    let image_id = ImageId::parse(&id).unwrap();
    assert_eq!(
        app.store
            .images
            .get(&stack.owner(), &image_id)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn concurrent_state_changes_stay_consistent() {
    let stack = stack().await;
    race_state_changes(&stack.app, &stack.key).await;
}

/// The S3 event for `key`, from the committed sample event.
fn upload_event(bucket: &str, key: &str) -> aws_lambda_events::event::s3::S3Event {
    let sample = std::fs::read_to_string("events/ingest-upload.json").unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    event["Records"][0]["s3"]["bucket"]["name"] = bucket.into();
    event["Records"][0]["s3"]["object"]["key"] = key.into();
    serde_json::from_value(event).unwrap()
}

/// Reserves an upload through the handler and PUTs `bytes` to its presigned URL.
async fn put_upload(stack: &Stack, bytes: Vec<u8>, content_type: &str) -> (String, String) {
    let body =
        serde_json::json!({"name": "large", "size": bytes.len(), "content_type": content_type});
    let created = Call::new("create-upload", &stack.key)
        .body("application/json", body.to_string().into_bytes())
        .send(&stack.app)
        .await;
    assert_eq!(created.status(), 201, "{:?}", created.body());
    let created = json(&created);
    assert_eq!(created["method"], "PUT");
    let mut put = reqwest::Client::new().put(created["upload_url"].as_str().unwrap());
    for (name, value) in created["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let response = put.body(bytes).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = created["image_id"].as_str().unwrap().to_owned();
    let key = format!("uploads/test/{ACCOUNT}/{id}");
    (id, key)
}

#[tokio::test]
async fn a_seven_megabyte_upload_goes_straight_to_s3_and_downloads_by_redirect() {
    let stack = stack().await;
    let (app, key) = (&stack.app, stack.key.as_str());
    let png = fixtures::encode_noise(Format::Png, 1600, 1500);
    assert!(png.len() > 7_000_000, "{} bytes", png.len());

    let (id, upload_key) = put_upload(&stack, png.clone(), "image/png").await;
    let pending = json(&Call::new("get-upload", key).image(&id).send(app).await);
    assert_eq!(pending["status"], "pending");

    let event = upload_event(stack.bucket(), &upload_key);
    ingest_event(app, event.clone()).await.unwrap();
    let ready = json(&Call::new("get-upload", key).image(&id).send(app).await);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["image"]["id"], id.as_str());
    assert_eq!(
        (
            ready["image"]["width"].as_u64(),
            ready["image"]["height"].as_u64()
        ),
        (Some(1600), Some(1500))
    );
    assert_eq!(ready["image"]["size"], png.len());

    ingest_event(app, event).await.unwrap();
    let listed = json(&Call::new("list-images", key).send(app).await);
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "a repeated event adds nothing"
    );
    let original = original_key(&stack.owner(), &ImageId::parse(&id).unwrap());
    assert_eq!(
        stack.objects().await,
        [original],
        "the upload object is gone"
    );

    let download = Call::new("download-image", key).image(&id).send(app).await;
    assert_eq!(download.status(), 302);
    let location = download.headers()["location"].to_str().unwrap();
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    let fetched = reqwest::get(location).await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.bytes().await.unwrap(), png);
}

#[tokio::test]
async fn an_upload_that_is_not_an_image_fails_and_is_deleted() {
    let stack = stack().await;
    let (app, key) = (&stack.app, stack.key.as_str());
    let (id, upload_key) = put_upload(&stack, b"<svg/>".to_vec(), "image/png").await;
    ingest_event(app, upload_event(stack.bucket(), &upload_key))
        .await
        .unwrap();
    let failed = json(&Call::new("get-upload", key).image(&id).send(app).await);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "image must be a JPEG, PNG or WebP image");
    assert_eq!(failed["image"], Value::Null);
    assert!(stack.objects().await.is_empty());
    let image = Call::new("get-image", key).image(&id).send(app).await;
    assert_eq!(image.status(), 404);
}
