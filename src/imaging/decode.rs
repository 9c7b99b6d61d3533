//! Decoding any accepted file into 8-bit sRGB pixels the right way up: JPEG through libjpeg
//! (mozjpeg, SIMD) with DCT-domain downscaling and early stop, PNG through the `png` crate (16-bit,
//! palette and grey included), WebP through libwebp. EXIF orientation and ICC profiles are applied
//! here, so every operation sees the image as it is meant to be seen.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, RgbImage, RgbaImage};
use mozjpeg_sys::J_COLOR_SPACE;

use super::geometry::Rect;
use super::libjpeg::{Decompressor, JpegMarkers, Warnings, guarded};
use super::probe::{progressive_height_at, swaps_axes};
use super::profile::{cmyk_to_srgb, to_srgb};
use super::{ImageInfo, ImagingError, probe};
use crate::domain::Format;

/// What the caller will do with the pixels, so the decoder can skip work.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeHint {
    /// The image will be reduced to fit these dimensions (as displayed): the decoder may return
    /// any size at least this large.
    pub shrink_to: Option<(u32, u32)>,
    /// Only this region (as displayed) is wanted; the decoder returns exactly it.
    pub region: Option<Rect>,
}

/// The decoded image: only `ImageRgb8` or `ImageRgba8`, in sRGB, oriented for display.
pub struct Decoded {
    pub image: DynamicImage,
    pub format: Format,
}

pub fn decode(bytes: &[u8], max_pixels: u64, hint: DecodeHint) -> Result<Decoded, ImagingError> {
    decode_probed(bytes, &probe(bytes, max_pixels)?, hint)
}

/// Checks that `bytes` are a whole, decodable image within `max_pixels`, as cheaply as decoding
/// allows (a JPEG at an eighth of its size), and says what it is. Files are inspected like this
/// before they are accepted, so that every stored image can be worked on.
pub fn verify(bytes: &[u8], max_pixels: u64) -> Result<ImageInfo, ImagingError> {
    let probed = probe(bytes, max_pixels)?;
    if probed.format == Format::Png {
        check_png_rows(bytes, &probed).map_err(ImagingError::Corrupt)?;
        return Ok(probed);
    }
    let smallest = DecodeHint {
        shrink_to: Some((1, 1)),
        region: None,
    };
    decode_probed(bytes, &probed, smallest)?;
    Ok(probed)
}

/// Decodes an image `probe` has already identified and checked against the pixel limit.
pub fn decode_probed(
    bytes: &[u8],
    probed: &ImageInfo,
    hint: DecodeHint,
) -> Result<Decoded, ImagingError> {
    let corrupt = |error: &dyn std::fmt::Display| ImagingError::Corrupt(error.to_string());
    let (image, region_done) = match probed.format {
        Format::Jpeg => decode_jpeg(bytes, hint)?,
        Format::Png => decode_png(bytes, probed, hint.region).map_err(|error| corrupt(&error))?,
        Format::Webp => decode_webp(bytes, hint).map_err(|error| corrupt(&error))?,
    };
    let image = match (hint.region, region_done) {
        (Some(region), false) => region.crop(&image)?,
        _ => image,
    };
    Ok(Decoded {
        image,
        format: probed.format,
    })
}

/// 8-bit RGB(A), whatever the source's sample type.
fn normalize(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => image,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}

fn to_srgb_image(image: &mut DynamicImage, icc: Option<&[u8]>) {
    if let Some(icc) = icc {
        let channels = usize::from(image.color().channel_count());
        match image {
            DynamicImage::ImageRgb8(pixels) => to_srgb(pixels, channels, icc),
            DynamicImage::ImageRgba8(pixels) => to_srgb(pixels, channels, icc),
            _ => {}
        }
    }
}

/// What a PNG's chunks besides the pixels may take once inflated (ICC profiles are under 1 MiB).
const PNG_METADATA_BYTES: u64 = 4 * 1024 * 1024;

/// PNG through the `png` crate, any bit depth and colour type to 8-bit RGB(A). A region of a
/// non-interlaced image stops decoding at its last row; the flag says whether it was applied.
fn png_error(error: png::DecodingError) -> String {
    error.to_string()
}

/// A PNG reader giving 8-bit rows, its allocations bounded by what the image can need.
fn png_reader<'a>(
    bytes: &'a [u8],
    probed: &ImageInfo,
) -> Result<png::Reader<Cursor<&'a [u8]>>, String> {
    // Everything the decoder may allocate, compressed chunks such as the profile included: the
    // largest pixel buffer this image can need (16-bit RGBA), plus room for its metadata.
    let pixels = u64::from(probed.width) * u64::from(probed.height);
    let budget = usize::try_from(pixels * 8 + PNG_METADATA_BYTES).unwrap_or(usize::MAX);
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: budget });
    decoder.set_ignore_text_chunk(true);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.read_info().map_err(png_error)
}

