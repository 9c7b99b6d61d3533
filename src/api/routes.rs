//! The route table: the single source of truth for which endpoints exist. The local server
//! dispatches through it, and tests check `template.yaml`, `functions/` and `events/` against it.

use std::collections::HashMap;

use lambda_http::http::Method;

use super::Handler;
use super::handlers;

pub struct Route {
    /// The endpoint's name: its Lambda binary, its SAM function and its event file.
    pub name: &'static str,
    pub method: Method,
    /// In API Gateway's syntax: `{image_id}` is a path parameter.
    pub path: &'static str,
    pub handler: Handler,
}

pub static ROUTES: &[Route] = &[
    Route {
        name: "upload-image",
        method: Method::POST,
        path: "/v1/images/upload",
        handler: |app, caller, request| Box::pin(handlers::upload_image(app, caller, request)),
    },
    Route {
        name: "list-images",
        method: Method::GET,
        path: "/v1/images",
        handler: |app, caller, request| Box::pin(handlers::list_images(app, caller, request)),
    },
    Route {
        name: "get-image",
        method: Method::GET,
        path: "/v1/images/{image_id}",
        handler: |app, caller, request| Box::pin(handlers::get_image(app, caller, request)),
    },
    Route {
        name: "download-image",
        method: Method::GET,
        path: "/v1/images/{image_id}/download",
        handler: |app, caller, request| Box::pin(handlers::download_image(app, caller, request)),
    },
    Route {
        name: "delete-image",
        method: Method::DELETE,
        path: "/v1/images/{image_id}",
        handler: |app, caller, request| Box::pin(handlers::delete_image(app, caller, request)),
    },
    Route {
        name: "publish-image",
        method: Method::POST,
        path: "/v1/images/{image_id}/publish",
        handler: |app, caller, request| Box::pin(handlers::publish_image(app, caller, request)),
    },
    Route {
        name: "unpublish-image",
        method: Method::POST,
        path: "/v1/images/{image_id}/unpublish",
        handler: |app, caller, request| Box::pin(handlers::unpublish_image(app, caller, request)),
    },
    Route {
        name: "create-upload",
        method: Method::POST,
        path: "/v1/uploads",
        handler: |app, caller, request| Box::pin(handlers::create_upload(app, caller, request)),
    },
    Route {
        name: "get-upload",
        method: Method::GET,
        path: "/v1/uploads/{image_id}",
        handler: |app, caller, request| Box::pin(handlers::get_upload(app, caller, request)),
    },
];

pub fn by_name(name: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.name == name)
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
        .filter_map(|route| Some((route, match_path(route.path, path)?)))
        .collect();
    // `/v1/images/upload` must win over `/v1/images/{image_id}`.
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
