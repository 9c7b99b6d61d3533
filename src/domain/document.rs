//! Text read from an image, with the structure the extract-formatted-text endpoint keeps.

/// What a block of text is in its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// The document's title.
    Title,
    /// A section heading.
    SectionHeader,
    Paragraph,
    /// One item of a list, without its bullet or number.
    ListItem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
}

/// A document's blocks in reading order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub blocks: Vec<Block>,
}