/// Decodes every row of a PNG and keeps none: whether it is whole, in the memory of a row.
fn check_png_rows(bytes: &[u8], probed: &ImageInfo) -> Result<(), String> {
    let mut reader = png_reader(bytes, probed)?;
    while reader.next_row().map_err(png_error)?.is_some() {}
    Ok(())
}

fn decode_png(
    bytes: &[u8],
    probed: &ImageInfo,
    region: Option<Rect>,
) -> Result<(DynamicImage, bool), String> {
    let error = png_error;
    let mut reader = png_reader(bytes, probed)?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    let icc = info.icc_profile.as_ref().map(|icc| icc.to_vec());
    let orientation = info
        .exif_metadata
        .as_ref()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    let region = region.filter(|_| !info.interlaced && orientation == Orientation::NoTransforms);
    let (colour, _) = reader.output_color_type();
    let (pixels, width, height) = match region {
        Some(region) => {
            region
                .check_within(width, height)
                .map_err(|problem| problem.to_string())?;
            let channels = colour.samples();
            let left = region.x as usize * channels;
            let right = (region.x + region.width) as usize * channels;
            let mut pixels = Vec::with_capacity((right - left) * region.height as usize);
            for y in 0..region.y + region.height {
                let row = reader.next_row().map_err(error)?;
                let row = row.ok_or("the image data ends early")?;
                if y >= region.y {
                    pixels.extend_from_slice(&row.data()[left..right]);
                }
            }
            (pixels, region.width, region.height)
        }
        None => {
            let size = reader
                .output_buffer_size()
                .ok_or("the image is too large")?;
            let mut pixels = vec![0; size];
            reader.next_frame(&mut pixels).map_err(error)?;
            (pixels, width, height)
        }
    };
    let image = match colour {
        png::ColorType::Rgb => {
            RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        png::ColorType::Rgba => {
            RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
        }
        png::ColorType::Grayscale => image::GrayImage::from_raw(width, height, pixels)
            .map(|grey| normalize(DynamicImage::ImageLuma8(grey))),
        _ => image::GrayAlphaImage::from_raw(width, height, pixels)
            .map(|grey| normalize(DynamicImage::ImageLumaA8(grey))),
    };
    let mut image = image.ok_or("the decoder returned a short buffer")?;
    to_srgb_image(&mut image, icc.as_deref());
    image.apply_orientation(orientation);
    Ok((image, region.is_some()))
}

/// The size to decode a `stored` image at so that it stays at least `target`: reduced by the
/// largest whole factor that allows, as libvips's shrink-on-load does.
fn shrink_on_load(stored: (u32, u32), target: (u32, u32)) -> (u32, u32) {
    let factor = (stored.0 / target.0.max(1))
        .min(stored.1 / target.1.max(1))
        .max(1);
    (stored.0.div_ceil(factor), stored.1.div_ceil(factor))
}

/// WebP pixels through libwebp (several times faster than the pure-Rust decoder), decoded
/// straight into the image's buffer, reduced while decoding when `hint.shrink_to` (as
/// displayed) allows, or cut to `hint.region` while decoding (libwebp then stops after the
/// region's last row) when no orientation moves it; the flag says whether it was. The profile
/// and orientation come from the container's chunks.
fn decode_webp(bytes: &[u8], hint: DecodeHint) -> Result<(DynamicImage, bool), String> {
    use libwebp_sys::{
        VP8StatusCode, WEBP_CSP_MODE, WebPDecode, WebPDecoderConfig, WebPFreeDecBuffer,
        WebPRGBABuffer,
    };

    let mut metadata = image::codecs::webp::WebPDecoder::new(Cursor::new(bytes))
        .map_err(|error| error.to_string())?;
    let icc = metadata.icc_profile().ok().flatten();
    let orientation = metadata.orientation().unwrap_or(Orientation::NoTransforms);
    let features = webp::BitstreamFeatures::new(bytes)
        .filter(|features| !features.has_animation())
        .ok_or("not a still WebP image")?;
    let stored = (features.width(), features.height());
    let (width, height) = match hint.shrink_to {
        Some((width, height)) if swaps_axes(orientation) => shrink_on_load(stored, (height, width)),
        Some(target) => shrink_on_load(stored, target),
        None => stored,
    };
    // libwebp starts a crop at even coordinates (chroma is subsampled): the region is cut from
    // the slightly larger one decoded.
    let crop = hint
        .region
        .filter(|_| orientation == Orientation::NoTransforms && hint.shrink_to.is_none())
        .filter(|region| region.check_within(stored.0, stored.1).is_ok())
        .map(|region| Rect {
            x: region.x & !1,
            y: region.y & !1,
            width: region.width + (region.x & 1),
            height: region.height + (region.y & 1),
        });
    let (width, height) = crop.map_or((width, height), |crop| (crop.width, crop.height));
    let channels = if features.has_alpha() { 4 } else { 3 };
    let stride = width as usize * channels;
    let mut pixels = vec![0u8; stride * height as usize];

    let mut config = WebPDecoderConfig::new().map_err(|()| "libwebp's decoder ABI differs")?;
    if let Some(crop) = crop {
        config.options.use_cropping = 1;
        config.options.crop_left = crop.x as i32;
        config.options.crop_top = crop.y as i32;
        config.options.crop_width = crop.width as i32;
        config.options.crop_height = crop.height as i32;
    } else if (width, height) != stored {
        config.options.use_scaling = 1;
        config.options.scaled_width = width as i32;
        config.options.scaled_height = height as i32;
    }
    config.output.colorspace = if channels == 4 {
        WEBP_CSP_MODE::MODE_RGBA
    } else {
        WEBP_CSP_MODE::MODE_RGB
    };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride: i32::try_from(stride).map_err(|_| "the image is too wide")?,
        size: pixels.len(),
    };
    // SAFETY: the output buffer is `pixels`, `height` rows of `stride` bytes, as libwebp is
    // told; it writes nothing else, and frees only what it allocated itself (nothing, here).
    let status = unsafe {
        let status = WebPDecode(bytes.as_ptr(), bytes.len(), &mut config);
        WebPFreeDecBuffer(&mut config.output);
        status
    };
    if status != VP8StatusCode::VP8_STATUS_OK {
        return Err(format!("libwebp could not decode the image ({status:?})"));
    }
    let image = if channels == 4 {
        RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    };
    let mut image = image.ok_or("libwebp returned a short buffer")?;
    if let (Some(crop), Some(region)) = (crop, hint.region)
        && (crop.x, crop.y) != (region.x, region.y)
    {
        image = image.crop_imm(
            region.x - crop.x,
            region.y - crop.y,
            region.width,
            region.height,
        );
    }
    to_srgb_image(&mut image, icc.as_deref());
    image.apply_orientation(orientation);
    Ok((image, crop.is_some()))
}

