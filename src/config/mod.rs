//! The configuration: the TOML model, its validation (Genesys limits, unique names, cadences) and
//! the integrations it yields. A bad config is rejected whole, with the file, line and field.

mod canary;
mod raw;
mod server;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use canary::{CANARY_INTERVAL, Canary};
pub use server::{Role, ServerConfig, ServerTls, User};

use crate::http::HttpClient;
use crate::integration::{Integration, find};
pub use crate::spec::ConfigError;
use crate::spec::Source;
use crate::spec::intern::Interner;
use crate::verify::{self, IntegrationType};

/// Where `credwatch` looks when neither `--config` nor `CREDWATCH_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/credwatch/credwatch.toml";

/// The org of the main file when it does not name one.
pub const DEFAULT_ORG: &str = "default";

/// One Genesys Cloud org: the main file or an included one. Limits and names are per org.
#[derive(Debug, Clone)]
pub struct Org {
    /// `org`: the `org` label and the `ORG/` of addresses.
    pub name: Arc<str>,
    /// `org_id`: the Genesys org id, the default `external_id` of its `aws_lambda` integrations.
    pub org_id: Option<String>,
    /// The file it came from.
    pub path: String,
    /// `[genesys]`: the org's own view of its integrations, when configured.
    pub view: Option<OrgView>,
}

/// `[genesys]`: how often, and with which `genesys_cloud` integration's OAuth client, credwatch
/// reads the org's integrations and mTLS certificates.
#[derive(Debug, Clone)]
pub struct OrgView {
    /// The active `genesys_cloud` integration whose client reads the org.
    pub integration: Arc<Integration>,
    /// Between two reads (`interval`, default 5m).
    pub interval: Duration,
    /// Bound on one whole read (`timeout`, default the integration's).
    pub timeout: Duration,
    /// The type and name of every active integration of the org: a Genesys data action of the
    /// same type and name is one credwatch checks ("watched").
    pub checked: std::collections::HashSet<(&'static str, String)>,
    /// Every active `genesys_cloud` integration of the org (its id) with its OAuth client's id:
    /// the view reads each client's state.
    pub clients: Vec<(String, String)>,
    /// `[[genesys.canary]]`: data actions Genesys runs for credwatch.
    pub canaries: Vec<Canary>,
    /// With canaries, every integration of the org: a third party may echo any credential
    /// Genesys holds into a canary's message, so each secret credwatch knows of the org is kept
    /// out of it, not only the spoken-for integration's. Empty without canaries.
    pub scrubbed: Vec<Arc<Integration>>,
}

/// The default `[genesys] interval`.
const VIEW_INTERVAL: Duration = Duration::from_secs(300);

/// What an integration's builder knows of its org.
pub(crate) struct OrgSpec {
    pub(crate) name: Arc<str>,
    pub(crate) org_id: Option<String>,
}

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: String,
    /// The orgs, the main file's first, then the included files' in path order.
    pub orgs: Vec<Org>,
    /// `[server]`: where to listen, users and HTTPS.
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
    /// An operator's forced check releases an engaged lockout guard at most once this long
    /// (`force_cooldown`, default 5 min).
    pub force_cooldown: Duration,
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

