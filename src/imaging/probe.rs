//! Recognising an image from its bytes alone, and reading its size from the header before any
//! pixel is decoded.

use std::io::Cursor;

use image::ImageDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;

use super::libjpeg::{Decompressor, Warnings, guarded};

use crate::domain::Format;

/// The format told by the file's magic bytes; names, extensions and headers are never trusted.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Format::Png),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(Format::Webp),
        _ => None,
    }
}

/// What an image is, as the API reports it: width and height after EXIF orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("must be a JPEG, PNG or WebP image")]
    Unsupported,
    #[error("could not be read as a {0} image")]
    Unreadable(&'static str),
    #[error("is {width}x{height} pixels, more than the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("has more than {max} progressive scans (each one is a pass over the whole image)")]
    TooManyScans { max: usize },
}

/// The most scans a JPEG may have. Each scan is a pass over the image's coefficients, so a few
/// hundred kilobytes of tiny scans could cost a minute of CPU; real encoders write at most a few
/// dozen, and libjpeg-turbo's own fuzzers stop at 500.
pub const MAX_JPEG_SCANS: usize = 500;

/// Identifies the image and reads its oriented dimensions from the header, refusing images over
/// `max_pixels` before anything is decoded.
pub fn probe(bytes: &[u8], max_pixels: u64) -> Result<ImageInfo, ProbeError> {
    let format = sniff(bytes).ok_or(ProbeError::Unsupported)?;
    let unreadable = ProbeError::Unreadable(format.as_str());
    let (stored_width, stored_height, orientation) = match format {
        Format::Jpeg => {
            if jpeg_structure(bytes).scans > MAX_JPEG_SCANS {
                return Err(ProbeError::TooManyScans {
                    max: MAX_JPEG_SCANS,
                });
            }
            jpeg_header(bytes).ok_or(unreadable)?
        }
        Format::Png => png_header(bytes).ok_or(unreadable)?,
        Format::Webp => {
            // The WebP decoder itself, not `ImageReader`'s for any format: a Lambda then links
            // no JPEG or PNG decoder it never calls.
            let mut decoder = WebPDecoder::new(Cursor::new(bytes)).map_err(|_| unreadable)?;
            let (width, height) = decoder.dimensions();
            // A damaged EXIF block is not worth refusing the image over: it shows as stored.
            let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
            (width, height, orientation)
        }
    };
    if stored_width == 0 || stored_height == 0 {
        return Err(ProbeError::Unreadable(format.as_str()));
    }
    if u64::from(stored_width) * u64::from(stored_height) > max_pixels {
        return Err(ProbeError::TooManyPixels {
            width: stored_width,
            height: stored_height,
            max: max_pixels,
        });
    }
    let (width, height) = if swaps_axes(orientation) {
        (stored_height, stored_width)
    } else {
        (stored_width, stored_height)
    };
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

/// A PNG's size and EXIF orientation from its chunks before the pixels, skipping the
/// compressed ones that could hide a decompression bomb (profile, text).
fn png_header(bytes: &[u8]) -> Option<(u32, u32, Orientation)> {
    let limits = png::Limits {
        bytes: 4 * 1024 * 1024,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_ignore_text_chunk(true);
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    let orientation = info
        .exif_metadata
        .as_ref()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    Some((info.width, info.height, orientation))
}

/// A JPEG's size and EXIF orientation from libjpeg's reading of its headers alone: no copy of
/// the file, no pixel decoded.
fn jpeg_header(bytes: &[u8]) -> Option<(u32, u32, Orientation)> {
    guarded(|| {
        let header = Decompressor::read_header(bytes, Warnings::StopAtTruncation);
        let (width, height) = header.size();
        (width, height, header.markers().orientation)
    })
    .ok()
}

/// What a JPEG's marker segments tell of the work of decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JpegStructure {
    /// Start-of-scan segments, counted up to one past [`MAX_JPEG_SCANS`].
    pub scans: usize,
    /// Colour components of the frame (0 if no frame header was found).
    pub components: u8,
}

pub(super) const START_OF_SCAN: u8 = 0xDA;

/// Whether `marker` starts a frame (SOF0–SOF15, less DHT, JPG and DAC).
fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// A JPEG's marker segments in file order, as (marker, offset of the segment's data past its
/// length), stepping over each scan's entropy-coded data: nothing is decoded. The walk ends at
/// the end of the image, or where the structure breaks off, for the decoder to refuse.
pub(super) fn jpeg_segments(bytes: &[u8]) -> impl Iterator<Item = (u8, usize)> + '_ {
    const END_OF_IMAGE: u8 = 0xD9;
    let mut at = 2; // after the start-of-image marker
    let mut scan_follows = false;
    std::iter::from_fn(move || {
        if std::mem::take(&mut scan_follows) {
            // Entropy-coded data ends at the first 0xFF that is not a stuffed zero or a restart
            // marker (found with memchr's SIMD: a photograph's scan is megabytes long).
            let data = bytes.get(at..).unwrap_or_default();
            at += memchr::memchr_iter(0xFF, data)
                .find(|&index| !matches!(data.get(index + 1), Some(0x00 | 0xD0..=0xD7)))
                .unwrap_or(data.len());
        }
        loop {
            let [0xFF, marker, rest @ ..] = bytes.get(at..)? else {
                return None;
            };
            match *marker {
                // Fill bytes before a marker, and the markers that carry no segment.
                0xFF => at += 1,
                0x01 | 0xD0..=0xD8 => at += 2,
                END_OF_IMAGE => return None,
                marker => {
                    let [high, low, ..] = rest else {
                        return None;
                    };
                    let data = at + 4;
                    at += 2 + usize::from(u16::from_be_bytes([*high, *low]));
                    scan_follows = marker == START_OF_SCAN;
                    return Some((marker, data));
                }
            }
        }
    })
}

