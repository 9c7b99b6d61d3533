//! Synthetic images for tests: deterministic pixels, any of the three formats.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};

use crate::domain::Format;

/// A `width`×`height` gradient with distinct pixels, encoded as `format`.
pub fn encode(format: Format, width: u32, height: u32) -> Vec<u8> {
    let pixels = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            128,
        ])
    });
    write(pixels, format)
}

/// A textured `width`×`height` JPEG with chroma blocks of `chroma` pixels, so that every
/// frequency, odd ones included, has coefficients to move.
pub fn textured_jpeg(width: u32, height: u32, chroma: (u8, u8), progressive: bool) -> Vec<u8> {
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    // mozjpeg's own defaults are progressive; its fastest are baseline.
    compress.set_fastest_defaults();
    compress.set_size(width as usize, height as usize);
    compress.set_quality(90.0);
    compress.set_chroma_sampling_pixel_sizes(chroma, chroma);
    if progressive {
        compress.set_progressive_mode();
    }
    let mut started = compress.start_compress(Vec::new()).expect("compressing");
    started
        .write_scanlines(&textured_pixels(width, height))
        .expect("writing");
    started.finish().expect("finishing")
}

/// As `textured_jpeg` (baseline), at quality 90, with a restart marker every `interval` MCUs
/// (none for 0), written by the encoder imgforge writes its own JPEGs with.
pub fn textured_jpeg_with_restarts(
    width: u32,
    height: u32,
    chroma: (u8, u8),
    interval: u16,
) -> Vec<u8> {
    let mut compressor = super::libjpeg::Compressor::for_rgb(width, height, 90);
    compressor.set_luma_sampling(chroma);
    compressor.info_mut().restart_interval = interval.into();
    compressor.encode_rows(&textured_pixels(width, height), false)
}

/// RGB pixels whose texture gives every frequency coefficients.
fn textured_pixels(width: u32, height: u32) -> Vec<u8> {
    (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            [
                (x * 5 + y * 2) as u8,
                ((x * y) ^ (x * 3)) as u8,
                (y * 7).wrapping_sub(x * x) as u8,
            ]
        })
        .collect()
}

/// A `width`×`height` image of deterministic noise, which no codec can shrink much: for
/// tests that need large files.
pub fn encode_noise(format: Format, width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let pixels = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [r, g, b, ..] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    write(pixels, format)
}

fn write(pixels: RgbImage, format: Format) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(pixels)
        .write_to(&mut out, image_format(format))
        .expect("encoding a synthetic image cannot fail");
    out.into_inner()
}

/// A `width`×`height` image of one colour as a lossless WebP: a few dozen bytes for any size.
pub fn blank_webp(width: u32, height: u32) -> Vec<u8> {
    let pixels = vec![0; width as usize * height as usize * 3];
    webp::Encoder::from_rgb(&pixels, width, height)
        .encode_lossless()
        .to_vec()
}

/// The same as a PNG: a few hundred bytes a megapixel.
pub fn blank_png(width: u32, height: u32) -> Vec<u8> {
    write(RgbImage::new(width, height), Format::Png)
}

/// A JPEG of `scans` scans: a baseline file's one scan, repeated. Decoders would complain about
/// the repeats; what matters is how many scans the file claims.
pub fn jpeg_with_scans(scans: usize) -> Vec<u8> {
    let jpeg = encode(Format::Jpeg, 16, 16);
    let scan = (0..jpeg.len())
        .find(|&at| jpeg[at..].starts_with(&[0xFF, 0xDA]))
        .expect("a JPEG has a scan");
    let end = jpeg.len() - 2;
    let mut file = jpeg[..scan].to_vec();
    for _ in 0..scans {
        file.extend_from_slice(&jpeg[scan..end]);
    }
    file.extend_from_slice(&jpeg[end..]);
    file
}

/// A JPEG whose stored pixels are `width`×`height`, tagged with EXIF `orientation` (1–8).
pub fn jpeg_with_orientation(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let jpeg = encode(Format::Jpeg, width, height);
    // A big-endian TIFF block holding one IFD entry: Orientation (0x0112), SHORT, count 1.
    let mut tiff = b"MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let length = u16::try_from(app1.len() + 2).expect("tiny segment");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A `width`×`height` baseline CMYK JPEG of one ink mix (each 0–255, 255 full ink), stored
/// inverted with an Adobe marker, as Photoshop and libjpeg write them.
pub fn cmyk_jpeg(width: u32, height: u32, ink: [u8; 4]) -> Vec<u8> {
    let stored = ink.map(|value| 255 - value);
    let samples: Vec<u8> = (0..width * height).flat_map(|_| stored).collect();
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    compress.set_fastest_defaults();
    compress.set_size(width as usize, height as usize);
    compress.set_quality(95.0);
    let mut started = compress.start_compress(Vec::new()).expect("compressing");
    started.write_scanlines(&samples).expect("writing");
    started.finish().expect("finishing")
}

/// A PNG of one RGB colour, tagged with the Display P3 ICC profile.
pub fn display_p3_png(rgb: [u8; 3]) -> Vec<u8> {
    use image::ImageEncoder;
    let icc = moxcms::ColorProfile::new_display_p3()
        .encode()
        .expect("a profile");
    let pixels: Vec<u8> = (0..16).flat_map(|_| rgb).collect();
    let mut out = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut out);
    encoder.set_icc_profile(icc).expect("PNG takes profiles");
    encoder
        .write_image(&pixels, 4, 4, image::ExtendedColorType::Rgb8)
        .expect("encoding");
    out
}

/// What the fuzz target does with any bytes, and the corpus test with every hostile file: an
/// upload's inspection, then the decode paths of the operations (full, DCT-scaled, a region;
/// JPEG's lossless paths, streamed and whole) and encoding. `Err` means the engine failed on
/// something it had accepted. Panics where a JPEG's fast decoding gives other pixels than
/// libjpeg's alone.
pub fn exercise(data: &[u8], max_pixels: u64) -> Result<(), super::ImagingError> {
    use super::{Fit, Gravity, Mirror, Operation, Rect, ResizeSpec, transform, verify};
    let Ok(info) = verify(data, max_pixels) else {
        return Ok(());
    };
    if info.format == Format::Jpeg {
        super::decode::assert_fast_decoding_is_libjpegs(data);
    }
    let shrink = ResizeSpec {
        width: Some(7),
        height: Some(5),
        fit: Fit::Cover,
        gravity: Gravity::Center,
        background: None,
    };
    let quarter = Rect {
        x: info.width / 4,
        y: info.height / 4,
        width: info.width.div_ceil(2),
        height: info.height.div_ceil(2),
    };
    for operation in [
        Operation::Mirror(Mirror::Both),
        Operation::Mirror(Mirror::Horizontal),
        Operation::Resize(shrink),
        Operation::Crop(quarter),
    ] {
        transform(data, &operation, max_pixels)?;
    }
    Ok(())
}

fn image_format(format: Format) -> ImageFormat {
    match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::WebP,
    }
}