/// The largest DCT scaling (1/8, 1/4, 1/2) that still leaves at least `target` pixels, as the
/// numerator over 8.
fn dct_scale(stored: (u32, u32), target: (u32, u32)) -> u8 {
    [1u8, 2, 4]
        .into_iter()
        .find(|&numerator| {
            let scaled = |size: u32| (size * u32::from(numerator)).div_ceil(8);
            scaled(stored.0) >= target.0 && scaled(stored.1) >= target.1
        })
        .unwrap_or(8)
}

/// How one attempt at a JPEG reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// This crate's entropy decoder where it reads the file (`sequential`), which stops at any
    /// damage in the entropy-coded data; a region decoded alone, which stops at any of
    /// libjpeg's warnings. Elsewhere libjpeg's warnings are taken as in the tolerant attempt:
    /// those left are of markers, which both read alike.
    Fast,
    /// libjpeg alone, on the whole image, decoding damage as it always has: only a file cut
    /// short fails, or one it cannot decode at all.
    Tolerant,
}

/// Decodes a JPEG; the flag says whether `hint.region` was applied during decoding. Where the
/// fast attempt stops, the tolerant one decides what to make of the file.
fn decode_jpeg(bytes: &[u8], hint: DecodeHint) -> Result<(DynamicImage, bool), ImagingError> {
    if let Ok(decoded) = guarded(|| decode_jpeg_as(bytes, hint, Attempt::Fast)) {
        return decoded;
    }
    guarded(|| decode_jpeg_as(bytes, hint, Attempt::Tolerant))
        .unwrap_or_else(|message| Err(ImagingError::Corrupt(message)))
}

