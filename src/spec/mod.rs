//! The parsing primitives the config loader and every integration type share: the config's
//! error (file, line, field), a file's line map ([`Source`]), one table of an integration read key
//! by key ([`Section`]), the tables a type's builder reads ([`Spec`]), and interning of what tens
//! of thousands of integrations repeat. A leaf: it knows no integration type and no loader.

pub mod intern;
mod section;

pub use section::Section;
pub(crate) use section::Source;

/// A config that cannot be used. Always names the file, and the line and field where known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    At {
        path: String,
        line: Option<usize>,
        message: String,
    },
}

/// The tables of an integration a type's builder reads from.
pub struct Spec {
    pub credentials: Section,
    pub endpoints: Section,
    pub tls: Section,
    pub request: Section,
    /// The PEM of `[integration.tls] ca_cert`, already read, for types that build a client of
    /// their own (mTLS).
    pub ca_cert: Option<Vec<u8>>,
    /// The org's Genesys org id (`org_id`), when given.
    pub org_id: Option<String>,
}

/// Parses a humantime duration (`"90s"`, `"5m"`, `"90d"`) that must be positive.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_string()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (want e.g. \"30s\", \"5m\", \"1h\")")),
    }
}