    /// Validates config text; `path` names it in messages and anchors its `include` patterns.
    pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
        let interner = Interner::default();
        let source = Arc::new(Source::new(path, text, &interner));
        let raw: raw::RawConfig = toml::from_str(text)
            .map_err(|e| source.error(e.span(), e.message().trim_end().to_string()))?;
        let defaults = raw.defaults.resolve(&source)?;
        let server = raw.server.resolve(&source)?;
        let shared_http = HttpClient::new(None).map_err(|e| source.error(None, e.to_string()))?;
        let main = OrgFile {
            org: org_name(&source, raw.org, || DEFAULT_ORG.to_string())?,
            org_id: raw.org_id.map(|id| id.into_inner()),
            source: source.clone(),
            genesys: raw.genesys,
            integrations: raw.integration,
        };
        let included = match raw.include {
            Some(patterns) => included(path, &source, patterns)?,
            None => Vec::new(),
        };
        // Each included file is read, built and dropped in turn: the parsed TOML of a hundred
        // orgs is never in memory at once.
        let files =
            std::iter::once(Ok(main)).chain(included.iter().map(|path| org_file(path, &interner)));
        let mut warnings = Vec::new();
        let mut orgs: Vec<Org> = Vec::new();
        let mut integrations = Vec::new();
        for file in files {
            let file = file?;
            if let Some(other) = orgs.iter().find(|o| *o.name == *file.org) {
                return Err(file.source.error(
                    None,
                    format!(
                        "org {:?} is also the org of {}; each org is one file",
                        file.org, other.path
                    ),
                ));
            }
            let spec = OrgSpec {
                name: file.org.clone(),
                org_id: file.org_id.clone(),
            };
            let typed = (file.integrations.into_iter().enumerate())
                .map(|(index, spanned)| raw::typed(&file.source, index, spanned))
                .collect::<Result<Vec<_>, _>>()?;
            check_limits(&file.source, &file.org, &typed)?;
            let names = assign_names(&file.source, &typed)?;
            let mut named = Vec::with_capacity(typed.len());
            for (typed, name) in typed.into_iter().zip(names) {
                named.push(Arc::new(raw::build_integration(
                    &file.source,
                    typed,
                    name,
                    &defaults,
                    &spec,
                    &shared_http,
                    &mut warnings,
                )?));
            }
            let view = match file.genesys {
                Some(genesys) => Some(org_view(&file.source, &file.org, genesys, &named)?),
                None => None,
            };
            integrations.extend(named);
            orgs.push(Org {
                name: file.org,
                org_id: file.org_id,
                path: file.source.path.clone(),
                view,
            });
        }
        warnings.extend(integrations.iter().filter_map(|i| login_rate_warning(i)));
        Ok(Config {
            path: path.to_string(),
            orgs,
            server,
            defaults,
            integrations,
            warnings,
        })
    }

    /// Ids that integrations of this config had under credwatch 0.1's numbering of default
    /// names (`ORG/Zendesk Data Actions 2`, now `ORG/Zendesk Data Actions (2)`), with their ids
    /// now, for the state to follow the rename. An old id that still names an integration is
    /// left alone.
    pub fn former_ids(&self) -> Vec<(String, String)> {
        let current: std::collections::HashSet<&str> =
            self.integrations.iter().map(|i| i.id.as_str()).collect();
        self.integrations
            .iter()
            .filter_map(|i| {
                let number = i
                    .name
                    .strip_prefix(i.kind.default_name)?
                    .strip_prefix(" (")?
                    .strip_suffix(')')?;
                number.parse::<u32>().ok().filter(|n| *n >= 2)?;
                let former = format!("{}/{} {number}", i.org, i.kind.default_name);
                (!current.contains(former.as_str())).then(|| (former, i.id.clone()))
            })
            .collect()
    }

    /// The integration an operator means by `address`: `ORG/NAME`, or a `NAME` that only one
    /// org has.
    pub fn find(&self, address: &str) -> Result<&Arc<Integration>, String> {
        find(&self.integrations, address)
    }

    /// The integrations that are exercised.
    pub fn active(&self) -> impl Iterator<Item = &Arc<Integration>> {
        self.integrations.iter().filter(|i| i.active)
    }

    /// How many integrations of a type an org has.
    pub fn count(&self, org: &str, kind: &IntegrationType) -> usize {
        self.integrations
            .iter()
            .filter(|i| i.kind.key == kind.key && *i.org == *org)
            .count()
    }
}

/// One file's part of the config, before its integrations are built.
struct OrgFile {
    org: Arc<str>,
    org_id: Option<String>,
    source: Arc<Source>,
    genesys: Option<toml::Spanned<raw::RawGenesys>>,
    integrations: Vec<toml::Spanned<raw::RawIntegration>>,
}

/// The least time between two logins with a password or client credentials that goes without
/// a warning.
const LOGIN_EVERY_AT_LEAST: Duration = Duration::from_secs(60);

/// A warning for an active integration that logs in with a password or client credentials
/// more often than once a minute: providers count such logins, and the lockout guard (which
/// stops after a wrong password) does nothing about a right one checked too often.
fn login_rate_warning(integration: &Integration) -> Option<String> {
    let limits = integration.verifier.login_limits()?;
    let every = integration.cadence.period()?;
    if !integration.active || every >= LOGIN_EVERY_AT_LEAST {
        return None;
    }
    Some(format!(
        "{}/{}: checked every {}, more often than once a minute, and each check is a login: {limits}. \
         The lockout guard only stops retries after a failed login; it does not slow down a \
         working one. An interval of 5m or more is plenty for a credential check",
        integration.org,
        integration.name,
        humantime::format_duration(every)
    ))
}

/// An org name: given, or `default`; never empty, never with a `/` (it starts addresses).
fn org_name(
    source: &Source,
    given: Option<toml::Spanned<String>>,
    default: impl FnOnce() -> String,
) -> Result<Arc<str>, ConfigError> {
    let (name, span) = match given {
        Some(name) => {
            let span = name.span();
            (name.into_inner().trim().to_string(), Some(span))
        }
        None => (default(), None),
    };
    if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
        return Err(source.error(
            span,
            format!("org: {name:?} must be a non-empty name without '/'"),
        ));
    }
    Ok(name.into())
}

/// The files `include` names (glob patterns relative to the main file), in path order.
fn included(
    main: &str,
    source: &Source,
    patterns: toml::Spanned<Vec<String>>,
) -> Result<Vec<PathBuf>, ConfigError> {
    let span = patterns.span();
    let base = Path::new(main).parent().unwrap_or(Path::new("."));
    let main_file = std::fs::canonicalize(main).ok();
    let mut paths = std::collections::BTreeSet::new();
    for pattern in patterns.into_inner() {
        let full = base.join(&pattern);
        let matches = glob::glob(&full.to_string_lossy()).map_err(|e| {
            source.error(
                Some(span.clone()),
                format!("include: {pattern:?} is not a glob pattern: {e}"),
            )
        })?;
        for entry in matches {
            let path = entry.map_err(|e| {
                source.error(Some(span.clone()), format!("include: {pattern:?}: {e}"))
            })?;
            if path.is_file() && std::fs::canonicalize(&path).ok() != main_file {
                paths.insert(path);
            }
        }
    }
    Ok(paths.into_iter().collect())
}

