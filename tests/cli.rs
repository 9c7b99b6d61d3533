//! `imgforge transform`: the API's engine and checks on local files.

use std::process::Command;

use imgforge::domain::Format;
use imgforge::imaging::{DecodeHint, decode, fixtures};
use serde_json::Value;

fn transform(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_imgforge"))
        .arg("transform")
        .args(args)
        .output()
        .expect("running imgforge transform")
}

#[test]
fn transforms_a_file_and_reports_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let output = dir.path().join("out.png");
    std::fs::write(&input, fixtures::encode(Format::Png, 64, 32)).unwrap();
    let run = transform(&[
        "resize",
        "--params",
        r#"{"width": 16}"#,
        input.to_str().unwrap(),
        output.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["format"], "png", "the source format");
    assert_eq!(
        (summary["width"].as_u64(), summary["height"].as_u64()),
        (Some(16), Some(8))
    );
    let written = std::fs::read(&output).unwrap();
    assert_eq!(summary["size"], written.len());
    let decoded = decode(&written, 1 << 20, DecodeHint::default())
        .unwrap()
        .image;
    assert_eq!((decoded.width(), decoded.height()), (16, 8));
}

#[test]
fn refuses_bad_parameters_with_the_api_messages() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jpg");
    std::fs::write(&input, fixtures::encode(Format::Jpeg, 8, 8)).unwrap();
    let output = dir.path().join("out.jpg");
    let run = transform(&[
        "crop",
        "--params",
        r#"{"x1": 0, "y1": 0, "x2": 9, "y2": 0.5}"#,
        input.to_str().unwrap(),
        output.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("y2 must be an integer between 0 and 100000"),
        "{stderr}"
    );
    assert!(!output.exists(), "nothing is written on failure");
}

#[test]
fn watermark_ids_name_files() {
    let dir = tempfile::tempdir().unwrap();
    let (input, logo, output) = (
        dir.path().join("in.png"),
        dir.path().join("logo.png"),
        dir.path().join("out.png"),
    );
    std::fs::write(&input, fixtures::encode(Format::Png, 20, 20)).unwrap();
    std::fs::write(&logo, fixtures::encode(Format::Png, 4, 4)).unwrap();
    let id = "image_000000000000000000000001";
    let params = format!(r#"{{"watermarks": [{{"id": "{id}", "repetition_mode": "repeat"}}]}}"#);
    let mapping = format!("{id}={}", logo.display());
    let paths = [input.to_str().unwrap(), output.to_str().unwrap()];
    let run = transform(&[
        "watermark",
        "--params",
        &params,
        "--watermark",
        &mapping,
        paths[0],
        paths[1],
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let unmapped = transform(&["watermark", "--params", &params, paths[0], paths[1]]);
    assert!(String::from_utf8_lossy(&unmapped.stderr).contains("no --watermark"));
}

#[test]
fn refuses_an_output_name_that_contradicts_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jpg");
    std::fs::write(&input, fixtures::encode(Format::Jpeg, 8, 8)).unwrap();
    let run_into = |operation: &str, params: &str, name: &str| {
        let output = dir.path().join(name);
        let run = transform(&[
            operation,
            "--params",
            params,
            input.to_str().unwrap(),
            output.to_str().unwrap(),
        ]);
        (run, output)
    };
    let (run, output) = run_into("convert", r#"{"format": "webp"}"#, "out.jpg");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("the result is webp") && stderr.contains("name the output .webp"),
        "{stderr}"
    );
    assert!(!output.exists(), "nothing is written");
    let (run, _) = run_into("blur", "{}", "out.png");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("the result is jpeg"),
        "the implied format is the source's"
    );
    for (name, params) in [
        ("out.webp", r#"{"format": "webp"}"#),
        ("out.JPEG", r#"{"format": "jpg"}"#),
        ("out", r#"{"format": "png"}"#),
    ] {
        let (run, output) = run_into("convert", params, name);
        assert!(run.status.success(), "{name}: {run:?}");
        assert!(output.exists());
    }
}

/// A loopback address nothing listens on.
fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn against(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imgforge"));
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IMGFORGE_BACKEND", "aws")
        .env("IMGFORGE_BUCKET", "imgforge-unreachable")
        .env("IMGFORGE_TABLE", "imgforge-unreachable")
        .env("IMGFORGE_CDN_DOMAIN", "cdn.invalid")
        .env("IMGFORGE_DISTRIBUTION_ID", "E000")
        .env("IMGFORGE_ADDR", "127.0.0.1:0");
    command
}

#[tokio::test]
async fn an_emulator_that_is_not_running_is_named_not_called_busy() {
    let endpoint = closed_endpoint();
    let init = against(&endpoint, &["emulator", "init"]).output().unwrap();
    assert!(!init.status.success());
    let said = String::from_utf8_lossy(&init.stderr);
    assert!(
        said.contains(&format!("could not reach {endpoint}")) && said.contains("is it running?"),
        "{said}"
    );

    let mut serve = against(&endpoint, &["serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let base = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map(Result::unwrap)
        .find_map(|line| {
            line.strip_prefix("imgforge is serving the API at ")
                .map(str::to_owned)
        })
        .expect("serve starts without reaching the store");
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/images"))
        .header("x-api-key", format!("test_{}", "a".repeat(32)))
        .send()
        .await
        .unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("storage backend could not be reached") && !message.contains("busy"),
        "{message}"
    );
}
