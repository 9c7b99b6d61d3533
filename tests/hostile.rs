//! Hostile files: every one gets a clear 4xx or a correct result, never a 5xx, a panic or an
//! exhausted server. The corpus is in tests/corpus/.

mod support;

use support::{Client, Server, status_json};

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
