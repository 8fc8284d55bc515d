//! A small typed Azure Resource Manager client on the `azure_core` pipeline: URLs pinned to one
//! api-version, JSON bodies, `If-Match`, and long-running-operation polling.
//!
//! HTTP-level retries (429 and 5xx, honouring `Retry-After`), the user agent and request
//! telemetry are the pipeline's. Waiting for long-running operations is ours: poll the
//! `Azure-AsyncOperation` URL when ARM gives one, else `Location`, sleeping `Retry-After`,
//! until `Succeeded`, `Failed` or `Canceled`.

use std::time::Duration;

use azure_core::Bytes;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{Context, Method, Pipeline, PipelineSendOptions, Request, Url};
use kupgrade_core::{Error, OperationState, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::convert::async_state;
use crate::error::{
    ArmError, Target, cause, cloud_error, from_azure, from_response, operation_label, parse_retry_after,
};
use crate::models::AsyncOperationModel;

/// The ARM api-version every request uses (see the crate README for why this one).
pub const API_VERSION: &str = "2026-08-01";

const AZURE_ASYNC_OPERATION: HeaderName = HeaderName::from_static("azure-asyncoperation");
const LOCATION: HeaderName = HeaderName::from_static("location");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
const ETAG: HeaderName = HeaderName::from_static("etag");

/// Which header a long-running operation is polled through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Via {
    /// `Azure-AsyncOperation`: a status body with `status`.
    #[serde(rename = "a")]
    AsyncOperation,
    /// `Location`: 202 while running, 200/204 when done, an error status when failed.
    #[serde(rename = "l")]
    Location,
}

/// One ARM answer, fully read.
#[derive(Debug)]
pub(crate) struct ArmResponse {
    /// What was asked, for errors ([`crate::error::operation_label`]).
    pub operation: String,
    pub status: u16,
    pub headers: Headers,
    pub body: Bytes,
}

impl ArmResponse {
    fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get_optional_str(name)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header(&RETRY_AFTER))
    }

    pub fn etag(&self) -> Option<&str> {
        self.header(&ETAG)
    }

    /// The polling URL of a long-running operation: `Azure-AsyncOperation`, else `Location`.
    pub fn lro(&self) -> Option<(Via, String)> {
        self.header(&AZURE_ASYNC_OPERATION)
            .map(|u| (Via::AsyncOperation, u.to_string()))
            .or_else(|| self.header(&LOCATION).map(|u| (Via::Location, u.to_string())))
    }

    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::provider(format!("could not read ARM response (HTTP {}): {e}", self.status)))
    }

    /// `self` when 2xx, else the mapped error.
    pub fn ok(self, target: &Target) -> Result<Self> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(
                from_response(self.status, self.header(&RETRY_AFTER), &self.body, target)
                    .caused_by(cause(&self.operation, ArmError::new(self.status, &self.body))),
            )
        }
    }
}

/// One poll of a long-running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Poll {
    /// The state, and how long ARM asked us to wait before the next poll.
    State(OperationState, Option<Duration>),
    /// The status record is gone (expired or never existed).
    Gone,
}

/// The ARM client: a pipeline and the endpoint it talks to.
#[derive(Debug, Clone)]
pub(crate) struct ArmClient {
    pipeline: Pipeline,
    endpoint: Url,
}

impl ArmClient {
    pub fn new(pipeline: Pipeline, endpoint: Url) -> Self {
        Self { pipeline, endpoint }
    }

    /// `endpoint/seg/seg...?api-version=...`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", API_VERSION);
        url
    }

    /// Whether `url` points at our ARM endpoint (polling URLs from a journal must, since the
    /// pipeline attaches a token to them).
    pub fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.endpoint.origin()
    }

    /// Sends one request through the pipeline and reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
    ) -> Result<ArmResponse> {
        let operation = operation_label(method.as_ref(), &url);
        let mut request = Request::new(url, method);
        request.insert_header("accept", "application/json");
        for (name, value) in headers {
            request.insert_header(*name, value.clone());
        }
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            let bytes = serde_json::to_vec(body).map_err(|e| Error::provider(e.to_string()))?;
            request.set_body(bytes);
        }
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let response = self
            .pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
            .map_err(|e| from_azure(&e).caused_by(cause(&operation, e)))?;
        let (status, headers, body) = response.deconstruct();
        Ok(ArmResponse {
            operation,
            status: u16::from(status),
            headers,
            body: body.into(),
        })
    }

    pub async fn get(&self, url: Url) -> Result<ArmResponse> {
        self.send(Method::Get, url, None, &[]).await
    }

    /// One poll of an operation's status URL.
    pub async fn poll(&self, via: Via, url: &str) -> Result<Poll> {
        let url =
            Url::parse(url).map_err(|e| Error::invalid_input(format!("bad polling URL '{url}': {e}")))?;
        if !self.same_origin(&url) {
            return Err(Error::invalid_input(format!(
                "polling URL {} is not on the ARM endpoint {}; refusing to send a token there",
                url.origin().ascii_serialization(),
                self.endpoint.origin().ascii_serialization()
            )));
        }
        let resp = self.get(url).await?;
        let retry = resp.retry_after();
        match (via, resp.status) {
            (_, 404) => Ok(Poll::Gone),
            (_, 429) | (_, 500..=599) => resp.ok(&Target::Operation).map(|_| Poll::Gone),
            (Via::AsyncOperation, 200..=299) => {
                let op: AsyncOperationModel = resp.json()?;
                Ok(Poll::State(async_state(&op), retry))
            }
            (Via::Location, 202) => Ok(Poll::State(OperationState::Running, retry)),
            (Via::Location, 200..=299) => Ok(Poll::State(OperationState::Succeeded, None)),
            (Via::AsyncOperation, _) => Err(resp
                .ok(&Target::Operation)
                .err()
                .unwrap_or_else(|| Error::provider("unexpected polling answer"))),
            (Via::Location, _) => Ok(Poll::State(
                OperationState::Failed(cloud_error(&resp.body).one_line()),
                None,
            )),
        }
    }
}
