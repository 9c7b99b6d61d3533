//! Changing pixel values: blur and colour modulation.

use image::DynamicImage;
use libblur::{AnisotropicRadius, BlurImageMut, FastBlurChannels, ThreadingPolicy};

use super::resize::resample;

/// The largest radius the stack blur handles; wider blurs run on a reduced copy.
const MAX_STACK_RADIUS: u32 = 1200;

/// Gaussian blur of standard deviation `sigma`, approximated by a stack blur: its cost per
/// pixel is the same for every sigma. (A stack blur's tent kernel of radius r has the variance
/// of a Gaussian with sigma (r + 1) / √6.)
pub fn blur(image: DynamicImage, sigma: f32) -> DynamicImage {
    let radius = (f64::from(sigma) * 6f64.sqrt() - 1.0).round().max(1.0) as u32;
    if radius <= MAX_STACK_RADIUS {
        return stack_blur(image, radius);
    }
    // So wide a blur leaves no detail to lose: blur a reduced copy and scale it back.
    let factor = radius.div_ceil(MAX_STACK_RADIUS);
    let (width, height) = (image.width(), image.height());
    let small = resample(
        &image,
        width.div_ceil(factor),
        height.div_ceil(factor),
        None,
    );
    let blurred = stack_blur(small, radius / factor);
    resample(&blurred, width, height, None)
}

fn stack_blur(mut image: DynamicImage, radius: u32) -> DynamicImage {
    let (width, height) = (image.width(), image.height());
    let channels = if image.color().has_alpha() {
        FastBlurChannels::Channels4
    } else {
        FastBlurChannels::Channels3
    };
    let pixels: &mut [u8] = match &mut image {
        DynamicImage::ImageRgb8(buffer) => buffer,
        DynamicImage::ImageRgba8(buffer) => buffer,
        _ => unreachable!("decoded images are 8-bit RGB(A)"),
    };
    let mut view = BlurImageMut::borrow(pixels, width, height, channels);
    libblur::stack_blur(
        &mut view,
        AnisotropicRadius::new(radius),
        ThreadingPolicy::Single,
    )
    .expect("a radius within the stack blur's range");
    image
}

/// Modulate, as either version of the API defines it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Modulation {
    /// The current API's four adjustments.
    Adjust(Adjustments),
    /// The older API's, which is sharp's `modulate`.
    Lch(LchModulation),
}

impl Modulation {
    pub fn apply(&self, image: &mut DynamicImage) {
        let channels = usize::from(image.color().channel_count());
        let pixels: &mut [u8] = match image {
            DynamicImage::ImageRgb8(buffer) => buffer,
            DynamicImage::ImageRgba8(buffer) => buffer,
            _ => unreachable!("decoded images are 8-bit RGB(A)"),
        };
        match self {
            Modulation::Adjust(adjustments) => adjustments.apply(pixels, channels),
            Modulation::Lch(modulation) => modulation.apply(pixels, channels),
        }
    }
}

/// The four adjustments of the current modulate, each from -100 to 100 with 0 leaving the image
/// as it is.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Adjustments {
    /// Multiplies every channel by 1 + b/100: -100 is black, 100 twice as bright.
    pub brightness: f64,
    /// Scales each pixel's distance from its own grey (Rec. 709 luma) by 1 + s/100: -100 is
    /// greyscale, 100 twice as saturated.
    pub saturation: f64,
    /// Exposure in linear light, 2^(e/50): -100 is two stops darker, 100 two stops brighter.
    pub exposure: f64,
    /// Scales the distance from mid-grey by 1 + c/100: -100 is flat grey, 100 twice the contrast.
    pub contrast: f64,
}

impl Adjustments {
    /// One table for the per-channel adjustments, applied in the order exposure, brightness,
    /// contrast.
    fn tone_curve(&self) -> [u8; 256] {
        let exposure = 2f64.powf(self.exposure / 50.0);
        let brightness = 1.0 + self.brightness / 100.0;
        let contrast = 1.0 + self.contrast / 100.0;
        std::array::from_fn(|value| {
            let linear = srgb_to_linear(value as f64 / 255.0) * exposure;
            let v = linear_to_srgb(linear.min(1.0)) * 255.0 * brightness;
            ((v - 128.0) * contrast + 128.0).round().clamp(0.0, 255.0) as u8
        })
    }

