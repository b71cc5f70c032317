//! The config file as TOML gives it, with the byte spans that turn into line numbers, and the
//! steps from one raw `[[integration]]` to a checked [`Integration`]: its type and given name
//! first ([`typed`]), then, once every name of its org is assigned, the whole of it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::{Defaults, OrgSpec, parse_duration, parse_schedule};
use crate::http::HttpClient;
use crate::integration::{Cadence, Integration};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Section, Source, Spec};
use crate::verify::{self, IntegrationType};

pub(crate) type RawTable = Spanned<BTreeMap<String, Spanned<Value>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// More files, each one org: glob patterns relative to this file.
    #[serde(default)]
    pub(crate) include: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(crate) org: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) org_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) genesys: Option<Spanned<RawGenesys>>,
    #[serde(default)]
    pub(crate) server: RawServer,
    #[serde(default)]
    pub(crate) defaults: RawDefaults,
    #[serde(default)]
    pub(crate) integration: Vec<Spanned<RawIntegration>>,
}

/// An included file: one org's integrations (server and defaults are the main file's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrgFile {
    #[serde(default)]
    pub(crate) org: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) org_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) genesys: Option<Spanned<RawGenesys>>,
    #[serde(default)]
    pub(crate) integration: Vec<Spanned<RawIntegration>>,
}

/// `[genesys]`: the org view, read with a `genesys_cloud` integration's OAuth client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGenesys {
    pub(crate) integration: Spanned<String>,
    pub(crate) interval: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    /// `[[genesys.canary]]`.
    #[serde(default)]
    pub(crate) canary: Vec<Spanned<super::canary::RawCanary>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) names: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) basic_auth_users: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub(crate) tls: Option<RawTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    state_dir: Option<Spanned<String>>,
    guard_retry: Option<Spanned<String>>,
    force_cooldown: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntegration {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    name: Option<Spanned<String>>,
    active: Option<bool>,
    notes: Option<String>,
    interval: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    follow_up: Option<bool>,
    guard: Option<bool>,
    revoke: Option<bool>,
    expires: Option<Spanned<toml::Value>>,
    credentials: Option<RawTable>,
    endpoints: Option<RawTable>,
    tls: Option<RawTable>,
    request: Option<RawTable>,
}

impl RawDefaults {
    pub(crate) fn resolve(self, source: &Source) -> Result<Defaults, ConfigError> {
        let duration = |value: Option<Spanned<String>>, key: &str, default: u64| match value {
            None => Ok(std::time::Duration::from_secs(default)),
            Some(v) => parse_duration(v.get_ref())
                .map_err(|e| source.error(Some(v.span()), format!("defaults.{key}: {e}"))),
        };
        let concurrency = match self.concurrency {
            None => 16,
            Some(c) if (1..=10_000).contains(c.get_ref()) => *c.get_ref() as usize,
            Some(c) => {
                return Err(source.error(
                    Some(c.span()),
                    "defaults.concurrency: must be between 1 and 10000",
                ));
            }
        };
        Ok(Defaults {
            interval: duration(self.interval, "interval", 300)?,
            timeout: duration(self.timeout, "timeout", 15)?,
            concurrency,
            guard_retry: duration(self.guard_retry, "guard_retry", 6 * 3600)?,
            force_cooldown: duration(self.force_cooldown, "force_cooldown", 300)?,
            state_dir: self
                .state_dir
                .map(|s| PathBuf::from(s.into_inner()))
                .unwrap_or_else(|| PathBuf::from("/var/lib/credwatch")),
        })
    }
}

/// One `[[integration]]` whose type is known and whose own name, if it has one, is not empty:
/// enough to apply the Genesys limits and to assign every name before anything is built.
pub(crate) struct Typed {
    /// The whole `[[integration]]` table's span.
    pub(crate) span: Range<usize>,
    pub(crate) kind: &'static IntegrationType,
    /// The name it was given, with the span of its value.
    pub(crate) name: Option<(String, Range<usize>)>,
    /// `integration "NAME" (TYPE)` or `integration #N (TYPE)`: who errors are about.
    owner: Arc<str>,
    raw: RawIntegration,
}

