//! A real `imgforge serve` on a free loopback port, over its own empty store, for tests that
//! speak HTTP to it. With `IMGFORGE_TEST_BACKEND=aws` the server runs the AWS backend against the
//! emulator at `AWS_ENDPOINT_URL`, each server with a bucket, table and distribution of its own.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod call;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use imgforge::domain::{Format, ImageId};
use imgforge::imaging::fixtures;
use imgforge::sdk::sdk_config;
use imgforge::store::aws::s3_client;
use imgforge::store::layout;
use serde_json::Value;

pub struct Server {
    child: Child,
    pub base: String,
    /// The key `serve` printed when it created one for an empty store.
    pub first_key: Option<String>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// The real account id behind each name a test gives an account.
    accounts: Mutex<HashMap<String, String>>,
}

fn imgforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_imgforge"))
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts over a new, empty store with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut env: Vec<_> = env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        if aws_backend() {
            env.extend(emulator_stack());
        }
        let (child, base, first_key) = spawn(dir.path(), &env);
        Self {
            child,
            base,
            first_key,
            dir,
            env,
            accounts: Mutex::default(),
        }
    }

    /// The server's resident memory now and at its peak so far, in bytes (Linux).
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let field = |name: &str| {
            let line = status.lines().find(|line| line.starts_with(name)).unwrap();
            let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            kib * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server and starts a new one over the same data.
    pub fn restart(&mut self) {
        self.stop();
        let (child, base, first_key) = spawn(self.dir.path(), &self.env);
        (self.child, self.base, self.first_key) = (child, base, first_key);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn env_value(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Fetches a published image's public URL without a key, as a browser would. On AWS, where
    /// the CDN does not exist, it reads what CloudFront would serve: the object under the
    /// distribution's origin path in the emulated bucket, with its stored headers.
    pub async fn fetch_public(&self, url: &str) -> Fetched {
        let Some(domain) = self.env_value("IMGFORGE_CDN_DOMAIN") else {
            let response = reqwest::get(url).await.expect("the local CDN answers");
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .map(|value| value.to_str().unwrap().to_owned())
            };
            return Fetched {
                status: response.status().as_u16(),
                content_type: header("content-type"),
                cache_control: header("cache-control"),
                body: response.bytes().await.unwrap().to_vec(),
            };
        };
        let path = url
            .strip_prefix(&format!("https://{domain}"))
            .unwrap_or_else(|| panic!("{url} is not on the CDN domain {domain}"));
        let s3 = s3_client(&sdk_config().await);
        let object = s3
            .get_object()
            .bucket(self.env_value("IMGFORGE_BUCKET").expect("a bucket"))
            .key(format!("{}{path}", layout::PUBLIC_PREFIX))
            .send()
            .await;
        match object {
            Ok(object) => Fetched {
                status: 200,
                content_type: object.content_type.clone(),
                cache_control: object.cache_control.clone(),
                body: object.body.collect().await.unwrap().to_vec(),
            },
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Fetched {
                status: 404,
                content_type: None,
                cache_control: None,
                body: Vec::new(),
            },
            Err(error) => panic!("reading the public copy: {error:?}"),
        }
    }

    /// The URL the API gives a published image, by backend.
    pub fn public_url(&self, id: &str) -> String {
        let id = ImageId::parse(id).expect("an image id");
        match self.env_value("IMGFORGE_CDN_DOMAIN") {
            Some(domain) => layout::public_url(&format!("https://{domain}"), &id),
            None => layout::public_url(&layout::local_public_base(&self.base), &id),
        }
    }

    /// `imgforge keys create --json` over this server's store, in `account` (which must exist)
    /// or a new one; returns what it printed.
    pub fn create_key(&self, stage: &str, account: Option<&str>) -> Value {
        let mut command = self.keys("create");
        command.args(["--json", "--stage", stage]);
        if let Some(account) = account {
            command.args(["--account", account]);
        }
        let output = command.output().expect("running imgforge keys create");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("keys create --json prints JSON")
    }

    /// `imgforge keys <action>` over this server's store, to be given its arguments.
    pub fn keys(&self, action: &str) -> Command {
        let mut command = imgforge();
        command
            .args(["keys", action])
            .env("IMGFORGE_DATA_DIR", self.dir.path())
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// A new key of `stage` for the account a test calls `name`: the first key of a name
    /// creates its account, later ones join it, as a user would with `--account`.
    pub fn key(&self, stage: &str, name: &str) -> String {
        let mut accounts = self.accounts.lock().unwrap();
        let created = self.create_key(stage, accounts.get(name).map(String::as_str));
        let account = created["account"].as_str().expect("an account id");
        accounts.insert(name.to_owned(), account.to_owned());
        created["key"].as_str().expect("a key").to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a public URL served.
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

/// Whether the suite runs against the AWS backend in the emulator.
pub fn aws_backend() -> bool {
    match std::env::var("IMGFORGE_TEST_BACKEND").as_deref() {
        Ok("aws") => true,
        Ok("local") | Err(_) => false,
        Ok(other) => panic!("IMGFORGE_TEST_BACKEND must be local or aws, not {other}"),
    }
}

pub fn emulator_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL must name the emulator: run the suite through `make test`")
}

/// A bucket, table and distribution of their own in the emulator, as the environment that names
/// them.
fn emulator_stack() -> Vec<(String, String)> {
    emulator_endpoint();
    let name = format!("imgforge-test-{:016x}", rand::random::<u64>());
    let mut env = vec![
        ("IMGFORGE_BACKEND".to_owned(), "aws".to_owned()),
        ("IMGFORGE_BUCKET".to_owned(), name.clone()),
        ("IMGFORGE_TABLE".to_owned(), name),
    ];
    let output = imgforge()
        .args(["emulator", "init"])
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("running imgforge emulator init");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in String::from_utf8(output.stdout).expect("UTF-8").lines() {
        let (name, value) = line
            .strip_prefix("export ")
            .and_then(|assignment| assignment.split_once('='))
            .unwrap_or_else(|| panic!("unexpected output line {line:?}"));
        env.push((name.to_owned(), value.to_owned()));
    }
    env
}

fn spawn(dir: &Path, env: &[(String, String)]) -> (Child, String, Option<String>) {
    let log = std::fs::File::create(dir.join("server.log")).expect("a log file");
    let mut child = imgforge()
        .arg("serve")
        .env("IMGFORGE_ADDR", "127.0.0.1:0")
        .env("IMGFORGE_DATA_DIR", dir)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("starting imgforge serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first_key = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("reading the server's output");
        if let Some(key) = line.split(": ").nth(1).filter(|_| line.contains("API key")) {
            first_key = Some(key.to_owned());
        }
        if let Some(base) = line.strip_prefix("imgforge is serving the API at ") {
            return (child, base.to_owned(), first_key);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    panic!("imgforge serve exited before listening:\n{log}");
}

/// An HTTP client for one key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub fn new(server: &Server, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.base.clone(),
            key: key.to_owned(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
    }

    /// A GET of an absolute URL the API handed out, such as a pagination link.
    pub fn follow(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.get(url).header("x-api-key", &self.key)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    pub async fn upload_bytes(&self, name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_owned())
            .part(
                "image",
                reqwest::multipart::Part::bytes(bytes).file_name("upload.bin"),
            );
        self.post("/v1/images/upload")
            .multipart(form)
            .send()
            .await
            .expect("the server answers")
    }

    /// Uploads a small PNG and returns its Image object.
    pub async fn upload(&self, name: &str) -> Value {
        let response = self
            .upload_bytes(name, fixtures::encode(Format::Png, 5, 3))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.expect("an Image")
    }
}

/// Status and JSON body of a response.
pub async fn status_json(response: reqwest::RequestBuilder) -> (u16, Value) {
    let response = response.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}
