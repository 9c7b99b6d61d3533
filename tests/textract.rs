//! The Textract adapter against responses in Textract's wire format, served by aws-smithy-mocks
//! (moto does not implement synchronous AnalyzeDocument). The responses in `tests/fixtures/` are
//! what Textract answers for `document.png`, in shape: a page, its lines and words, and for
//! AnalyzeDocument the layout blocks pointing at the lines.

use aws_sdk_textract::types::FeatureType;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use bytes::Bytes;
use imgforge::domain::{BackendError, Block, BlockKind, Format};
use imgforge::engines::textract::Textract;
use imgforge::engines::{EncodedImage, TextReader};

const DOCUMENT: &[u8] = include_bytes!("fixtures/document.png");
const ANALYSIS: &str = include_str!("fixtures/textract-analyze-document-layout.json");
const DETECTION: &str = include_str!("fixtures/textract-detect-document-text.json");

fn image() -> EncodedImage {
    EncodedImage {
        bytes: Bytes::from_static(DOCUMENT),
        format: Format::Png,
        width: 1100,
        height: 860,
    }
}

fn json(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_owned()),
    )
}

/// Textract speaks JSON 1.1: the error's code is its `__type`.
fn error_response(code: &str) -> HttpResponse {
    json(
        400,
        &format!(r#"{{"__type":"{code}","Message":"mocked {code}"}}"#),
    )
}

fn reader(rules: &[&Rule]) -> Textract {
    // Without retries, each rule sees exactly the calls the adapter makes.
    let client = mock_client!(aws_sdk_textract, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::disabled()));
    Textract::new(client.into())
}

fn block(kind: BlockKind, text: &str) -> Block {
    Block {
        kind,
        text: text.into(),
    }
}

#[tokio::test]
async fn the_layout_becomes_the_documents_blocks_in_reading_order() {
    let analyze = mock!(aws_sdk_textract::Client::analyze_document)
        .match_requests(|request| {
            request.feature_types() == [FeatureType::Layout]
                && request
                    .document()
                    .and_then(|document| document.bytes())
                    .is_some_and(|bytes| bytes.as_ref() == DOCUMENT)
        })
        .then_http_response(|| json(200, ANALYSIS));
    let document = reader(&[&analyze]).read_document(image()).await.unwrap();
    assert_eq!(analyze.num_calls(), 1);
    // The running header, the page number and the figure are left out; the list's items come
    // once, as items, without their bullets; the hyphenated word is whole again.
    assert_eq!(
        document.blocks,
        [
            block(BlockKind::Title, "Quarterly Field Report"),
            block(BlockKind::SectionHeader, "Summary of Findings"),
            block(
                BlockKind::Paragraph,
                "The survey team visited twelve sites along the northern coast during the spring \
                 season. Water samples were collected at each site and sent to the laboratory for \
                 a full chemical analysis of their nitrate, phosphate and oxygen content."
            ),
            block(
                BlockKind::Paragraph,
                "Most samples met the regional standard for clarity. Three sites showed elevated \
                 nitrate levels, which the team will monitor closely during the next quarter \
                 before recommending any changes to local farming practice."
            ),
            block(
                BlockKind::ListItem,
                "Repeat the sampling at the three flagged sites"
            ),
            block(
                BlockKind::ListItem,
                "Install two new monitoring stations on the estuary"
            ),
            block(
                BlockKind::ListItem,
                "Publish the full dataset in the autumn bulletin"
            ),
        ]
    );
}

#[tokio::test]
async fn lines_are_detected_text_in_order() {
    let detect = mock!(aws_sdk_textract::Client::detect_document_text)
        .match_requests(|request| {
            request
                .document()
                .and_then(|document| document.bytes())
                .is_some_and(|bytes| bytes.as_ref() == DOCUMENT)
        })
        .then_http_response(|| json(200, DETECTION));
    let lines = reader(&[&detect]).read_lines(image()).await.unwrap();
    assert_eq!(detect.num_calls(), 1);
    assert_eq!(lines.len(), 14, "{lines:#?}");
    assert_eq!(lines[0], "Coastal Survey Unit");
    assert_eq!(lines[1], "Quarterly Field Report");
    assert_eq!(
        lines[10],
        "• Repeat the sampling at the three flagged sites"
    );
    assert_eq!(lines[13], "1");
}

#[tokio::test]
async fn throttling_is_unavailable() {
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
    ] {
        let analyze = mock!(aws_sdk_textract::Client::analyze_document)
            .then_http_response(move || error_response(code));
        let detect = mock!(aws_sdk_textract::Client::detect_document_text)
            .then_http_response(move || error_response(code));
        let reader = reader(&[&analyze, &detect]);
        let error = reader.read_document(image()).await.unwrap_err();
        assert!(
            matches!(error, BackendError::Unavailable(_)),
            "{code}: {error:?}"
        );
        let error = reader.read_lines(image()).await.unwrap_err();
        assert!(
            matches!(error, BackendError::Unavailable(_)),
            "{code}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_image_textract_turns_down_fails_with_the_reason() {
    for code in [
        "InvalidParameterException",
        "UnsupportedDocumentException",
        "BadDocumentException",
    ] {
        let analyze = mock!(aws_sdk_textract::Client::analyze_document)
            .then_http_response(move || error_response(code));
        let error = reader(&[&analyze])
            .read_document(image())
            .await
            .unwrap_err();
        let BackendError::Failed(reason) = error else {
            panic!("{code}: {error:?}");
        };
        assert_eq!(
            reason.to_string(),
            format!("Textract turned the image down ({code}): mocked {code}")
        );
    }
}

#[tokio::test]
async fn other_errors_fail() {
    let detect = mock!(aws_sdk_textract::Client::detect_document_text)
        .then_http_response(|| error_response("AccessDeniedException"));
    let error = reader(&[&detect]).read_lines(image()).await.unwrap_err();
    assert!(matches!(error, BackendError::Failed(_)), "{error:?}");
}
