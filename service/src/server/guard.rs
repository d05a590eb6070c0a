//! Checks every gRPC request before its body is read: the API token (every method but
//! Health) and a size limit per method (only RegisterModel carries a model, only SubmitProof
//! many input values). A request that fails either never reaches protobuf decoding, so an
//! unauthenticated client cannot make the server buffer or parse a large message.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::Status;

/// Largest request body of a method, bytes (protobuf and gRPC framing included).
pub fn body_limit(path: &str) -> usize {
    match path.rsplit('/').next().unwrap_or_default() {
        "RegisterModel" => super::api::MAX_REQUEST_BYTES,
        // inputs: up to MAX_INPUT_VALUES doubles (8 bytes each, packed) plus framing
        "SubmitProof" => super::api::MAX_INPUT_VALUES * 8 + (1 << 20),
        // a proof file (JSON): its public values can be as many as SubmitProof's inputs
        "Verify" => super::api::MAX_REQUEST_BYTES,
        _ => 64 << 10,
    }
}

const HEALTH: &str = "/zkinfer.v1.Prover/Health";

/// The [`tower_layer::Layer`] adding [`Guard`] in front of the gRPC service.
#[derive(Clone)]
pub struct GuardLayer {
    pub token: Option<Arc<str>>,
}

impl<S> tower_layer::Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard { inner, token: self.token.clone() }
    }
}

#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    token: Option<Arc<str>>,
}

impl<S> Guard<S> {
    /// Whether the request carries the token (compared without an early exit).
    fn authorized(&self, req: &http::Request<Body>) -> bool {
        let Some(token) = &self.token else { return true };
        if req.uri().path() == HEALTH {
            return true;
        }
        let got = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        got.is_some_and(|g| g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower_service::Service<http::Request<Body>> for Guard<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if !self.authorized(&req) {
            let res = Status::unauthenticated("missing or wrong API token (metadata `authorization: Bearer <token>`)").into_http();
            return Box::pin(async move { Ok(res) });
        }
        let limit = body_limit(req.uri().path());
        let declared = req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            let res = Status::resource_exhausted(format!("request of {} bytes is over the {limit}-byte limit of {}", declared.unwrap_or_default(), req.uri().path())).into_http();
            return Box::pin(async move { Ok(res) });
        }
        // the body is cut off at the limit while it streams in (no Content-Length in gRPC)
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Body::new(http_body_util::Limited::new(body, limit)));
        // the service that was polled ready serves this call; a clone takes its place
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(req).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_may_be_large() {
        assert_eq!(body_limit("/zkinfer.v1.Prover/RegisterModel"), super::super::api::MAX_REQUEST_BYTES);
        assert!(body_limit("/zkinfer.v1.Prover/SubmitProof") > 128 << 20);
        for m in ["GetJob", "ListJobs", "Setup", "Compile", "CancelJob", "GetProof", "Health", "Unknown"] {
            assert_eq!(body_limit(&format!("/zkinfer.v1.Prover/{m}")), 64 << 10, "{m}");
        }
    }
}
