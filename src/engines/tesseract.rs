//! Text recognition with Tesseract, run as a program: the image goes in on stdin and the words
//! come back as TSV — page, block, paragraph and line numbers with each word's box — from which
//! the document's structure is rebuilt: headings by the height of their letters, list items by
//! their bullets, paragraphs by Tesseract's blocks and paragraphs.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{EncodedImage, TextReader};
use crate::domain::{BackendError, Block, BlockKind, Document, append_line, list_item_text};

const PROGRAM: &str = "tesseract";
const INSTALL: &str = "apt-get install tesseract-ocr tesseract-ocr-eng";

/// Fully automatic page segmentation, English, words as TSV.
const ARGUMENTS: [&str; 7] = ["stdin", "stdout", "-l", "eng", "--psm", "3", "tsv"];

/// Tesseract reads what Leptonica decodes; these bound the memory a run takes.
const INPUT_LIMITS: (u64, u32) = (32 << 20, 10_000);

/// How much taller than the body's letters a title's and a section heading's are, at least.
const TITLE_SCALE: f32 = 1.6;
const SECTION_HEADER_SCALE: f32 = 1.25;
/// A heading wraps onto few lines; a taller paragraph than this is body text set large.
const HEADING_MAX_LINES: usize = 3;

/// Glyphs that reach below the baseline: a word with one of them is taller than its letters.
const DESCENDERS: &[char] = &[
    'g', 'j', 'p', 'q', 'y', 'Q', ',', ';', '(', ')', '[', ']', '{', '}', '|',
];

/// Why Tesseract cannot be used here.
#[derive(Debug, thiserror::Error)]
pub enum TesseractMissing {
    #[error("the tesseract program was not found; install it with `{INSTALL}`")]
    Program,
    #[error("tesseract has no English language data; install it with `{INSTALL}`")]
    English,
}

/// The first line of `tesseract --version` ("tesseract 5.3.0"), or `None` when the program is
/// not installed.
pub fn version() -> Option<String> {
    let output = std::process::Command::new(PROGRAM)
        .arg("--version")
        .output()
        .ok()?;
    // Tesseract 5 prints its version on stdout, 4 on stderr.
    [output.stdout, output.stderr].iter().find_map(|stream| {
        String::from_utf8_lossy(stream)
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(str::to_owned)
    })
}

/// A `TextReader` that runs the `tesseract` program once per image.
pub struct Tesseract {
    timeout: Duration,
}

impl Tesseract {
    /// Tesseract from `PATH`, each run killed after `timeout`. Checks (by running
    /// `tesseract --list-langs`, which blocks briefly) that the program and its English data are
    /// installed, and says how to install them if not.
    pub fn new(timeout: Duration) -> Result<Self, TesseractMissing> {
        let listing = std::process::Command::new(PROGRAM)
            .arg("--list-langs")
            .output()
            .map_err(|_| TesseractMissing::Program)?;
        let has_english = [&listing.stdout, &listing.stderr].iter().any(|stream| {
            String::from_utf8_lossy(stream)
                .lines()
                .any(|language| language.trim() == "eng")
        });
        if has_english {
            Ok(Self { timeout })
        } else {
            Err(TesseractMissing::English)
        }
    }

    async fn read(&self, image: EncodedImage) -> Result<Vec<Line>, BackendError> {
        // Tesseract takes input that is not an image for a list of file names to open.
        if crate::imaging::sniff(&image.bytes).is_none() {
            return Err(BackendError::failed(
                "tesseract is given only JPEG, PNG or WebP images",
            ));
        }
        let tsv = self.run(image.bytes).await?;
        parse_tsv(&tsv).map_err(BackendError::failed)
    }

