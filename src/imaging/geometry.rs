//! Moving pixels without changing them: regions, mirrors, rotations.

use image::DynamicImage;

use super::ImagingError;

/// A rectangle of pixels: `x`, `y` of its top-left corner, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn check_within(&self, width: u32, height: u32) -> Result<(), ImagingError> {
        let fits = self.width > 0
            && self.height > 0
            && u64::from(self.x) + u64::from(self.width) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(height);
        if fits {
            Ok(())
        } else {
            Err(ImagingError::Invalid(format!(
                "the region {}x{} at ({}, {}) is not within the {width}x{height} image",
                self.width, self.height, self.x, self.y
            )))
        }
    }

    pub fn crop(&self, image: &DynamicImage) -> Result<DynamicImage, ImagingError> {
        self.check_within(image.width(), image.height())?;
        Ok(image.crop_imm(self.x, self.y, self.width, self.height))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirror {
    /// Left and right swap.
    Horizontal,
    /// Top and bottom swap.
    Vertical,
    Both,
}

/// The pixel bytes of a decoded image and its channel count.
fn pixels_mut(image: &mut DynamicImage) -> (&mut [u8], usize) {
    match image {
        DynamicImage::ImageRgb8(buffer) => (buffer, 3),
        DynamicImage::ImageRgba8(buffer) => (buffer, 4),
        _ => unreachable!("decoded images are 8-bit RGB(A)"),
    }
}

/// Calls `$body` with `$n` bound as a const channel count, so pixel loops are monomorphic.
macro_rules! with_channels {
    ($channels:expr, $n:ident => $body:expr) => {
        match $channels {
            3 => {
                const $n: usize = 3;
                $body
            }
            _ => {
                const $n: usize = 4;
                $body
            }
        }
    };
}

pub fn mirror(image: &mut DynamicImage, mode: Mirror) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (bytes, channels) = pixels_mut(image);
    with_channels!(channels, N => mirror_pixels(bytes.as_chunks_mut::<N>().0, width, height, mode));
}

fn mirror_pixels<T>(pixels: &mut [T], width: usize, height: usize, mode: Mirror) {
    match mode {
        Mirror::Horizontal => pixels.chunks_exact_mut(width).for_each(<[T]>::reverse),
        Mirror::Vertical => {
            for top in 0..height / 2 {
                let (upper, lower) = pixels.split_at_mut((height - 1 - top) * width);
                upper[top * width..(top + 1) * width].swap_with_slice(&mut lower[..width]);
            }
        }
        Mirror::Both => pixels.reverse(),
    }
}

/// Rotates clockwise by `degrees`. Multiples of 90° move pixels exactly. Any other angle
/// samples bilinearly onto a canvas grown to hold the whole turned image; the corners it exposes
/// are transparent when `keep_alpha`, black otherwise.
pub fn rotate(image: DynamicImage, degrees: f64, keep_alpha: bool) -> DynamicImage {
    let turns = degrees.rem_euclid(360.0);
    let nearest = (turns / 90.0).round();
    if (turns - nearest * 90.0).abs() < 1e-9 {
        return quarter_turns(image, nearest as u32 % 4);
    }
    let mut image = if keep_alpha {
        DynamicImage::ImageRgba8(image.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.into_rgb8())
    };
    let (width, height) = (image.width(), image.height());
    let (out_width, out_height) = rotated_size(width, height, turns);
    let (source, channels) = pixels_mut(&mut image);
    let mut out = vec![0u8; out_width as usize * out_height as usize * channels];
    let geometry = Turn::new((width, height), (out_width, out_height), turns);
    with_channels!(channels, N => geometry.sample::<N>(source, &mut out));
    rebuild(out_width, out_height, channels, out)
}

fn rebuild(width: u32, height: u32, channels: usize, pixels: Vec<u8>) -> DynamicImage {
    if channels == 4 {
        DynamicImage::ImageRgba8(image::RgbaImage::from_raw(width, height, pixels).expect("size"))
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(width, height, pixels).expect("size"))
    }
}

/// Exact rotation by `turns` quarter turns clockwise.
fn quarter_turns(mut image: DynamicImage, turns: u32) -> DynamicImage {
    let (width, height) = (image.width(), image.height());
    let (bytes, channels) = pixels_mut(&mut image);
    match turns {
        0 => image,
        2 => {
            with_channels!(channels, N => bytes.as_chunks_mut::<N>().0.reverse());
            image
        }
        _ => {
            let mut out = vec![0u8; bytes.len()];
            with_channels!(channels, N => transpose_turn::<N>(
                bytes.as_chunks::<N>().0,
                out.as_chunks_mut::<N>().0,
                (width as usize, height as usize),
                turns == 1,
            ));
            rebuild(height, width, channels, out)
        }
    }
}