/// Reads one included org file: an org named by `org`, else by the file's stem.
fn org_file(path: &Path, interner: &Interner) -> Result<OrgFile, ConfigError> {
    {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            source: e,
        })?;
        let file_source = Arc::new(Source::new(&shown, &text, interner));
        let raw: raw::RawOrgFile = toml::from_str(&text)
            .map_err(|e| file_source.error(e.span(), e.message().trim_end().to_string()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(OrgFile {
            org: org_name(&file_source, raw.org, || stem)?,
            org_id: raw.org_id.map(|id| id.into_inner()),
            source: file_source,
            genesys: raw.genesys,
            integrations: raw.integration,
        })
    }
}

/// Resolves `[genesys]` against the org's named integrations: it must name an active
/// `genesys_cloud` one.
fn org_view(
    source: &Source,
    org: &str,
    genesys: toml::Spanned<raw::RawGenesys>,
    integrations: &[Arc<Integration>],
) -> Result<OrgView, ConfigError> {
    let genesys = genesys.into_inner();
    let (name, span) = (genesys.integration.get_ref(), genesys.integration.span());
    let Some(integration) = integrations.iter().find(|i| i.name == *name) else {
        return Err(source.error(
            Some(span),
            format!("genesys.integration: org {org:?} has no integration named {name:?}"),
        ));
    };
    if integration.verifier.genesys_api().is_none() {
        return Err(source.error(
            Some(span),
            format!(
                "genesys.integration: {name:?} is a {} integration; the org view reads the org with a genesys_cloud integration's OAuth client",
                integration.kind.key
            ),
        ));
    }
    if !integration.active {
        return Err(source.error(
            Some(span),
            format!(
                "genesys.integration: {name:?} is inactive, and credwatch never uses an inactive integration's credentials; name an active one or remove [genesys]"
            ),
        ));
    }
    let duration = |value: Option<toml::Spanned<String>>, key: &str, default: Duration| match value
    {
        None => Ok(default),
        Some(v) => parse_duration(v.get_ref())
            .map_err(|e| source.error(Some(v.span()), format!("genesys.{key}: {e}"))),
    };
    let timeout = duration(genesys.timeout, "timeout", integration.timeout)?;
    let canaries = canary::canaries(source, org, genesys.canary, integrations, timeout)?;
    Ok(OrgView {
        integration: integration.clone(),
        interval: duration(genesys.interval, "interval", VIEW_INTERVAL)?,
        timeout,
        scrubbed: match canaries.is_empty() {
            true => Vec::new(),
            false => integrations.to_vec(),
        },
        canaries,
        checked: integrations
            .iter()
            .filter(|i| i.active)
            .map(|i| (i.kind.key, i.name.clone()))
            .collect(),
        clients: integrations
            .iter()
            .filter(|i| i.active)
            .filter_map(|i| {
                Some((
                    i.id.clone(),
                    i.verifier.genesys_api()?.client_id().to_string(),
                ))
            })
            .collect(),
    })
}

fn check_limits(source: &Source, org: &str, typed: &[raw::Typed]) -> Result<(), ConfigError> {
    for kind in verify::TYPES {
        let of_kind: Vec<_> = typed.iter().filter(|t| t.kind.key == kind.key).collect();
        if let Some(over) = of_kind.get(kind.limit) {
            return Err(source.error(
                Some(over.span.clone()),
                format!(
                    "too many {} integrations in org {org:?}: {} configured, Genesys Cloud allows at most {} per org (inactive ones count too)",
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
/// from the second one on as Genesys Cloud numbers them (`Zendesk Data Actions`,
/// `Zendesk Data Actions (2)`, ...).
fn assign_names(source: &Source, typed: &[raw::Typed]) -> Result<Vec<String>, ConfigError> {
    let mut taken = std::collections::HashSet::new();
    for (name, span) in typed.iter().filter_map(|t| t.name.as_ref()) {
        if !taken.insert(name.clone()) {
            return Err(source.error(
                Some(span.clone()),
                format!("name {name:?} is used by another integration; names must be unique"),
            ));
        }
    }
    let mut names = Vec::with_capacity(typed.len());
    for t in typed {
        names.push(match &t.name {
            Some((name, _)) => name.clone(),
            None => {
                let base = t.kind.default_name;
                let name = (1..)
                    .map(|n| {
                        if n == 1 {
                            base.to_string()
                        } else {
                            format!("{base} ({n})")
                        }
                    })
                    .find(|candidate| !taken.contains(candidate))
                    .expect("an unused number exists");
                taken.insert(name.clone());
                name
            }
        });
    }
    Ok(names)
}

pub(crate) use crate::spec::parse_duration;

/// Parses a cron schedule with seconds (six or seven fields).
pub(crate) fn parse_schedule(text: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(text.trim())
        .map_err(|e| format!("{e} (want six fields with seconds first, e.g. \"0 */5 * * * *\")"))
}
