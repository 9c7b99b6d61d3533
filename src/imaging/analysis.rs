//! Images prepared for the analysis engines, and their answers applied: a model's input reduced
//! from the smallest decode that suffices, a file a text reader accepts, and a cut-out made from a
//! foreground mask.

use fast_image_resize::images::{Image as FrImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage, RgbImage};

use super::decode::{DecodeHint, decode_probed};
use super::encode::encode;
use super::resize::resample;
use super::transform::Output;
use super::{ImagingError, probe};
use crate::domain::Format;

/// The size that fits `(width, height)` within `max_side` on its longer side, never enlarged.
fn fitted(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longer = width.max(height);
    if longer <= max_side {
        return (width, height);
    }
    let scale = f64::from(max_side) / f64::from(longer);
    let side = |length: u32| ((f64::from(length) * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// Decodes only as much as a result of at most `max_side` on its longer side needs, and reduces
/// it to exactly that.
fn decoded_within(
    bytes: &[u8],
    max_pixels: u64,
    max_side: u32,
) -> Result<DynamicImage, ImagingError> {
    let info = probe(bytes, max_pixels)?;
    let (width, height) = fitted(info.width, info.height, max_side);
    let hint = DecodeHint {
        shrink_to: Some((width, height)),
        region: None,
    };
    let decoded = decode_probed(bytes, &info, hint)?.image;
    Ok(resample(&decoded, width, height, None))
}

/// The image as displayed, as RGB, reduced to at most `max_side` on its longer side: what a model
/// is given. Transparent areas come out as their colour without alpha.
pub fn model_input(bytes: &[u8], max_pixels: u64, max_side: u32) -> Result<RgbImage, ImagingError> {
    Ok(decoded_within(bytes, max_pixels, max_side)?.to_rgb8())
}

/// A file a reader with these limits accepts: the original when it is a JPEG or PNG within them,
/// else a PNG (or, past `max_bytes`, a JPEG) reduced to fit `max_side`.
pub fn reader_input(
    bytes: &[u8],
    max_pixels: u64,
    max_bytes: u64,
    max_side: u32,
) -> Result<Output, ImagingError> {
    let info = probe(bytes, max_pixels)?;
    let fits = info.width.max(info.height) <= max_side && bytes.len() as u64 <= max_bytes;
    if fits && info.format != Format::Webp {
        return Ok(Output {
            bytes: bytes.to_vec(),
            format: info.format,
            width: info.width,
            height: info.height,
        });
    }
    let image = DynamicImage::ImageRgb8(decoded_within(bytes, max_pixels, max_side)?.to_rgb8());
    let mut encoded = Output {
        bytes: encode(&image, Format::Png, 100)?,
        format: Format::Png,
        width: image.width(),
        height: image.height(),
    };
    if encoded.bytes.len() as u64 > max_bytes {
        encoded.bytes = encode(&image, Format::Jpeg, 90)?;
        encoded.format = Format::Jpeg;
    }
    Ok(encoded)
}

/// The image with `mask` (of any size: it is scaled to the image) as its transparency, as a PNG:
/// 255 keeps a pixel, 0 clears it.
pub fn cut_out(bytes: &[u8], mask: &GrayImage, max_pixels: u64) -> Result<Output, ImagingError> {
    let info = probe(bytes, max_pixels)?;
    let mut image = decode_probed(bytes, &info, DecodeHint::default())?
        .image
        .into_rgba8();
    let (width, height) = image.dimensions();
    let alpha = scaled_mask(mask, width, height);
    for (pixel, &keep) in image.pixels_mut().zip(alpha.iter()) {
        pixel[3] = ((u16::from(pixel[3]) * u16::from(keep) + 127) / 255) as u8;
    }
    let image = DynamicImage::ImageRgba8(image);
    Ok(Output {
        bytes: encode(&image, Format::Png, 100)?,
        format: Format::Png,
        width,
        height,
    })
}

/// `mask` resized to `width`×`height` (bilinear: a mask has no detail to sharpen).
fn scaled_mask(mask: &GrayImage, width: u32, height: u32) -> Vec<u8> {
    if mask.dimensions() == (width, height) {
        return mask.as_raw().clone();
    }
    let source = ImageRef::new(mask.width(), mask.height(), mask.as_raw(), PixelType::U8)
        .expect("a grey buffer of its own size");
    let mut target = FrImage::new(width, height, PixelType::U8);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(&source, &mut target, &options)
        .expect("matching pixel types");
    target.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::{DecodeHint as Hint, decode, fixtures};
    use image::Luma;

    #[test]
    fn model_input_fits_the_longer_side_and_never_enlarges() {
        let jpeg = fixtures::encode(Format::Jpeg, 800, 600);
        let input = model_input(&jpeg, 1 << 24, 256).unwrap();
        assert_eq!(input.dimensions(), (256, 192));
        let small = fixtures::encode(Format::Png, 40, 30);
        assert_eq!(
            model_input(&small, 1 << 24, 256).unwrap().dimensions(),
            (40, 30)
        );
    }

    #[test]
    fn reader_input_keeps_acceptable_files_and_converts_the_rest() {
        let png = fixtures::encode(Format::Png, 64, 48);
        let kept = reader_input(&png, 1 << 24, 1 << 20, 100).unwrap();
        assert_eq!(kept.bytes, png);
        let webp = fixtures::encode(Format::Webp, 64, 48);
        let converted = reader_input(&webp, 1 << 24, 1 << 20, 100).unwrap();
        assert_eq!(converted.format, Format::Png);
        let reduced = reader_input(&png, 1 << 24, 1 << 20, 32).unwrap();
        assert_eq!((reduced.width, reduced.height), (32, 24));
        let noisy = fixtures::encode_noise(Format::Png, 64, 64);
        let squeezed = reader_input(&noisy, 1 << 24, 6000, 64).unwrap();
        assert_eq!(squeezed.format, Format::Jpeg, "a PNG over the byte limit");
    }

    #[test]
    fn cut_out_makes_the_mask_the_alpha_at_the_image_size() {
        let jpeg = fixtures::encode(Format::Jpeg, 40, 20);
        // Left half foreground, right half background, at a quarter of the size.
        let mask = GrayImage::from_fn(10, 5, |x, _| Luma([if x < 5 { 255 } else { 0 }]));
        let output = cut_out(&jpeg, &mask, 1 << 20).unwrap();
        assert_eq!(
            (output.format, output.width, output.height),
            (Format::Png, 40, 20)
        );
        let decoded = decode(&output.bytes, 1 << 20, Hint::default())
            .unwrap()
            .image
            .into_rgba8();
        assert_eq!(decoded.get_pixel(2, 10)[3], 255);
        assert_eq!(decoded.get_pixel(37, 10)[3], 0);
    }
}