/// A quarter turn (clockwise or not) of `width`×`height` pixels, in cache-sized tiles.
fn transpose_turn<const N: usize>(
    source: &[[u8; N]],
    out: &mut [[u8; N]],
    (width, height): (usize, usize),
    clockwise: bool,
) {
    const TILE: usize = 64;
    for tile_y in (0..height).step_by(TILE) {
        for tile_x in (0..width).step_by(TILE) {
            let tile_end = (tile_x + TILE).min(width);
            for y in tile_y..(tile_y + TILE).min(height) {
                let row = &source[y * width + tile_x..y * width + tile_end];
                for (x, &pixel) in (tile_x..).zip(row) {
                    // The output is `height` wide: clockwise, source row y becomes column
                    // height-1-y; counter-clockwise, source column x becomes row width-1-x.
                    let target = if clockwise {
                        x * height + (height - 1 - y)
                    } else {
                        (width - 1 - x) * height + y
                    };
                    out[target] = pixel;
                }
            }
        }
    }
}

/// The size of the canvas that holds a `width`×`height` image turned by `degrees`.
pub fn rotated_size(width: u32, height: u32, degrees: f64) -> (u32, u32) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (w, h) = (f64::from(width), f64::from(height));
    // Round away float noise before taking the ceiling, so 90.0000001° is not a pixel larger.
    let fit = |size: f64| ((size * 1e6).round() / 1e6).ceil().max(1.0) as u32;
    (
        fit(w * cos.abs() + h * sin.abs()),
        fit(w * sin.abs() + h * cos.abs()),
    )
}

/// The inverse mapping of a rotation: from each output pixel centre back into the source, in
/// 16.16 fixed point.
struct Turn {
    width: i64,
    height: i64,
    out_width: usize,
    /// Source position of output pixel (0, 0), and its change per output column and row.
    origin: (f64, f64),
    per_column: (f64, f64),
    per_row: (f64, f64),
}

const ONE: i64 = 1 << 16;

impl Turn {
    fn new(source: (u32, u32), out: (u32, u32), degrees: f64) -> Self {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (cx, cy) = (f64::from(source.0) / 2.0, f64::from(source.1) / 2.0);
        let (ox, oy) = (f64::from(out.0) / 2.0, f64::from(out.1) / 2.0);
        // Output centre (x, y) relative to the canvas centre, turned back by the angle, then
        // shifted from pixel centres to pixel indices.
        let back = |x: f64, y: f64| (x * cos + y * sin + cx - 0.5, -x * sin + y * cos + cy - 0.5);
        Self {
            width: i64::from(source.0),
            height: i64::from(source.1),
            out_width: out.0 as usize,
            origin: back(0.5 - ox, 0.5 - oy),
            per_column: (cos, -sin),
            per_row: (sin, cos),
        }
    }

    fn sample<const N: usize>(&self, source: &[u8], out: &mut [u8]) {
        let stride = self.width as usize * N;
        let fixed = |value: f64| (value * ONE as f64).round() as i64;
        let (step_x, step_y) = (fixed(self.per_column.0), fixed(self.per_column.1));
        for (row_index, row) in out.chunks_exact_mut(self.out_width * N).enumerate() {
            let row_f = row_index as f64;
            let mut x = fixed(self.origin.0 + row_f * self.per_row.0);
            let mut y = fixed(self.origin.1 + row_f * self.per_row.1);
            for pixel in row.as_chunks_mut::<N>().0 {
                let (ix, iy) = (x >> 16, y >> 16);
                if ix >= -1 && iy >= -1 && ix < self.width && iy < self.height {
                    let (wx, wy) = (((x & (ONE - 1)) >> 8) as u32, ((y & (ONE - 1)) >> 8) as u32);
                    *pixel = if ix >= 0 && iy >= 0 && ix + 1 < self.width && iy + 1 < self.height {
                        let at = iy as usize * stride + ix as usize * N;
                        bilinear::<N>(
                            [
                                &source[at..],
                                &source[at + N..],
                                &source[at + stride..],
                                &source[at + stride + N..],
                            ],
                            wx,
                            wy,
                        )
                    } else {
                        self.edge::<N>(source, stride, (ix, iy), (wx, wy))
                    };
                }
                x += step_x;
                y += step_y;
            }
        }
    }

