//! The Git and chart server of `up --flux`: plain HTTP on 127.0.0.1.
//!
//! - `/git/<repo>.git/...`: Git's smart HTTP protocol, answered by git's own
//!   `git http-backend` run as a CGI program per request (clone and fetch; no push);
//! - `/charts/...`: the Helm chart repository's static files (`index.yaml`, archives);
//! - `/alerts`: a sink for notification-controller's generic Provider; each POSTed event is
//!   appended as one line to `alerts.log`.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

type Body = Full<Bytes>;

fn answer(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = code;
    response
}

/// Serves `root` (holding `git/`, `charts/`) on `listener` until the runtime stops.
pub async fn serve(listener: tokio::net::TcpListener, root: PathBuf) {
    let root = Arc::new(root);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let root = root.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let root = root.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&root, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(root: &Path, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/git/") {
        let (method, query) = (req.method().to_string(), req.uri().query().unwrap_or("").to_string());
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let (content_type, encoding, protocol) =
            (header("content-type"), header("content-encoding"), header("git-protocol"));
        let body = match req.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return answer(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let cgi = Cgi {
            project_root: root.join("git"),
            path_info: format!("/{rest}"),
            method,
            query,
            content_type,
            encoding,
            protocol,
        };
        return match tokio::task::spawn_blocking(move || cgi.run(&body)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => answer(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
            Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
    if let Some(file) = path.strip_prefix("/charts/") {
        if file.contains("..") || file.contains('/') {
            return answer(StatusCode::NOT_FOUND, "not found");
        }
        return match std::fs::read(root.join("charts").join(file)) {
            Ok(bytes) => answer(StatusCode::OK, bytes),
            Err(_) => answer(StatusCode::NOT_FOUND, "not found"),
        };
    }
    if path == "/alerts" {
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let line = String::from_utf8_lossy(&body).replace('\n', " ");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("alerts.log"))
            .and_then(|mut f| writeln!(f, "{line}"));
        return match written {
            Ok(()) => answer(StatusCode::OK, ""),
            Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
    answer(StatusCode::NOT_FOUND, "not found")
}

/// One `git http-backend` invocation.
struct Cgi {
    project_root: PathBuf,
    path_info: String,
    method: String,
    query: String,
    content_type: String,
    encoding: String,
    protocol: String,
}

impl Cgi {
    fn run(&self, body: &[u8]) -> Result<Response<Body>> {
        let mut child = Command::new("git")
            .arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &self.project_root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.project_root)
            .env("PATH_INFO", &self.path_info)
            .env("REQUEST_METHOD", &self.method)
            .env("QUERY_STRING", &self.query)
            .env("CONTENT_TYPE", &self.content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", &self.encoding)
            .env("GIT_PROTOCOL", &self.protocol)
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running git http-backend")?;
        // Requests and repositories are small: write all, then read all.
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(body)?;
        }
        let out = child.wait_with_output()?;
        let split = out.stdout.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
        let split = split.or_else(|| out.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
        let Some((end, sep)) = split else {
            anyhow::bail!("git http-backend wrote no headers: {}", String::from_utf8_lossy(&out.stderr));
        };
        let mut response = answer(StatusCode::OK, Bytes::copy_from_slice(&out.stdout[end + sep..]));
        for line in String::from_utf8_lossy(&out.stdout[..end]).lines() {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("status") {
                let code = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
                *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            } else if let (Ok(name), Ok(value)) =
                (hyper::header::HeaderName::try_from(name.trim()), hyper::header::HeaderValue::try_from(value))
            {
                response.headers_mut().append(name, value);
            }
        }
        Ok(response)
    }
}
