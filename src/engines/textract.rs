//! Text recognition on Amazon Textract: `AnalyzeDocument` with the LAYOUT feature for a document's
//! structure, `DetectDocumentText` for its lines. Both calls are synchronous, one page, and take
//! the image's bytes in the request.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_textract::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_textract::primitives::Blob;
use aws_sdk_textract::types::{
    Block as TextractBlock, BlockType, Document as TextractDocument, FeatureType, RelationshipType,
};

use super::{EncodedImage, TextReader};
use crate::domain::{BackendError, Block, BlockKind, Document, append_line, list_item_text};
use crate::sdk::LazyClient;
use crate::store::aws::sdk_error;

/// Textract's limits for synchronous calls: 10 MB, 10,000 pixels a side.
const INPUT_LIMITS: (u64, u32) = (10_000_000, 10_000);

/// Codes with which Textract turns the image itself down.
const REJECTIONS: &[&str] = &[
    "InvalidParameterException",
    "UnsupportedDocumentException",
    "BadDocumentException",
    "DocumentTooLargeException",
];

/// A `TextReader` over a Textract client.
pub struct Textract {
    client: LazyClient<aws_sdk_textract::Client>,
}

impl Textract {
    /// Reads through `client`, whose region, credentials and retries are the caller's.
    pub fn new(client: LazyClient<aws_sdk_textract::Client>) -> Self {
        Self { client }
    }
}

fn request_document(image: EncodedImage) -> TextractDocument {
    TextractDocument::builder()
        .bytes(Blob::new(image.bytes.to_vec()))
        .build()
}

#[async_trait]
impl TextReader for Textract {
    async fn read_document(&self, image: EncodedImage) -> Result<Document, BackendError> {
        let output = self
            .client
            .get()
            .analyze_document()
            .document(request_document(image))
            .feature_types(FeatureType::Layout)
            .send()
            .await
            .map_err(textract_error)?;
        Ok(layout_document(output.blocks()))
    }

    async fn read_lines(&self, image: EncodedImage) -> Result<Vec<String>, BackendError> {
        let output = self
            .client
            .get()
            .detect_document_text()
            .document(request_document(image))
            .send()
            .await
            .map_err(textract_error)?;
        let lines = output
            .blocks()
            .iter()
            .filter(|block| block.block_type() == Some(&BlockType::Line))
            .filter_map(|line| line.text())
            .map(str::to_owned)
            .collect();
        Ok(lines)
    }

    fn input_limits(&self) -> (u64, u32) {
        INPUT_LIMITS
    }
}

/// Throttling is `Unavailable`; an image Textract turns down is `Failed` with its reason, for
/// the service to answer as it sees fit.
fn textract_error<E, R>(error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error.code() {
        // `sdk_error` knows AWS's common throttling codes; this one is Textract's own.
        Some("LimitExceededException") => BackendError::Unavailable(Box::new(error)),
        Some(code) if REJECTIONS.contains(&code) => BackendError::failed(format!(
            "Textract turned the image down ({code}): {}",
            error.message().unwrap_or("no reason given")
        )),
        _ => sdk_error(error),
    }
}

/// The document that Textract's layout blocks make, in the order of the response, which is
/// reading order. Running headers and footers, page numbers and figures are left out.
fn layout_document(blocks: &[TextractBlock]) -> Document {
    let by_id: HashMap<&str, &TextractBlock> = blocks
        .iter()
        .filter_map(|block| Some((block.id()?, block)))
        .collect();
    // A list's items are layout blocks of their own as well; they are read as the list's.
    let list_items: HashSet<&str> = blocks
        .iter()
        .filter(|block| block.block_type() == Some(&BlockType::LayoutList))
        .flat_map(children)
        .collect();
    let mut document = Document::default();
    let mut push = |kind, text: String| {
        if !text.is_empty() {
            document.blocks.push(Block { kind, text });
        }
    };
    for block in blocks {
        if block.id().is_some_and(|id| list_items.contains(id)) {
            continue;
        }
        let kind = match block.block_type() {
            Some(BlockType::LayoutTitle) => BlockKind::Title,
            Some(BlockType::LayoutSectionHeader) => BlockKind::SectionHeader,
            Some(BlockType::LayoutText | BlockType::LayoutTable | BlockType::LayoutKeyValue) => {
                BlockKind::Paragraph
            }
            Some(BlockType::LayoutList) => {
                for item in children(block).filter_map(|id| by_id.get(id)) {
                    let text = text_of(item, &by_id);
                    let text = list_item_text(&text).map(str::to_owned).unwrap_or(text);
                    push(BlockKind::ListItem, text);
                }
                continue;
            }
            _ => continue,
        };
        push(kind, text_of(block, &by_id));
    }
    document
}

/// The ids a block's CHILD relationships point to, in order.
fn children(block: &TextractBlock) -> impl Iterator<Item = &str> {
    block
        .relationships()
        .iter()
        .filter(|relationship| relationship.r#type() == Some(&RelationshipType::Child))
        .flat_map(|relationship| relationship.ids())
        .map(String::as_str)
}

/// A line's text, or the text of the lines a layout block points to, one after another.
fn text_of(block: &TextractBlock, by_id: &HashMap<&str, &TextractBlock>) -> String {
    if block.block_type() == Some(&BlockType::Line) {
        return block.text().unwrap_or_default().to_owned();
    }
    let mut text = String::new();
    let lines = children(block)
        .filter_map(|id| by_id.get(id))
        .filter(|child| child.block_type() == Some(&BlockType::Line));
    for line in lines {
        append_line(&mut text, line.text().unwrap_or_default());
    }
    text
}
