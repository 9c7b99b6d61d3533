//! The route table: the single source of truth for which endpoints exist. The local server
//! dispatches through it, and tests check `template.yaml`, `functions/` and `events/` against it.

use std::collections::HashMap;

use lambda_http::http::Method;

use super::Handler;
use super::handlers;
use crate::app::Uses;

pub struct Route {
    /// The endpoint's name: its Lambda binary, its SAM function and its event file.
    pub name: &'static str,
    pub method: Method,
    /// In API Gateway's syntax: `{image_id}` is a path parameter.
    pub path: &'static str,
    pub handler: Handler,
    pub uses: Uses,
}

/// One line per endpoint: name, method, path (API Gateway syntax), handler, and what it uses
/// beyond the records: `blobs` (originals and uploads), `publisher` (public copies on the CDN),
/// and the engines it calls, by their fields in `Engines` (`classifier`, `text_reader`, …).
/// Each route is also a static of its own in [`route`], named after its handler, so that a
/// Lambda can start from its route without linking every other handler (or the engines, or the
/// adapters of ports it does not use) into its binary.
macro_rules! routes {
    (@uses) => { Uses::NOTHING };
    (@uses $($flag:ident)+) => {{
        let mut uses = Uses::NOTHING;
        $(routes!(@use uses $flag);)+
        uses
    }};
    (@use $uses:ident blobs) => { $uses.ports.blobs = true; };
    (@use $uses:ident publisher) => { $uses.ports.publisher = true; };
    (@use $uses:ident classifier) => { $uses.engines.classifier = true; };
    (@use $uses:ident segmenter) => { $uses.engines.segmenter = true; };
    (@use $uses:ident text_reader) => { $uses.engines.text_reader = true; };
    (@use $uses:ident image_generator) => { $uses.engines.image_generator = true; };
    (@use $uses:ident visual_answerer) => { $uses.engines.visual_answerer = true; };
    ($($name:literal $method:ident $path:literal => $handler:ident $([$($uses:ident),+])?),* $(,)?) => {
        /// Every route on its own, named after its handler.
        #[allow(non_upper_case_globals)]
        pub mod route {
            use super::*;
            $(
                pub static $handler: Route = Route {
                    name: $name,
                    method: Method::$method,
                    path: $path,
                    handler: |app, caller, request| Box::pin(handlers::$handler(app, caller, request)),
                    uses: routes!(@uses $($($uses)+)?),
                };
                const _: () = assert!(
                    names_match($name, stringify!($handler)),
                    concat!("route ", $name, " must be named after its handler")
                );
            )*
        }

        pub static ROUTES: &[&Route] = &[$(&route::$handler),*];
    };
}

/// Whether a route's (or binary's) kebab-case name is its handler's snake-case name.
pub const fn names_match(kebab: &str, snake: &str) -> bool {
    let (kebab, snake) = (kebab.as_bytes(), snake.as_bytes());
    if kebab.len() != snake.len() {
        return false;
    }
    let mut i = 0;
    while i < kebab.len() {
        let expected = if snake[i] == b'_' { b'-' } else { snake[i] };
        if kebab[i] != expected {
            return false;
        }
        i += 1;
    }
    true
}

