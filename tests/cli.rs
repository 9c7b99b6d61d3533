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
