//! Hostile files: every one gets a clear 4xx or a correct result, never a 5xx, a panic or an
//! exhausted server. The corpus is in tests/corpus/; the huge ones are made here.

mod support;

use std::time::Instant;

use futures_util::future::join_all;
use imgforge::domain::Format;
use imgforge::imaging::fixtures;
use serde_json::{Value, json};
use support::{Client, Server, status_json};

const MIB: u64 = 1024 * 1024;

/// Each file, and what an upload of it may answer.
const CORPUS: &[(&str, &[u16])] = &[
    ("truncated.jpg", &[422]),
    ("truncated.png", &[422]),
    ("truncated.webp", &[422]),
    ("header-only.jpg", &[422]),
    ("huge-dimensions.png", &[422]),
    ("zip-bomb.png", &[201, 422]),
    ("idat-bomb.png", &[201, 422]),
    ("polyglot.jpg", &[201]),
    ("image.svg", &[422]),
    ("empty.png", &[422]),
    ("png-named.jpg", &[201]),
    ("animation.gif", &[422]),
    ("garbage.webp", &[422]),
    ("zero-width.png", &[422]),
    ("bad-crc.png", &[201, 422]),
];

#[tokio::test]
async fn the_hostile_corpus_gets_only_clear_answers() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_hostile"));
    for (file, allowed) in CORPUS {
        let bytes = std::fs::read(format!("tests/corpus/{file}")).unwrap();
        let response = client.upload_bytes(file, bytes).await;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(allowed.contains(&status), "{file}: {status} {body}");
        if status != 201 {
            assert!(body["errors"][0].is_string(), "{file}: {body}");
            continue;
        }
        // Whatever was accepted can be worked on, or is refused clearly.
        let id = body["id"].as_str().unwrap();
        for (operation, params) in [
            ("mirror", serde_json::json!({"mode": "horizontal"})),
            ("resize", serde_json::json!({"width": 7})),
            ("convert", serde_json::json!({"format": "webp"})),
        ] {
            let path = format!("/v1/images/{id}/{operation}");
            let (status, result) = status_json(client.post(&path).json(&params)).await;
            assert!(
                [201, 422].contains(&status),
                "{file} {operation}: {status} {result}"
            );
        }
    }
    let (status, _) = status_json(client.get("/v1/images")).await;
    assert_eq!(status, 200, "the server is still up");
}

#[tokio::test]
async fn downloads_are_never_sniffed_as_another_type() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("test", "acct_sniff"));
    let polyglot = std::fs::read("tests/corpus/polyglot.jpg").unwrap();
    let image: serde_json::Value = client
        .upload_bytes("polyglot", polyglot)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(image["format"], "jpeg");
    let download = client
        .get(&format!(
            "/v1/images/{}/download",
            image["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.headers()["content-type"], "image/jpeg");
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
}

/// What the fuzz target does (fuzz/fuzz_targets/decode.rs), over every file of the corpus:
/// crashes the fuzzer finds are added there and stay fixed. Whatever is accepted must then be
/// processed.
#[test]
fn the_engine_never_panics_on_the_corpus() {
    for entry in std::fs::read_dir("tests/corpus").unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = imgforge::imaging::fixtures::exercise(&data, 1 << 20);
        assert!(outcome.is_ok(), "{}: {outcome:?}", path.display());
    }
}

/// Files of a few hundred bytes that decode to tens of megapixels, each a different strain on
/// memory: a lossless WebP, a PNG, a progressive CMYK JPEG (coefficients buffered whole).
fn huge_but_tiny() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("webp", fixtures::blank_webp(4096, 4096)),
        ("png", fixtures::blank_png(4096, 4096)),
        ("cmyk", fixtures::cmyk_jpeg(4000, 4000, [0, 0, 0, 0])),
    ]
}

