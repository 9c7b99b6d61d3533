//! Encoding: JPEG through libjpeg (mozjpeg, SIMD, optimised Huffman tables), PNG through the
//! `png` crate, lossy WebP through libwebp. No metadata is written: EXIF, GPS and profiles stay
//! behind, and the pixels are sRGB.

use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageEncoder};

use super::ImagingError;
use super::libjpeg::{Compressor, guarded};
use crate::domain::Format;

/// The quality of lossy outputs when the request names none.
pub const DEFAULT_QUALITY: u8 = 80;

/// Up to this size (2048×2048), JPEG outputs get optimised Huffman tables.
pub(super) const OPTIMIZED_CODING_MAX_PIXELS: u64 = 4 * 1024 * 1024;

pub fn encode(image: &DynamicImage, format: Format, quality: u8) -> Result<Vec<u8>, ImagingError> {
    match format {
        Format::Jpeg => encode_jpeg(&flatten(image), image.width(), image.height(), quality),
        Format::Png => encode_png(image),
        Format::Webp => Ok(encode_webp(image, quality)),
    }
}

/// JPEG has no alpha: transparent pixels go to black, as libvips does.
fn flatten(image: &DynamicImage) -> std::borrow::Cow<'_, [u8]> {
    match image {
        DynamicImage::ImageRgba8(rgba) => rgba
            .pixels()
            .flat_map(|pixel| {
                let alpha = u16::from(pixel[3]);
                [0, 1, 2].map(|c| ((u16::from(pixel[c]) * alpha + 127) / 255) as u8)
            })
            .collect::<Vec<u8>>()
            .into(),
        other => other.as_bytes().into(),
    }
}

fn encode_jpeg(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, ImagingError> {
    // Optimised Huffman tables save about 4% but cost a second pass over the coefficients:
    // worth it for web-sized images, not for full photos.
    let optimize = u64::from(width) * u64::from(height) <= OPTIMIZED_CODING_MAX_PIXELS;
    guarded(|| Compressor::for_rgb(width, height, quality).encode_rows(rgb, optimize))
        .map_err(|message| ImagingError::Corrupt(format!("libjpeg could not encode: {message}")))
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>, ImagingError> {
    let mut out = Cursor::new(Vec::new());
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .map_err(|error| ImagingError::Corrupt(error.to_string()))?;
    Ok(out.into_inner())
}

fn encode_webp(image: &DynamicImage, quality: u8) -> Vec<u8> {
    let (width, height) = (image.width(), image.height());
    let encoder = if image.color().has_alpha() {
        webp::Encoder::from_rgba(image.as_bytes(), width, height)
    } else {
        webp::Encoder::from_rgb(image.as_bytes(), width, height)
    };
    encoder.encode(f32::from(quality)).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::{DecodeHint, decode};
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// The same pixels through the `mozjpeg` crate, whose Huffman statistics libjpeg gathers.
    fn encoded_by_libjpeg_alone(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        compress.set_quality(f32::from(quality));
        compress.set_optimize_coding(true);
        let mut started = compress.start_compress(Vec::new()).unwrap();
        started.write_scanlines(rgb).unwrap();
        started.finish().unwrap()
    }

    #[test]
    fn optimised_tables_are_those_of_libjpegs_own_statistics() {
        for (width, height) in [(1, 1), (37, 19), (300, 200)] {
            let jpeg = crate::imaging::fixtures::textured_jpeg(width, height, (2, 2), false);
            let decoded = decode(&jpeg, 1 << 20, DecodeHint::default()).unwrap().image;
            let rgb = decoded.to_rgb8().into_raw();
            for quality in [30, 80, 100] {
                assert_eq!(
                    encode_jpeg(&rgb, width, height, quality).unwrap(),
                    encoded_by_libjpeg_alone(&rgb, width, height, quality),
                    "{width}x{height} at {quality}"
                );
            }
        }
    }

    #[test]
    fn every_format_round_trips() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(16, 8, Rgb([200, 30, 30])));
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            let bytes = encode(&image, format, 90).unwrap();
            let back = decode(&bytes, 1 << 20, DecodeHint::default()).unwrap();
            assert_eq!(back.format, format);
            let [r, g, b] = back.image.to_rgb8().get_pixel(8, 4).0;
            assert!(r > 180 && g < 60 && b < 60, "{format:?}: {r} {g} {b}");
        }
    }

    #[test]
    fn jpeg_never_has_alpha_and_png_keeps_it() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(4, 4, Rgba([255, 255, 255, 0])));
        let jpeg = decode(
            &encode(&image, Format::Jpeg, 80).unwrap(),
            1 << 20,
            DecodeHint::default(),
        );
        let jpeg = jpeg.unwrap().image;
        assert!(!jpeg.color().has_alpha());
        assert!(
            jpeg.to_rgb8().get_pixel(0, 0).0[0] < 10,
            "transparent becomes black"
        );
        let png = decode(
            &encode(&image, Format::Png, 80).unwrap(),
            1 << 20,
            DecodeHint::default(),
        );
        assert_eq!(png.unwrap().image.to_rgba8().get_pixel(0, 0).0[3], 0);
    }

    #[test]
    fn outputs_carry_no_exif() {
        let oriented = crate::imaging::fixtures::jpeg_with_orientation(8, 4, 6);
        let decoded = decode(&oriented, 1 << 20, DecodeHint::default())
            .unwrap()
            .image;
        let bytes = encode(&decoded, Format::Jpeg, 80).unwrap();
        assert!(!bytes.windows(6).any(|window| window == b"Exif\0\0"));
        let again = decode(&bytes, 1 << 20, DecodeHint::default())
            .unwrap()
            .image;
        assert_eq!(
            (again.width(), again.height()),
            (4, 8),
            "oriented once, not twice"
        );
    }
}
