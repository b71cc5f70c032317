//! Typed access to one table of an integration (`credentials`, `endpoints`, `tls`, `request`).
//! Each integration type declares its fields through these calls, and every mistake comes back as
//! a [`ConfigError`] naming the file, the line and the dotted field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use toml::{Spanned, Value};
use url::Url;

use super::ConfigError;
use super::intern::Interner;
use crate::secret::{Secret, SecretField, SecretRef};

/// Where a config file's lines start, to turn byte spans into line numbers.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) path: String,
    line_starts: Vec<usize>,
    /// The interner of the load this file is part of.
    pub(crate) interner: Interner,
}

impl Source {
    pub(crate) fn new(path: &str, text: &str, interner: &Interner) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path: path.to_string(),
            line_starts,
            interner: interner.clone(),
        }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    pub(crate) fn error(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::At {
            path: self.path.clone(),
            line: span.map(|s| self.line(s.start)),
            message: message.into(),
        }
    }
}

/// One table of an integration, consumed key by key; keys nobody asked for are errors.
pub struct Section {
    source: Arc<Source>,
    /// `integration #3 (zendesk)`: who the errors are about.
    owner: Arc<str>,
    /// Dotted path of the table, e.g. `credentials` or `request.expect_json`.
    path: String,
    /// The table's own span (or its parent's), for errors about missing keys.
    span: Option<Range<usize>>,
    /// Keys not yet consumed.
    entries: BTreeMap<String, Value>,
    /// Every key's span, consumed or not, for errors.
    spans: BTreeMap<String, Range<usize>>,
    secrets: Vec<SecretField>,
    warnings: Vec<String>,
}

impl Section {
    /// The load's shared copy of `url` (see [`Interner`]: every section of a load shares one),
    /// for a type's builder.
    pub fn shared(&self, url: Url) -> super::intern::SharedUrl {
        self.source.interner.url(url)
    }

