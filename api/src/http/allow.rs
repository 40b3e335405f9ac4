//! The `Allow` header on every `405 Method Not Allowed` (RFC 9110 §15.5.6), derived from the
//! documented operations, so a new operation is covered without a list to keep up to date.
//!
//! poem's router answers a method that a known path lacks with an error that does not say which
//! methods the path has, and the error layer does not know the routes. [`AllowHeader`]
//! therefore adds the header to the finished response, from an [`AllowedMethods`] table that
//! `app.rs` builds once from the OpenAPI metadata. `HEAD` is listed wherever `GET` is (the router answers it with the
//! `GET` handler); `OPTIONS` is not, because only CORS preflights are answered and a plain
//! `OPTIONS` is itself a 405. Operations hidden from the spec are not listed either: such an
//! operation exists only to answer 405 itself (Better Auth's `POST /get-session`).

use poem::{
    Endpoint, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};
use poem_openapi::registry::MetaApi;

use crate::http::{
    layer::{Layer, call_next},
    paths::PathTemplate,
};

/// The methods of every documented path, as the value of an `Allow` header.
#[derive(Debug, Default)]
pub(crate) struct AllowedMethods {
    paths: Vec<(PathTemplate, HeaderValue)>,
}

impl AllowedMethods {
    /// The table for the operations in `apis` (`OpenApi::meta()` of the served APIs).
    pub(crate) fn from_meta(apis: &[MetaApi]) -> Self {
        let mut by_path: Vec<(&str, Vec<Method>)> = Vec::new();
        for path in apis.iter().flat_map(|api| &api.paths) {
            let methods = path.operations.iter().map(|operation| operation.method.clone());
            match by_path.iter_mut().find(|(template, _)| *template == path.path) {
                Some((_, known)) => known.extend(methods),
                None => by_path.push((&path.path, methods.collect())),
            }
        }
        let paths = by_path
            .into_iter()
            .filter_map(|(template, methods)| Some((PathTemplate::parse(template), allow_value(&methods)?)))
            .collect();
        Self { paths }
    }

    /// The `Allow` value for a request path, if it is a documented path.
    pub(crate) fn for_path(&self, path: &str) -> Option<&HeaderValue> {
        self.paths.iter().find(|(template, _)| template.matches(path)).map(|(_, value)| value)
    }
}

/// `GET, HEAD, POST, …` in the order RFC 9110 lists methods; `None` for no methods.
fn allow_value(methods: &[Method]) -> Option<HeaderValue> {
    const ORDER: [Method; 6] = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let listed =
        |method: &Method| methods.contains(method) || (*method == Method::HEAD && methods.contains(&Method::GET));
    let mut names: Vec<&str> = ORDER.iter().filter(|method| listed(method)).map(Method::as_str).collect();
    names.extend(methods.iter().filter(|method| !ORDER.contains(method)).map(Method::as_str));
    if names.is_empty() {
        return None;
    }
    HeaderValue::from_str(&names.join(", ")).ok()
}

/// The layer adding `Allow` to every 405 that lacks one. `app.rs` installs it outside the error
/// layer, so it sees the router's 405s as responses.
pub(crate) struct AllowHeader {
    methods: AllowedMethods,
}

impl AllowHeader {
    /// The layer for this table.
    pub(crate) fn new(methods: AllowedMethods) -> Self {
        Self { methods }
    }
}

impl Layer for AllowHeader {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let uri = req.uri().clone();
        let mut response = call_next(next, req).await?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && !response.headers().contains_key(header::ALLOW)
            && let Some(allow) = self.methods.for_path(uri.path())
        {
            response.headers_mut().insert(header::ALLOW, allow.clone());
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::registry::{MetaOperation, MetaPath, MetaResponses};

    use super::*;

    fn operation(method: Method) -> MetaOperation {
        MetaOperation {
            method,
            tags: vec![],
            summary: None,
            description: None,
            external_docs: None,
            params: vec![],
            request: None,
            responses: MetaResponses { responses: vec![] },
            deprecated: false,
            security: vec![],
            operation_id: None,
            code_samples: vec![],
        }
    }

    fn table(paths: &[(&str, &[Method])]) -> AllowedMethods {
        let paths = paths
            .iter()
            .map(|(path, methods)| MetaPath {
                path: (*path).to_owned(),
                operations: methods.iter().cloned().map(operation).collect(),
            })
            .collect();
        AllowedMethods::from_meta(&[MetaApi { paths }])
    }

    #[test]
    fn lists_the_methods_of_the_matching_template_with_head_beside_get() {
        let table = table(&[
            ("/api/v1/tasks", &[Method::POST, Method::GET]),
            ("/api/v1/tasks/{id}", &[Method::DELETE, Method::GET, Method::PATCH, Method::PUT]),
            ("/api/auth/sign-out", &[Method::POST]),
        ]);
        let allow = |path: &str| table.for_path(path).map(|value| value.to_str().expect("ASCII").to_owned());
        assert_eq!(allow("/api/v1/tasks").as_deref(), Some("GET, HEAD, POST"));
        assert_eq!(allow("/api/v1/tasks/42").as_deref(), Some("GET, HEAD, PUT, PATCH, DELETE"));
        assert_eq!(allow("/api/v1/tasks/not%2Fa-number").as_deref(), Some("GET, HEAD, PUT, PATCH, DELETE"));
        assert_eq!(allow("/api/auth/sign-out").as_deref(), Some("POST"));
        for unknown in ["/api/v1/tasks/", "/api/v1/tasks/1/x", "/api/v1", "/api/auth/sign-out/", "/", ""] {
            assert_eq!(allow(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn operations_of_one_path_from_several_apis_are_merged() {
        let paths = |method: Method| vec![MetaPath { path: "/x".to_owned(), operations: vec![operation(method)] }];
        let table = AllowedMethods::from_meta(&[
            MetaApi { paths: paths(Method::GET) },
            MetaApi { paths: paths(Method::DELETE) },
        ]);
        assert_eq!(table.for_path("/x").map(HeaderValue::as_bytes), Some(&b"GET, HEAD, DELETE"[..]));
    }
}
