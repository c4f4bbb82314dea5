//! Streamable HTTP (MCP's remote transport) on `--listen`, path `/mcp`, behind a bearer token
//! when one is set.

use crate::server::Server;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// The path MCP is served on.
pub const PATH: &str = "/mcp";

/// Serves `server` on `listener` until the process ends. With `token`, every request must carry
/// `Authorization: Bearer <token>`; without one, only loopback addresses are served and the
/// Host header must name one (against DNS rebinding).
pub async fn serve(listener: tokio::net::TcpListener, server: Server, token: Option<String>) -> std::io::Result<()> {
    let config = if token.is_some() {
        // The token authenticates; the Host check would refuse the names users reach it by.
        StreamableHttpServerConfig::default().disable_allowed_hosts()
    } else {
        StreamableHttpServerConfig::default()
    };
    let service = Arc::new(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    ));
    let token = Arc::new(token);
    loop {
        let (stream, _) = listener.accept().await?;
        let (service, token) = (service.clone(), token.clone());
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (service, token) = (service.clone(), token.clone());
                async move { Ok::<_, Infallible>(route(&service, token.as_deref(), req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), handler).await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

async fn route(
    service: &StreamableHttpService<Server, LocalSessionManager>,
    token: Option<&str>,
    req: Request<Incoming>,
) -> Response<Body> {
    if req.uri().path() != PATH {
        return plain(StatusCode::NOT_FOUND, format!("not found: MCP is served on {PATH}\n"));
    }
    if let Some(token) = token {
        let given = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let ok = given.and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|t| constant_time_eq(t, token));
        if !ok {
            let mut response = plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n".into());
            response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    service.handle(req).await
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
    *response.status_mut() = status;
    response
}

/// Compares without stopping at the first differing byte, so timing does not reveal the token.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether serving on `addr` without a token is allowed: loopback only.
pub fn open_without_token(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
