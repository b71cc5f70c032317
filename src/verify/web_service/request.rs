//! The request that proves a web service's credentials: read from `[integration.request]`
//! (method, URL, headers, body, the expected status and JSON), built with the credentials'
//! values filled in, and its answer judged.

use std::collections::BTreeMap;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use url::Url;

use super::{Auth, template};
use crate::http::{HttpClient, Response};
use crate::outcome::{Failure, FailureReason};
use crate::secret::Secret;
use crate::spec::intern::SharedUrl;
use crate::spec::{ConfigError, Section};
use crate::verify::{CheckContext, failure_for_status};

/// The request that proves the credentials, as configured.
pub(super) struct Request {
    method: Method,
    url: String,
    /// The URL parsed once, when it has no placeholder to fill in.
    fixed_url: Option<SharedUrl>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// Accepted statuses; empty means any 2xx.
    expect_status: Vec<u16>,
    /// A JSON pointer and the value it must hold.
    expect_json: Option<(String, serde_json::Value)>,
}

pub(super) fn build_request(r: &mut Section, names: &[String]) -> Result<Request, ConfigError> {
    let method_text = r.opt_string("method")?.unwrap_or_else(|| "GET".into());
    let method = match method_text.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        _ => return Err(r.error("method", "must be GET, POST, PUT, PATCH, DELETE or HEAD")),
    };
    let url = r.string("url")?;
    template::check(r, "url", &url, names)?;
    let fixed_url = match Url::parse(&template::fill_harmless(&url)) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            (!template::has_placeholder(&url)).then(|| r.shared(parsed))
        }
        _ => return Err(r.error("url", "must be an http:// or https:// URL")),
    };
    let mut headers = Vec::new();
    if let Some(mut table) = r.opt_table("headers")? {
        for key in table.keys() {
            let value = table.string(&key)?;
            template::check(&table, &key, &value, names)?;
            headers.push((key, value));
        }
        r.absorb(table)?;
    }
    let body = r.opt_string("body")?;
    if let Some(body) = &body {
        template::check(r, "body", body, names)?;
    }
    let expect_status = match r.opt_value("expect_status") {
        None => Vec::new(),
        Some(value) => statuses(&value).ok_or_else(|| {
            r.error(
                "expect_status",
                "must be an HTTP status (100-599) or an array of them",
            )
        })?,
    };
    let expect_json = match r.opt_table("expect_json")? {
        None => None,
        Some(mut table) => {
            let pointer = table.string("pointer")?;
            if !pointer.starts_with('/') {
                return Err(table.error("pointer", "must be a JSON pointer such as /status"));
            }
            let Some(equals) = table.opt_value("equals") else {
                return Err(table.error("equals", "missing (required)"));
            };
            let equals = serde_json::to_value(equals)
                .map_err(|e| table.error("equals", format!("cannot be compared as JSON: {e}")))?;
            r.absorb(table)?;
            Some((pointer, equals))
        }
    };
    Ok(Request {
        method,
        url,
        fixed_url,
        headers,
        body,
        expect_status,
        expect_json,
    })
}

fn statuses(value: &toml::Value) -> Option<Vec<u16>> {
    let one = |v: &toml::Value| {
        v.as_integer()
            .filter(|s| (100..=599).contains(s))
            .map(|s| s as u16)
    };
    match value {
        toml::Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

impl Request {
    /// The configured request with every placeholder filled: percent-encoded in the URL,
    /// verbatim in headers and body.
    pub(super) fn build(
        &self,
        http: &HttpClient,
        values: &BTreeMap<String, Secret>,
        auth: &Auth,
    ) -> Result<reqwest::RequestBuilder, Failure> {
        let url = match &self.fixed_url {
            Some(url) => Url::clone(url),
            None => Url::parse(&template::substitute(&self.url, values, true)).map_err(|e| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!("request.url is not a valid URL once filled in: {e}"),
                )
            })?,
        };
        let mut request = http.request(self.method.clone(), url);
        let mut has_authorization = false;
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!("request.headers.{name} is not a valid header name"),
                )
            })?;
            let filled = template::substitute(value, values, false);
            let mut header_value = HeaderValue::from_str(&filled).map_err(|_| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!(
                        "request.headers.{name} holds characters a header cannot carry once filled in"
                    ),
                )
            })?;
            // Marked sensitive, HTTP/2 keeps it out of its header compression table.
            header_value.set_sensitive(template::has_placeholder(value));
            has_authorization |= header == AUTHORIZATION;
            request = request.header(header, header_value);
        }
        if let (Auth::Basic { username, .. }, false) = (auth, has_authorization) {
            request = request.basic_auth(username, values.get("password").map(Secret::expose));
        }
        if let Some(body) = &self.body {
            request = request.body(template::substitute(body, values, false));
        }
        Ok(request)
    }

    /// Whether the answer proves the credentials work.
    pub(super) fn judge(&self, ctx: &CheckContext, response: &Response) -> Result<(), Failure> {
        let status = response.status.as_u16();
        let expected = if self.expect_status.is_empty() {
            response.status.is_success()
        } else {
            self.expect_status.contains(&status)
        };
        if !expected {
            return Err(unexpected_status(response));
        }
        let Some((pointer, equals)) = &self.expect_json else {
            return Ok(());
        };
        let body: serde_json::Value = response.json("The web service")?;
        match body.pointer(pointer) {
            Some(found) if found == equals => Ok(()),
            found => {
                let scrubber = ctx.scrubber();
                let found = found.map_or("missing".to_string(), |v| {
                    scrubber.printable(&v.to_string(), 64)
                });
                Err(Failure::new(
                    FailureReason::ProtocolError,
                    format!(
                        "the web service answered HTTP {status} but {pointer} is {found}, not {}",
                        scrubber.printable(&equals.to_string(), 64)
                    ),
                ))
            }
        }
    }
}

/// A status outside `expect_status`, mapped.
fn unexpected_status(response: &Response) -> Failure {
    let status = response.status.as_u16();
    let text = String::from_utf8_lossy(&response.body).to_ascii_lowercase();
    // nginx (and others) refuse a missing or bad client certificate with HTTP 400.
    if status == 400 && (text.contains("ssl certificate") || text.contains("client certificate")) {
        let said = if text.contains("no required ssl certificate") {
            "no client certificate was sent, and the server requires one (set tls.client_cert and tls.client_key)"
        } else {
            "the server rejected the client certificate (check that it is issued by a CA the server trusts)"
        };
        return Failure::new(
            FailureReason::TlsError,
            format!("the web service answered HTTP 400: {said}"),
        );
    }
    failure_for_status("The web service", response.status, response.retry_after())
}
