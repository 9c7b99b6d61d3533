//! In-process ONNX models: ONNX Runtime loaded once per process from the library `make models`
//! prepares, and each model's session created on its first use, then shared by every request.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;

use crate::domain::BackendError;

/// The library's file name in the models directory.
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so";

/// ONNX Runtime allows one environment per process; every model shares it.
static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

fn environment(library: &Path) -> Result<&'static Environment, BackendError> {
    ENVIRONMENT
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|error| format!("cannot load {}: {error}", library.display()))?
                .with_name("imgforge")
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| BackendError::failed(error.clone()))
}

/// One model file, loaded when first run.
pub struct Model {
    path: PathBuf,
    library: PathBuf,
    threads: usize,
    session: OnceLock<Result<Mutex<Session>, String>>,
}

impl Model {
    /// A model at `path`, run by the ONNX Runtime `library` on `threads` threads.
    pub fn new(path: PathBuf, library: PathBuf, threads: usize) -> Self {
        Self {
            path,
            library,
            threads,
            session: OnceLock::new(),
        }
    }

    /// Loads the model now (if it is not loaded yet), and how long that took.
    pub fn load(&self) -> Result<Duration, BackendError> {
        let started = Instant::now();
        self.session()?;
        Ok(started.elapsed())
    }

    fn session(&self) -> Result<&Mutex<Session>, BackendError> {
        let session = self.session.get_or_init(|| {
            let environment = environment(&self.library).map_err(|error| error.to_string())?;
            let failed =
                |error: &dyn std::fmt::Display| format!("{}: {error}", self.path.display());
            Session::builder(environment)
                .map_err(|error| failed(&error))?
                .with_intra_threads(self.threads)
                .map_err(|error| failed(&error))?
                .commit_from_file(&self.path)
                .map(Mutex::new)
                .map_err(|error| failed(&error))
        });
        session
            .as_ref()
            .map_err(|error| BackendError::failed(error.clone()))
    }

    /// Runs the model on one float tensor of `shape`, and returns its first output.
    pub fn run(&self, shape: [usize; 4], input: Vec<f32>) -> Result<Vec<f32>, BackendError> {
        // The session first: it loads ONNX Runtime, which making a tensor already needs.
        let session = self.session()?;
        let tensor = Tensor::from_array((shape, input)).map_err(BackendError::failed)?;
        let mut session = session
            .lock()
            .map_err(|_| BackendError::failed("a model run panicked earlier"))?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(BackendError::failed)?;
        let (_, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(BackendError::failed)?;
        Ok(values.to_vec())
    }
}