/// The type and the given name of the `index`th `[[integration]]` of a file.
pub(crate) fn typed(
    source: &Source,
    index: usize,
    spanned: Spanned<RawIntegration>,
) -> Result<Typed, ConfigError> {
    let span = spanned.span();
    let raw = spanned.into_inner();
    let Some(kind) = verify::find_type(raw.kind.get_ref()) else {
        let known: Vec<_> = verify::TYPES.iter().map(|t| t.key).collect();
        return Err(source.error(
            Some(raw.kind.span()),
            format!(
                "integration #{}: type: unknown type {:?}; expected one of {}",
                index + 1,
                raw.kind.get_ref(),
                known.join(", ")
            ),
        ));
    };
    let name = match &raw.name {
        None => None,
        Some(name) if name.get_ref().trim().is_empty() => {
            return Err(source.error(
                Some(name.span()),
                format!(
                    "integration #{} ({}): name: must not be empty",
                    index + 1,
                    kind.key
                ),
            ));
        }
        Some(name) => Some((name.get_ref().trim().to_string(), name.span())),
    };
    let owner: Arc<str> = match &name {
        Some((n, _)) => format!("integration {n:?} ({})", kind.key).into(),
        None => format!("integration #{} ({})", index + 1, kind.key).into(),
    };
    Ok(Typed {
        span,
        kind,
        name,
        owner,
        raw,
    })
}

/// Builds a typed `[[integration]]` of `org` into the [`Integration`] named `name`: its cadence,
/// its type's verifier, its HTTP client, its secrets, and the digests reloads and the lockout
/// guard compare.
pub(crate) fn build_integration(
    source: &Arc<Source>,
    typed: Typed,
    name: String,
    defaults: &Defaults,
    org: &OrgSpec,
    shared_http: &HttpClient,
    warnings: &mut Vec<String>,
) -> Result<Integration, ConfigError> {
    let Typed {
        kind, owner, raw, ..
    } = typed;
    let at = |span: Range<usize>, msg: String| source.error(Some(span), format!("{owner}: {msg}"));
    let cadence = cadence(raw.interval, raw.schedule, defaults, &at)?;
    let timeout = match raw.timeout {
        None => defaults.timeout,
        Some(t) => {
            parse_duration(t.get_ref()).map_err(|e| at(t.span(), format!("timeout: {e}")))?
        }
    };
    let expires = expires(raw.expires, &at)?;
    let identity = identity(&[
        ("credentials", &raw.credentials),
        ("endpoints", &raw.endpoints),
        ("tls", &raw.tls),
        ("request", &raw.request),
    ]);
    let section = |path: &str, table: Option<RawTable>| {
        Section::new(source.clone(), owner.clone(), path, table, raw.kind.span())
    };
    let mut spec = Spec {
        credentials: section("credentials", raw.credentials),
        endpoints: section("endpoints", raw.endpoints),
        tls: section("tls", raw.tls),
        request: section("request", raw.request),
        ca_cert: None,
        org_id: org.org_id.clone(),
    };
    let http = http_client(&mut spec, shared_http)?;
    let verifier = (kind.build)(&mut spec)?;
    let guard = raw.guard.unwrap_or_else(|| verifier.password_login());
    let active = raw.active.unwrap_or(true);
    let follow_up = raw.follow_up.unwrap_or(true);
    let revoke = raw.revoke.unwrap_or(true);
    let definition = definition((
        identity.expose(),
        format!("{cadence:?}"),
        timeout,
        (active, follow_up, guard, revoke),
        defaults.guard_retry,
        &spec.ca_cert,
    ));
    // Only the lockout guard reads it: integrations it does not watch need not keep it.
    let identity = if guard {
        identity
    } else {
        Secret::new(String::new())
    };
    let secrets = secrets(spec, warnings)?;
    Ok(Integration {
        id: crate::integration::id_of(&org.name, &name),
        name,
        org: org.name.clone(),
        kind,
        active,
        notes: raw.notes,
        expires,
        cadence,
        timeout,
        follow_up,
        revoke,
        guard,
        guard_retry: defaults.guard_retry,
        identity,
        definition,
        verifier,
        http,
        secrets,
    })
}

/// `expires`, in unix seconds.
fn expires(
    value: Option<Spanned<toml::Value>>,
    at: &impl Fn(Range<usize>, String) -> ConfigError,
) -> Result<Option<f64>, ConfigError> {
    value
        .map(|e| unix_seconds_of(e.get_ref()).map_err(|m| at(e.span(), format!("expires: {m}"))))
        .transpose()
}

