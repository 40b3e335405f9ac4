//! [`Layer`]: middleware as a value holding its own settings (trusted origins, the body limit,
//! the error rules), given to `app.rs` at build time, so no middleware looks anything up per
//! request. [`Wrap`] turns a layer into a poem middleware for `EndpointExt::with`.

use std::{future::Future, sync::Arc};

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

/// One middleware step: handles a request, usually by calling `next`.
pub(crate) trait Layer: Send + Sync + 'static {
    /// Handles `req`; `next` is the rest of the stack.
    fn call<E: Endpoint>(&self, next: &E, req: Request) -> impl Future<Output = poem::Result<Response>> + Send;
}

/// A [`Layer`] as a poem middleware.
pub(crate) struct Wrap<L>(Arc<L>);

impl<L: Layer> Wrap<L> {
    /// Wraps a layer.
    pub(crate) fn new(layer: L) -> Self {
        Self(Arc::new(layer))
    }
}

impl<L: Layer, E: Endpoint> Middleware<E> for Wrap<L> {
    type Output = Wrapped<L, E>;

    fn transform(&self, inner: E) -> Wrapped<L, E> {
        Wrapped { layer: Arc::clone(&self.0), inner }
    }
}

/// An endpoint behind a [`Layer`].
pub(crate) struct Wrapped<L, E> {
    layer: Arc<L>,
    inner: E,
}

impl<L: Layer, E: Endpoint> Endpoint for Wrapped<L, E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.layer.call(&self.inner, req).await
    }
}

/// Calls `next` and turns its output into a response.
///
/// The rest of the stack's future is boxed: each layer's future would otherwise hold the whole
/// stack below it by value, and building it copied every inner state once per layer (memcpy was
/// a third of a cached get-session's instructions under callgrind).
pub(crate) async fn call_next<E: Endpoint>(next: &E, req: Request) -> poem::Result<Response> {
    Box::pin(next.call(req)).await.map(IntoResponse::into_response)
}
