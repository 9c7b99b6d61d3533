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

/// The four adjustments of modulate, each from -100 to 100 with 0 leaving the image as it is,
/// plus the legacy hue rotation in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Modulation {
    /// Multiplies every channel by 1 + b/100: -100 is black, 100 twice as bright.
    pub brightness: f64,
    /// Scales each pixel's distance from its own grey (Rec. 709 luma) by 1 + s/100: -100 is
    /// greyscale, 100 twice as saturated.
    pub saturation: f64,
    /// Exposure in linear light, 2^(e/50): -100 is two stops darker, 100 two stops brighter.
    pub exposure: f64,
    /// Scales the distance from mid-grey by 1 + c/100: -100 is flat grey, 100 twice the contrast.
    pub contrast: f64,
    /// Rotates hues around the grey axis by this many degrees.
    pub hue: f64,
}

impl Modulation {
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

    /// The colour matrix of saturation and hue, in 16.16 fixed point, or `None` for identity.
    fn colour_matrix(&self) -> Option<[[i32; 3]; 3]> {
        if self.saturation == 0.0 && self.hue == 0.0 {
            return None;
        }
        const LUMA: [f64; 3] = [0.2126, 0.7152, 0.0722];
        let s = 1.0 + self.saturation / 100.0;
        // Saturation: grey + s × (colour − grey).
        let saturate: [[f64; 3]; 3] = std::array::from_fn(|row| {
            std::array::from_fn(|column| {
                LUMA[column] * (1.0 - s) + if row == column { s } else { 0.0 }
            })
        });
        // Hue: a rotation about the (1, 1, 1) grey axis.
        let (sin, cos) = self.hue.to_radians().sin_cos();
        let third = (1.0 - cos) / 3.0;
        let root = (1.0f64 / 3.0).sqrt() * sin;
        let rotate = [
            [cos + third, third - root, third + root],
            [third + root, cos + third, third - root],
            [third - root, third + root, cos + third],
        ];
        Some(std::array::from_fn(|row| {
            std::array::from_fn(|column| {
                let value: f64 = (0..3).map(|k| rotate[row][k] * saturate[k][column]).sum();
                (value * 65536.0).round() as i32
            })
        }))
    }

    pub fn apply(&self, image: &mut DynamicImage) {
        let curve = self.tone_curve();
        let matrix = self.colour_matrix();
        let channels = usize::from(image.color().channel_count());
        let pixels: &mut [u8] = match image {
            DynamicImage::ImageRgb8(buffer) => buffer,
            DynamicImage::ImageRgba8(buffer) => buffer,
            _ => unreachable!("decoded images are 8-bit RGB(A)"),
        };
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

    #[test]
    fn zero_changes_nothing() {
        for rgb in [[0, 0, 0], [12, 200, 99], [255, 255, 255]] {
            assert_eq!(modulated(rgb, Modulation::default()), rgb);
        }
    }

    #[test]
    fn each_adjustment_does_what_it_says() {
        let brightness = |b| Modulation {
            brightness: b,
            ..Modulation::default()
        };
        assert_eq!(modulated([100, 50, 20], brightness(-100.0)), [0, 0, 0]);
        assert_eq!(modulated([100, 50, 20], brightness(100.0)), [200, 100, 40]);
        let saturation = Modulation {
            saturation: -100.0,
            ..Modulation::default()
        };
        let [r, g, b] = modulated([200, 40, 40], saturation);
        assert!(r == g && g == b, "greyscale: {r} {g} {b}");
        let contrast = Modulation {
            contrast: -100.0,
            ..Modulation::default()
        };
        assert_eq!(modulated([10, 240, 128], contrast), [128, 128, 128]);
        let exposure = Modulation {
            exposure: 50.0,
            ..Modulation::default()
        };
        let [r, ..] = modulated([100, 100, 100], exposure);
        assert!(r > 120 && r < 140, "one stop brighter in linear light: {r}");
        let hue = Modulation {
            hue: 120.0,
            ..Modulation::default()
        };
        let [r, g, b] = modulated([200, 0, 0], hue);
        assert!(g > r && g > b, "red turns green: {r} {g} {b}");
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