    /// Near the border some taps fall outside: they count as transparent black, so the edge
    /// fades over one pixel instead of showing stairs.
    fn edge<const N: usize>(
        &self,
        source: &[u8],
        stride: usize,
        (ix, iy): (i64, i64),
        (wx, wy): (u32, u32),
    ) -> [u8; N] {
        const ZERO: [u8; 4] = [0; 4];
        let tap = |dx: i64, dy: i64| -> &[u8] {
            let (x, y) = (ix + dx, iy + dy);
            if x < 0 || y < 0 || x >= self.width || y >= self.height {
                &ZERO
            } else {
                &source[y as usize * stride + x as usize * N..]
            }
        };
        bilinear::<N>([tap(0, 0), tap(1, 0), tap(0, 1), tap(1, 1)], wx, wy)
    }
}

/// Blends four neighbours (top-left, top-right, bottom-left, bottom-right) with 8-bit weights.
#[inline(always)]
fn bilinear<const N: usize>(taps: [&[u8]; 4], wx: u32, wy: u32) -> [u8; N] {
    let weights = [
        (256 - wx) * (256 - wy),
        wx * (256 - wy),
        (256 - wx) * wy,
        wx * wy,
    ];
    std::array::from_fn(|channel| {
        let sum: u32 = taps
            .iter()
            .zip(weights)
            .map(|(tap, weight)| u32::from(tap[channel]) * weight)
            .sum();
        ((sum + (1 << 15)) >> 16) as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// 3×2, every pixel distinct: (x, y) → [x, y, 0].
    fn grid() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(3, 2, |x, y| Rgb([x as u8, y as u8, 0])))
    }

    fn at(image: &DynamicImage, x: u32, y: u32) -> [u8; 3] {
        image.to_rgb8().get_pixel(x, y).0
    }

    #[test]
    fn mirrors_move_known_pixels() {
        let mut image = grid();
        mirror(&mut image, Mirror::Horizontal);
        assert_eq!(at(&image, 0, 0), [2, 0, 0]);
        assert_eq!(at(&image, 2, 1), [0, 1, 0]);
        let mut image = grid();
        mirror(&mut image, Mirror::Vertical);
        assert_eq!(at(&image, 0, 0), [0, 1, 0]);
        let mut image = grid();
        mirror(&mut image, Mirror::Both);
        assert_eq!(at(&image, 0, 0), [2, 1, 0]);
    }

    #[test]
    fn quarter_turns_map_corners_exactly() {
        let turned = rotate(grid(), 90.0, false);
        assert_eq!((turned.width(), turned.height()), (2, 3));
        // Clockwise: the bottom-left corner comes to the top-left.
        assert_eq!(at(&turned, 0, 0), [0, 1, 0]);
        assert_eq!(at(&turned, 1, 0), [0, 0, 0]);
        assert_eq!(at(&turned, 1, 2), [2, 0, 0]);
        let back = rotate(grid(), -90.0, false);
        assert_eq!(at(&back, 0, 0), [2, 0, 0]);
        assert_eq!(rotate(grid(), 450.0, false).to_rgb8(), turned.to_rgb8());
        assert_eq!(at(&rotate(grid(), 180.0, false), 0, 0), [2, 1, 0]);
        let radians = rotate(grid(), std::f64::consts::FRAC_PI_2.to_degrees(), false);
        assert_eq!(
            radians.to_rgb8(),
            turned.to_rgb8(),
            "π/2 is exactly a quarter turn"
        );
    }

    #[test]
    fn other_angles_grow_the_canvas_and_expose_transparent_corners() {
        let square =
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(10, 10, Rgba([200, 0, 0, 255])));
        let turned = rotate(square, 45.0, true).into_rgba8();
        assert_eq!(turned.dimensions(), (15, 15));
        assert_eq!(turned.get_pixel(0, 0).0[3], 0, "corner is transparent");
        assert_eq!(
            turned.get_pixel(7, 7).0,
            [200, 0, 0, 255],
            "centre is the image"
        );
        let opaque = DynamicImage::ImageRgb8(RgbImage::from_pixel(10, 10, Rgb([200, 200, 200])));
        let turned = rotate(opaque, 30.0, false).into_rgb8();
        assert_eq!(
            turned.get_pixel(0, 0).0,
            [0, 0, 0],
            "black where there is no alpha"
        );
    }

    #[test]
    fn rotated_canvas_sizes() {
        assert_eq!(rotated_size(100, 50, 90.0), (50, 100));
        assert_eq!(rotated_size(100, 50, 180.0), (100, 50));
        assert_eq!(rotated_size(10, 10, 45.0), (15, 15));
    }

    #[test]
    fn regions_must_fit() {
        let region = Rect {
            x: 1,
            y: 0,
            width: 2,
            height: 2,
        };
        assert_eq!(at(&region.crop(&grid()).unwrap(), 0, 1), [1, 1, 0]);
        let outside = Rect {
            x: 2,
            y: 0,
            width: 2,
            height: 1,
        };
        assert!(outside.crop(&grid()).is_err());
    }
}
