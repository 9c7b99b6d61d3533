//! The use cases: the life of an image, each step written once — store the blob then the record,
//! transform, publish and unpublish under a lease, take in a direct upload. Handlers parse and
//! respond around one of these; the CLI's `transform` uses the same functions. Services depend
//! on the ports in [`App`](crate::app::App) and on the engine, never on an adapter.

pub mod analysis;
pub mod generation;
pub mod images;
pub mod memory;
pub mod publishing;
pub mod transform;
pub mod uploads;
