//! Text read from an image, with the structure the extract-formatted-text endpoint keeps, and its
//! two renderings.

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

impl Document {
    /// The text without markup: one block after another with a blank line between them. Titles
    /// and headings are lines of their own; list items keep a `- ` before them, one per line with
    /// no blank line inside a list, so a list still reads as one.
    pub fn plain(&self) -> String {
        self.render(|kind| match kind {
            BlockKind::ListItem => "- ",
            BlockKind::Title | BlockKind::SectionHeader | BlockKind::Paragraph => "",
        })
    }

    /// The text as Markdown: the title as `# `, section headings as `## `, list items as `- `,
    /// paragraphs as they are; a blank line between blocks except inside a list.
    pub fn markdown(&self) -> String {
        self.render(|kind| match kind {
            BlockKind::Title => "# ",
            BlockKind::SectionHeader => "## ",
            BlockKind::ListItem => "- ",
            BlockKind::Paragraph => "",
        })
    }

    /// The blocks, each after the prefix its kind is given; no newline after the last one.
    fn render(&self, prefix: fn(BlockKind) -> &'static str) -> String {
        let mut text = String::new();
        let mut previous: Option<BlockKind> = None;
        for block in &self.blocks {
            match previous {
                Some(BlockKind::ListItem) if block.kind == BlockKind::ListItem => text.push('\n'),
                Some(_) => text.push_str("\n\n"),
                None => {}
            }
            text.push_str(prefix(block.kind));
            text.push_str(&block.text);
            previous = Some(block.kind);
        }
        text
    }
}

/// Adds a line to the text it continues: after a space, or in place of the hyphen that broke a
/// word across the two lines ("labora-" and "tory").
pub fn append_line(text: &mut String, line: &str) {
    let broken_word = text
        .strip_suffix('-')
        .is_some_and(|head| head.ends_with(char::is_alphabetic))
        && line.starts_with(char::is_lowercase);
    if broken_word {
        text.pop();
    } else if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(line);
}

/// Bullets that start a list item when a space follows them.
const BULLETS: &[char] = &[
    '•', '·', '▪', '◦', '●', '○', '■', '□', '‣', '–', '-', '*', 'o',
];

/// The text of a list item's line after its bullet (`•`, `-`, `*`, `·`, `▪`, `o` …) or its number
/// (`1.`, `1)`, `a)`); `None` when the line starts with neither, or nothing follows it.
pub fn list_item_text(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let (marker, rest) = line.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    (is_list_marker(marker) && !rest.is_empty()).then_some(rest)
}

fn is_list_marker(marker: &str) -> bool {
    let mut chars = marker.chars();
    match (chars.next(), chars.next_back()) {
        (Some(bullet), None) => BULLETS.contains(&bullet),
        (Some(_), Some(close)) => {
            let label = &marker[..marker.len() - close.len_utf8()];
            let number =
                (1..=3).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_digit());
            let letter = label.len() == 1 && label.as_bytes()[0].is_ascii_lowercase();
            (number && matches!(close, '.' | ')')) || (letter && close == ')')
        }
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: BlockKind, text: &str) -> Block {
        Block {
            kind,
            text: text.into(),
        }
    }

    fn report() -> Document {
        Document {
            blocks: vec![
                block(BlockKind::Title, "Field Report"),
                block(BlockKind::SectionHeader, "Findings"),
                block(BlockKind::Paragraph, "Twelve sites were visited."),
                block(BlockKind::ListItem, "Sample again"),
                block(BlockKind::ListItem, "Publish the data"),
                block(BlockKind::Paragraph, "More next quarter."),
            ],
        }
    }

    #[test]
    fn markdown_marks_title_headings_and_list_items() {
        assert_eq!(
            report().markdown(),
            "# Field Report\n\n## Findings\n\nTwelve sites were visited.\n\n\
             - Sample again\n- Publish the data\n\nMore next quarter."
        );
    }

    #[test]
    fn plain_keeps_the_list_dashes_and_drops_the_heading_marks() {
        assert_eq!(
            report().plain(),
            "Field Report\n\nFindings\n\nTwelve sites were visited.\n\n\
             - Sample again\n- Publish the data\n\nMore next quarter."
        );
    }

    #[test]
    fn lists_apart_are_separated_by_a_blank_line_only_around_other_blocks() {
        let document = Document {
            blocks: vec![
                block(BlockKind::ListItem, "one"),
                block(BlockKind::SectionHeader, "Next"),
                block(BlockKind::ListItem, "two"),
            ],
        };
        assert_eq!(document.markdown(), "- one\n\n## Next\n\n- two");
    }

    #[test]
    fn an_empty_document_renders_as_nothing() {
        assert_eq!(Document::default().plain(), "");
        assert_eq!(Document::default().markdown(), "");
    }

    #[test]
    fn hyphens_join_broken_words_only() {
        let mut text = String::new();
        append_line(&mut text, "first");
        assert_eq!(text, "first");
        let mut text = String::from("the labora-");
        append_line(&mut text, "tory");
        assert_eq!(text, "the laboratory");
        let mut text = String::from("North-");
        append_line(&mut text, "East");
        assert_eq!(text, "North- East");
        let mut text = String::from("a range 1-");
        append_line(&mut text, "to 4");
        assert_eq!(text, "a range 1- to 4");
    }

    #[test]
    fn list_markers_are_removed() {
        for (line, text) in [
            ("• Repeat the sampling", "Repeat the sampling"),
            ("- dash", "dash"),
            ("*  star", "star"),
            ("· middle dot", "middle dot"),
            ("▪ square", "square"),
            ("o letter o", "letter o"),
            ("1. first", "first"),
            ("12) twelfth", "twelfth"),
            ("a) lettered", "lettered"),
            ("  • indented", "indented"),
        ] {
            assert_eq!(list_item_text(line), Some(text), "{line:?}");
        }
    }

    #[test]
    fn ordinary_lines_are_not_list_items() {
        for line in [
            "Repeat the sampling",
            "•",
            "- ",
            "1.",
            "1999. was a year",
            "a. not lettered",
            "A) capital",
            "ab) two letters",
            "-dash without a space",
            "on its own",
        ] {
            assert_eq!(list_item_text(line), None, "{line:?}");
        }
    }
}
