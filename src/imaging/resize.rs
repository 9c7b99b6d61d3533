//! Resizing with SIMD convolution (fast_image_resize, Lanczos3, alpha premultiplied), in the
//! three fits of the API.

use fast_image_resize::images::{Image as FrImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, Rgba, RgbaImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Exactly width×height, stretched as needed.
    #[default]
    Fill,
    /// Inside width×height, aspect kept; the rest is letterbox.
    Contain,
    /// Covers width×height, aspect kept; the overflow is cropped.
    Cover,
}

/// Where the image sits in the box (contain) or which part of it is kept (cover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gravity {
    #[default]
    Center,
    Top,
    Right,
    Bottom,
    Left,
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Gravity {
    /// The share of the free space that goes before the image, horizontally and vertically.
    fn weights(self) -> (f64, f64) {
        match self {
            Self::Center => (0.5, 0.5),
            Self::Top => (0.5, 0.0),
            Self::Right => (1.0, 0.5),
            Self::Bottom => (0.5, 1.0),
            Self::Left => (0.0, 0.5),
            Self::TopLeft => (0.0, 0.0),
            Self::TopRight => (1.0, 0.0),
            Self::BottomLeft => (0.0, 1.0),
            Self::BottomRight => (1.0, 1.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResizeSpec {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub gravity: Gravity,
    /// The letterbox of `contain`; `None` for the output format's default.
    pub background: Option<[u8; 4]>,
}

fn scaled(size: u32, factor: f64) -> u32 {
    ((f64::from(size) * factor).round() as u32).max(1)
}

impl ResizeSpec {
    /// The output canvas, for a `width`×`height` source.
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        match (self.width, self.height) {
            (Some(w), Some(h)) => (w, h),
            (Some(w), None) => (w, scaled(height, f64::from(w) / f64::from(width))),
            (None, Some(h)) => (scaled(width, f64::from(h) / f64::from(height)), h),
            (None, None) => (width, height),
        }
    }

    /// How large the whole source must be scaled: the decoder may stop at any size above it.
    pub fn content_size(&self, width: u32, height: u32) -> (u32, u32) {
        let (w, h) = self.output_size(width, height);
        let (sx, sy) = (
            f64::from(w) / f64::from(width),
            f64::from(h) / f64::from(height),
        );
        match self.fit {
            _ if self.width.is_none() || self.height.is_none() => (w, h),
            Fit::Fill => (w, h),
            Fit::Contain => (
                scaled(width, sx.min(sy)).min(w),
                scaled(height, sx.min(sy)).min(h),
            ),
            Fit::Cover => (
                scaled(width, sx.max(sy)).max(w),
                scaled(height, sx.max(sy)).max(h),
            ),
        }
    }

    /// Resizes `image` (of any size; it may have been shrunk while decoding) for a source that
    /// was `source` pixels. `background` fills the letterbox of `contain`.
    pub fn apply(
        &self,
        image: &DynamicImage,
        source: (u32, u32),
        background: [u8; 4],
    ) -> DynamicImage {
        let (out_w, out_h) = self.output_size(source.0, source.1);
        let (content_w, content_h) = self.content_size(source.0, source.1);
        let keep_all = self.width.is_none() || self.height.is_none() || self.fit == Fit::Fill;
        match self.fit {
            _ if keep_all => resample(image, out_w, out_h, None),
            Fit::Cover => {
                // The part of `image` that, scaled, exactly covers the canvas.
                let (w, h) = (f64::from(image.width()), f64::from(image.height()));
                let scale = (f64::from(out_w) / w).max(f64::from(out_h) / h);
                let (crop_w, crop_h) = (f64::from(out_w) / scale, f64::from(out_h) / scale);
                let (gx, gy) = self.gravity.weights();
                let crop = ((w - crop_w) * gx, (h - crop_h) * gy, crop_w, crop_h);
                resample(image, out_w, out_h, Some(crop))
            }
            _ => {
                let content = resample(image, content_w, content_h, None);
                let (gx, gy) = self.gravity.weights();
                let left = (f64::from(out_w - content_w) * gx).floor() as i64;
                let top = (f64::from(out_h - content_h) * gy).floor() as i64;
                letterbox(&content, out_w, out_h, left, top, background)
            }
        }
    }
}

/// Places `content` at (`left`, `top`) on a `width`×`height` canvas of `background`.
fn letterbox(
    content: &DynamicImage,
    width: u32,
    height: u32,
    left: i64,
    top: i64,
    background: [u8; 4],
) -> DynamicImage {
    if background[3] == 255 && !content.color().has_alpha() {
        let mut canvas = image::RgbImage::from_pixel(
            width,
            height,
            image::Rgb([background[0], background[1], background[2]]),
        );
        image::imageops::replace(
            &mut canvas,
            content.as_rgb8().expect("RGB content"),
            left,
            top,
        );
        return DynamicImage::ImageRgb8(canvas);
    }
    let mut canvas = RgbaImage::from_pixel(width, height, Rgba(background));
    image::imageops::replace(&mut canvas, &content.to_rgba8(), left, top);
    DynamicImage::ImageRgba8(canvas)
}

/// Lanczos3 resampling of `image`, or of the `crop` (left, top, width, height) of it, to exactly
/// `width`×`height`.
pub fn resample(
    image: &DynamicImage,
    width: u32,
    height: u32,
    crop: Option<(f64, f64, f64, f64)>,
) -> DynamicImage {
    if crop.is_none() && (image.width(), image.height()) == (width, height) {
        return image.clone();
    }
    let pixel_type = if image.color().has_alpha() {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let source = ImageRef::new(image.width(), image.height(), image.as_bytes(), pixel_type)
        .expect("an 8-bit RGB(A) buffer of its own size");
    let mut target = FrImage::new(width, height, pixel_type);
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    if let Some((left, top, w, h)) = crop {
        options = options.crop(left, top, w, h);
    }
    Resizer::new()
        .resize(&source, &mut target, &options)
        .expect("matching pixel types");
    let pixels = target.into_vec();
    match pixel_type {
        PixelType::U8x4 => DynamicImage::ImageRgba8(
            RgbaImage::from_raw(width, height, pixels).expect("exact size"),
        ),
        _ => DynamicImage::ImageRgb8(
            image::RgbImage::from_raw(width, height, pixels).expect("exact size"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn spec(width: Option<u32>, height: Option<u32>, fit: Fit, gravity: Gravity) -> ResizeSpec {
        ResizeSpec {
            width,
            height,
            fit,
            gravity,
            background: None,
        }
    }

    fn red(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(width, height, Rgb([255, 0, 0])))
    }

    #[test]
    fn one_side_keeps_the_aspect_ratio() {
        assert_eq!(
            spec(Some(800), None, Fit::Fill, Gravity::Center).output_size(5120, 2880),
            (800, 450)
        );
        assert_eq!(
            spec(None, Some(90), Fit::Cover, Gravity::Center).output_size(160, 45),
            (320, 90)
        );
        assert_eq!(
            spec(Some(1), None, Fit::Fill, Gravity::Center).output_size(10, 1),
            (1, 1)
        );
    }

    #[test]
    fn fill_stretches_to_exactly_the_box() {
        let out = spec(Some(7), Some(3), Fit::Fill, Gravity::Center).apply(
            &red(20, 20),
            (20, 20),
            [0; 4],
        );
        assert_eq!((out.width(), out.height()), (7, 3));
    }

    #[test]
    fn contain_puts_the_letterbox_where_gravity_says() {
        let source = red(20, 10);
        let black = [0, 0, 0, 255];
        for (gravity, red_columns) in [
            (Gravity::Left, 0..20),
            (Gravity::Center, 10..30),
            (Gravity::Right, 20..40),
        ] {
            let out = spec(Some(40), Some(10), Fit::Contain, gravity)
                .apply(&source, (20, 10), black)
                .to_rgb8();
            assert_eq!(out.dimensions(), (40, 10));
            for x in 0..40 {
                let expected = if red_columns.contains(&x) {
                    [255, 0, 0]
                } else {
                    [0, 0, 0]
                };
                assert_eq!(out.get_pixel(x, 5).0, expected, "{gravity:?} column {x}");
            }
        }
        let out = spec(Some(10), Some(20), Fit::Contain, Gravity::Bottom)
            .apply(&source, (20, 10), [0, 0, 0, 0])
            .to_rgba8();
        assert_eq!(out.get_pixel(5, 0).0, [0, 0, 0, 0], "transparent above");
        assert_eq!(
            out.get_pixel(5, 19).0,
            [255, 0, 0, 255],
            "image at the bottom"
        );
    }

    #[test]
    fn cover_keeps_the_part_gravity_says() {
        // Left half red, right half blue.
        let halves = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 10, |x, _| {
            if x < 20 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        }));
        let left =
            spec(Some(10), Some(10), Fit::Cover, Gravity::Left).apply(&halves, (40, 10), [0; 4]);
        assert_eq!(left.to_rgb8().get_pixel(5, 5).0, [255, 0, 0]);
        let right =
            spec(Some(10), Some(10), Fit::Cover, Gravity::Right).apply(&halves, (40, 10), [0; 4]);
        assert_eq!(right.to_rgb8().get_pixel(5, 5).0, [0, 0, 255]);
        assert_eq!((right.width(), right.height()), (10, 10));
    }

    #[test]
    fn content_sizes_bound_what_the_decoder_may_skip() {
        let contain = spec(Some(100), Some(100), Fit::Contain, Gravity::Center);
        assert_eq!(contain.content_size(400, 200), (100, 50));
        let cover = spec(Some(100), Some(100), Fit::Cover, Gravity::Center);
        assert_eq!(cover.content_size(400, 200), (200, 100));
    }
}
