//! Foreground segmentation by ISNet (as the background-removal packages ship it), in-process.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use fast_image_resize::images::{Image as FrImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{GrayImage, RgbImage};

use super::Segmenter;
use super::imagenet::planes;
use super::onnx::Model;
use crate::domain::BackendError;
use crate::runtime::off_the_async_threads;

pub const MODEL_FILE: &str = "isnet.onnx";
/// The model sees a 1024×1024 image, (x − 128) / 256, and answers a mask of that size in [0, 1].
const SIDE: u32 = 1024;

pub struct IsNet {
    model: Model,
}

impl IsNet {
    /// The model in `dir`; it loads on first use, on every core this process has.
    pub fn open(dir: &Path, runtime: &Path) -> Result<Arc<Self>, String> {
        let path = dir.join(MODEL_FILE);
        if !path.is_file() {
            return Err(format!("{} is missing", path.display()));
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Arc::new(Self {
            model: Model::new(path, runtime.to_owned(), threads),
        }))
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    fn mask(&self, image: &RgbImage) -> Result<GrayImage, BackendError> {
        let square = resized(
            image.as_raw(),
            image.dimensions(),
            (SIDE, SIDE),
            PixelType::U8x3,
        );
        let output = self.model.run(
            [1, 3, SIDE as usize, SIDE as usize],
            planes(&square, |value| (f32::from(value) - 128.0) / 256.0),
        )?;
        if output.len() != (SIDE * SIDE) as usize {
            return Err(BackendError::failed(format!(
                "the segmenter answered {} values, not {}",
                output.len(),
                SIDE * SIDE
            )));
        }
        let mask: Vec<u8> = output
            .iter()
            .map(|&value| (value.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        let (width, height) = image.dimensions();
        let mask = resized(&mask, (SIDE, SIDE), (width, height), PixelType::U8);
        Ok(GrayImage::from_raw(width, height, mask).expect("a mask of the image's size"))
    }
}

#[async_trait]
impl Segmenter for Arc<IsNet> {
    async fn foreground(&self, image: RgbImage) -> Result<GrayImage, BackendError> {
        let this = Arc::clone(self);
        off_the_async_threads(move || this.mask(&image)).await
    }
}

/// `pixels` of `from` size stretched to `to` (bilinear).
fn resized(pixels: &[u8], from: (u32, u32), to: (u32, u32), kind: PixelType) -> Vec<u8> {
    if from == to {
        return pixels.to_vec();
    }
    let source = ImageRef::new(from.0, from.1, pixels, kind).expect("a buffer of its own size");
    let mut target = FrImage::new(to.0, to.1, kind);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(&source, &mut target, &options)
        .expect("matching pixel types");
    target.into_vec()
}