/// Many huge inputs at once, uploaded then transformed and watermarked, on a server with a
/// small memory budget: each is processed, or waits and is told to retry (503), and the
/// server's resident memory stays within 1.25 times its budget above where it started.
#[tokio::test]
async fn concurrent_huge_inputs_stay_within_the_memory_budget() {
    const BUDGET: u64 = 400 * MIB;
    let server = Server::start_with(&[("IMGFORGE_MAX_MEMORY", "400MiB")]);
    let client = Client::new(&server, &server.key("live", "acct_huge"));
    let files = huge_but_tiny();
    let (at_rest, _) = server.memory();

    let uploads = files.iter().cycle().take(9).map(|(name, bytes)| {
        let client = &client;
        async move { client.upload_bytes(name, bytes.clone()).await }
    });
    let mut ids = Vec::new();
    for response in join_all(uploads).await {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!([201, 503].contains(&status), "{status} {body}");
        if status == 201 {
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(!ids.is_empty(), "some were admitted");

    let watermark = json!({"watermarks": [{"id": ids[0], "left": 0, "top": 0}, {"id": ids[0], "left": 9, "top": 9}, {"id": ids[0], "left": 99, "top": 99}]});
    let work = ids.iter().flat_map(|id| {
        [
            (format!("/v1/images/{id}/rotate"), json!({"angle": 30})),
            (format!("/v1/images/{id}/blur"), json!({"sigma": 30})),
            (format!("/v1/images/{id}/watermark"), watermark.clone()),
        ]
    });
    let results = join_all(work.map(|(path, body)| {
        let client = &client;
        async move { status_json(client.post(&path).json(&body)).await }
    }))
    .await;
    for (status, body) in &results {
        assert!([201, 422, 503].contains(status), "{status} {body}");
    }
    assert!(results.iter().any(|(status, _)| *status == 201));

    let (_, peak) = server.memory();
    eprintln!(
        "resident at rest {} MiB, peak {} MiB, budget {} MiB",
        at_rest / MIB,
        peak / MIB,
        BUDGET / MIB
    );
    assert!(
        peak <= at_rest + BUDGET * 5 / 4,
        "peak {} MiB over {} MiB at rest with a budget of {} MiB",
        peak / MIB,
        at_rest / MIB,
        BUDGET / MIB
    );
}

/// An input that could never fit the budget is refused before it is decoded.
#[tokio::test]
async fn what_could_never_fit_the_budget_is_a_422_at_once() {
    let server = Server::start_with(&[("IMGFORGE_MAX_MEMORY", "64MiB")]);
    let client = Client::new(&server, &server.key("live", "acct_small"));
    let response = client
        .upload_bytes("huge", fixtures::blank_webp(4096, 4096))
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let message = body["errors"][0].as_str().unwrap();
    assert!(message.contains("MiB of memory"), "{message}");
}

/// Progressive scans past the limit, a truncated file and an angle with no value are refused
/// with 422; the scan bomb before any of its scans is decoded.
#[tokio::test]
async fn scan_bombs_truncations_and_infinite_angles_are_422s() {
    let server = Server::start();
    let client = Client::new(&server, &server.key("live", "acct_bombs"));
    let started = Instant::now();
    let response = client
        .upload_bytes("bomb", fixtures::jpeg_with_scans(20_000))
        .await;
    let refused_in = started.elapsed();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"][0].as_str().unwrap().contains("scans"),
        "{body}"
    );
    eprintln!("a 20000-scan JPEG refused in {refused_in:?}");

    let whole = fixtures::encode_noise(Format::Jpeg, 256, 256);
    let response = client
        .upload_bytes("half", whole[..whole.len() / 2].to_vec())
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"][0].as_str().unwrap().contains("truncated"),
        "{body}"
    );

    let image = client.upload("turned").await;
    let path = format!("/v1/images/{}/rotate", image["id"].as_str().unwrap());
    let (status, body) = status_json(
        client
            .post(&path)
            .json(&json!({"angle": 1e308, "unit": "radians"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}