    /// Saturation as a colour matrix, grey + s × (colour − grey), in 16.16 fixed point, or
    /// `None` for identity.
    fn saturation_matrix(&self) -> Option<[[i32; 3]; 3]> {
        if self.saturation == 0.0 {
            return None;
        }
        const LUMA: [f64; 3] = [0.2126, 0.7152, 0.0722];
        let s = 1.0 + self.saturation / 100.0;
        Some(std::array::from_fn(|row| {
            std::array::from_fn(|column| {
                let value = LUMA[column] * (1.0 - s) + if row == column { s } else { 0.0 };
                (value * 65536.0).round() as i32
            })
        }))
    }

    fn apply(&self, pixels: &mut [u8], channels: usize) {
        let curve = self.tone_curve();
        let matrix = self.saturation_matrix();
        for pixel in pixels.chunks_exact_mut(channels) {
            let rgb = [
                curve[pixel[0] as usize],
                curve[pixel[1] as usize],
                curve[pixel[2] as usize],
            ];
            match &matrix {
                None => pixel[..3].copy_from_slice(&rgb),
                Some(matrix) => {
                    for (target, row) in pixel.iter_mut().zip(matrix) {
                        let sum: i32 = row.iter().zip(rgb).map(|(m, v)| m * i32::from(v)).sum();
                        *target = ((sum + 32768) >> 16).clamp(0, 255) as u8;
                    }
                }
            }
        }
    }
}

/// The older modulate, as sharp's `modulate` does it: each pixel to CIE LCh (D65), there
/// L → L × brightness + lightness, C → C × saturation and h → h + hue, and back to sRGB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LchModulation {
    /// Multiplies lightness: 0.5 halves it, 2 doubles it.
    pub brightness: f64,
    /// Multiplies chroma: 0 is greyscale.
    pub saturation: f64,
    /// Turns hues by this many degrees.
    pub hue: f64,
    /// Added to lightness, whose scale runs from 0 (black) to 100 (white).
    pub lightness: f64,
}

impl Default for LchModulation {
    fn default() -> Self {
        Self {
            brightness: 1.0,
            saturation: 1.0,
            hue: 0.0,
            lightness: 0.0,
        }
    }
}

impl LchModulation {
    fn apply(&self, pixels: &mut [u8], channels: usize) {
        // As sharp does, leave the pixels alone when nothing would change.
        if *self == Self::default() {
            return;
        }
        let linear: [f64; 256] = std::array::from_fn(|v| srgb_to_linear(v as f64 / 255.0));
        // Where each level's rounding interval starts, in linear light: a search there finds the
        // nearest level without the cost of the sRGB curve's power at every pixel.
        let level_starts: [f64; 255] =
            std::array::from_fn(|level| srgb_to_linear((level as f64 + 0.5) / 255.0));
        // Scaling C and turning h is one linear map of (a, b): a rotation, scaled.
        let (sin, cos) = self.hue.to_radians().sin_cos();
        let (scaled_sin, scaled_cos) = (self.saturation * sin, self.saturation * cos);
        for pixel in pixels.chunks_exact_mut(channels) {
            let rgb = [0, 1, 2].map(|channel| linear[usize::from(pixel[channel])]);
            let [l, a, b] = lab_from_linear_srgb(rgb);
            let lab = [
                l * self.brightness + self.lightness,
                a * scaled_cos - b * scaled_sin,
                a * scaled_sin + b * scaled_cos,
            ];
            for (target, value) in pixel.iter_mut().zip(linear_srgb_from_lab(lab)) {
                *target = level_starts.partition_point(|&start| start <= value) as u8;
            }
        }
    }
}

// The colour science below is libvips's, which sharp uses: its D65 white, its sRGB matrices and
// CIE's constants as it writes them.

/// D65 white in XYZ, with Y = 100.
const WHITE: [f64; 3] = [95.047, 100.0, 108.8827];
const LINEAR_SRGB_TO_XYZ: [[f64; 3]; 3] = [
    [0.4124, 0.3576, 0.1805],
    [0.2126, 0.7152, 0.0722],
    [0.0193, 0.1192, 0.9505],
];
const XYZ_TO_LINEAR_SRGB: [[f64; 3]; 3] = [
    [3.240625, -1.537208, -0.498629],
    [-0.968931, 1.875756, 0.041518],
    [0.055710, -0.204021, 1.056996],
];

fn times(matrix: &[[f64; 3]; 3], vector: [f64; 3]) -> [f64; 3] {
    matrix.map(|row| row.iter().zip(vector).map(|(m, v)| m * v).sum())
}