/// For the fuzz target: the fast attempt, where it succeeds, gives the pixels of libjpeg alone,
/// whole, at an eighth, and for a region.
#[cfg(any(test, feature = "test-support"))]
pub(super) fn assert_fast_decoding_is_libjpegs(bytes: &[u8]) {
    let Ok(ImageInfo { width, height, .. }) = probe(bytes, u64::MAX) else {
        return;
    };
    let region = Rect {
        x: width / 3,
        y: height / 3,
        width: width.div_ceil(3),
        height: height.div_ceil(3),
    };
    for hint in [
        DecodeHint::default(),
        DecodeHint {
            shrink_to: Some((1, 1)),
            region: None,
        },
        DecodeHint {
            shrink_to: None,
            region: Some(region),
        },
    ] {
        let Ok(Ok((fast, region_done))) = guarded(|| decode_jpeg_as(bytes, hint, Attempt::Fast))
        else {
            continue;
        };
        let fast = match hint.region {
            Some(region) if !region_done => region.crop(&fast).ok(),
            _ => Some(fast),
        };
        let alone = guarded(|| decode_jpeg_as(bytes, hint, Attempt::Tolerant)).map(|decoded| {
            decoded.ok().and_then(|(image, _)| match hint.region {
                Some(region) => region.crop(&image).ok(),
                None => Some(image),
            })
        });
        assert!(
            alone == Ok(fast),
            "the fast decoding of a JPEG differs from libjpeg's ({hint:?})"
        );
    }
}

/// One attempt at a JPEG: the region alone where that applies, else the image reduced in the
/// DCT domain as far as `hint.shrink_to` allows, in sRGB, oriented. libjpeg's errors (and, in
/// the fast attempt, warnings) unwind out of it.
fn decode_jpeg_as(
    bytes: &[u8],
    hint: DecodeHint,
    attempt: Attempt,
) -> Result<(DynamicImage, bool), ImagingError> {
    if attempt == Attempt::Fast
        && let (Some(region), None) = (hint.region, hint.shrink_to)
        && let Some(decoded) = decode_jpeg_region(bytes, region)
    {
        return decoded.map(|image| (image, true));
    }
    let mut source = Decompressor::read_header(bytes, Warnings::StopAtTruncation);
    let JpegMarkers {
        orientation,
        icc,
        adobe,
    } = source.markers();
    let eighths = hint.shrink_to.map_or(8, |(width, height)| {
        let target = if swaps_axes(orientation) {
            (height, width)
        } else {
            (width, height)
        };
        dct_scale(source.size(), target)
    });
    let cmyk = source.is_cmyk();
    let color_space = if cmyk {
        J_COLOR_SPACE::JCS_CMYK
    } else {
        J_COLOR_SPACE::JCS_RGB
    };
    source.start(color_space, eighths);
    if attempt == Attempt::Fast {
        source.decode_entropy_here(None);
    }
    let (width, height, _) = source.output_size();
    let pixels = source.read_rows();
    let rgb = if cmyk {
        cmyk_to_srgb(&pixels, adobe, icc.as_deref())
    } else {
        pixels
    };
    let image = RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| ImagingError::Corrupt("short image".into()))?;
    let mut image = DynamicImage::ImageRgb8(image);
    if !cmyk {
        to_srgb_image(&mut image, icc.as_deref());
    }
    image.apply_orientation(orientation);
    Ok((image, false))
}

/// Rows decoded below a region, so that its last rows are upsampled from their real neighbours
/// as in the whole image: an iMCU row at the largest sampling libjpeg allows (4 × 8 pixels).
const ROWS_BELOW_REGION: u32 = 32;

/// A progressive JPEG's scans are each entropy-decoded over the whole image before its first
/// row comes out. This copy's frame header says the image ends a little below its first `rows`
/// rows, so libjpeg decodes each scan only that far and passes over the rest of its data. `None`
/// for a sequential file (decoded row by row, it already stops), or where the coefficients of
/// the rows left out (at least 2 bytes a pixel) would not outweigh the copy, which the memory
/// estimate of a whole decode then covers.
fn shortened_progressive(bytes: &[u8], rows: u32) -> Option<Vec<u8>> {
    let at = progressive_height_at(bytes)?;
    let [height_high, height_low, width_high, width_low] = *bytes.get(at..at + 4)? else {
        return None;
    };
    let height = u16::from_be_bytes([height_high, height_low]);
    let width = u16::from_be_bytes([width_high, width_low]);
    let shortened = rows
        .checked_add(ROWS_BELOW_REGION)?
        .checked_next_multiple_of(ROWS_BELOW_REGION)?;
    let shortened = u16::try_from(shortened).ok().filter(|&rows| {
        rows < height && usize::from(height - rows) * usize::from(width) * 2 >= bytes.len()
    })?;
    let mut copy = bytes.to_vec();
    copy[at..at + 2].copy_from_slice(&shortened.to_be_bytes());
    Some(copy)
}

