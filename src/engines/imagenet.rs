//! ImageNet classification by EfficientNet-Lite0, in-process.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use fast_image_resize::images::{Image as FrImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use super::onnx::Model;
use super::{Classifier, Label};
use crate::domain::BackendError;
use crate::runtime::off_the_async_threads;

pub const MODEL_FILE: &str = "efficientnet-lite0.onnx";
pub const LABELS_FILE: &str = "imagenet-labels.txt";
const CLASSES: usize = 1000;
/// The model's preprocessing: short side to 256, centre crop 224, (x − 127) / 128.
const RESIZED_SHORT_SIDE: u32 = 256;
const INPUT_SIDE: u32 = 224;

pub struct EfficientNet {
    model: Model,
    /// The first name of each class's synset, title-cased as the reference answers.
    labels: Vec<String>,
}

impl EfficientNet {
    /// The model and its labels in `dir`; the model loads on first use.
    pub fn open(dir: &Path, runtime: &Path) -> Result<Arc<Self>, String> {
        let model_path = dir.join(MODEL_FILE);
        if !model_path.is_file() {
            return Err(format!("{} is missing", model_path.display()));
        }
        let labels_path = dir.join(LABELS_FILE);
        let labels: Vec<String> = std::fs::read_to_string(&labels_path)
            .map_err(|error| format!("cannot read {}: {error}", labels_path.display()))?
            .lines()
            .map(display_label)
            .collect();
        if labels.len() != CLASSES {
            return Err(format!(
                "{} has {} labels, not {CLASSES}",
                labels_path.display(),
                labels.len()
            ));
        }
        Ok(Arc::new(Self {
            model: Model::new(model_path, runtime.to_owned(), 1),
            labels,
        }))
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    fn top_labels(&self, image: &RgbImage, top: usize) -> Result<Vec<Label>, BackendError> {
        let logits = self.model.run(
            [1, 3, INPUT_SIDE as usize, INPUT_SIDE as usize],
            input_tensor(image),
        )?;
        if logits.len() != CLASSES {
            return Err(BackendError::failed(format!(
                "the classifier answered {} values, not {CLASSES}",
                logits.len()
            )));
        }
        let probabilities = softmax(&logits);
        let mut ranked: Vec<usize> = (0..CLASSES).collect();
        ranked.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
        Ok(ranked
            .into_iter()
            .take(top)
            .map(|class| Label {
                name: self.labels[class].clone(),
                score: probabilities[class],
            })
            .collect())
    }
}

#[async_trait]
impl Classifier for Arc<EfficientNet> {
    async fn classify(&self, image: RgbImage, top: usize) -> Result<Vec<Label>, BackendError> {
        let this = Arc::clone(self);
        off_the_async_threads(move || this.top_labels(&image, top)).await
    }
}

/// `tabby, tabby cat` → `Tabby`; `tiger cat` → `Tiger Cat`.
fn display_label(synset: &str) -> String {
    let first = synset.split(',').next().unwrap_or(synset).trim();
    first
        .split(' ')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |initial| {
                initial.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Short side to 256 (bilinear), the centre 224×224, as normalised planes R, G, B.
fn input_tensor(image: &RgbImage) -> Vec<f32> {
    let (width, height) = image.dimensions();
    let scale = f64::from(RESIZED_SHORT_SIDE) / f64::from(width.min(height));
    let side = |length: u32| ((f64::from(length) * scale).round() as u32).max(INPUT_SIDE);
    let (resized_width, resized_height) = (side(width), side(height));
    let source = ImageRef::new(width, height, image.as_raw(), PixelType::U8x3)
        .expect("an RGB buffer of its own size");
    let mut resized = FrImage::new(INPUT_SIDE, INPUT_SIDE, PixelType::U8x3);
    // Crop in source coordinates: the centre that becomes 224×224 after the resize.
    let crop_width = f64::from(INPUT_SIDE) * f64::from(width) / f64::from(resized_width);
    let crop_height = f64::from(INPUT_SIDE) * f64::from(height) / f64::from(resized_height);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(
            (f64::from(width) - crop_width) / 2.0,
            (f64::from(height) - crop_height) / 2.0,
            crop_width,
            crop_height,
        );
    Resizer::new()
        .resize(&source, &mut resized, &options)
        .expect("matching pixel types");
    planes(resized.buffer(), |value| (f32::from(value) - 127.0) / 128.0)
}

/// Interleaved RGB bytes as three planes (NCHW), each value mapped by `normalise`.
pub(super) fn planes(rgb: &[u8], normalise: impl Fn(u8) -> f32) -> Vec<f32> {
    let pixels = rgb.len() / 3;
    let mut tensor = vec![0.0; rgb.len()];
    for (index, pixel) in rgb.chunks_exact(3).enumerate() {
        for channel in 0..3 {
            tensor[channel * pixels + index] = normalise(pixel[channel]);
        }
    }
    tensor
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exponentials: Vec<f32> = logits.iter().map(|logit| (logit - max).exp()).collect();
    let sum: f32 = exponentials.iter().sum();
    exponentials.into_iter().map(|value| value / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_first_synset_name_title_cased() {
        assert_eq!(display_label("tabby, tabby cat"), "Tabby");
        assert_eq!(display_label("tiger cat"), "Tiger Cat");
        assert_eq!(display_label("lakeside, lakeshore"), "Lakeside");
        assert_eq!(display_label("jack-o'-lantern"), "Jack-o'-lantern");
    }

    #[test]
    fn softmax_is_a_distribution_in_logit_order() {
        let probabilities = softmax(&[1.0, 3.0, 2.0, 10.0]);
        assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(probabilities[3] > probabilities[1] && probabilities[1] > probabilities[2]);
        // Large logits neither overflow nor lose the order of the largest.
        let probabilities = softmax(&[1000.0, 999.0, -1000.0]);
        assert!(probabilities.iter().all(|p| p.is_finite()));
        assert!(probabilities[0] > probabilities[1] && probabilities[1] > probabilities[2]);
    }

    #[test]
    fn the_input_is_the_centre_in_planes() {
        // Left third red, middle green, right third blue: the centre crop of a 3:1 image is green.
        let image = RgbImage::from_fn(768, 256, |x, _| match x / 256 {
            0 => image::Rgb([255, 0, 0]),
            1 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        let tensor = input_tensor(&image);
        let plane = (INPUT_SIDE * INPUT_SIDE) as usize;
        assert_eq!(tensor.len(), 3 * plane);
        let high = (255.0 - 127.0) / 128.0;
        let low = (0.0 - 127.0) / 128.0;
        assert!(tensor[..plane].iter().all(|&red| (red - low).abs() < 1e-3));
        assert!(
            tensor[plane..2 * plane]
                .iter()
                .all(|&g| (g - high).abs() < 1e-3)
        );
        assert!(
            tensor[2 * plane..]
                .iter()
                .all(|&blue| (blue - low).abs() < 1e-3)
        );
    }
}