    /// Tesseract's TSV for the image.
    async fn run(&self, image: Bytes) -> Result<String, BackendError> {
        let mut child = Command::new(PROGRAM)
            .args(ARGUMENTS)
            // One thread per run: runs for several requests share the cores, and OpenMP's
            // threads only contend for them (on two busy cores a page took 3.1 s with them,
            // 1.2 s without).
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A run that overstays its timeout is dropped, and the process with it.
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| BackendError::failed(format!("cannot start tesseract: {error}")))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let feed = async move {
            // An error here means tesseract exited early, which its status reports better.
            let _ = stdin.write_all(&image).await;
            // `stdin` drops here: the end of the image.
        };
        let run = async move { tokio::join!(feed, child.wait_with_output()).1 };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| {
                BackendError::Unavailable(
                    format!("tesseract took longer than {:?}", self.timeout).into(),
                )
            })?
            .map_err(|error| BackendError::failed(format!("tesseract did not run: {error}")))?;
        if !output.status.success() {
            return Err(BackendError::failed(format!(
                "tesseract failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        String::from_utf8(output.stdout)
            .map_err(|_| BackendError::failed("tesseract wrote TSV that is not UTF-8"))
    }
}

#[async_trait]
impl TextReader for Tesseract {
    async fn read_document(&self, image: EncodedImage) -> Result<Document, BackendError> {
        Ok(rebuild_document(&self.read(image).await?))
    }

    async fn read_lines(&self, image: EncodedImage) -> Result<Vec<String>, BackendError> {
        Ok(self.read(image).await?.iter().map(Line::text).collect())
    }

    fn input_limits(&self) -> (u64, u32) {
        INPUT_LIMITS
    }
}

/// Where Tesseract put a line: its page, block, paragraph and line numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    page: u32,
    block: u32,
    paragraph: u32,
    line: u32,
}

impl Position {
    fn same_block(self, other: Self) -> bool {
        (self.page, self.block) == (other.page, other.block)
    }

    fn same_paragraph(self, other: Self) -> bool {
        self.same_block(other) && self.paragraph == other.paragraph
    }
}

#[derive(Debug)]
struct Word {
    text: String,
    /// The height of the word's box, in pixels.
    height: u32,
}

/// A line of recognised words, in reading order.
#[derive(Debug)]
struct Line {
    position: Position,
    words: Vec<Word>,
}

impl Line {
    fn text(&self) -> String {
        join_words(&self.words)
    }

    /// How tall the line's letters stand above the baseline: the height of its tallest word
    /// without descenders; `None` if every word has one. The line's own box will not do: a
    /// heading without descenders ("Results") is hardly taller than a body line with them.
    fn letter_height(&self) -> Option<u32> {
        self.words
            .iter()
            .filter(|word| !word.text.contains(DESCENDERS))
            .map(|word| word.height)
            .max()
    }

    /// The line's text after its bullet or number, if it starts with one: the usual markers,
    /// or a lone symbol before the first word, which is how Tesseract reads a small round bullet
    /// ("*", "¢", "«" …).
    fn list_item_text(&self) -> Option<String> {
        let (first, rest) = self.words.split_first()?;
        let mut first_chars = first.text.chars();
        let lone_symbol = matches!(
            (first_chars.next(), first_chars.next()),
            (Some(symbol), None) if !symbol.is_alphanumeric()
        );
        if lone_symbol && !rest.is_empty() {
            return Some(join_words(rest));
        }
        list_item_text(&self.text()).map(str::to_owned)
    }
}

fn join_words(words: &[Word]) -> String {
    let texts: Vec<&str> = words.iter().map(|word| word.text.as_str()).collect();
    texts.join(" ")
}

/// The lines of Tesseract's TSV (level, page_num, block_num, par_num, line_num, word_num, left,
/// top, width, height, conf, text), from its word rows.
fn parse_tsv(tsv: &str) -> Result<Vec<Line>, String> {
    let mut lines: Vec<Line> = Vec::new();
    for (index, row) in tsv.lines().enumerate() {
        let fields: Vec<&str> = row.split('\t').collect();
        // Rows of the other levels (page, block, paragraph, line) and the header carry no text.
        if fields.first() != Some(&"5") {
            continue;
        }
        let &[_, page, block, paragraph, line, _, _, _, _, height, _, text] = fields.as_slice()
        else {
            return Err(format!(
                "tesseract's TSV row {} has {} fields, not 12",
                index + 1,
                fields.len()
            ));
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let number = |field: &str| {
            field.parse::<u32>().map_err(|_| {
                format!(
                    "tesseract's TSV row {} has {field:?} for a number",
                    index + 1
                )
            })
        };
        let position = Position {
            page: number(page)?,
            block: number(block)?,
            paragraph: number(paragraph)?,
            line: number(line)?,
        };
        let word = Word {
            text: text.to_owned(),
            height: number(height)?,
        };
        match lines.last_mut() {
            Some(last) if last.position == position => last.words.push(word),
            _ => lines.push(Line {
                position,
                words: vec![word],
            }),
        }
    }
    Ok(lines)
}

/// The document the lines make: each paragraph of Tesseract's that is clearly taller than the
/// body is a heading (the first very tall one the title), each bulleted line starts a list item,
/// and the other lines make paragraphs.
fn rebuild_document(lines: &[Line]) -> Document {
    let body_height = median(lines.iter().filter_map(Line::letter_height).collect());
    let mut blocks: Vec<Block> = Vec::new();
    let mut has_title = false;
    // Where the last block's last line was, while further lines may continue that block.
    let mut open: Option<Position> = None;
    for paragraph in lines.chunk_by(|a, b| a.position.same_paragraph(b.position)) {
        if let Some(kind) = body_height.and_then(|body| heading_kind(paragraph, body, has_title)) {
            has_title |= kind == BlockKind::Title;
            let mut text = String::new();
            for line in paragraph {
                append_line(&mut text, &line.text());
            }
            blocks.push(Block { kind, text });
            open = None;
            continue;
        }
        for line in paragraph {
            if let Some(item) = line.list_item_text() {
                blocks.push(Block {
                    kind: BlockKind::ListItem,
                    text: item,
                });
            } else if let (Some(last), Some(previous)) = (blocks.last_mut(), open)
                && continues(last, previous, line.position)
            {
                append_line(&mut last.text, &line.text());
            } else {
                blocks.push(Block {
                    kind: BlockKind::Paragraph,
                    text: line.text(),
                });
            }
            open = Some(line.position);
        }
    }
    Document { blocks }
}

/// The heading a paragraph of Tesseract's is, if every line of it stands clearly taller than the
/// body text and it is not a list item.
fn heading_kind(paragraph: &[Line], body_height: u32, has_title: bool) -> Option<BlockKind> {
    if paragraph.len() > HEADING_MAX_LINES || paragraph[0].list_item_text().is_some() {
        return None;
    }
    // `None` sorts first: a line without a measure makes the paragraph unmeasured.
    let shortest = paragraph.iter().map(Line::letter_height).min()??;
    let scale = shortest as f32 / body_height as f32;
    if scale >= TITLE_SCALE && !has_title {
        Some(BlockKind::Title)
    } else if scale >= SECTION_HEADER_SCALE {
        Some(BlockKind::SectionHeader)
    } else {
        None
    }
}

/// Whether a line at `next` continues `block`, whose last line was at `previous`: within one of
/// Tesseract's paragraphs, always; across them, only a paragraph left mid-sentence in the same
/// block, as Tesseract starts a new paragraph wherever a line ends short.
fn continues(block: &Block, previous: Position, next: Position) -> bool {
    previous.same_paragraph(next)
        || (block.kind == BlockKind::Paragraph
            && previous.same_block(next)
            && !ends_sentence(&block.text))
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end_matches(['"', '\'', ')', '”', '’'])
        .ends_with(['.', '!', '?', ':'])
}

/// The lower median: with as many heading lines as body lines, the body's.
fn median(mut values: Vec<u32>) -> Option<u32> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Format;

    /// What tesseract 5.3.0 wrote for `tests/fixtures/document.png`.
    const DOCUMENT_TSV: &str = include_str!("../../tests/fixtures/document.tsv");

    fn block(kind: BlockKind, text: &str) -> Block {
        Block {
            kind,
            text: text.into(),
        }
    }

    /// TSV word rows for lines given as (block, paragraph, text, height of their letters); as
    /// in print, a word with descenders is a third taller.
    fn tsv(lines: &[(u32, u32, &str, u32)]) -> String {
        let mut tsv = String::from(
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n",
        );
        for (line_number, &(block, paragraph, text, height)) in lines.iter().enumerate() {
            for (word_number, word) in text.split(' ').enumerate() {
                let height = if word.contains(DESCENDERS) {
                    height * 4 / 3
                } else {
                    height
                };
                tsv.push_str(&format!(
                    "5\t1\t{block}\t{paragraph}\t{}\t{}\t0\t0\t10\t{height}\t96.0\t{word}\n",
                    line_number + 1,
                    word_number + 1,
                ));
            }
        }
        tsv
    }

    fn rebuilt(tsv: &str) -> Vec<Block> {
        rebuild_document(&parse_tsv(tsv).unwrap()).blocks
    }

    #[test]
    fn the_fixture_is_rebuilt_into_title_heading_paragraphs_and_list() {
        assert_eq!(
            rebuilt(DOCUMENT_TSV),
            [
                block(BlockKind::Title, "Quarterly Field Report"),
                block(BlockKind::SectionHeader, "Summary of Findings"),
                block(
                    BlockKind::Paragraph,
                    "The survey team visited twelve sites along the northern coast during the \
                     spring season. Water samples were collected at each site and sent to the \
                     laboratory for a full chemical analysis of their nitrate, phosphate and \
                     oxygen content."
                ),
                block(
                    BlockKind::Paragraph,
                    "Most samples met the regional standard for clarity. Three sites showed \
                     elevated nitrate levels, which the team will monitor closely during the \
                     next quarter before recommending any changes to local farming practice."
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

    #[test]
    fn the_fixtures_lines_are_tesseracts_lines_as_read() {
        let lines: Vec<String> = parse_tsv(DOCUMENT_TSV)
            .unwrap()
            .iter()
            .map(Line::text)
            .collect();
        assert_eq!(lines.len(), 12);
        assert_eq!(lines[0], "Quarterly Field Report");
        assert_eq!(
            lines[3],
            "the spring season. Water samples were collected at each site and sent to the labora-"
        );
        assert_eq!(
            lines[11],
            "¢ Publish the full dataset in the autumn bulletin"
        );
    }

    #[test]
    fn a_heading_without_descenders_is_measured_by_its_letters() {
        // "Results" stands no taller than a body line with descenders (22 px), but its letters
        // do.
        let blocks = rebuilt(&tsv(&[
            (1, 1, "Results", 22),
            (2, 1, "Every sample was tested.", 17),
            (2, 1, "Nothing was found.", 17),
        ]));
        assert_eq!(blocks[0], block(BlockKind::SectionHeader, "Results"));
        assert_eq!(blocks.len(), 2);
    }

    #[test]
    fn only_the_first_very_tall_paragraph_is_the_title() {
        let blocks = rebuilt(&tsv(&[
            (1, 1, "Annual Report", 40),
            (2, 1, "Some body text here.", 17),
            (3, 1, "Another Part", 40),
            (4, 1, "More body text here.", 17),
        ]));
        let kinds: Vec<BlockKind> = blocks.iter().map(|block| block.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Title,
                BlockKind::Paragraph,
                BlockKind::SectionHeader,
                BlockKind::Paragraph
            ]
        );
    }

    #[test]
    fn a_long_tall_paragraph_is_body_text_set_large() {
        let blocks = rebuilt(&tsv(&[
            (1, 1, "One large line", 40),
            (1, 1, "two large lines", 40),
            (1, 1, "three large lines", 40),
            (1, 1, "four large lines.", 40),
            (2, 1, "Small text.", 17),
            (3, 1, "Small text.", 17),
            (4, 1, "Small text.", 17),
            (5, 1, "Small text.", 17),
            (6, 1, "Small text.", 17),
        ]));
        assert_eq!(blocks[0].kind, BlockKind::Paragraph);
    }

    #[test]
    fn numbered_items_and_their_wrapped_lines() {
        let blocks = rebuilt(&tsv(&[
            (1, 1, "Steps to follow:", 17),
            (1, 1, "1. Collect the samples", 17),
            (1, 1, "before noon", 17),
            (1, 1, "2) Label them", 17),
            (2, 1, "Then wait.", 17),
        ]));
        assert_eq!(
            blocks,
            [
                block(BlockKind::Paragraph, "Steps to follow:"),
                block(BlockKind::ListItem, "Collect the samples before noon"),
                block(BlockKind::ListItem, "Label them"),
                block(BlockKind::Paragraph, "Then wait."),
            ]
        );
    }

    #[test]
    fn a_paragraph_ending_a_sentence_stays_apart_from_the_next() {
        let blocks = rebuilt(&tsv(&[
            (1, 1, "First paragraph ends here.", 17),
            (1, 2, "Second paragraph starts", 17),
            (1, 3, "and goes on.", 17),
            (2, 1, "Another block", 17),
        ]));
        assert_eq!(
            blocks,
            [
                block(BlockKind::Paragraph, "First paragraph ends here."),
                block(BlockKind::Paragraph, "Second paragraph starts and goes on."),
                block(BlockKind::Paragraph, "Another block"),
            ]
        );
    }

    #[test]
    fn rows_that_are_not_tsv_are_an_error() {
        assert!(parse_tsv("5\t1\t1\t1\t1\t1\t0\t0\t10\t17\t96\n").is_err());
        assert!(parse_tsv("5\t1\tX\t1\t1\t1\t0\t0\t10\t17\t96\tword\n").is_err());
        assert!(parse_tsv("").unwrap().is_empty());
    }

    #[tokio::test]
    async fn bytes_that_are_not_an_image_never_reach_tesseract() {
        let reader = Tesseract {
            timeout: Duration::from_secs(1),
        };
        let not_an_image = EncodedImage {
            bytes: Bytes::from_static(b"/etc/passwd\n"),
            format: Format::Png,
            width: 1,
            height: 1,
        };
        let error = reader.read_lines(not_an_image).await.unwrap_err();
        assert!(matches!(error, BackendError::Failed(_)), "{error:?}");
    }
}
