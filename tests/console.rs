//! The web console in a real headless Chromium, through chromedriver (Debian's `chromium` and
//! `chromium-driver`, which `make system-packages` installs): a key pasted, a file uploaded, its
//! thumbnail shown, a resize run through the form built from the OpenAPI description, the image
//! published and its public URL opened, the URL copied, the image unpublished, then deleted; a
//! file over the inline limit sent by direct upload; and the docs page rendered. Screenshots of
//! each step go to `target/console-screenshots/` (under `CARGO_TARGET_DIR` if set).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use imgforge::domain::Format;
use imgforge::imaging::fixtures;
use serde_json::{Value, json};
use support::{Client as ApiClient, Server};

/// chromedriver on a free loopback port, stopped (by its own handle) when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed: run `make system-packages` (as root)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    /// chromedriver's /shutdown quits the browsers it started, which killing it would leave
    /// running when a failed test never closed its session; then it is stopped by its handle.
    fn drop(&mut self) {
        let address = self.url.trim_start_matches("http://");
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let request =
                format!("GET /shutdown HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the screenshots go: under the target directory this test was built into.
fn screenshot_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| manifest.join(dir))
        .unwrap_or_else(|| manifest.join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("a screenshot directory");
    dir
}

struct Browser {
    client: Client,
    screenshots: PathBuf,
}

impl Browser {
    async fn open(driver: &Driver) -> Self {
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                // --no-sandbox: the test may run as root, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1100"]
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("a TLS configuration")
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        Self {
            client,
            screenshots: screenshot_dir(),
        }
    }

    /// Waits until `script` returns true, failing with `what` after 30 seconds.
    async fn until(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            let value = self.client.execute(script, vec![]).await.unwrap();
            if value == Value::Bool(true) {
                return;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let status = self.text("#status").await;
                self.shoot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!("waited 30 s for {what}; the console says {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn text(&self, selector: &str) -> String {
        self.eval(&format!(
            "return document.querySelector({selector:?})?.textContent ?? ''"
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn click(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("no {selector}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {selector}: {error}"));
    }

    async fn type_into(&self, selector: &str, text: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("no {selector}: {error}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn shoot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test]
async fn the_console_runs_an_image_through_its_life() {
    let server = Server::start();
    let key = server.key("test", "acct_console");
    let driver = Driver::start();
    let browser = Browser::open(&driver).await;

    browser.client.goto(&server.url("/")).await.unwrap();
    browser.type_into("#key", &key).await;
    browser.click("#save-key").await;
    browser
        .until(
            "the empty library",
            "return document.querySelector('#status').textContent === '0 image(s).'",
        )
        .await;
    assert_eq!(browser.text("#stage").await, "test");

    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/sample.png");
    browser.type_into("#file", sample.to_str().unwrap()).await;
    browser
        .until(
            "the thumbnail",
            "const img = document.querySelector('.thumb.loaded img'); \
             return Boolean(img && img.complete && img.naturalWidth > 0)",
        )
        .await;
    let card = browser.text(".thumb").await;
    assert!(card.contains("sample") && card.contains("png"), "{card}");
    assert!(card.contains("private"), "{card}");
    let id = browser
        .eval("return document.querySelector('.thumb').dataset.id")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    browser.shoot("1-uploaded").await;

    browser.click(".thumb").await;
    browser
        .until(
            "the source image",
            "const img = document.querySelector('#source'); \
             return img.complete && img.naturalWidth > 0",
        )
        .await;
    let chosen = browser
        .eval("const s = document.querySelector('#operation'); return s.options[s.selectedIndex].text")
        .await;
    assert!(chosen.as_str().unwrap().contains("resizeImage"), "{chosen}");
    browser.type_into("#field-body-width", "40").await;
    browser.click("#run-operation").await;
    browser
        .until(
            "the resized result",
            "const img = document.querySelector('#result-image'); \
             return !img.hidden && img.complete && img.naturalWidth === 40",
        )
        .await;
    assert_eq!(browser.text("#result-status").await, "201 Created");
    browser.shoot("2-resized").await;
    browser
        .until(
            "the resized image in the grid",
            "return document.querySelectorAll('.thumb').length === 2",
        )
        .await;

    browser.click(&format!(".thumb[data-id='{id}']")).await;
    browser
        .until(
            "the detail of the original",
            &format!("return document.querySelector('#detail-title').textContent.includes('{id}')"),
        )
        .await;
    browser.click("#publish").await;
    browser
        .until(
            "the public URL",
            "return document.querySelector('#public-url').hasAttribute('href')",
        )
        .await;
    let public_url = browser
        .eval("return document.querySelector('#public-url').href")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(public_url, server.public_url(&id));
    browser.shoot("3-published").await;

    browser.client.goto(&public_url).await.unwrap();
    browser
        .until(
            "the public image",
            "return document.images.length === 1 && document.images[0].naturalWidth > 0",
        )
        .await;
    browser.shoot("4-public-url").await;

    browser.client.goto(&server.url("/")).await.unwrap();
    browser
        .until(
            "the library, with the key remembered",
            "return document.querySelectorAll('.thumb.loaded').length === 2",
        )
        .await;
    browser.click(&format!(".thumb[data-id='{id}']")).await;
    browser.click("#copy-url").await;
    // The clipboard is written asynchronously; the status follows.
    browser
        .until(
            "copy to show the URL it copied",
            &format!(
                "return document.querySelector('#status').textContent.includes({public_url:?})"
            ),
        )
        .await;
    browser.click("#unpublish").await;
    browser
        .until(
            "the public URL gone",
            "return !document.querySelector('#public-url').hasAttribute('href')",
        )
        .await;
    let unpublished = reqwest::get(&public_url).await.unwrap();
    assert_eq!(unpublished.status(), 404, "unpublished");
    browser.click("#delete").await;
    assert_eq!(browser.text("#delete").await, "Click again to delete");
    browser.click("#delete").await;
    browser
        .until(
            "the image gone from the grid",
            &format!("return !document.querySelector(\".thumb[data-id='{id}']\") && document.querySelectorAll('.thumb').length === 1"),
        )
        .await;
    browser.shoot("5-deleted").await;
    let api = ApiClient::new(&server, &key);
    let gone = api.get(&format!("/v1/images/{id}")).send().await.unwrap();
    assert_eq!(gone.status(), 404);

    // Over the inline limit, the console reserves a direct upload and PUTs the file to it.
    let big = tempfile::tempdir().unwrap();
    let big_file = big.path().join("big-noise.png");
    let noise = fixtures::encode_noise(Format::Png, 1400, 1200);
    assert!(
        noise.len() > 4 * 1024 * 1024,
        "bigger than the console's inline limit"
    );
    std::fs::write(&big_file, &noise).unwrap();
    browser.type_into("#file", big_file.to_str().unwrap()).await;
    browser
        .until(
            "the directly uploaded image",
            "return [...document.querySelectorAll('.thumb.loaded')] \
             .some((card) => card.textContent.includes('big-noise'))",
        )
        .await;
    let status = browser.text("#status").await;
    assert_eq!(status, "2 image(s).");
    let log = std::fs::read_to_string(server.data_dir().join("server.log")).unwrap();
    assert!(
        log.contains("path=\"/v1/uploads\""),
        "the console reserved a direct upload:\n{log}"
    );
    browser.shoot("6-direct-upload").await;

    browser.client.goto(&server.url("/docs")).await.unwrap();
    browser
        .until(
            "the resize operation in the docs",
            "const section = document.querySelector('#resizeImage'); \
             return Boolean(section && section.querySelector('pre.curl'))",
        )
        .await;
    let example = browser.text("#resizeImage pre.curl").await;
    assert!(
        example.contains("\"$API/v1/images/$IMAGE_ID/resize\""),
        "{example}"
    );
    let server_line = browser.text("#docs pre").await;
    assert!(
        server_line.contains(&format!("export API={}", server.base)),
        "{server_line}"
    );
    browser.shoot("7-docs").await;
    browser.client.close().await.unwrap();
}
