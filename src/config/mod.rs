//! The configuration: the TOML model, its validation (Genesys limits, unique names, cadences) and
//! the integrations it yields. A bad config is rejected whole, with the file, line and field.

mod raw;
mod section;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use section::Section;
use section::Source;
pub use server::{ServerConfig, ServerTls};

use crate::http::HttpClient;
use crate::secret::{Secret, SecretField};
use crate::verify::{self, IntegrationType, Verifier};

/// Where `credwatch` looks when neither `--config` nor `CREDWATCH_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/credwatch/credwatch.toml";

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

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: String,
    /// `[server] listen`.
    pub listen: SocketAddr,
    /// `[server]`: users and HTTPS.
    pub server: ServerConfig,
    /// `[defaults]`, with credwatch's own defaults filled in.
    pub defaults: Defaults,
    /// Every configured integration, active or not, in file order.
    pub integrations: Vec<Arc<Integration>>,
    /// Things worth a warning in the log (literal secrets).
    pub warnings: Vec<String>,
}

/// `[defaults]`: what integrations inherit.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub state_dir: PathBuf,
    /// A guarded password login is tried again after this long (`guard_retry`, default 6 h).
    pub guard_retry: Duration,
}

/// When an integration is checked.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Every so often (`interval = "5m"`).
    Interval(Duration),
    /// On a cron schedule with seconds (`schedule = "0 */5 * * * *"`).
    Schedule(Box<cron::Schedule>),
}

impl Cadence {
    /// The time between two checks: the interval, or the gap between the next two cron runs.
    pub fn period(&self) -> Option<Duration> {
        match self {
            Self::Interval(every) => Some(*every),
            Self::Schedule(schedule) => {
                let mut upcoming = schedule.upcoming(chrono::Utc);
                let (first, second) = (upcoming.next()?, upcoming.next()?);
                (second - first).to_std().ok()
            }
        }
    }
}

/// One configured integration, ready to be checked.
pub struct Integration {
    /// Unique name: the `integration` label.
    pub name: String,
    /// Its type, from the registry.
    pub kind: &'static IntegrationType,
    /// Inactive integrations are configured and counted, never exercised.
    pub active: bool,
    /// Free text for the status page.
    pub notes: Option<String>,
    pub cadence: Cadence,
    /// Bound on one whole check.
    pub timeout: Duration,
    /// `false` skips the authenticated follow-up call.
    pub follow_up: bool,
    /// Whether the lockout guard watches this integration (`guard`, default: password logins).
    pub guard: bool,
    /// How long the guard holds the same credentials (`[defaults] guard_retry`).
    pub guard_retry: Duration,
    /// The credential tables as configured (secrets included), only ever hashed: the lockout
    /// guard releases when they change.
    pub identity: Secret,
    /// The type's verifier, holding its parsed fields.
    pub verifier: Box<dyn Verifier>,
    /// The HTTP client for this integration (shared unless it has its own trusted roots).
    pub http: HttpClient,
    /// Every secret field, for `validate` and for scrubbing messages.
    pub secrets: Vec<SecretField>,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("name", &self.name)
            .field("type", &self.kind.key)
            .field("active", &self.active)
            .field("cadence", &self.cadence)
            .field("timeout", &self.timeout)
            .field("guard", &self.guard)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
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
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Validates config text; `path` is only used in messages.
    pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
        let source = Arc::new(Source::new(path, text));
        let raw: raw::RawConfig = toml::from_str(text)
            .map_err(|e| source.error(e.span(), e.message().trim_end().to_string()))?;
        let defaults = raw.defaults.resolve(&source)?;
        let server = raw.server.resolve(&source)?;
        let listen = server.listen;
        let shared_http = HttpClient::new(None).map_err(|e| source.error(None, e.to_string()))?;
        let mut warnings = Vec::new();
        let mut built = Vec::new();
        for (index, spanned) in raw.integration.into_iter().enumerate() {
            let span = spanned.span();
            let integration = raw::build_integration(
                &source,
                index,
                spanned.into_inner(),
                &defaults,
                &shared_http,
                &mut warnings,
            )?;
            built.push((span, integration));
        }
        check_limits(&source, &built)?;
        let integrations = assign_names(&source, built)?;
        Ok(Config {
            path: path.to_string(),
            listen,
            server,
            defaults,
            integrations,
            warnings,
        })
    }

    /// The integrations that are exercised.
    pub fn active(&self) -> impl Iterator<Item = &Arc<Integration>> {
        self.integrations.iter().filter(|i| i.active)
    }

    /// How many integrations of a type are configured.
    pub fn count(&self, kind: &IntegrationType) -> usize {
        self.integrations
            .iter()
            .filter(|i| i.kind.key == kind.key)
            .count()
    }
}

/// A half-built integration: everything but its final name.
pub(crate) struct Unnamed {
    pub(crate) name: Option<(String, std::ops::Range<usize>)>,
    pub(crate) integration: Integration,
}

fn check_limits(
    source: &Source,
    built: &[(std::ops::Range<usize>, Unnamed)],
) -> Result<(), ConfigError> {
    for kind in verify::TYPES {
        let of_kind: Vec<_> = built
            .iter()
            .filter(|(_, u)| u.integration.kind.key == kind.key)
            .collect();
        if let Some((span, _)) = of_kind.get(kind.limit) {
            return Err(source.error(
                Some(span.clone()),
                format!(
                    "too many {} integrations: {} configured, Genesys Cloud allows at most {} (inactive ones count too)",
                    kind.key,
                    of_kind.len(),
                    kind.limit
                ),
            ));
        }
    }
    Ok(())
}

/// Explicit names must be unique; nameless integrations get their type's default name, numbered
/// from the second one on (`Zendesk Data Actions`, `Zendesk Data Actions 2`, ...).
fn assign_names(
    source: &Source,
    built: Vec<(std::ops::Range<usize>, Unnamed)>,
) -> Result<Vec<Arc<Integration>>, ConfigError> {
    let mut taken = std::collections::HashSet::new();
    for (_, unnamed) in &built {
        if let Some((name, span)) = &unnamed.name
            && !taken.insert(name.clone())
        {
            return Err(source.error(
                Some(span.clone()),
                format!("name {name:?} is used by another integration; names must be unique"),
            ));
        }
    }
    let mut out = Vec::with_capacity(built.len());
    for (_, unnamed) in built {
        let mut integration = unnamed.integration;
        integration.name = match unnamed.name {
            Some((name, _)) => name,
            None => {
                let base = integration.kind.default_name;
                let name = (1..)
                    .map(|n| {
                        if n == 1 {
                            base.to_string()
                        } else {
                            format!("{base} {n}")
                        }
                    })
                    .find(|candidate| !taken.contains(candidate))
                    .expect("an unused number exists");
                taken.insert(name.clone());
                name
            }
        };
        out.push(Arc::new(integration));
    }
    Ok(out)
}

/// Parses a humantime duration (`"90s"`, `"5m"`) that must be positive.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_string()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (want e.g. \"30s\", \"5m\", \"1h\")")),
    }
}

/// Parses a cron schedule with seconds (six or seven fields).
pub(crate) fn parse_schedule(text: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(text.trim())
        .map_err(|e| format!("{e} (want six fields with seconds first, e.g. \"0 */5 * * * *\")"))
}
