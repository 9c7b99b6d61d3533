//! Laying watermarks over an image: alpha compositing ("over"), tiled as asked, clipped at the
//! edges.

use image::{DynamicImage, RgbaImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repetition {
    #[default]
    NoRepeat,
    Repeat,
    RepeatX,
    RepeatY,
}

/// One watermark, already at its final size, placed with its top-left corner at (`left`, `top`).
pub struct Overlay {
    pub image: RgbaImage,
    pub left: i64,
    pub top: i64,
    pub repetition: Repetition,
}

/// Where the copies of a tile of `size` go along an axis of `extent`: from `start` only, or
/// every `size` pixels both ways until the axis is covered.
fn positions(start: i64, size: u32, extent: u32, repeat: bool) -> Vec<i64> {
    let size = i64::from(size);
    if !repeat {
        return vec![start];
    }
    // The copy of the tile that starts at or just before 0.
    let offset = start.rem_euclid(size);
    let first = if offset == 0 { 0 } else { offset - size };
    (0..)
        .map(|k| first + k * size)
        .take_while(|&position| position < i64::from(extent))
        .collect()
}

/// Composites each overlay in order, later ones on top. The base keeps its channels: a base
/// without alpha stays opaque.
pub fn composite(base: &mut DynamicImage, overlays: &[Overlay]) {
    let (width, height) = (base.width(), base.height());
    let channels = usize::from(base.color().channel_count());
    let pixels: &mut [u8] = match base {
        DynamicImage::ImageRgb8(buffer) => buffer,
        DynamicImage::ImageRgba8(buffer) => buffer,
        _ => unreachable!("decoded images are 8-bit RGB(A)"),
    };
    for overlay in overlays {
        let (tile_w, tile_h) = overlay.image.dimensions();
        let across = matches!(overlay.repetition, Repetition::Repeat | Repetition::RepeatX);
        let down = matches!(overlay.repetition, Repetition::Repeat | Repetition::RepeatY);
        for top in positions(overlay.top, tile_h, height, down) {
            for left in positions(overlay.left, tile_w, width, across) {
                blend_tile(pixels, (width, height), channels, &overlay.image, left, top);
            }
        }
    }
}

fn blend_tile(
    base: &mut [u8],
    (width, height): (u32, u32),
    channels: usize,
    tile: &RgbaImage,
    left: i64,
    top: i64,
) {
    let (tile_w, tile_h) = (i64::from(tile.width()), i64::from(tile.height()));
    let x_range = left.max(0)..(left + tile_w).min(i64::from(width));
    let y_range = top.max(0)..(top + tile_h).min(i64::from(height));
    if x_range.is_empty() || y_range.is_empty() {
        return;
    }
    let stride = width as usize * channels;
    for y in y_range {
        let tile_row = &tile.as_raw()[((y - top) * tile_w * 4) as usize..][..(tile_w * 4) as usize];
        let base_row = &mut base[y as usize * stride..][..stride];
        for x in x_range.clone() {
            let source = &tile_row[((x - left) * 4) as usize..][..4];
            let alpha = u32::from(source[3]);
            if alpha == 0 {
                continue;
            }
            let target = &mut base_row[x as usize * channels..][..channels];
            if channels == 4 {
                over_rgba(target, source);
            } else {
                for (t, &s) in target.iter_mut().zip(&source[..3]) {
                    *t = ((u32::from(s) * alpha + u32::from(*t) * (255 - alpha) + 127) / 255) as u8;
                }
            }
        }
    }
}

/// Porter-Duff "over" for unpremultiplied RGBA.
fn over_rgba(target: &mut [u8], source: &[u8]) {
    let source_alpha = f32::from(source[3]) / 255.0;
    let target_alpha = f32::from(target[3]) / 255.0;
    let alpha = source_alpha + target_alpha * (1.0 - source_alpha);
    for channel in 0..3 {
        let mixed = f32::from(source[channel]) * source_alpha
            + f32::from(target[channel]) * target_alpha * (1.0 - source_alpha);
        target[channel] = (mixed / alpha).round().clamp(0.0, 255.0) as u8;
    }
    target[3] = (alpha * 255.0).round() as u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba};

    fn black(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(width, height, Rgb([0, 0, 0])))
    }

    fn white_tile(size: u32) -> RgbaImage {
        RgbaImage::from_pixel(size, size, Rgba([255, 255, 255, 255]))
    }

    /// The columns of row `y` that are white.
    fn white_columns(image: &DynamicImage, y: u32) -> Vec<u32> {
        let image = image.to_rgb8();
        (0..image.width())
            .filter(|&x| image.get_pixel(x, y).0 == [255, 255, 255])
            .collect()
    }

    #[test]
    fn a_single_watermark_lands_at_its_offset_and_is_clipped() {
        let mut base = black(10, 4);
        let overlay = Overlay {
            image: white_tile(3),
            left: 8,
            top: 1,
            repetition: Repetition::NoRepeat,
        };
        composite(&mut base, &[overlay]);
        assert_eq!(white_columns(&base, 1), [8, 9]);
        assert!(white_columns(&base, 0).is_empty());
    }

    #[test]
    fn tiles_repeat_at_the_right_offsets() {
        // A 2-wide tile at x = 1 every 2 pixels, half white: white at 1, 3, 5, 7, 9 only when
        // its left column is white.
        let mut tile = RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 0]));
        tile.put_pixel(0, 0, Rgba([255, 255, 255, 255]));
        let mut base = black(10, 3);
        let overlay = Overlay {
            image: tile.clone(),
            left: 1,
            top: 0,
            repetition: Repetition::RepeatX,
        };
        composite(&mut base, &[overlay]);
        assert_eq!(white_columns(&base, 0), [1, 3, 5, 7, 9]);
        assert!(
            white_columns(&base, 1).is_empty(),
            "repeat_x stays on its row"
        );

        let mut base = black(10, 3);
        let overlay = Overlay {
            image: tile,
            left: 4,
            top: 0,
            repetition: Repetition::Repeat,
        };
        composite(&mut base, &[overlay]);
        for y in 0..3 {
            assert_eq!(white_columns(&base, y), [0, 2, 4, 6, 8], "row {y}");
        }
    }

    #[test]
    fn later_watermarks_go_on_top_and_alpha_blends() {
        let mut base = black(1, 1);
        let red = RgbaImage::from_pixel(1, 1, Rgba([255, 0, 0, 255]));
        let half_white = RgbaImage::from_pixel(1, 1, Rgba([255, 255, 255, 128]));
        composite(
            &mut base,
            &[
                Overlay {
                    image: red,
                    left: 0,
                    top: 0,
                    repetition: Repetition::NoRepeat,
                },
                Overlay {
                    image: half_white,
                    left: 0,
                    top: 0,
                    repetition: Repetition::NoRepeat,
                },
            ],
        );
        assert_eq!(base.to_rgb8().get_pixel(0, 0).0, [255, 128, 128]);
    }

    #[test]
    fn positions_cover_the_axis_from_any_start() {
        assert_eq!(positions(5, 4, 20, false), [5]);
        assert_eq!(positions(5, 4, 12, true), [-3, 1, 5, 9]);
        assert_eq!(positions(-6, 4, 8, true), [-2, 2, 6]);
        assert_eq!(positions(0, 4, 8, true), [0, 4]);
    }
}
