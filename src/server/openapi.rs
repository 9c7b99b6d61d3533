//! `GET /openapi.json`: the API's description, from the openapi.yaml at the root of the
//! repository.

use std::sync::LazyLock;

pub static OPENAPI: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_yaml_ng::from_str(include_str!("../../openapi.yaml")).expect("openapi.yaml is valid YAML")
});

pub async fn serve() -> axum::Json<&'static serde_json::Value> {
    axum::Json(&OPENAPI)
}
