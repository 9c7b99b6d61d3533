//! The image a test key's imagine gets instead of a model's: deterministic in what it is asked,
//! different for different requests, and visibly marked so nobody mistakes it for a real result.

use image::{DynamicImage, Rgb, RgbImage};
use sha2::{Digest, Sha256};

use super::ImagingError;
use super::encode::encode;
use crate::domain::Format;

/// Side of the square the reference's imagine draws.
const GENERATED_SIDE: u32 = 1024;

/// The mark, in a 5×7 dot font (one row per byte, high bit first of the low five bits).
const MARK: &str = "TEST IMAGE";
const GLYPH_WIDTH: u32 = 5;
const GLYPH_HEIGHT: u32 = 7;
const DOT: u32 = 12;

fn glyph(letter: char) -> [u8; 7] {
    match letter {
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        _ => [0; 7],
    }
}

/// A 1024×1024 JPEG drawn from `request` (whatever identifies what was asked): a gradient and
/// discs whose colours and places come from its hash, under a white band reading "TEST IMAGE".
pub fn test_image(request: &[u8]) -> Result<Vec<u8>, ImagingError> {
    let digest = Sha256::digest(request);
    let colour = |at: usize| Rgb([digest[at], digest[at + 1], digest[at + 2]]);
    let (from, to) = (colour(0), colour(3));
    let side = GENERATED_SIDE as f32;
    let mut image = RgbImage::from_fn(GENERATED_SIDE, GENERATED_SIDE, |x, y| {
        let t = (x + y) as f32 / (2.0 * side);
        Rgb([0, 1, 2].map(|c| (f32::from(from[c]) * (1.0 - t) + f32::from(to[c]) * t) as u8))
    });
    for disc in digest[6..].chunks_exact(6).take(4) {
        let centre = (
            f32::from(disc[0]) / 255.0 * side,
            f32::from(disc[1]) / 255.0 * side,
        );
        let radius = 60.0 + f32::from(disc[2]);
        let fill = Rgb([disc[3], disc[4], disc[5]]);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            if (x as f32 - centre.0).hypot(y as f32 - centre.1) < radius {
                *pixel = fill;
            }
        }
    }
    draw_mark(&mut image);
    encode(&DynamicImage::ImageRgb8(image), Format::Jpeg, 90)
}

/// "TEST IMAGE" in black on a white band across the middle.
fn draw_mark(image: &mut RgbImage) {
    let advance = (GLYPH_WIDTH + 1) * DOT;
    let text_width = advance * MARK.len() as u32 - DOT;
    let band = (GENERATED_SIDE / 2 - GLYPH_HEIGHT * DOT)..(GENERATED_SIDE / 2 + GLYPH_HEIGHT * DOT);
    for y in band.clone() {
        for x in 0..GENERATED_SIDE {
            image.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    let left = (GENERATED_SIDE - text_width) / 2;
    let top = band.start + (band.len() as u32 - GLYPH_HEIGHT * DOT) / 2;
    for (index, letter) in MARK.chars().enumerate() {
        for (row, bits) in glyph(letter).into_iter().enumerate() {
            for column in 0..GLYPH_WIDTH {
                if bits & (0x10 >> column) == 0 {
                    continue;
                }
                let x0 = left + index as u32 * advance + column * DOT;
                let y0 = top + row as u32 * DOT;
                for y in y0..y0 + DOT {
                    for x in x0..x0 + DOT {
                        image.put_pixel(x, y, Rgb([0, 0, 0]));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::probe;

    fn decoded(bytes: &[u8]) -> RgbImage {
        image::load_from_memory(bytes).unwrap().to_rgb8()
    }

    #[test]
    fn a_marked_square_jpeg_that_depends_only_on_the_request() {
        let first = test_image(b"a lighthouse").unwrap();
        let info = probe(&first, u64::MAX).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (Format::Jpeg, GENERATED_SIDE, GENERATED_SIDE)
        );
        assert_eq!(first, test_image(b"a lighthouse").unwrap());
        assert_ne!(first, test_image(b"a lighthouse at night").unwrap());
    }

    #[test]
    fn the_mark_is_dark_letters_on_a_white_band() {
        let image = decoded(&test_image(b"anything").unwrap());
        let band_top = GENERATED_SIDE / 2 - GLYPH_HEIGHT * DOT;
        let luma = |x: u32, y: u32| {
            let Rgb([r, g, b]) = *image.get_pixel(x, y);
            (u32::from(r) + u32::from(g) + u32::from(b)) / 3
        };
        // The band's left margin is white; the middle of the T's bar, two dots down from the
        // band's text top, is black.
        assert!(luma(4, band_top + 4) > 240);
        let left = (GENERATED_SIDE - ((GLYPH_WIDTH + 1) * DOT * MARK.len() as u32 - DOT)) / 2;
        let top = band_top + GLYPH_HEIGHT * DOT / 2;
        assert!(luma(left + 2 * DOT + DOT / 2, top + DOT / 2) < 16);
    }
}