routes! {
    "upload-image" POST "/v1/images/upload" => upload_image [blobs],
    "create-image" POST "/v1/images" => create_image [blobs],
    "imagine-image" POST "/v1/images/imagine" => imagine_image [blobs, image_generator],
    "list-images" GET "/v1/images" => list_images,
    "get-image" GET "/v1/images/{image_id}" => get_image,
    "download-image" GET "/v1/images/{image_id}/download" => download_image [blobs],
    "delete-image" DELETE "/v1/images/{image_id}" => delete_image [blobs, publisher],
    "publish-image" POST "/v1/images/{image_id}/publish" => publish_image [publisher],
    "unpublish-image" POST "/v1/images/{image_id}/unpublish" => unpublish_image [publisher],
    "resize-image" POST "/v1/images/{image_id}/resize" => resize_image [blobs],
    "crop-image" POST "/v1/images/{image_id}/crop" => crop_image [blobs],
    "convert-image" POST "/v1/images/{image_id}/convert" => convert_image [blobs],
    "rotate-image" POST "/v1/images/{image_id}/rotate" => rotate_image [blobs],
    "mirror-image" POST "/v1/images/{image_id}/mirror" => mirror_image [blobs],
    "blur-image" POST "/v1/images/{image_id}/blur" => blur_image [blobs],
    "modulate-image" POST "/v1/images/{image_id}/modulate" => modulate_image [blobs],
    "watermark-image" POST "/v1/images/{image_id}/watermark" => watermark_image [blobs],
    "remove-image-background" POST "/v1/images/{image_id}/remove-background" => remove_image_background [blobs, segmenter],
    "classify-image" POST "/v1/images/{image_id}/classify" => classify_image [blobs, classifier],
    "extract-formatted-text" POST "/v1/images/{image_id}/extract-formatted-text" => extract_formatted_text [blobs, text_reader],
    "extract-text" POST "/v1/images/{image_id}/extract-text" => extract_text [blobs, text_reader],
    "visualize-image" POST "/v1/images/{image_id}/visualize" => visualize_image [blobs, visual_answerer],
    "create-upload" POST "/v1/uploads" => create_upload [blobs],
    "get-upload" GET "/v1/uploads/{image_id}" => get_upload,
}

pub fn by_name(name: &str) -> Option<&'static Route> {
    ROUTES.iter().copied().find(|route| route.name == name)
}

/// Why a request matched no route.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    NoSuchPath,
    /// The path exists, but not with this method; the methods it has.
    WrongMethod(Vec<Method>),
}

/// Matches a request the way API Gateway does: literal segments first, then `{parameters}`.
pub fn find(
    method: &Method,
    path: &str,
) -> Result<(&'static Route, HashMap<String, String>), Miss> {
    let mut allowed = Vec::new();
    let mut matches: Vec<_> = ROUTES
        .iter()
        .copied()
        .filter_map(|route| Some((route, match_path(route.path, path)?)))
        .collect();
    // `/v1/images/upload` and `/v1/images/imagine` must win over `/v1/images/{image_id}`.
    matches.sort_by_key(|(_, parameters)| parameters.len());
    for (route, parameters) in matches {
        if route.method == *method {
            return Ok((route, parameters));
        }
        allowed.push(route.method.clone());
    }
    if allowed.is_empty() {
        Err(Miss::NoSuchPath)
    } else {
        Err(Miss::WrongMethod(allowed))
    }
}

fn match_path(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut parameters = HashMap::new();
    let mut actual = path.split('/');
    for expected in pattern.split('/') {
        let segment = actual.next()?;
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => {
                parameters.insert(name.to_owned(), segment.to_owned());
            }
            Some(_) => return None,
            None if expected == segment => {}
            None => return None,
        }
    }
    actual.next().is_none().then_some(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_over_parameters() {
        let (route, parameters) = find(&Method::POST, "/v1/images/upload").unwrap();
        assert_eq!(route.name, "upload-image");
        assert!(parameters.is_empty());
    }

    #[test]
    fn imagine_is_not_an_image_id() {
        let (route, parameters) = find(&Method::POST, "/v1/images/imagine").unwrap();
        assert_eq!(route.name, "imagine-image");
        assert!(parameters.is_empty());
        // Other methods still reach the image routes, whose ids never spell "imagine".
        let (route, parameters) = find(&Method::GET, "/v1/images/imagine").unwrap();
        assert_eq!(route.name, "get-image");
        assert_eq!(parameters["image_id"], "imagine");
    }

    #[test]
    fn parameters_are_named_as_in_api_gateway() {
        let (route, parameters) = find(&Method::POST, "/v1/images/image_x/publish").unwrap();
        assert_eq!(route.name, "publish-image");
        assert_eq!(parameters["image_id"], "image_x");
    }

    #[test]
    fn misses_tell_path_from_method() {
        let miss = |method, path| find(&method, path).err();
        assert_eq!(miss(Method::GET, "/v1/nothing"), Some(Miss::NoSuchPath));
        assert_eq!(miss(Method::GET, "/v1/images/"), Some(Miss::NoSuchPath));
        assert_eq!(
            miss(Method::PUT, "/v1/images/image_x"),
            Some(Miss::WrongMethod(vec![Method::GET, Method::DELETE]))
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ROUTES.iter().map(|route| route.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ROUTES.len());
    }
}
