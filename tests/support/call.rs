//! Calling handlers directly with the requests API Gateway would deliver.

use std::collections::HashMap;

use imgforge::api::auth::create_key;
use imgforge::api::{self, routes};
use imgforge::app::App;
use imgforge::config::Config;
use imgforge::domain::{Format, ImageId, Stage};
use imgforge::engines::Engines;
use imgforge::imaging::fixtures;
use imgforge::store::Backend;
use imgforge::store::layout::public_key;
use lambda_http::http::Request as HttpRequest;
use lambda_http::{Body, RequestExt, Response};
use serde_json::Value;

pub const BOUNDARY: &str = "imgforge-test-boundary";

pub fn multipart(name: Option<&str>, image: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(name) = name {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(image) = image {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; \
                 filename=\"photo.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(image);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A request as API Gateway would deliver it for the route named `route`.
pub struct Call {
    route: &'static str,
    pub key: Option<String>,
    image_id: Option<String>,
    query: HashMap<String, String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Call {
    pub fn new(route: &'static str, key: &str) -> Self {
        Self {
            route,
            key: Some(key.to_owned()),
            image_id: None,
            query: HashMap::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    pub fn image(mut self, id: &str) -> Self {
        self.image_id = Some(id.to_owned());
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.content_type = Some(content_type.to_owned());
        self.body = body;
        self
    }

    pub fn upload(name: Option<&str>, image: Option<&[u8]>, key: &str) -> Self {
        Self::new("upload-image", key).body(
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            multipart(name, image),
        )
    }

    pub async fn send(self, app: &App) -> Response<Body> {
        let route = routes::by_name(self.route).expect("a known route");
        let path = match &self.image_id {
            Some(id) => route.path.replace("{image_id}", id),
            None => route.path.to_owned(),
        };
        let mut builder = HttpRequest::builder()
            .method(route.method.clone())
            .uri(format!("https://api.example.com{path}"));
        if let Some(key) = &self.key {
            builder = builder.header("x-api-key", key);
        }
        if let Some(content_type) = &self.content_type {
            builder = builder.header("content-type", content_type);
        }
        let body = if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Binary(self.body)
        };
        let parameters: HashMap<String, String> = self
            .image_id
            .map(|id| HashMap::from([("image_id".to_owned(), id)]))
            .unwrap_or_default();
        let request = builder
            .body(body)
            .unwrap()
            .with_path_parameters(parameters)
            .with_query_string_parameters(self.query);
        // With only what the route's Lambda opens.
        api::serve(&app.only(route.uses), route.handler, request).await
    }
}

pub fn json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body()).expect("a JSON body")
}

/// Uploads a small PNG through the handler and returns its Image object.
pub async fn upload_png(app: &App, key: &str, name: &str) -> Value {
    let png = fixtures::encode(Format::Png, 6, 4);
    let response = Call::upload(Some(name), Some(&png), key).send(app).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    json(&response)
}

/// Uploads a small PNG through the handler and returns its id.
pub async fn uploaded_id(app: &App, key: &str, name: &str) -> String {
    let image = upload_png(app, key, name).await;
    image["id"].as_str().expect("an id").to_owned()
}

/// Publish, unpublish, publish and delete of one image at once, ten times over: every outcome
/// must leave the record and the public copy in agreement (a URL exactly when a copy exists, no
/// copy once deleted).
pub async fn race_state_changes(app: &App, key: &str) {
    for _ in 0..10 {
        let id = uploaded_id(app, key, "race").await;
        let calls = [
            "publish-image",
            "unpublish-image",
            "publish-image",
            "delete-image",
        ]
        .map(|route| Call::new(route, key).image(&id).send(app));
        let statuses: Vec<u16> = futures_util::future::join_all(calls)
            .await
            .iter()
            .map(|response| response.status().as_u16())
            .collect();
        assert!(
            statuses
                .iter()
                .all(|status| [201, 204, 404, 409].contains(status)),
            "{statuses:?}"
        );
        let public = public_key(&ImageId::parse(&id).unwrap());
        let got = Call::new("get-image", key).image(&id).send(app).await;
        let copy = app.store.blobs.get(&public).await.unwrap();
        match got.status().as_u16() {
            404 => assert!(copy.is_none(), "a deleted image left its public copy"),
            200 => assert_eq!(
                json(&got)["url"].is_string(),
                copy.is_some(),
                "the url and the public copy disagree"
            ),
            other => panic!("unexpected {other}"),
        }
    }
}

/// An app over the embedded backend in a directory of its own, with a test key of `account`.
pub struct LocalApp {
    pub app: App,
    pub key: String,
    _dir: tempfile::TempDir,
}

/// A [`LocalApp`]; `tune` adjusts its configuration first.
pub async fn local_app(account: &str, tune: impl FnOnce(&mut Config)) -> LocalApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    tune(&mut config);
    let origin = "http://127.0.0.1:9";
    let backend = Backend::open(&config, origin).await.unwrap();
    let app = App::from_ports(backend.ports(), &config).with_engines(Engines::open(&config).await);
    let key = create_key(app.store.keys.as_ref(), account, Stage::Test)
        .await
        .unwrap();
    LocalApp {
        app,
        key,
        _dir: dir,
    }
}
