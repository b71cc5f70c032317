//! credwatch's own HTTP client as the AWS SDK's transport. The SDK builds and signs every
//! request (SigV4) and parses every answer; this only carries the bytes, so STS calls get the
//! same timeout, response-size cap, trusted roots and failure classification as every other
//! provider, and no second TLS stack is linked.

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use url::Url;

use crate::http::{HttpClient, TransportError};
use crate::outcome::FailureReason;

/// An SDK HTTP client that sends through `http`.
pub fn sdk_http_client(http: &HttpClient) -> SharedHttpClient {
    let connector = SharedHttpConnector::new(Transport { http: http.clone() });
    http_client_fn(move |_settings, _components| connector.clone())
}

#[derive(Debug)]
struct Transport {
    http: HttpClient,
}

impl HttpConnector for Transport {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let http = self.http.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            let Some(body) = body.bytes().map(<[u8]>::to_vec) else {
                return Err(ConnectorError::user(
                    "the AWS SDK sent a streaming body, which credwatch does not send".into(),
                ));
            };
            let url = Url::parse(&parts.uri.to_string())
                .map_err(|e| ConnectorError::user(Box::new(e)))?;
            let builder = http
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body);
            let response = http.send(builder).await.map_err(connector_error)?;
            let mut out = http::Response::new(SdkBody::from(response.body));
            *out.status_mut() = response.status;
            *out.headers_mut() = response.headers;
            HttpResponse::try_from(out).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Keeps credwatch's classified error inside the SDK's, to be found again by
/// [`crate::http::find_source`].
fn connector_error(error: TransportError) -> ConnectorError {
    match error.reason {
        FailureReason::Timeout => ConnectorError::timeout(Box::new(error)),
        FailureReason::NetworkError => ConnectorError::io(Box::new(error)),
        _ => ConnectorError::other(Box::new(error), None),
    }
}
