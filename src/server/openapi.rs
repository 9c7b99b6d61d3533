//! `GET /openapi.json`: the API's description, from the openapi.yaml at the root of the
//! repository, naming the address this server really listens on.

use std::sync::LazyLock;

pub static OPENAPI: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_yaml_ng::from_str(include_str!("../../openapi.yaml")).expect("openapi.yaml is valid YAML")
});

/// The description with `servers` set to `origin`, so that examples and tools built from it
/// reach this server whatever its port.
pub fn served_at(origin: &str) -> serde_json::Value {
    let mut described = OPENAPI.clone();
    described["servers"] = serde_json::json!([{ "url": origin, "description": "imgforge serve" }]);
    described
}