/// `region` of a JPEG, decoding its rows and no further (a progressive file's scans too), and
/// of those only the columns it covers (to whole iMCUs), with this crate's entropy decoder
/// where it reads the file; `None` where this does not apply (an orientation moves the region,
/// CMYK needs its own conversion). libjpeg's errors and warnings unwind out of it.
fn decode_jpeg_region(bytes: &[u8], region: Rect) -> Option<Result<DynamicImage, ImagingError>> {
    let shortened = region
        .y
        .checked_add(region.height)
        .and_then(|rows| shortened_progressive(bytes, rows));
    let bytes = shortened.as_deref().unwrap_or(bytes);
    let mut source = Decompressor::read_header(bytes, Warnings::StopAtAny);
    if shortened.is_some() {
        source.allow_skipped_scan_data();
    }
    let JpegMarkers {
        orientation, icc, ..
    } = source.markers();
    if orientation != Orientation::NoTransforms || !source.is_rgb_or_grey() {
        return None;
    }
    let (width, height) = source.size();
    if let Err(error) = region.check_within(width, height) {
        return Some(Err(error));
    }
    // A pixel's chroma is interpolated from its neighbours' ("fancy upsampling"), and libjpeg
    // treats a cropped edge as the image's: a column more on each side keeps the region's edge
    // pixels as the whole decode makes them.
    let first = region.x.saturating_sub(1);
    let end = (region.x + region.width + 1).min(width);
    source.start(J_COLOR_SPACE::JCS_RGB, 8);
    let (left, decoded_width) = source.crop_columns(first, end - first);
    source.decode_entropy_here(Some((left, decoded_width)));
    source.skip_rows(region.y);
    let mut row = vec![0u8; decoded_width as usize * 3];
    let start = (region.x - left) as usize * 3;
    let end = start + region.width as usize * 3;
    let mut pixels = Vec::with_capacity(end.saturating_sub(start) * region.height as usize);
    for _ in 0..region.height {
        source.read_row(&mut row);
        pixels.extend_from_slice(&row[start..end]);
    }
    let image = RgbImage::from_raw(region.width, region.height, pixels)?;
    let mut image = DynamicImage::ImageRgb8(image);
    to_srgb_image(&mut image, icc.as_deref());
    Some(Ok(image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::fixtures;

    const PLENTY: u64 = 1 << 26;

    #[test]
    fn every_format_decodes_to_8_bit_rgb() {
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            let decoded = decode(
                &fixtures::encode(format, 9, 7),
                PLENTY,
                DecodeHint::default(),
            )
            .unwrap();
            assert_eq!(decoded.format, format);
            assert!(matches!(decoded.image, DynamicImage::ImageRgb8(_)));
            assert_eq!((decoded.image.width(), decoded.image.height()), (9, 7));
        }
    }

    #[test]
    fn exif_orientation_is_applied() {
        let decoded = decode(
            &fixtures::jpeg_with_orientation(8, 4, 6),
            PLENTY,
            DecodeHint::default(),
        )
        .unwrap();
        assert_eq!((decoded.image.width(), decoded.image.height()), (4, 8));
    }

    #[test]
    fn jpeg_shrinks_in_the_dct_domain_but_never_below_the_target() {
        let jpeg = fixtures::encode(Format::Jpeg, 800, 600);
        let hint = DecodeHint {
            shrink_to: Some((190, 140)),
            region: None,
        };
        let decoded = decode(&jpeg, PLENTY, hint).unwrap();
        assert_eq!((decoded.image.width(), decoded.image.height()), (200, 150));
        assert_eq!(dct_scale((800, 600), (100, 75)), 1);
        assert_eq!(dct_scale((800, 600), (101, 75)), 2);
        assert_eq!(dct_scale((800, 600), (401, 10)), 8);
    }

    #[test]
    fn regions_decoded_early_are_exactly_those_pixels_of_the_whole() {
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            let file = fixtures::encode(format, 64, 48);
            let region = Rect {
                x: 8,
                y: 16,
                width: 24,
                height: 8,
            };
            let whole = decode(&file, PLENTY, DecodeHint::default())
                .unwrap()
                .image
                .to_rgb8();
            let hint = DecodeHint {
                shrink_to: None,
                region: Some(region),
            };
            let part = decode(&file, PLENTY, hint).unwrap().image.to_rgb8();
            assert_eq!(part.dimensions(), (24, 8), "{format:?}");
            for (x, y, pixel) in part.enumerate_pixels() {
                assert_eq!(
                    pixel,
                    whole.get_pixel(x + 8, y + 16),
                    "{format:?} at {x},{y}"
                );
            }
        }
    }

    /// The pixels libjpeg alone decodes for `hint` (a region cut from the whole).
    fn libjpeg_alone(jpeg: &[u8], hint: DecodeHint) -> DynamicImage {
        let (image, _) = guarded(|| decode_jpeg_as(jpeg, hint, Attempt::Tolerant))
            .unwrap()
            .unwrap();
        match hint.region {
            Some(region) => region.crop(&image).unwrap(),
            None => image,
        }
    }

    #[test]
    fn sequential_files_are_entropy_decoded_here_and_others_by_libjpeg() {
        for (jpeg, here) in [
            (fixtures::textured_jpeg(64, 48, (2, 2), false), true),
            (
                fixtures::textured_jpeg_with_restarts(64, 48, (2, 1), 3),
                true,
            ),
            (fixtures::cmyk_jpeg(16, 16, [0, 128, 255, 30]), true),
            (fixtures::textured_jpeg(64, 48, (2, 2), true), false),
        ] {
            let decoded_here = guarded(|| {
                let mut source = Decompressor::read_header(&jpeg, Warnings::StopAtAny);
                let color_space = if source.is_cmyk() {
                    J_COLOR_SPACE::JCS_CMYK
                } else {
                    J_COLOR_SPACE::JCS_RGB
                };
                source.start(color_space, 8);
                source.decode_entropy_here(None)
            });
            assert_eq!(decoded_here, Ok(here));
        }
    }

    #[test]
    fn the_fast_attempt_gives_the_pixels_of_libjpeg_alone() {
        let region = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        let hints = [
            DecodeHint::default(),
            DecodeHint {
                shrink_to: Some((50, 40)),
                region: None,
            },
            DecodeHint {
                shrink_to: Some((25, 20)),
                region: None,
            },
            DecodeHint {
                shrink_to: Some((1, 1)),
                region: None,
            },
            DecodeHint {
                shrink_to: None,
                region: Some(region(0, 0, 80, 80)),
            },
            DecodeHint {
                shrink_to: None,
                region: Some(region(37, 21, 40, 30)),
            },
            DecodeHint {
                shrink_to: None,
                region: Some(region(70, 70, 10, 10)),
            },
        ];
        let mut files = vec![
            fixtures::textured_jpeg(100, 80, (2, 2), true),
            fixtures::jpeg_with_orientation(100, 80, 6),
            fixtures::cmyk_jpeg(100, 80, [10, 200, 30, 90]),
        ];
        for chroma in [(2, 2), (2, 1), (1, 1)] {
            for interval in [0, 4] {
                files.push(fixtures::textured_jpeg_with_restarts(
                    100, 80, chroma, interval,
                ));
            }
        }
        for (index, jpeg) in files.iter().enumerate() {
            for hint in hints {
                let (fast, region_done) = guarded(|| decode_jpeg_as(jpeg, hint, Attempt::Fast))
                    .unwrap()
                    .unwrap();
                let fast = match hint.region {
                    Some(region) if !region_done => region.crop(&fast).unwrap(),
                    _ => fast,
                };
                assert!(fast == libjpeg_alone(jpeg, hint), "file {index}, {hint:?}");
            }
        }
    }

    #[test]
    fn damaged_data_the_fast_attempt_stops_at_is_decoded_as_libjpeg_decodes_it() {
        let jpeg = fixtures::textured_jpeg_with_restarts(100, 80, (2, 2), 0);
        let hint = DecodeHint::default();
        let clean = libjpeg_alone(&jpeg, hint);
        // Bytes of the scan zeroed, one at a time, until one is damage that libjpeg decodes
        // anyway (a code no table has, say), into other pixels.
        let damaged = (jpeg.len() / 2..jpeg.len() - 2)
            .map(|at| {
                let mut damaged = jpeg.clone();
                damaged[at] = 0;
                damaged
            })
            .find(|damaged| {
                guarded(|| decode_jpeg_as(damaged, hint, Attempt::Fast)).is_err()
                    && guarded(|| decode_jpeg_as(damaged, hint, Attempt::Tolerant))
                        .is_ok_and(|decoded| decoded.is_ok_and(|(image, _)| image != clean))
            })
            .expect("damage libjpeg decodes");
        let decoded = decode(&damaged, PLENTY, hint).unwrap().image;
        assert!(decoded == libjpeg_alone(&damaged, hint));
    }

    #[test]
    fn warnings_of_markers_do_not_stop_the_fast_attempt() {
        let jpeg = fixtures::textured_jpeg_with_restarts(100, 80, (2, 2), 0);
        // Bytes between two header segments: libjpeg warns, skips them, and decodes the rest.
        let second = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
        let padded = [&jpeg[..second], &[0x55; 5], &jpeg[second..]].concat();
        let hint = DecodeHint::default();
        let (fast, _) = guarded(|| decode_jpeg_as(&padded, hint, Attempt::Fast))
            .expect("not stopped")
            .unwrap();
        assert!(fast == libjpeg_alone(&padded, hint));
        assert!(fast == libjpeg_alone(&jpeg, hint));
    }

    #[test]
    fn jpeg_regions_decode_alone_to_exactly_those_pixels_of_the_whole() {
        let rect = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        // The whole image, regions inside, at the top, the bottom right and a single row; those
        // ending high up let a progressive file be shortened.
        let regions = [
            rect(0, 0, 100, 300),
            rect(17, 9, 31, 23),
            rect(33, 0, 67, 70),
            rect(0, 47, 100, 1),
            rect(5, 61, 90, 33),
            rect(99, 299, 1, 1),
            rect(40, 250, 20, 50),
        ];
        for (chroma, progressive) in [
            ((2, 2), false),
            ((2, 1), false),
            ((1, 1), false),
            ((2, 2), true),
            ((2, 1), true),
            ((1, 1), true),
        ] {
            let jpeg = fixtures::textured_jpeg(100, 300, chroma, progressive);
            let whole = libjpeg_alone(&jpeg, DecodeHint::default()).to_rgb8();
            let shortened = regions
                .iter()
                .filter(|region| shortened_progressive(&jpeg, region.y + region.height).is_some())
                .count();
            assert_eq!(
                shortened > 0,
                progressive,
                "{chroma:?}: {shortened} shortened"
            );
            for region in regions {
                let part = decode_jpeg_region(&jpeg, region)
                    .expect("decoded by region")
                    .unwrap()
                    .to_rgb8();
                let expected = image::imageops::crop_imm(
                    &whole,
                    region.x,
                    region.y,
                    region.width,
                    region.height,
                )
                .to_image();
                assert!(part == expected, "{chroma:?}, {progressive}, {region:?}");
            }
        }
        // Outside the image is the caller's mistake; a rotated image is left to the whole decode.
        for progressive in [false, true] {
            let jpeg = fixtures::textured_jpeg(100, 300, (2, 2), progressive);
            assert!(
                decode_jpeg_region(&jpeg, rect(90, 0, 11, 1))
                    .unwrap()
                    .is_err()
            );
            assert!(
                decode_jpeg_region(&jpeg, rect(0, 290, 1, 11))
                    .unwrap()
                    .is_err()
            );
        }
        let rotated = fixtures::jpeg_with_orientation(48, 32, 6);
        assert!(decode_jpeg_region(&rotated, rect(0, 0, 1, 1)).is_none());
    }

    #[test]
    fn only_progressive_files_are_shortened_and_only_below_the_rows_wanted() {
        let height = |jpeg: &[u8]| {
            let at = progressive_height_at(jpeg).expect("a progressive frame header");
            u16::from_be_bytes([jpeg[at], jpeg[at + 1]])
        };
        let progressive = fixtures::textured_jpeg(100, 300, (2, 2), true);
        assert_eq!(height(&progressive), 300);
        let shortened = shortened_progressive(&progressive, 47).expect("shortened");
        assert_eq!(height(&shortened), 96);
        assert_eq!(shortened.len(), progressive.len());
        // Not when the rows left out hold fewer coefficients than the copy's bytes.
        assert!(progressive.len() > 12 * 100 * 2);
        assert_eq!(shortened_progressive(&progressive, 250), None);
        assert_eq!(shortened_progressive(&progressive, u32::MAX), None);
        let baseline = fixtures::textured_jpeg(100, 300, (2, 2), false);
        assert_eq!(progressive_height_at(&baseline), None);
        assert_eq!(shortened_progressive(&baseline, 47), None);
    }

    #[test]
    fn webp_regions_at_odd_coordinates_are_exactly_those_pixels_of_the_whole() {
        let webp = fixtures::encode_noise(Format::Webp, 64, 48);
        let whole = decode(&webp, PLENTY, DecodeHint::default())
            .unwrap()
            .image
            .to_rgb8();
        for region in [
            Rect {
                x: 7,
                y: 5,
                width: 20,
                height: 11,
            },
            Rect {
                x: 8,
                y: 6,
                width: 56,
                height: 42,
            },
        ] {
            let hint = DecodeHint {
                shrink_to: None,
                region: Some(region),
            };
            let (part, cut) = decode_webp(&webp, hint).unwrap();
            assert!(cut, "cut while decoding");
            let expected =
                image::imageops::crop_imm(&whole, region.x, region.y, region.width, region.height)
                    .to_image();
            assert!(part.to_rgb8() == expected, "{region:?}");
        }
    }

    #[test]
    fn sixteen_bit_png_with_alpha_becomes_8_bit_rgba() {
        let pixels = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(3, 2, |x, _| {
            image::Rgba([65535, 0, 0, if x == 0 { 0 } else { 65535 }])
        });
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageRgba16(pixels)
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let decoded = decode(png.get_ref(), PLENTY, DecodeHint::default()).unwrap();
        let DynamicImage::ImageRgba8(rgba) = decoded.image else {
            panic!("expected RGBA8");
        };
        assert_eq!(rgba.get_pixel(0, 0).0, [255, 0, 0, 0]);
        assert_eq!(rgba.get_pixel(2, 1).0, [255, 0, 0, 255]);
    }

    #[test]
    fn cmyk_jpegs_come_out_as_rgb() {
        for (ink, expected) in [
            ([255, 0, 0, 0], [0, 255, 255]),
            ([0, 255, 0, 0], [255, 0, 255]),
            ([0, 0, 0, 0], [255, 255, 255]),
            ([0, 0, 0, 255], [0, 0, 0]),
        ] {
            let jpeg = fixtures::cmyk_jpeg(16, 16, ink);
            let decoded = decode(&jpeg, PLENTY, DecodeHint::default()).unwrap().image;
            let got = decoded.to_rgb8().get_pixel(8, 8).0;
            for (got, expected) in got.iter().zip(expected) {
                assert!(
                    got.abs_diff(expected) <= 3,
                    "ink {ink:?}: {got:?} vs {expected:?}"
                );
            }
        }
    }

    #[test]
    fn icc_profiles_are_converted_to_srgb() {
        // Display P3 is wider than sRGB: the same numbers mean a more saturated red, which in
        // sRGB needs a higher red and lower green and blue.
        let png = fixtures::display_p3_png([200, 100, 100]);
        let decoded = decode(&png, PLENTY, DecodeHint::default()).unwrap().image;
        let [r, g, b] = decoded.to_rgb8().get_pixel(1, 1).0;
        assert!(r >= 210 && g <= 95 && b <= 98, "{r} {g} {b}");
    }

    #[test]
    fn webp_shrinks_on_load_by_whole_factors_but_never_below_the_target() {
        assert_eq!(shrink_on_load((800, 600), (100, 75)), (100, 75));
        assert_eq!(shrink_on_load((800, 600), (300, 200)), (400, 300));
        assert_eq!(shrink_on_load((801, 601), (100, 75)), (101, 76));
        assert_eq!(shrink_on_load((800, 600), (900, 10)), (800, 600));
        let webp = fixtures::encode(Format::Webp, 800, 600);
        let hint = DecodeHint {
            shrink_to: Some((100, 75)),
            region: None,
        };
        let shrunk = decode(&webp, PLENTY, hint).unwrap().image;
        assert_eq!((shrunk.width(), shrunk.height()), (100, 75));
        // The gradient survives: the top-left corner is dark in red, the bottom-right bright.
        let rgb = shrunk.to_rgb8();
        assert!(rgb.get_pixel(0, 0)[0] < 40 && rgb.get_pixel(99, 74)[0] > 200);
        let whole = decode(&webp, PLENTY, DecodeHint::default()).unwrap().image;
        assert_eq!((whole.width(), whole.height()), (800, 600));
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let jpeg = fixtures::encode(Format::Jpeg, 64, 64);
        for cut in [20, 200, jpeg.len() / 2, jpeg.len() * 3 / 4] {
            assert!(decode(&jpeg[..cut], PLENTY, DecodeHint::default()).is_err());
        }
        let mut garbage = jpeg[..4].to_vec();
        garbage.extend(std::iter::repeat_n(0xAB, 400));
        assert!(decode(&garbage, PLENTY, DecodeHint::default()).is_err());
        let webp = fixtures::encode(Format::Webp, 16, 16);
        assert!(decode(&webp[..webp.len() - 10], PLENTY, DecodeHint::default()).is_err());
    }
}
