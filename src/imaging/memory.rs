//! How much memory a piece of the engine's work holds at its peak, told from the file's header
//! before anything is decoded: a server admits only the work its memory can hold, and refuses
//! what never fits before it starts. Each figure is an upper bound of what the code below this
//! module allocates, not a guess at the average.

use super::geometry::rotated_size;
use super::probe::{JpegStructure, jpeg_structure};
use super::transform::{Operation, overlay_size};
use super::{ImageInfo, ImagingError, probe};
use crate::domain::Format;

/// Bytes of an 8-bit RGBA pixel, the widest the engine holds.
const RGBA: u64 = 4;

fn pixels(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

/// What decoding `bytes` to about `shrunk` pixels (all of them if `None`) holds: the decoder's
/// own buffers, the pixels, and one working copy (an ICC conversion, an EXIF rotation).
fn decode_memory(bytes: &[u8], info: &ImageInfo, shrunk: Option<u64>) -> u64 {
    let whole = pixels(info.width, info.height);
    match info.format {
        Format::Jpeg => {
            let JpegStructure { scans, components } = jpeg_structure(bytes);
            let components = u64::from(components.max(1));
            // DCT scaling never reduces more than 8 times a side.
            let output = shrunk.unwrap_or(whole).max(whole / 64);
            // A file of several scans is buffered whole as coefficients: 64 of 2 bytes for
            // each 8×8 block of each component, whatever the output's scale.
            let coefficients = if scans > 1 { whole * 2 * components } else { 0 };
            let cmyk = if components == 4 { output * 4 } else { 0 };
            coefficients + cmyk + output * 3 * 2
        }
        Format::Png => whole * RGBA * 2,
        // A lossless stream is decoded whole to ARGB first; a lossy one row by row.
        Format::Webp => {
            let lossless = webp::BitstreamFeatures::new(bytes).is_none_or(|features| {
                !matches!(features.format(), Some(webp::BitstreamFormat::Lossy))
            });
            whole * RGBA * 2 + if lossless { whole * RGBA } else { 0 }
        }
    }
}

/// The DCT coefficients of a whole JPEG, as `jpeg_read_coefficients` buffers them: 64 of 2
/// bytes for each 8×8 block of each component, the image padded to 16-pixel MCUs.
fn coefficient_memory(bytes: &[u8], info: &ImageInfo) -> u64 {
    let components = u64::from(jpeg_structure(bytes).components.max(1));
    pixels(
        info.width.next_multiple_of(16),
        info.height.next_multiple_of(16),
    ) * 2
        * components
}

/// What `verify` holds while checking that `bytes` decode: a JPEG decodes at an eighth of its
/// size, a PNG row by row.
pub fn verify_memory(bytes: &[u8], max_pixels: u64) -> Result<u64, ImagingError> {
    let info = probe(bytes, max_pixels)?;
    Ok(match info.format {
        Format::Jpeg => decode_memory(bytes, &info, Some(1)),
        Format::Png => u64::from(info.width.max(info.height)) * 8 * 4,
        Format::Webp => decode_memory(bytes, &info, None),
    })
}

/// What `model_input` and `reader_input` hold reducing `bytes` to at most `side` pixels a
/// side: the decode, the reduced copy and its encoding.
pub fn reduction_memory(bytes: &[u8], max_pixels: u64, side: u32) -> Result<u64, ImagingError> {
    let info = probe(bytes, max_pixels)?;
    let reduced = pixels(side, side).min(pixels(info.width, info.height));
    Ok(decode_memory(bytes, &info, Some(reduced)) + reduced * RGBA * 2)
}

/// What `cut_out` holds: the decode, the mask scaled to the source, the RGBA result and its
/// encoding.
pub fn cut_out_memory(bytes: &[u8], max_pixels: u64) -> Result<u64, ImagingError> {
    let info = probe(bytes, max_pixels)?;
    let whole = pixels(info.width, info.height);
    Ok(decode_memory(bytes, &info, None) + whole * (1 + RGBA * 2))
}

/// What `transform` holds running `operation` on `input`: the decode, the operation's own
/// buffers, the result and its encoding.
pub fn transform_memory(
    input: &[u8],
    operation: &Operation,
    max_pixels: u64,
) -> Result<u64, ImagingError> {
    let info = probe(input, max_pixels)?;
    let (width, height) = (info.width, info.height);
    let whole = pixels(width, height);
    let (decoded, work, output) = match operation {
        Operation::Resize(spec) => {
            let (out_w, out_h) = spec.output_size(width, height);
            let output = pixels(out_w, out_h);
            let (content_w, content_h) = spec.content_size(width, height);
            let content = pixels(content_w, content_h);
            // Resampled in two passes through an intermediate, then placed on the canvas.
            let work = (whole.max(content) + content) * RGBA;
            (decode_memory(input, &info, Some(content)), work, output)
        }
        Operation::Crop(region) => (
            decode_memory(input, &info, None),
            0,
            pixels(region.width, region.height),
        ),
        Operation::Rotate { degrees } => {
            let (out_w, out_h) = rotated_size(width, height, *degrees);
            let output = pixels(out_w, out_h);
            (decode_memory(input, &info, None), output * RGBA, output)
        }
        // A wide blur reduces, blurs and scales back: one more full copy.
        Operation::Blur { .. } => (decode_memory(input, &info, None), whole * RGBA, whole),
        Operation::Watermark(watermarks) => {
            let mut overlays = 0;
            let mut largest_decode = 0;
            for watermark in watermarks {
                let overlay = probe(&watermark.image, max_pixels)?;
                let (out_w, out_h) = overlay_size(watermark, overlay.width, overlay.height);
                overlays += pixels(out_w, out_h);
                // Decoded, made RGBA, then resampled; only the result is kept.
                let transient = decode_memory(&watermark.image, &overlay, None)
                    + pixels(overlay.width, overlay.height) * RGBA;
                largest_decode = largest_decode.max(transient);
            }
            if overlays > max_pixels {
                return Err(ImagingError::Invalid(format!(
                    "the watermarks would cover {overlays} pixels in all, more than the limit \
                     of {max_pixels} pixels"
                )));
            }
            let work = overlays * RGBA + largest_decode;
            (decode_memory(input, &info, None), work, whole)
        }
        Operation::Convert { .. } | Operation::Mirror(_) | Operation::Modulate(_) => {
            (decode_memory(input, &info, None), 0, whole)
        }
    };
    // A JPEG mirrored or turned by quarters holds its coefficients instead (the output's are
    // made row by row as they are encoded), or, where that is not exact, what the decode path
    // holds.
    let coefficients = match (info.format, operation) {
        (Format::Jpeg, Operation::Mirror(_) | Operation::Rotate { .. }) => {
            coefficient_memory(input, &info)
        }
        _ => 0,
    };
    // The encoder's own buffers and its output stay below the size of the pixels it encodes.
    Ok((decoded + work).max(coefficients) + output * RGBA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::fixtures::{self, encode};
    use crate::imaging::{Mirror, Repetition, ResizeSpec, Watermark};

    const PLENTY: u64 = 1 << 26;

    #[test]
    fn verifying_a_jpeg_or_png_holds_a_fraction_of_its_pixels() {
        let jpeg = encode(Format::Jpeg, 800, 800);
        let png = encode(Format::Png, 800, 800);
        let lossless = fixtures::blank_webp(800, 800);
        let full = 800 * 800 * RGBA;
        assert!(verify_memory(&jpeg, PLENTY).unwrap() < full / 8);
        assert!(verify_memory(&png, PLENTY).unwrap() < full / 8);
        assert_eq!(verify_memory(&lossless, PLENTY).unwrap(), 3 * full);
    }

    #[test]
    fn a_jpeg_of_several_scans_counts_its_coefficients() {
        let baseline = encode(Format::Jpeg, 16, 16);
        let scans = fixtures::jpeg_with_scans(3);
        let at_an_eighth = |bytes: &[u8]| verify_memory(bytes, PLENTY).unwrap();
        assert_eq!(
            at_an_eighth(&scans) - at_an_eighth(&baseline),
            16 * 16 * 2 * 3
        );
    }

    #[test]
    fn a_jpeg_moved_by_coefficients_counts_them_once() {
        // 4:4:4, so that the coefficients (6 bytes a pixel) outweigh a mirror's decode path.
        let jpeg = fixtures::textured_jpeg(800, 800, (1, 1), false);
        let output = 800 * 800 * RGBA;
        let coefficients = 800 * 800 * 2 * 3;
        let mirror = transform_memory(&jpeg, &Operation::Mirror(Mirror::Horizontal), PLENTY);
        assert_eq!(mirror.unwrap() - output, coefficients);
        // A quarter turn holds no second array: it needs what its decode path (which it falls
        // back on) needs, as a PNG's does.
        let rotate = transform_memory(&jpeg, &Operation::Rotate { degrees: 90.0 }, PLENTY);
        let png = encode(Format::Png, 800, 800);
        let png_rotate = transform_memory(&png, &Operation::Rotate { degrees: 90.0 }, PLENTY);
        assert!(rotate.unwrap() < output + 2 * coefficients);
        assert_eq!(png_rotate.unwrap() - output, 800 * 800 * RGBA * 3);
    }

    #[test]
    fn work_grows_with_what_the_operation_makes() {
        let png = encode(Format::Png, 100, 100);
        let mirror = transform_memory(&png, &Operation::Mirror(Mirror::Both), PLENTY).unwrap();
        let upscale = Operation::Resize(ResizeSpec {
            width: Some(1000),
            height: Some(1000),
            fit: Default::default(),
            gravity: Default::default(),
            background: None,
        });
        let upscale = transform_memory(&png, &upscale, PLENTY).unwrap();
        assert!(upscale >= 1000 * 1000 * RGBA * 3, "{upscale}");
        assert!(mirror < upscale / 10);
    }

    #[test]
    fn watermarks_count_every_overlay_and_are_capped_in_all() {
        let png = encode(Format::Png, 100, 100);
        let watermark = |side: u32| Watermark {
            image: encode(Format::Png, 10, 10).into(),
            left: 0,
            top: 0,
            width: Some(side),
            height: Some(side),
            repetition: Repetition::default(),
        };
        let one = Operation::Watermark(vec![watermark(100)]);
        let five = Operation::Watermark(vec![watermark(100); 5]);
        let (one, five) = (
            transform_memory(&png, &one, PLENTY).unwrap(),
            transform_memory(&png, &five, PLENTY).unwrap(),
        );
        assert_eq!(five - one, 4 * 100 * 100 * RGBA);
        let too_many = Operation::Watermark(vec![watermark(100); 5]);
        assert!(matches!(
            transform_memory(&png, &too_many, 4 * 100 * 100),
            Err(ImagingError::Invalid(_))
        ));
    }
}
