//! One call from input bytes to output bytes: probe, check the output size, decode only what the
//! operation needs, operate, encode.

use bytes::Bytes;
use image::DynamicImage;

use super::adjust::{Modulation, blur};
use super::composite::{Overlay, Repetition, composite};
use super::decode::{DecodeHint, decode, decode_probed};
use super::encode::{DEFAULT_QUALITY, encode};
use super::geometry::{Mirror, Rect, mirror, rotate, rotated_size};
use super::lossless::transform_jpeg;
use super::resize::{ResizeSpec, resample};
use super::{ImagingError, probe};
use crate::domain::Format;

/// A watermark image and where it goes. The engine takes the image's bytes; a request names it
/// (by id, say) until it is fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark<Image = Bytes> {
    pub image: Image,
    pub left: i64,
    pub top: i64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub repetition: Repetition,
}

impl<Image> Watermark<Image> {
    /// The same placement, with the image given another way.
    pub fn with_image<Other>(&self, image: Other) -> Watermark<Other> {
        Watermark {
            image,
            left: self.left,
            top: self.top,
            width: self.width,
            height: self.height,
            repetition: self.repetition,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Operation {
    Resize(ResizeSpec),
    Crop(Rect),
    Convert {
        format: Format,
        quality: Option<u8>,
    },
    /// Clockwise.
    Rotate {
        degrees: f64,
    },
    Mirror(Mirror),
    Blur {
        sigma: f32,
    },
    Modulate(Modulation),
    /// Composited in order, later on top.
    Watermark(Vec<Watermark>),
}

/// A new image.
#[derive(Debug)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ImagingError> {
    let (width, height) = (u64::from(width), u64::from(height));
    if width * height > max_pixels {
        return Err(ImagingError::OutputTooLarge {
            width,
            height,
            max: max_pixels,
        });
    }
    Ok(())
}

/// Whether images of `format` can be transparent.
fn has_alpha_channel(format: Format) -> bool {
    format != Format::Jpeg
}

pub fn transform(
    input: &[u8],
    operation: &Operation,
    max_pixels: u64,
) -> Result<Output, ImagingError> {
    let source = probe(input, max_pixels)?;
    let (width, height) = (source.width, source.height);
    let format = match operation {
        Operation::Convert { format, .. } => *format,
        _ => source.format,
    };
    let quality = match operation {
        Operation::Convert {
            quality: Some(quality),
            ..
        } => *quality,
        _ => DEFAULT_QUALITY,
    };

    let mut hint = DecodeHint::default();
    match operation {
        Operation::Resize(spec) => {
            let (out_w, out_h) = spec.output_size(width, height);
            check_pixels(out_w, out_h, max_pixels)?;
            hint.shrink_to = Some(spec.content_size(width, height));
        }
        Operation::Crop(region) => {
            region.check_within(width, height)?;
            hint.region = Some(*region);
        }
        Operation::Rotate { degrees } => {
            let (out_w, out_h) = rotated_size(width, height, *degrees);
            check_pixels(out_w, out_h, max_pixels)?;
        }
        Operation::Watermark(watermarks) => {
            for watermark in watermarks {
                if let (Some(w), Some(h)) = (watermark.width, watermark.height) {
                    check_pixels(w, h, max_pixels)?;
                }
            }
        }
        _ => {}
    }

    // JPEG mirrors and quarter turns move DCT coefficients without decoding, where exact.
    if source.format == Format::Jpeg
        && let Some(output) = transform_jpeg(input, operation)
    {
        return Ok(output);
    }
    let image = decode_probed(input, &source, hint)?.image;
    let image = match operation {
        Operation::Resize(spec) => {
            let transparent = if has_alpha_channel(format) { 0 } else { 255 };
            let background = spec.background.unwrap_or([0, 0, 0, transparent]);
            spec.apply(&image, (width, height), background)
        }
        Operation::Crop(_) | Operation::Convert { .. } => image,
        Operation::Rotate { degrees } => rotate(image, *degrees, has_alpha_channel(format)),
        Operation::Mirror(mode) => {
            let mut image = image;
            mirror(&mut image, *mode);
            image
        }
        Operation::Blur { sigma } => blur(image, *sigma),
        Operation::Modulate(modulation) => {
            let mut image = image;
            modulation.apply(&mut image);
            image
        }
        Operation::Watermark(watermarks) => {
            let overlays = watermarks
                .iter()
                .map(|watermark| overlay(watermark, max_pixels))
                .collect::<Result<Vec<_>, _>>()?;
            let mut image = image;
            composite(&mut image, &overlays);
            image
        }
    };
    Ok(Output {
        bytes: encode(&image, format, quality)?,
        format,
        width: image.width(),
        height: image.height(),
    })
}

/// The size a watermark of `width`×`height` is scaled to: as given, or one side given and the
/// other kept in proportion.
pub(super) fn overlay_size<Image>(
    watermark: &Watermark<Image>,
    width: u32,
    height: u32,
) -> (u32, u32) {
    let spec = ResizeSpec {
        width: watermark.width,
        height: watermark.height,
        fit: Default::default(),
        gravity: Default::default(),
        background: None,
    };
    spec.output_size(width, height)
}

/// A watermark decoded and scaled to its size.
fn overlay(watermark: &Watermark, max_pixels: u64) -> Result<Overlay, ImagingError> {
    let image = decode(&watermark.image, max_pixels, DecodeHint::default())?.image;
    let (out_w, out_h) = overlay_size(watermark, image.width(), image.height());
    check_pixels(out_w, out_h, max_pixels)?;
    let image = DynamicImage::ImageRgba8(image.into_rgba8());
    Ok(Overlay {
        image: resample(&image, out_w, out_h, None).into_rgba8(),
        left: watermark.left,
        top: watermark.top,
        repetition: watermark.repetition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::fixtures;
    use crate::imaging::{Fit, Gravity};

    const PLENTY: u64 = 1 << 26;

    fn run(input: &[u8], operation: Operation) -> (Output, DynamicImage) {
        let output = transform(input, &operation, PLENTY).unwrap();
        let pixels = decode(&output.bytes, PLENTY, DecodeHint::default())
            .unwrap()
            .image;
        assert_eq!(
            (pixels.width(), pixels.height()),
            (output.width, output.height)
        );
        (output, pixels)
    }

    #[test]
    fn operations_keep_the_source_format_and_convert_changes_it() {
        let png = fixtures::encode(Format::Png, 12, 8);
        let (output, _) = run(&png, Operation::Mirror(Mirror::Both));
        assert_eq!(output.format, Format::Png);
        for (format, quality) in [
            (Format::Jpeg, Some(95)),
            (Format::Webp, None),
            (Format::Png, None),
        ] {
            let (output, _) = run(&png, Operation::Convert { format, quality });
            assert_eq!(output.format, format);
        }
    }

    #[test]
    fn crop_takes_the_exact_region_of_a_lossless_image() {
        let png = fixtures::encode(Format::Png, 40, 30);
        let whole = decode(&png, PLENTY, DecodeHint::default())
            .unwrap()
            .image
            .to_rgb8();
        let region = Rect {
            x: 3,
            y: 4,
            width: 20,
            height: 10,
        };
        let (_, cropped) = run(&png, Operation::Crop(region));
        let cropped = cropped.to_rgb8();
        assert_eq!(cropped.dimensions(), (20, 10));
        for (x, y, pixel) in cropped.enumerate_pixels() {
            assert_eq!(pixel, whole.get_pixel(x + 3, y + 4));
        }
        let outside = Rect {
            x: 30,
            y: 0,
            width: 20,
            height: 10,
        };
        assert!(matches!(
            transform(&png, &Operation::Crop(outside), PLENTY),
            Err(ImagingError::Invalid(_))
        ));
    }

    #[test]
    fn exposed_corners_are_transparent_in_png_and_black_in_jpeg() {
        let png = fixtures::encode(Format::Png, 20, 20);
        let (_, turned) = run(&png, Operation::Rotate { degrees: 30.0 });
        assert_eq!(turned.to_rgba8().get_pixel(0, 0).0[3], 0);
        let jpeg = fixtures::encode(Format::Jpeg, 20, 20);
        let (_, turned) = run(&jpeg, Operation::Rotate { degrees: 30.0 });
        assert!(!turned.color().has_alpha());
        assert!(turned.to_rgb8().get_pixel(0, 0).0.iter().all(|&v| v < 16));
    }

    #[test]
    fn contain_letterboxes_with_the_format_default() {
        let spec = ResizeSpec {
            width: Some(20),
            height: Some(40),
            fit: Fit::Contain,
            gravity: Gravity::Center,
            background: None,
        };
        let png = fixtures::encode(Format::Png, 20, 20);
        let (_, boxed) = run(&png, Operation::Resize(spec.clone()));
        assert_eq!(
            boxed.to_rgba8().get_pixel(10, 2).0[3],
            0,
            "transparent in PNG"
        );
        let jpeg = fixtures::encode(Format::Jpeg, 20, 20);
        let (_, boxed) = run(&jpeg, Operation::Resize(spec));
        assert!(
            boxed.to_rgb8().get_pixel(10, 2).0.iter().all(|&v| v < 16),
            "black in JPEG"
        );
    }

    #[test]
    fn outputs_over_the_pixel_limit_are_refused_before_decoding() {
        let png = fixtures::encode(Format::Png, 10, 10);
        let huge = ResizeSpec {
            width: Some(10_000),
            height: Some(10_000),
            fit: Fit::Fill,
            gravity: Gravity::Center,
            background: None,
        };
        assert!(matches!(
            transform(&png, &Operation::Resize(huge), PLENTY),
            Err(ImagingError::OutputTooLarge {
                width: 10_000,
                height: 10_000,
                ..
            })
        ));
    }

    #[test]
    fn watermarks_are_scaled_and_composited() {
        let base = fixtures::encode(Format::Png, 20, 20);
        let mark = fixtures::encode(Format::Png, 4, 2);
        let watermark = Watermark {
            image: Bytes::from(mark),
            left: 2,
            top: 3,
            width: Some(8),
            height: None,
            repetition: Repetition::NoRepeat,
        };
        let marked = run(&base, Operation::Watermark(vec![watermark]))
            .1
            .to_rgb8();
        let original = decode(&base, PLENTY, DecodeHint::default())
            .unwrap()
            .image
            .to_rgb8();
        // The 4×2 mark becomes 8×4 at (2, 3): pixels there change, pixels outside do not.
        assert_ne!(marked.get_pixel(5, 4), original.get_pixel(5, 4));
        assert_eq!(marked.get_pixel(1, 3), original.get_pixel(1, 3));
        assert_eq!(marked.get_pixel(10, 3), original.get_pixel(10, 3));
        assert_eq!(marked.get_pixel(5, 7), original.get_pixel(5, 7));
    }
}
