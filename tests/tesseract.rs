//! The Tesseract adapter running the real program on the document the repository ships
//! (`tests/fixtures/document.png`). Tesseract must be installed: these tests fail, saying how to
//! install it, rather than skip.

use std::time::Duration;

use bytes::Bytes;
use imgforge::domain::{BackendError, Format};
use imgforge::engines::tesseract::{self, Tesseract};
use imgforge::engines::{EncodedImage, TextReader};

const DOCUMENT: &[u8] = include_bytes!("fixtures/document.png");

fn png(bytes: &'static [u8]) -> EncodedImage {
    EncodedImage {
        bytes: Bytes::from_static(bytes),
        format: Format::Png,
        width: 1100,
        height: 860,
    }
}

fn reader(timeout: Duration) -> Tesseract {
    Tesseract::new(timeout)
        .unwrap_or_else(|missing| panic!("these tests run the real Tesseract: {missing}"))
}

#[tokio::test]
async fn the_document_reads_as_markdown_with_its_structure_in_order() {
    let markdown = reader(Duration::from_secs(60))
        .read_document(png(DOCUMENT))
        .await
        .unwrap()
        .markdown();
    let in_order = [
        "# Quarterly Field Report\n\n",
        "## Summary of Findings\n\n",
        "The survey team visited twelve sites",
        "sent to the laboratory for a full chemical analysis",
        "oxygen content.\n\nMost samples met the regional standard",
        "changes to local farming practice.\n\n",
        "- Repeat the sampling at the three flagged sites\n",
        "- Install two new monitoring stations on the estuary\n",
        "- Publish the full dataset in the autumn bulletin",
    ];
    let mut rest = markdown.as_str();
    for expected in in_order {
        let at = rest
            .find(expected)
            .unwrap_or_else(|| panic!("{expected:?} is not where it belongs in:\n{markdown}"));
        rest = &rest[at + expected.len()..];
    }
    let items = markdown.lines().filter(|line| line.starts_with("- "));
    assert_eq!(items.count(), 3, "{markdown}");
}

#[tokio::test]
async fn the_documents_lines_come_in_reading_order() {
    let lines = reader(Duration::from_secs(60))
        .read_lines(png(DOCUMENT))
        .await
        .unwrap();
    assert_eq!(lines.len(), 12, "{lines:#?}");
    assert_eq!(lines[0], "Quarterly Field Report");
    assert_eq!(lines[1], "Summary of Findings");
    assert_eq!(
        lines[6],
        "Most samples met the regional standard for clarity. Three sites showed"
    );
    assert!(lines[11].ends_with("Publish the full dataset in the autumn bulletin"));
}

#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_as_unavailable() {
    let error = reader(Duration::from_millis(10))
        .read_document(png(DOCUMENT))
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn an_image_tesseract_cannot_decode_is_a_failure() {
    let error = reader(Duration::from_secs(60))
        .read_lines(png(b"\x89PNG\r\n\x1a\nno chunks follow"))
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::Failed(_)), "{error:?}");
}

#[test]
fn the_version_names_tesseract() {
    let version =
        tesseract::version().unwrap_or_else(|| panic!("{}", tesseract::TesseractMissing::Program));
    assert!(version.starts_with("tesseract "), "{version}");
}
