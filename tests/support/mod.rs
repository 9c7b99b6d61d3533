//! A real `imgforge serve` on a free loopback port, over its own data directory, for tests that
//! speak HTTP to it.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use imgforge::domain::Format;
use imgforge::imaging::fixtures;
use serde_json::Value;

pub struct Server {
    child: Child,
    pub base: String,
    /// The key `serve` printed when it created one for an empty store.
    pub first_key: Option<String>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

fn imgforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_imgforge"))
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts over a new, empty data directory with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let env: Vec<_> = env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let (child, base, first_key) = spawn(dir.path(), &env);
        Self {
            child,
            base,
            first_key,
            dir,
            env,
        }
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

    /// `imgforge keys create` over this server's store; returns what it printed.
    pub fn create_key(&self, stage: &str, account: Option<&str>) -> String {
        let mut command = imgforge();
        command
            .args(["keys", "create", "--stage", stage])
            .env("IMGFORGE_DATA_DIR", self.dir.path())
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        if let Some(account) = account {
            command.args(["--account", account]);
        }
        let output = command.output().expect("running imgforge keys create");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// A new key of `stage` for `account`, for the common case.
    pub fn key(&self, stage: &str, account: &str) -> String {
        self.create_key(stage, Some(account)).trim().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
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
