//! `[[genesys.canary]]`: data actions Genesys Cloud itself runs for credwatch (`POST
//! /api/v2/integrations/actions/{action}/test`), each with its input, cadence and bound, and
//! the credwatch integration it speaks for. Each one calls the third party for real.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::parse_duration;
use crate::integration::Integration;
use crate::spec::{ConfigError, Source};

/// The default `interval` of a canary.
pub const CANARY_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// One canary action.
#[derive(Debug, Clone)]
pub struct Canary {
    /// The data action's id in Genesys Cloud (`custom_-_…`): the `action` label.
    pub action: String,
    /// The credwatch integration of the org it speaks for (its name is the `integration`
    /// label; empty when none): its secrets are kept out of the run's messages too.
    pub integration: Option<Arc<Integration>>,
    /// The action's input, as its input contract wants it (`{}` by default).
    pub input: serde_json::Value,
    /// Between two runs (default 15m).
    pub interval: Duration,
    /// Bound on one run (default the view's timeout).
    pub timeout: Duration,
}

impl Canary {
    /// The `integration` label: the name of the integration it speaks for, or empty.
    pub fn integration_name(&self) -> &str {
        self.integration.as_ref().map_or("", |i| i.name.as_str())
    }

    /// A digest of what a run does (the action, its input, the integration it speaks for):
    /// a run remembered with another definition is not this canary's, and this one runs at
    /// once. The `interval` and `timeout` are not part of it: a new interval counts from the
    /// last run.
    pub fn definition(&self) -> String {
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let input = self.input.to_string();
        for part in [&self.action, self.integration_name(), &input] {
            digest.update(&(part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        let mut hex = crate::hex(digest.finish().as_ref());
        hex.truncate(16);
        hex
    }
}

/// `[[genesys.canary]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCanary {
    action: Spanned<String>,
    integration: Option<Spanned<String>>,
    input: Option<Spanned<toml::Value>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

/// The org's canaries: every action named once, each `integration` one of the org's.
pub(crate) fn canaries(
    source: &Source,
    org: &str,
    raw: Vec<Spanned<RawCanary>>,
    integrations: &[Arc<Integration>],
    view_timeout: Duration,
) -> Result<Vec<Canary>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for canary in raw {
        let canary = canary.into_inner();
        let (action, span) = (canary.action.get_ref().trim(), canary.action.span());
        let bad = action.is_empty()
            || action
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '%'));
        if bad {
            return Err(source.error(
                Some(span),
                format!(
                    "genesys.canary.action: {action:?} is not a data action id (copy it from the action's URL in Genesys Cloud, e.g. \"custom_-_3f2a…\")"
                ),
            ));
        }
        if !seen.insert(action.to_string()) {
            return Err(source.error(
                Some(span),
                format!("genesys.canary.action: {action:?} is named twice in org {org:?}"),
            ));
        }
        let integration = match canary.integration {
            None => None,
            Some(name) => match integrations.iter().find(|i| i.name == *name.get_ref()) {
                Some(found) => Some(found.clone()),
                None => {
                    return Err(source.error(
                        Some(name.span()),
                        format!(
                            "genesys.canary.integration: org {org:?} has no integration named {:?}",
                            name.get_ref()
                        ),
                    ));
                }
            },
        };
        let duration = |value: Option<Spanned<String>>, key: &str, default: Duration| match value {
            None => Ok(default),
            Some(v) => match parse_duration(v.get_ref()) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(source.error(
                    Some(v.span()),
                    format!("genesys.canary.{key}: must be longer than zero"),
                )),
                Err(e) => Err(source.error(Some(v.span()), format!("genesys.canary.{key}: {e}"))),
            },
        };
        let input = match canary.input.map(|i| (i.span(), i.into_inner())) {
            None => serde_json::json!({}),
            Some((_, table @ toml::Value::Table(_))) => json(table),
            Some((span, other)) => {
                return Err(source.error(
                    Some(span),
                    format!(
                        "genesys.canary.input: a table of the action's input fields is wanted (input = {{ orderId = \"1001\" }}), not a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        out.push(Canary {
            action: action.to_string(),
            integration,
            input,
            interval: duration(canary.interval, "interval", CANARY_INTERVAL)?,
            timeout: duration(canary.timeout, "timeout", view_timeout)?,
        });
    }
    Ok(out)
}

/// A TOML value as JSON: date-times as their RFC 3339 text.
fn json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => J::from(f),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(json).collect()),
        toml::Value::Table(t) => J::Object(t.into_iter().map(|(k, v)| (k, json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_input_becomes_the_json_the_contract_wants() {
        let table: toml::Table = toml::from_str(
            "id = \"42\"\nn = 3\nok = true\nat = 2027-01-02\nlist = [1.5]\n[deep]\nx = \"y\"\n",
        )
        .unwrap();
        assert_eq!(
            json(toml::Value::Table(table)),
            serde_json::json!({"id": "42", "n": 3, "ok": true, "at": "2027-01-02", "list": [1.5], "deep": {"x": "y"}})
        );
    }
}