    pub(crate) fn new(
        source: Arc<Source>,
        owner: Arc<str>,
        path: &str,
        table: Option<Spanned<BTreeMap<String, Spanned<Value>>>>,
        fallback_span: Range<usize>,
    ) -> Self {
        let mut entries = BTreeMap::new();
        let mut spans = BTreeMap::new();
        let span = match table {
            Some(table) => {
                let span = table.span();
                for (key, value) in table.into_inner() {
                    spans.insert(key.clone(), value.span());
                    entries.insert(key, value.into_inner());
                }
                span
            }
            None => fallback_span,
        };
        Self {
            source,
            owner,
            path: path.to_string(),
            span: Some(span),
            entries,
            spans,
            secrets: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// An error about `key` of this table, at the key's line (or the table's).
    pub fn error(&self, key: &str, message: impl std::fmt::Display) -> ConfigError {
        let span = self.spans.get(key).cloned().or_else(|| self.span.clone());
        self.source.error(
            span,
            format!("{}: {}: {message}", self.owner, self.field(key)),
        )
    }

    /// Whether the key is present (without consuming it).
    pub fn has(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.entries.remove(key)
    }

    /// A required, non-empty string (surrounding whitespace trimmed).
    pub fn string(&mut self, key: &str) -> Result<String, ConfigError> {
        self.opt_string(key)?
            .ok_or_else(|| self.error(key, "missing (required)"))
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(other) => Err(self.error(
                key,
                format!("must be true or false, not {}", other.type_str()),
            )),
        }
    }

    /// An optional positive duration, written as humantime reads it (`"90d"`, `"12h"`).
    pub fn opt_duration(&mut self, key: &str) -> Result<Option<std::time::Duration>, ConfigError> {
        let Some(text) = self.opt_string(key)? else {
            return Ok(None);
        };
        super::parse_duration(&text)
            .map(Some)
            .map_err(|e| self.error(key, e))
    }

    /// An optional, non-empty string.
    pub fn opt_string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(Value::String(_)) => Err(self.error(key, "must not be empty")),
            Some(other) => {
                Err(self.error(key, format!("must be a string, not {}", other.type_str())))
            }
        }
    }

    /// A required string that must be one of `choices`.
    pub fn one_of(
        &mut self,
        key: &str,
        choices: &[&'static str],
    ) -> Result<&'static str, ConfigError> {
        let given = self.string(key)?;
        choices
            .iter()
            .copied()
            .find(|choice| *choice == given)
            .ok_or_else(|| {
                self.error(
                    key,
                    format!("unknown {given:?}; expected one of {}", choices.join(", ")),
                )
            })
    }

    /// A required http(s) URL.
    pub fn url(&mut self, key: &str) -> Result<Url, ConfigError> {
        self.opt_url(key)?
            .ok_or_else(|| self.error(key, "missing (required)"))
    }

    /// An optional http(s) URL.
    pub fn opt_url(&mut self, key: &str) -> Result<Option<Url>, ConfigError> {
        let Some(text) = self.opt_string(key)? else {
            return Ok(None);
        };
        let parsed = Url::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|url| match url.scheme() {
                "http" | "https" if url.host().is_some() => Ok(url),
                _ => Err("must be an http:// or https:// URL with a host".to_string()),
            });
        parsed
            .map(Some)
            .map_err(|msg| self.error(key, format!("not a valid URL ({msg})")))
    }

    /// An optional array of non-empty strings.
    pub fn opt_string_list(&mut self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let list = match &value {
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        match list {
            Some(list) => Ok(Some(list)),
            None => Err(self.error(key, "must be an array of non-empty strings")),
        }
    }

    /// A required secret reference: `"literal"`, `{ file }`, `{ env }` or `{ credential }`.
    pub fn secret(&mut self, key: &str) -> Result<SecretField, ConfigError> {
        self.opt_secret(key)?
            .ok_or_else(|| self.error(key, "missing (required)"))
    }

    /// An optional secret reference.
    pub fn opt_secret(&mut self, key: &str) -> Result<Option<SecretField>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let source =
            parse_secret_ref(&value, &self.source.interner).map_err(|msg| self.error(key, msg))?;
        if matches!(source, SecretRef::Literal(_)) {
            let line = self.spans.get(key).map(|s| self.source.line(s.start));
            self.warnings.push(format!(
                "{}:{}: {}: {} is a literal secret in the config; prefer {{ file = ... }}, {{ env = ... }} or {{ credential = ... }}",
                self.source.path,
                line.map_or_else(|| "?".to_string(), |l| l.to_string()),
                self.owner,
                self.field(key)
            ));
        }
        let field = SecretField {
            field: self.source.interner.text(&self.field(key)),
            source,
        };
        self.secrets.push(field.clone());
        Ok(Some(field))
    }

    /// An optional file whose whole content is secret (a JSON key file, a private key): a bare
    /// string is its path, and `{ file }`, `{ env }` or `{ credential }` (systemd
    /// `LoadCredential=`) say where it lives like any secret. Read afresh at every check.
    pub fn opt_secret_file(&mut self, key: &str) -> Result<Option<SecretField>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let source = match &value {
            Value::String(path) if path.trim().is_empty() => {
                return Err(self.error(key, "must not be empty"));
            }
            Value::String(path) => {
                SecretRef::File(self.source.interner.path(Path::new(path.trim())))
            }
            Value::Table(_) => parse_secret_ref(&value, &self.source.interner)
                .map_err(|msg| self.error(key, msg))?,
            _ => {
                return Err(self.error(
                    key,
                    "must be a path, { file = \"/path\" }, { env = \"VAR\" } or { credential = \"name\" }",
                ));
            }
        };
        let field = SecretField {
            field: self.source.interner.text(&self.field(key)),
            source,
        };
        self.secrets.push(field.clone());
        Ok(Some(field))
    }

    /// An optional value of any TOML type, for fields whose shape the type checks itself.
    pub fn opt_value(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    /// An optional nested table, as a section of its own (its keys carry its line).
    pub fn opt_table(&mut self, key: &str) -> Result<Option<Section>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let Value::Table(table) = value else {
            return Err(self.error(key, "must be a table"));
        };
        // Inside a nested table TOML keeps no spans: its keys point at the table's line.
        let span = self.spans.get(key).cloned().or_else(|| self.span.clone());
        let spans = match &span {
            Some(span) => table.keys().map(|k| (k.clone(), span.clone())).collect(),
            None => BTreeMap::new(),
        };
        Ok(Some(Section {
            source: self.source.clone(),
            owner: self.owner.clone(),
            path: self.field(key),
            span,
            entries: table.into_iter().collect(),
            spans,
            secrets: Vec::new(),
            warnings: Vec::new(),
        }))
    }

    /// The keys left, for tables of free-form names (`fields`, `headers`).
    pub fn keys(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// Takes back what a nested section collected, so that its secrets are known to `validate`.
    pub fn absorb(&mut self, nested: Section) -> Result<(), ConfigError> {
        let (secrets, warnings) = nested.finish()?;
        self.secrets.extend(secrets);
        self.warnings.extend(warnings);
        Ok(())
    }

    /// Ends the section: any key not asked for is an error. Returns the secret fields read
    /// and warnings (literal secrets).
    pub fn finish(self) -> Result<(Vec<SecretField>, Vec<String>), ConfigError> {
        if let Some(key) = self.entries.keys().next() {
            return Err(self.error(key, "unknown key for this integration type"));
        }
        Ok((self.secrets, self.warnings))
    }
}

fn parse_secret_ref(value: &Value, interner: &Interner) -> Result<SecretRef, String> {
    const FORMS: &str = "a secret must be \"literal\", { file = \"/path\" }, { env = \"VAR\" } or { credential = \"name\" }";
    match value {
        Value::String(s) if s.is_empty() => Err("must not be empty".to_string()),
        Value::String(s) => Ok(SecretRef::Literal(Secret::new(s.clone()))),
        Value::Table(table) if table.len() == 1 => {
            let (kind, inner) = table.iter().next().expect("one entry");
            let Some(text) = inner.as_str().filter(|t| !t.trim().is_empty()) else {
                return Err(format!("{kind} must be a non-empty string; {FORMS}"));
            };
            let text = text.trim().to_string();
            match kind.as_str() {
                "file" => Ok(SecretRef::File(interner.path(Path::new(&text)))),
                "env" => Ok(SecretRef::Env(text)),
                "credential" if text.contains('/') => {
                    Err("credential must be a name, not a path".to_string())
                }
                "credential" => Ok(SecretRef::Credential(text)),
                _ => Err(FORMS.to_string()),
            }
        }
        _ => Err(FORMS.to_string()),
    }
}
