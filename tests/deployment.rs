//! What is deployed must match what is routed: the route table, the functions in `template.yaml`,
//! the binaries in `functions/` and `Cargo.toml`, and the sample events in `events/` all name the
//! same endpoints; and every sample event runs through its handler as `sam local invoke` would.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use imgforge::api::{self, routes};
use imgforge::app::Uses;
use imgforge::domain::{
    Format, Image, ImageId, KeyRecord, Owner, Stage, Upload, UploadStatus, hash_api_key,
    stage_of_key,
};
use imgforge::engines::EngineSet;
use imgforge::fetch::FetchConfig;
use imgforge::imaging::fixtures;
use imgforge::lambda::{INGEST_PORTS, ingest_event};
use imgforge::store::layout::{original_key, upload_key};
use serde_yaml_ng::Value as Yaml;
use support::call::{LocalApp, local_app};

/// The function that is not an HTTP route: S3 invokes it.
const INGEST: &str = "ingest-upload";

fn stems(dir: &str, extension: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn route_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = routes::ROUTES
        .iter()
        .map(|route| route.name.to_owned())
        .collect();
    names.insert(INGEST.to_owned());
    names
}

/// A CloudFormation value with its short-form tag (`!Ref`, `!Sub`, ...) peeled off.
fn untagged(value: &Yaml) -> &Yaml {
    match value {
        Yaml::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

/// Each SAM function's binary, with the (method, path) of its HttpApi event if it has one.
fn template_functions() -> BTreeMap<String, Option<(String, String)>> {
    let template = template();
    let mut functions = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda");
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let http = resource["Properties"]["Events"]
            .as_mapping()
            .unwrap()
            .values()
            .find(|event| event["Type"] == "HttpApi")
            .map(|event| {
                let properties = &event["Properties"];
                assert_eq!(untagged(&properties["ApiId"]), "HttpApi");
                (
                    properties["Method"].as_str().unwrap().to_owned(),
                    properties["Path"].as_str().unwrap().to_owned(),
                )
            });
        assert!(
            functions.insert(binary, http).is_none(),
            "one function per binary"
        );
    }
    functions
}

fn template() -> Yaml {
    serde_yaml_ng::from_str(&std::fs::read_to_string("template.yaml").unwrap()).unwrap()
}

/// The stack's guard rails: what bounds a burst, a log's life, a browser's reading of a published
/// file, and what a role may list (never the whole bucket).
#[test]
fn the_stack_throttles_expires_logs_sets_nosniff_and_lists_only_public_copies() {
    let template = template();
    let resources = &template["Resources"];
    let throttling = &resources["HttpApi"]["Properties"]["DefaultRouteSettings"];
    assert_eq!(untagged(&throttling["ThrottlingRateLimit"]), "ApiRateLimit");
    assert_eq!(
        untagged(&throttling["ThrottlingBurstLimit"]),
        "ApiBurstLimit"
    );

    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(untagged(&logging["LogGroup"]), "FunctionLogs");
    for group in ["FunctionLogs", "ApiAccessLogs"] {
        assert_eq!(
            untagged(&resources[group]["Properties"]["RetentionInDays"]),
            "LogRetentionDays"
        );
    }

    // CloudFront's managed SecurityHeadersPolicy sends X-Content-Type-Options: nosniff.
    let behaviour =
        &resources["Distribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"];
    assert_eq!(
        behaviour["ResponseHeadersPolicyId"],
        "67f7725c-6f97-4210-82d7-5512b31e9d03"
    );

    let mut listing = BTreeMap::new();
    for (name, resource) in resources.as_mapping().unwrap() {
        for statement in policy_statements(resource) {
            if statement_actions(statement).contains(&"s3:ListBucket") {
                let prefix = &statement["Condition"]["StringLike"]["s3:prefix"];
                listing.insert(name.as_str().unwrap(), prefix.as_str().unwrap());
            }
        }
    }
    // Delete and unpublish check for a public copy; ingest tells a missing upload from a
    // forbidden one.
    assert_eq!(
        listing,
        BTreeMap::from([
            ("IngestUploadFunction", "uploads/*"),
            ("DeleteImageFunction", "public/images/*"),
            ("UnpublishImageFunction", "public/images/*"),
        ])
    );
}

#[test]
fn routes_template_functions_and_events_name_the_same_endpoints() {
    let names = route_names();
    let template = template_functions();
    assert_eq!(
        template.keys().cloned().collect::<BTreeSet<_>>(),
        names,
        "template.yaml"
    );
    assert_eq!(stems("functions", "rs"), names, "functions/");
    assert_eq!(stems("events", "json"), names, "events/");

    let manifest: toml::Table = std::fs::read_to_string("Cargo.toml")
        .unwrap()
        .parse()
        .unwrap();
    let bins: BTreeSet<String> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|bin| bin["path"].as_str().unwrap().starts_with("functions/"))
        .map(|bin| bin["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bins, names, "Cargo.toml's function binaries");

    for route in routes::ROUTES {
        let expected = Some((route.method.to_string(), route.path.to_owned()));
        assert_eq!(
            template[route.name], expected,
            "{} in template.yaml",
            route.name
        );
        let event: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("events/{}.json", route.name)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            event["routeKey"],
            format!("{} {}", route.method, route.path),
            "events/{}.json",
            route.name
        );
    }
    assert_eq!(template[INGEST], None, "S3 invokes {INGEST}, not the API");
}

/// The statements of a resource's inline policies (none if it has no `Policies`).
fn policy_statements(resource: &Yaml) -> impl Iterator<Item = &Yaml> {
    resource["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|policy| policy["Statement"].as_sequence())
        .flatten()
}

/// A statement's actions, whether it names one or a list.
fn statement_actions(statement: &Yaml) -> Vec<&str> {
    match &statement["Action"] {
        Yaml::Sequence(actions) => actions
            .iter()
            .map(|action| action.as_str().unwrap())
            .collect(),
        action => vec![action.as_str().unwrap()],
    }
}

/// Every IAM action each function's policies allow, by binary.
fn template_actions() -> BTreeMap<String, BTreeSet<String>> {
    let template = template();
    let mut granted = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let actions: BTreeSet<String> = policy_statements(resource)
            .flat_map(statement_actions)
            .map(str::to_owned)
            .collect();
        granted.insert(binary, actions);
    }
    granted
}

#[test]
fn each_function_may_call_s3_and_cloudfront_only_for_the_ports_its_route_opens() {
    let granted = template_actions();
    let opened = routes::ROUTES
        .iter()
        .map(|route| (route.name, route.uses.ports))
        .chain([(INGEST, INGEST_PORTS)]);
    for (name, ports) in opened {
        let on = |service: &str| {
            granted[name]
                .iter()
                .any(|action| action.starts_with(service))
        };
        // Blobs are S3 objects; publishing copies them within the bucket.
        assert_eq!(
            on("s3:"),
            ports.blobs || ports.publisher,
            "{name}: S3 actions in template.yaml, with {ports:?}"
        );
        // Only unpublishing invalidates: publish needs no CloudFront action.
        assert!(
            ports.publisher || !on("cloudfront:"),
            "{name}: CloudFront actions in template.yaml, with {ports:?}"
        );
    }
}

fn load_event(name: &str) -> String {
    std::fs::read_to_string(Path::new("events").join(format!("{name}.json"))).unwrap()
}

/// The embedded backend, holding what the sample events refer to: their key, the image they
/// name, and the upload whose file the S3 event announces.
async fn backend_for_events() -> LocalApp {
    // The create-image event's URL is pointed at a local origin (see `with_local_url`).
    let events = local_app("acct_setup", |config| {
        config.fetch = FetchConfig {
            url_allowlist: "http://127.0.0.1:*/*".into(),
            url_allow_loopback: true,
        };
    })
    .await;
    let app = &events.app;

    // Every key the events use, each in its own stage of one account.
    let owner_of = |stage| Owner {
        account: "acct_events".into(),
        stage,
    };
    let owner = owner_of(Stage::Test);
    let mut keys = BTreeSet::new();
    for name in route_names() {
        let event: serde_json::Value = serde_json::from_str(&load_event(&name)).unwrap();
        if let Some(key) = event["headers"]["x-api-key"].as_str() {
            keys.insert(key.to_owned());
        }
    }
    for key in &keys {
        app.store
            .keys
            .insert(&KeyRecord {
                hash: hash_api_key(key),
                owner: owner_of(stage_of_key(key).unwrap()),
                active: true,
                created_at: None,
            })
            .await
            .unwrap();
    }

    // The image the events name, and the one the watermark event lays over it, in both stages.
    let png = fixtures::encode(Format::Png, 3, 2);
    let publish: serde_json::Value = serde_json::from_str(&load_event("publish-image")).unwrap();
    let watermark: serde_json::Value =
        serde_json::from_str(&load_event("watermark-image")).unwrap();
    let watermark_body: serde_json::Value =
        serde_json::from_str(watermark["body"].as_str().unwrap()).unwrap();
    let ids = [
        &publish["pathParameters"]["image_id"],
        &watermark_body["watermarks"][0]["id"],
    ];
    for (id, stage) in ids
        .iter()
        .flat_map(|id| [(id, Stage::Test), (id, Stage::Live)])
    {
        let id = ImageId::parse(id.as_str().unwrap()).unwrap();
        let owner = owner_of(stage);
        let key = original_key(&owner, &id);
        app.store
            .blobs
            .put(&key, Bytes::from(png.clone()), Format::Png)
            .await
            .unwrap();
        let size = png.len() as u64;
        let image = Image::new(id, "named in events".into(), Format::Png, 3, 2, size);
        app.store.images.insert(&owner, &image).await.unwrap();
    }

    let ingest: serde_json::Value = serde_json::from_str(&load_event(INGEST)).unwrap();
    let upload_id = ingest["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .map(|id| ImageId::parse(id).unwrap())
        .unwrap();
    app.store
        .uploads
        .reserve(
            &owner,
            &Upload {
                id: upload_id.clone(),
                name: "from the S3 event".into(),
                size: png.len() as u64,
                format: Format::Png,
                status: UploadStatus::Pending,
                // Reserved just now: its record is kept 7 days, as `reserve` sets it.
                expires_at: chrono::Utc::now() + chrono::Duration::days(7),
            },
        )
        .await
        .unwrap();
    app.store
        .blobs
        .put(
            &upload_key(&owner, &upload_id),
            Bytes::from(png),
            Format::Png,
        )
        .await
        .unwrap();
    events
}

/// The create-image event with its URL moved to a loopback origin serving a PNG, as no test may
/// depend on the internet.
async fn with_local_url(event: &str) -> String {
    let png = fixtures::encode(Format::Png, 4, 4);
    let origin = axum::Router::new().route(
        "/og-image.jpg",
        axum::routing::get(move || async move { png }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, origin).await.unwrap() });
    let mut event: serde_json::Value = serde_json::from_str(event).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["url"] = format!("http://{address}/og-image.jpg").into();
    event["body"] = body.to_string().into();
    event.to_string()
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let events = backend_for_events().await;
    let app = &events.app;
    // Delete goes last: the other events name the image it removes.
    let order = [
        ("upload-image", 201),
        ("create-image", 201),
        // No generation engine is configured here: a live key is told how to enable one.
        ("imagine-image", 501),
        ("list-images", 200),
        ("get-image", 200),
        ("download-image", 200),
        ("publish-image", 201),
        ("unpublish-image", 201),
        ("resize-image", 201),
        ("crop-image", 201),
        ("convert-image", 201),
        ("rotate-image", 201),
        ("mirror-image", 201),
        ("blur-image", 201),
        ("modulate-image", 201),
        ("watermark-image", 201),
        ("remove-image-background", 201),
        ("classify-image", 201),
        ("extract-formatted-text", 201),
        ("extract-text", 201),
        ("visualize-image", 501),
        ("create-upload", 201),
        (INGEST, 0),
        ("get-upload", 200),
        ("delete-image", 204),
    ];
    let covered: BTreeSet<String> = order.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(covered, route_names(), "every event is run");

    for (name, status) in order {
        if name == INGEST {
            let event = serde_json::from_str(&load_event(name)).unwrap();
            let ingest = Uses {
                ports: INGEST_PORTS,
                engines: EngineSet::NONE,
            };
            ingest_event(&app.only(ingest), event).await.unwrap();
            continue;
        }
        let mut event = load_event(name);
        if name == "create-image" {
            event = with_local_url(&event).await;
        }
        let request = lambda_http::request::from_str(&event).unwrap();
        let route = routes::by_name(name).unwrap();
        // With only what its Lambda opens.
        let response = api::serve(&app.only(route.uses), route.handler, request).await;
        assert_eq!(response.status(), status, "{name}: {:?}", response.body());
        if name == "get-upload" {
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(body["status"], "ready", "the S3 event was ingested: {body}");
        }
    }
}

#[test]
fn openapi_describes_exactly_the_routes() {
    let spec: Yaml =
        serde_yaml_ng::from_str(&std::fs::read_to_string("openapi.yaml").unwrap()).unwrap();
    let mut described = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                described.insert(format!(
                    "{} {}",
                    method.to_uppercase(),
                    path.as_str().unwrap()
                ));
            }
        }
    }
    let routed: BTreeSet<String> = routes::ROUTES
        .iter()
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    assert_eq!(described, routed);
    let served = &*imgforge::server::OPENAPI;
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served["paths"].as_object().unwrap().len(),
        spec["paths"].as_mapping().unwrap().len()
    );
}