/// CIE's companding of a white-relative tristimulus value: a cube root, linear near black.
fn lab_f(t: f64) -> f64 {
    if t < 0.008856 {
        7.787 * t + 16.0 / 116.0
    } else {
        t.cbrt()
    }
}

fn lab_f_inverse(f: f64) -> f64 {
    if f < 0.2069 {
        (f - 16.0 / 116.0) / 7.787
    } else {
        f * f * f
    }
}

/// Linear sRGB (0 to 1) to CIE L*a*b*.
fn lab_from_linear_srgb(rgb: [f64; 3]) -> [f64; 3] {
    let xyz = times(&LINEAR_SRGB_TO_XYZ, rgb.map(|v| v * 100.0));
    let [fx, fy, fz] = [0, 1, 2].map(|i| lab_f(xyz[i] / WHITE[i]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIE L*a*b* to linear sRGB, unclipped.
fn linear_srgb_from_lab([l, a, b]: [f64; 3]) -> [f64; 3] {
    let fy = (l + 16.0) / 116.0;
    let f = [fy + a / 500.0, fy, fy - b / 200.0];
    let xyz = [0, 1, 2].map(|i| lab_f_inverse(f[i]) * WHITE[i]);
    times(&XYZ_TO_LINEAR_SRGB, xyz.map(|v| v / 100.0))
}

fn srgb_to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(v: f64) -> f64 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn one_pixel(rgb: [u8; 3]) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb(rgb)))
    }

    fn modulated(rgb: [u8; 3], modulation: Modulation) -> [u8; 3] {
        let mut image = one_pixel(rgb);
        modulation.apply(&mut image);
        image.to_rgb8().get_pixel(0, 0).0
    }

    fn adjusted(rgb: [u8; 3], adjustments: Adjustments) -> [u8; 3] {
        modulated(rgb, Modulation::Adjust(adjustments))
    }

    fn lch_modulated(rgb: [u8; 3], modulation: LchModulation) -> [u8; 3] {
        modulated(rgb, Modulation::Lch(modulation))
    }

    fn lab(rgb: [u8; 3]) -> [f64; 3] {
        lab_from_linear_srgb(rgb.map(|v| srgb_to_linear(f64::from(v) / 255.0)))
    }

    fn assert_near(actual: f64, expected: f64, tolerance: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: {actual} is not {expected} ± {tolerance}"
        );
    }

    #[test]
    fn zero_changes_nothing() {
        for rgb in [[0, 0, 0], [12, 200, 99], [255, 255, 255]] {
            assert_eq!(adjusted(rgb, Adjustments::default()), rgb);
            assert_eq!(lch_modulated(rgb, LchModulation::default()), rgb);
        }
    }

    #[test]
    fn each_adjustment_does_what_it_says() {
        let brightness = |b| Adjustments {
            brightness: b,
            ..Adjustments::default()
        };
        assert_eq!(adjusted([100, 50, 20], brightness(-100.0)), [0, 0, 0]);
        assert_eq!(adjusted([100, 50, 20], brightness(100.0)), [200, 100, 40]);
        let saturation = Adjustments {
            saturation: -100.0,
            ..Adjustments::default()
        };
        let [r, g, b] = adjusted([200, 40, 40], saturation);
        assert!(r == g && g == b, "greyscale: {r} {g} {b}");
        let contrast = Adjustments {
            contrast: -100.0,
            ..Adjustments::default()
        };
        assert_eq!(adjusted([10, 240, 128], contrast), [128, 128, 128]);
        let exposure = Adjustments {
            exposure: 50.0,
            ..Adjustments::default()
        };
        let [r, ..] = adjusted([100, 100, 100], exposure);
        assert!(r > 120 && r < 140, "one stop brighter in linear light: {r}");
    }

    #[test]
    fn lab_matches_published_srgb_values() {
        // D65 CIELAB of the sRGB primaries and white, as colour references list them. libvips's
        // four-decimal matrix and rounded constants move them by hundredths.
        for (rgb, expected) in [
            ([255, 0, 0], [53.24, 80.09, 67.20]),
            ([0, 255, 0], [87.73, -86.18, 83.18]),
            ([0, 0, 255], [32.30, 79.19, -107.86]),
            ([255, 255, 255], [100.0, 0.0, 0.0]),
            ([119, 119, 119], [50.03, 0.0, 0.0]),
        ] {
            for (actual, expected) in lab(rgb).into_iter().zip(expected) {
                assert_near(actual, expected, 0.05, &format!("{rgb:?}"));
            }
        }
    }

    #[test]
    fn lab_and_back_returns_every_byte() {
        let levels: Vec<u8> = (0..=255).step_by(5).collect();
        for &r in &levels {
            for &g in &levels {
                for &b in &levels {
                    let rgb = [r, g, b];
                    let back = linear_srgb_from_lab(lab(rgb))
                        .map(|v| (linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0).round() as u8);
                    assert_eq!(back, rgb);
                }
            }
        }
    }

    #[test]
    fn older_modulate_scales_and_shifts_lightness_and_chroma_and_turns_hue() {
        // A muted colour stays inside sRGB through every change below, so only rounding the
        // three channels to whole levels moves the result: L* by at most about 0.25, a* and b*
        // by at most about 0.7.
        const L_ROUNDING: f64 = 0.25;
        const AB_ROUNDING: f64 = 0.7;
        let muted = [110, 95, 80];
        let [l, a, b] = lab(muted);
        let check = |modulation, [el, ea, eb]: [f64; 3], what: &str| {
            let [l2, a2, b2] = lab(lch_modulated(muted, modulation));
            assert_near(l2, el, L_ROUNDING, &format!("{what}: L*"));
            assert_near(a2, ea, AB_ROUNDING, &format!("{what}: a*"));
            assert_near(b2, eb, AB_ROUNDING, &format!("{what}: b*"));
        };
        let older = LchModulation::default();

        let brightness = LchModulation {
            brightness: 0.5,
            ..older
        };
        check(brightness, [l * 0.5, a, b], "brightness 0.5 halves L*");
        let lightness = LchModulation {
            lightness: 40.0,
            ..older
        };
        check(lightness, [l + 40.0, a, b], "lightness 40 adds 40 to L*");
        let saturation = LchModulation {
            saturation: 2.0,
            ..older
        };
        check(saturation, [l, a * 2.0, b * 2.0], "saturation 2 doubles C*");
        let (sin, cos) = 150f64.to_radians().sin_cos();
        let hue = LchModulation {
            hue: 150.0,
            ..older
        };
        let turned = [l, a * cos - b * sin, a * sin + b * cos];
        check(hue, turned, "hue 150 turns h by 150°");
        let backwards = LchModulation {
            hue: -210.0,
            ..older
        };
        check(backwards, turned, "hue -210 is hue 150");

        let grey = LchModulation {
            saturation: 0.0,
            ..older
        };
        let [r, g, b] = lch_modulated(muted, grey);
        assert!(
            r.abs_diff(g) <= 1 && g.abs_diff(b) <= 1,
            "grey: {r} {g} {b}"
        );
        let [r, g, b] = lch_modulated(
            [200, 0, 0],
            LchModulation {
                hue: 120.0,
                ..older
            },
        );
        assert!(g > r && g > b, "red turns green: {r} {g} {b}");
    }

    #[test]
    fn older_modulate_leaves_alpha() {
        let mut image = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            1,
            1,
            image::Rgba([150, 130, 110, 77]),
        ));
        Modulation::Lch(LchModulation {
            brightness: 0.5,
            ..LchModulation::default()
        })
        .apply(&mut image);
        let [r, _, _, a] = image.to_rgba8().get_pixel(0, 0).0;
        assert!(r < 150, "darker: {r}");
        assert_eq!(a, 77);
    }

    #[test]
    fn blur_spreads_a_point_and_keeps_flat_areas() {
        let mut dot = RgbImage::from_pixel(41, 41, Rgb([0, 0, 0]));
        dot.put_pixel(20, 20, Rgb([255, 255, 255]));
        let blurred = blur(DynamicImage::ImageRgb8(dot), 3.0).to_rgb8();
        assert!(blurred.get_pixel(20, 20).0[0] < 255);
        assert!(blurred.get_pixel(23, 20).0[0] > 0);
        assert_eq!(blurred.get_pixel(0, 0).0[0], 0);
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(30, 20, Rgb([9, 99, 199])));
        for sigma in [1.0, 20.0, 1000.0] {
            let out = blur(flat.clone(), sigma).to_rgb8();
            assert_eq!(out.dimensions(), (30, 20));
            assert!(out.pixels().all(|p| p.0 == [9, 99, 199]), "sigma {sigma}");
        }
    }
}