/// A JPEG's scans (counted up to one past the limit) and its frame's components, from its
/// marker segments alone.
pub(crate) fn jpeg_structure(bytes: &[u8]) -> JpegStructure {
    let mut structure = JpegStructure {
        scans: 0,
        components: 0,
    };
    for (marker, data) in jpeg_segments(bytes) {
        if is_frame_header(marker) {
            // Precision, height, width, components.
            structure.components = bytes.get(data + 5).copied().unwrap_or_default();
        } else if marker == START_OF_SCAN {
            structure.scans += 1;
            if structure.scans > MAX_JPEG_SCANS {
                break;
            }
        }
    }
    structure
}

/// Where a progressive JPEG's frame header holds the image's height, then its width (two bytes
/// each, big-endian); `None` for a sequential file or one without a whole frame header.
pub(crate) fn progressive_height_at(bytes: &[u8]) -> Option<usize> {
    let (marker, data) = jpeg_segments(bytes).find(|&(marker, _)| is_frame_header(marker))?;
    // Huffman- and arithmetic-coded progressive frames; the others are sequential, lossless or
    // hierarchical, which libjpeg does not decode.
    let height = data + 1;
    (matches!(marker, 0xC2 | 0xCA) && bytes.len() >= height + 4).then_some(height)
}

pub(crate) fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::fixtures::{encode, jpeg_with_orientation, jpeg_with_scans};

    const PLENTY: u64 = 1 << 26;

    #[test]
    fn sniffs_the_three_formats_and_nothing_else() {
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            assert_eq!(sniff(&encode(format, 3, 2)), Some(format));
        }
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn reads_dimensions_of_every_format() {
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            let probe = probe(&encode(format, 7, 5), PLENTY).unwrap();
            assert_eq!((probe.format, probe.width, probe.height), (format, 7, 5));
        }
    }

    #[test]
    fn exif_orientation_swaps_width_and_height() {
        let rotated = jpeg_with_orientation(8, 4, 6);
        let probe = probe(&rotated, PLENTY).unwrap();
        assert_eq!((probe.width, probe.height), (4, 8));
        let mirrored = jpeg_with_orientation(8, 4, 2);
        let probe = super::probe(&mirrored, PLENTY).unwrap();
        assert_eq!((probe.width, probe.height), (8, 4));
    }

    #[test]
    fn refuses_over_the_pixel_limit_from_the_header() {
        let png = encode(Format::Png, 10, 10);
        assert_eq!(
            probe(&png, 99),
            Err(ProbeError::TooManyPixels {
                width: 10,
                height: 10,
                max: 99
            })
        );
        assert!(probe(&png, 100).is_ok());
    }

    #[test]
    fn refuses_a_jpeg_of_more_scans_than_the_limit_before_decoding() {
        assert_eq!(
            jpeg_structure(&jpeg_with_scans(3)),
            JpegStructure {
                scans: 3,
                components: 3
            }
        );
        assert!(probe(&jpeg_with_scans(MAX_JPEG_SCANS), PLENTY).is_ok());
        let bomb = jpeg_with_scans(MAX_JPEG_SCANS + 1);
        assert_eq!(
            probe(&bomb, PLENTY),
            Err(ProbeError::TooManyScans {
                max: MAX_JPEG_SCANS
            })
        );
        // Baseline files have one scan; counting stops past the limit.
        assert_eq!(jpeg_structure(&encode(Format::Jpeg, 16, 16)).scans, 1);
        assert_eq!(jpeg_structure(&bomb).scans, MAX_JPEG_SCANS + 1);
    }

    #[test]
    fn refuses_unknown_and_broken_files() {
        assert_eq!(probe(b"hello", PLENTY), Err(ProbeError::Unsupported));
        let png = encode(Format::Png, 4, 4);
        assert_eq!(
            probe(&png[..12], PLENTY),
            Err(ProbeError::Unreadable("png"))
        );
    }
}
