//! One request to a connected cluster, and what can come of it: retried on 429, 5xx and
//! connection errors with exponential backoff that honours the server's `Retry-After`, all
//! within `--request-timeout`. Reads and the writes of flux-reset go through here alike.

use super::connection::Cluster;
use backon::{ExponentialBuilder, Retryable};
use http_body_util::BodyExt;
use kubectl_flux_model::error::Error;
use serde_json::Value;
use std::time::Duration;

/// Why one request did not succeed.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// 429, 5xx, or a connection problem: try again (after the server's Retry-After if given).
    Transient { message: String, after: Option<Duration> },
    /// 403: the user may not do this.
    Forbidden(String),
    /// 404: the object is gone, or the kind is not served (a Flux CRD not installed).
    NotFound(String),
    /// 409: the object exists already, or a precondition no longer holds.
    Conflict(String),
    /// Anything else: give up.
    Fatal(String),
}

impl Failure {
    /// The error a user sees for `call` (`list core/v1 pods in flux-system`, `PATCH /apis/...`).
    pub(crate) fn into_error(self, call: &str) -> Error {
        let message = match self {
            Failure::Transient { message, .. }
            | Failure::Forbidden(message)
            | Failure::NotFound(message)
            | Failure::Conflict(message)
            | Failure::Fatal(message) => message,
        };
        Error::Api { call: call.to_string(), message }
    }
}

/// A request as the retry loop rebuilds it for each attempt.
pub(crate) struct Call<'a> {
    pub method: http::Method,
    pub path: &'a str,
    pub accept: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
    /// The most bytes of a response body to read; a longer one fails (a runaway endpoint).
    pub limit: Option<usize>,
    /// Retries of a transient failure at most (else until the request timeout): a pod that
    /// does not answer its proxy is not worth the whole timeout.
    pub retries: Option<usize>,
}

impl<'a> Call<'a> {
    /// A GET of `path` answered as `accept`.
    pub fn get(path: &'a str, accept: &'a str) -> Self {
        Call {
            method: http::Method::GET,
            path,
            accept,
            content_type: None,
            body: Vec::new(),
            limit: None,
            retries: None,
        }
    }
}

impl Cluster {
    /// Sends one request until it succeeds, fails for good, or the timeout ends the retries;
    /// the response body on success.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<bytes::Bytes, Failure> {
        let attempt = || async {
            let mut request = http::Request::builder()
                .method(call.method.clone())
                .uri(call.path)
                .header(http::header::ACCEPT, call.accept);
            if let Some(content_type) = call.content_type {
                request = request.header(http::header::CONTENT_TYPE, content_type);
            }
            let request =
                request.body(kube::client::Body::from(call.body.clone())).map_err(|e| Failure::Fatal(e.to_string()))?;
            let response = self.client.send(request).await.map_err(|e| Failure::Transient {
                message: format!("{}: {}", self.server.trim_end_matches('/'), connection_message(&e)),
                after: None,
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = read_body(response.into_body(), call.limit).await?;
            if status.is_success() {
                return Ok(body);
            }
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            let message = format!("{} {}", status.as_u16(), message);
            Err(match status.as_u16() {
                429 | 500 | 502 | 503 | 504 => Failure::Transient { message, after: retry_after },
                403 => Failure::Forbidden(message),
                404 => Failure::NotFound(message),
                409 => Failure::Conflict(message),
                401 => Failure::Fatal(format!("{message} (credentials rejected: expired token or wrong user?)")),
                _ => Failure::Fatal(message),
            })
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter();
        let backoff = match call.retries {
            Some(n) => backoff.with_max_times(n),
            None => backoff.without_max_times(),
        };
        // What the server last said, for the error when the timeout ends the retries.
        let last = std::sync::Mutex::new(None::<String>);
        let retried = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f| matches!(f, Failure::Transient { .. }))
            .adjust(|f, delay| match f {
                Failure::Transient { after: Some(after), .. } => Some(*after),
                _ => delay,
            })
            .notify(|f, _| {
                if let Failure::Transient { message, .. } = f {
                    *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
                }
            });
        match tokio::time::timeout(self.timeout, retried).await {
            Ok(result) => result,
            Err(_) => {
                let last = last.lock().unwrap_or_else(|e| e.into_inner()).take();
                Err(Failure::Fatal(format!(
                    "no answer within --request-timeout {}{}",
                    kubectl_flux_model::duration::format_go(self.timeout),
                    last.map(|m| format!(" (last answer: {m})")).unwrap_or_default()
                )))
            }
        }
    }

    /// One GET answered with JSON.
    pub(crate) async fn get_json(&self, path: &str, accept: &str) -> Result<Value, Failure> {
        let body = self.send(&Call::get(path, accept)).await?;
        serde_json::from_slice(&body).map_err(|e| Failure::Fatal(format!("invalid JSON from the server: {e}")))
    }
}

/// A kube error with every cause it carries, joined by ": " (what a user needs to see for a
/// refused connection or a TLS failure).
pub fn connection_message(e: &kube::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// A response body, whole, or a failure once it passes `limit` bytes (nothing more is read).
async fn read_body(mut body: kube::client::Body, limit: Option<usize>) -> Result<bytes::Bytes, Failure> {
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::Transient { message: format!("reading response: {e}"), after: None })?;
        if let Ok(data) = frame.into_data() {
            read.extend_from_slice(&data);
            if let Some(limit) = limit.filter(|l| read.len() > *l) {
                return Err(Failure::Fatal(format!("the answer is larger than {} MiB; not read", limit >> 20)));
            }
        }
    }
    Ok(read.freeze())
}