/// A TOML date (midnight UTC) or date-time (UTC unless it has an offset) as unix seconds.
fn unix_seconds_of(value: &toml::Value) -> Result<f64, String> {
    let toml::Value::Datetime(when) = value else {
        return Err(format!(
            "must be a TOML date (2027-03-01, unquoted) or date-time (2027-03-01T12:00:00Z), not a {}",
            value.type_str()
        ));
    };
    let Some(date) = when.date else {
        return Err("a date (2027-03-01) or a date-time (2027-03-01T12:00:00Z) is needed, not a time of day".into());
    };
    let day = chrono::NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
        .ok_or("no such date")?;
    let time = match when.time {
        None => chrono::NaiveTime::MIN,
        Some(t) => chrono::NaiveTime::from_hms_nano_opt(
            t.hour.into(),
            t.minute.into(),
            t.second.into(),
            t.nanosecond,
        )
        .ok_or("no such time")?,
    };
    let offset_minutes = match when.offset {
        None | Some(toml::value::Offset::Z) => 0,
        Some(toml::value::Offset::Custom { minutes }) => i64::from(minutes),
    };
    let utc = day.and_time(time).and_utc().timestamp() - offset_minutes * 60;
    Ok(utc as f64)
}

/// `interval` or `schedule` (not both), else `[defaults] interval`.
fn cadence(
    interval: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    defaults: &Defaults,
    at: &impl Fn(Range<usize>, String) -> ConfigError,
) -> Result<Cadence, ConfigError> {
    Ok(match (interval, schedule) {
        (Some(i), Some(_)) => {
            return Err(at(
                i.span(),
                "set either interval or schedule, not both".into(),
            ));
        }
        (Some(i), None) => Cadence::Interval(
            parse_duration(i.get_ref()).map_err(|e| at(i.span(), format!("interval: {e}")))?,
        ),
        (None, Some(s)) => Cadence::Schedule(Box::new(
            parse_schedule(s.get_ref()).map_err(|e| at(s.span(), format!("schedule: {e}")))?,
        )),
        (None, None) => Cadence::Interval(defaults.interval),
    })
}

/// The shared client, or one of its own trusting `[integration.tls] ca_cert` (whose PEM the
/// spec then keeps for types that build their own).
fn http_client(spec: &mut Spec, shared_http: &HttpClient) -> Result<HttpClient, ConfigError> {
    let Some(path) = spec.tls.opt_string("ca_cert")? else {
        return Ok(shared_http.clone());
    };
    let pem = std::fs::read(&path).map_err(|e| {
        spec.tls
            .error("ca_cert", format!("cannot read {path}: {e}"))
    })?;
    let http = HttpClient::new(Some(&pem)).map_err(|e| spec.tls.error("ca_cert", e))?;
    spec.ca_cert = Some(pem);
    Ok(http)
}

/// Every secret field of the spec's tables, once each table is known to have no key left over
/// (a literal secret adds a warning).
fn secrets(spec: Spec, warnings: &mut Vec<String>) -> Result<Vec<SecretField>, ConfigError> {
    let mut secrets = Vec::new();
    for section in [spec.credentials, spec.endpoints, spec.tls, spec.request] {
        let (s, w) = section.finish()?;
        secrets.extend(s);
        warnings.extend(w);
    }
    // Kept for as long as the config runs, by each of possibly tens of thousands.
    secrets.shrink_to_fit();
    Ok(secrets)
}

/// A digest of everything that decides how an integration is checked, to tell on reload which
/// integrations changed (those are checked soon; the others keep their schedule).
fn definition(parts: impl std::hash::Hash) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// The integration's credential tables in a canonical form (no spans, sorted keys), so that the
/// lockout guard can tell when an operator changed a user name or an endpoint, not only a secret.
/// Literal secrets are in it: it is only ever hashed.
fn identity(tables: &[(&str, &Option<RawTable>)]) -> Secret {
    let mut canonical = toml::Table::new();
    for (name, table) in tables {
        if let Some(table) = table {
            let inner: toml::Table = table
                .get_ref()
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect();
            canonical.insert((*name).to_string(), Value::Table(inner));
        }
    }
    Secret::new(toml::to_string(&canonical).unwrap_or_default())
}
