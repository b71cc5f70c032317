//! The commands: `run` (the daemon, in `credwatch::daemon`), `check` (verify once and report),
//! `validate` (config and secret references, contacting no one).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "simulator")]
mod demo;

use clap::{Parser, Subcommand, ValueEnum};
use credwatch::checker::{Checked, Checker};
use credwatch::config::{self, Config};
use credwatch::daemon;
use credwatch::guard::{self, FingerprintKey};
use credwatch::integration::Integration;
use credwatch::metrics::Metrics;
use credwatch::state::State;
use futures_util::StreamExt;

/// Exit code: every check passed / the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed, or the daemon could not start.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the config (or a secret reference) is unusable.
pub const EXIT_CONFIG: u8 = 2;

/// Proves that the credentials behind Genesys Cloud data-action integrations still work.
#[derive(Debug, Parser)]
#[command(name = "credwatch", version, about)]
pub struct Args {
    /// The config file.
    #[arg(long, short, global = true, env = "CREDWATCH_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives
    /// [default: info for run, error for check and validate, whose output says it all].
    #[arg(long, global = true, env = "CREDWATCH_LOG")]
    pub log_level: Option<String>,
    /// Log format: text (under systemd: journald's priority prefixes, no timestamps) or json
    /// (one object a line) [default: text].
    #[arg(long, global = true, env = "CREDWATCH_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::logging::LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: check on schedule, serve /metrics, /healthz and /readyz.
    Run {
        /// Address to serve on, overriding `[server] listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Check integrations once and report; exit 0 if all pass, 1 if any fails, 2 on a config error.
    Check {
        /// Integrations to check (default: every active one, or the --force ones).
        names: Vec<String>,
        /// Check this integration even while the lockout guard holds it (one attempt); repeatable.
        #[arg(long, value_name = "NAME")]
        force: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Validate the config and that every secret reference resolves; contacts no one.
    Validate,
    /// Run the daemon against a built-in simulator of every provider, on loopback only: a first
    /// look at the status page, the API and the metrics, with no config.
    #[cfg(feature = "simulator")]
    Demo {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: SocketAddr,
        /// Where the demo writes its keys, secrets, config and state: an empty or own private
        /// directory [default: a new private credwatch-demo-* folder in the temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the config the demo runs (a working example of every type) and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Run only the demo's simulator of every provider (for benchmarks): prints its endpoints
    /// and files as one JSON line, then serves until SIGTERM or SIGINT.
    #[cfg(feature = "simulator")]
    Simulate {
        /// Where the simulator writes its keys, certificates and secret files.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

impl Args {
    /// The log filter: `--log-level`, else what suits the command. A bare level applies to
    /// credwatch's own logs; libraries log at most at `warn` then, because some of them print
    /// what credwatch keeps secret (the AWS SDK prints access key ids at `debug`). Directives
    /// are taken as given, but the AWS SDK's targets never go below `info`.
    pub fn log_filter(&self) -> String {
        let given = match (&self.log_level, &self.command) {
            (Some(level), _) => level.trim(),
            (None, Command::Run { .. }) => "info",
            #[cfg(feature = "simulator")]
            (None, Command::Demo { .. }) => "info",
            (None, _) => "error",
        };
        const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
        match LEVELS.iter().position(|l| l.eq_ignore_ascii_case(given)) {
            Some(rank) => {
                let libraries = LEVELS[rank.min(2)];
                format!("{libraries},credwatch={}", LEVELS[rank])
            }
            None => format!("{given},aws=info"),
        }
    }
}

/// Runs the command; returns the exit code.
pub async fn dispatch(args: Args) -> u8 {
    #[cfg(feature = "simulator")]
    match args.command {
        Command::Demo {
            listen,
            dir,
            print_config,
        } => return demo::demo(listen, dir, print_config).await,
        Command::Simulate { dir } => return demo::simulate(&dir).await,
        _ => {}
    }
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("credwatch: {e}");
            return EXIT_CONFIG;
        }
    };
    // The daemon and JSON logs say it in the log; `check` and `validate` to the person.
    let json = args.log_format == Some(crate::logging::LogFormat::Json);
    for warning in &config.warnings {
        match args.command {
            Command::Run { .. } => tracing::warn!("{warning}"),
            _ if json => tracing::warn!("{warning}"),
            _ => eprintln!("credwatch: warning: {warning}"),
        }
    }
    match args.command {
        Command::Run { listen } => match daemon::run(config, args.config, listen).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                tracing::error!("{e}");
                EXIT_FAILED
            }
        },
        Command::Check {
            names,
            force,
            format,
        } => check(config, &names, &force, format).await,
        Command::Validate => validate(&config),
        #[cfg(feature = "simulator")]
        Command::Demo { .. } | Command::Simulate { .. } => unreachable!("handled above"),
    }
}

/// The integrations `check` names (all when it names none), each once, in the order named.
fn selected(
    config: &Config,
    names: &[String],
    force: &[String],
) -> Result<Vec<Arc<Integration>>, String> {
    let wanted: Vec<&String> = if names.is_empty() {
        force.iter().collect()
    } else {
        names.iter().chain(force).collect()
    };
    if wanted.is_empty() {
        return Ok(config.integrations.clone());
    }
    let mut selected: Vec<Arc<Integration>> = Vec::new();
    for name in wanted {
        let integration = config.find(name).map_err(|why| {
            let known: Vec<_> = config.integrations.iter().map(|i| i.id.as_str()).collect();
            format!("{why} in {}; configured: {}", config.path, known.join(", "))
        })?;
        if !selected.iter().any(|s| Arc::ptr_eq(s, integration)) {
            selected.push(integration.clone());
        }
    }
    Ok(selected)
}

async fn check(config: Config, names: &[String], force: &[String], format: Format) -> u8 {
    let selected = match selected(&config, names, force) {
        Ok(selected) => selected,
        Err(why) => {
            eprintln!("credwatch: {why}");
            return EXIT_CONFIG;
        }
    };
    // What --force names, as integrations (each was found above).
    let forced: Vec<&str> = force
        .iter()
        .filter_map(|address| config.find(address).ok())
        .map(|i| i.id.as_str())
        .collect();
    // The daemon's state: the lockout guard holds here too. Without a state directory (no
    // daemon ever ran with this config) nothing is created; the guard then lives for this run.
    let state_dir = &config.defaults.state_dir;
    let state = Arc::new(State::load(state_dir, &config.orgs[0].name));
    state.rename(&config.former_ids());
    let keep_state = state_dir.is_dir();
    let (key, _) = FingerprintKey::load(state_dir, keep_state);
    let checker = Checker::new(
        state.clone(),
        Arc::new(Metrics::new(state.clone())),
        key,
        tokio_util::task::TaskTracker::new(),
        // Nothing is watched in a one-off check: every secret is read afresh.
        credwatch::secret::SecretFiles::default(),
    );
    let mut results: Vec<(usize, CheckResult)> =
        futures_util::stream::iter(selected.iter().enumerate().filter(|(_, i)| i.active))
            .map(|(index, integration)| {
                let checker = checker.clone();
                let forced = forced.contains(&integration.id.as_str());
                let unknown = state.unreadable().filter(|_| integration.guard && !forced);
                async move {
                    let result = match unknown {
                        Some(why) => CheckResult::GuardUnknown(format!(
                            "not attempted: the lockout guard's state is unknown ({why}), and a password login may lock the account; run as the daemon's user, or pass --force {:?}",
                            integration.id
                        )),
                        None => CheckResult::Checked(checker.check(integration, forced).await),
                    };
                    (index, result)
                }
            })
            .buffer_unordered(config.defaults.concurrency)
            .collect()
            .await;
    results.sort_by_key(|(index, _)| *index);
    if keep_state && let Err(e) = state.save() {
        eprintln!(
            "credwatch: warning: cannot save state in {}: {e}",
            state_dir.display()
        );
    }
    let rows = rows(&selected, results.into_iter().map(|(_, r)| r).collect());
    print_rows(&rows, format)
}

/// Prints the rows as `format` says; the exit code: failed when any active integration did not
/// pass.
fn print_rows(rows: &[Row], format: Format) -> u8 {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(rows).expect("rows serialise")
        ),
        Format::Table => print_table(rows),
    }
    if rows
        .iter()
        .any(|row| row.result != "success" && row.result != "inactive")
    {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// What `credwatch check` got for one active integration.
enum CheckResult {
    Checked(Checked),
    /// The state file could not be read, so a guarded integration was not attempted.
    GuardUnknown(String),
}

/// One line of `credwatch check` output.
#[derive(Debug, serde::Serialize)]
struct Row {
    org: String,
    name: String,
    r#type: &'static str,
    active: bool,
    /// `success`, a failure reason, `guarded` (the lockout guard held it: no request was made)
    /// or `inactive` (not checked).
    result: &'static str,
    message: Option<String>,
    duration_seconds: Option<f64>,
    /// RFC 3339.
    token_expiry: Option<String>,
}

fn rows(selected: &[Arc<Integration>], results: Vec<CheckResult>) -> Vec<Row> {
    let mut results = results.into_iter().peekable();
    selected
        .iter()
        .map(|integration| {
            let row = |active, result, message: Option<String>| Row {
                org: integration.org.to_string(),
                name: integration.name.clone(),
                r#type: integration.kind.key,
                active,
                result,
                message,
                duration_seconds: None,
                token_expiry: None,
            };
            if !integration.active {
                return row(false, "inactive", Some("inactive: not checked".into()));
            }
            match results.next() {
                None => row(true, "inactive", None),
                Some(CheckResult::GuardUnknown(why)) => row(true, "guarded", Some(why)),
                Some(CheckResult::Checked(Checked::Held(engaged))) => row(
                    true,
                    "guarded",
                    Some(guard::held_message(
                        &engaged,
                        &integration.id,
                        integration.guard_retry,
                    )),
                ),
                Some(CheckResult::Checked(Checked::Ran(report))) => Row {
                    result: report.result(),
                    message: report.outcome.as_ref().err().map(|f| f.message.clone()),
                    duration_seconds: Some(report.duration_seconds()),
                    token_expiry: report
                        .outcome
                        .as_ref()
                        .ok()
                        .and_then(|s| s.token_expiry)
                        .map(|t| {
                            chrono::DateTime::<chrono::Utc>::from(t)
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        }),
                    ..row(true, "", None)
                },
            }
        })
        .collect()
}

fn print_table(rows: &[Row]) {
    // With several orgs a name is only unique with its org.
    let many_orgs = rows.iter().any(|r| r.org != rows[0].org);
    let shown = |row: &Row| {
        if many_orgs {
            format!("{}/{}", row.org, row.name)
        } else {
            row.name.clone()
        }
    };
    let name_width = rows
        .iter()
        .map(|r| shown(r).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let type_width = rows
        .iter()
        .map(|r| r.r#type.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<name_width$}  {:<type_width$}  {:<20}  {:>8}  MESSAGE",
        "NAME", "TYPE", "RESULT", "TIME"
    );
    for row in rows {
        let time = row
            .duration_seconds
            .map_or_else(|| "-".to_string(), |s| format!("{s:.2}s"));
        println!(
            "{:<name_width$}  {:<type_width$}  {:<20}  {:>8}  {}",
            shown(row),
            row.r#type,
            row.result,
            time,
            row.message.as_deref().unwrap_or("")
        );
    }
}

fn validate(config: &Config) -> u8 {
    let mut problems = 0;
    for integration in config.active() {
        for secret in &integration.secrets {
            if let Err(e) = secret.source.resolve() {
                problems += 1;
                // With one org, names are unique as they are.
                let who = if config.orgs.len() > 1 {
                    &integration.id
                } else {
                    &integration.name
                };
                eprintln!(
                    "credwatch: {}: integration {who:?}: {}: {e}",
                    config.path, secret.field
                );
            }
        }
    }
    if problems > 0 {
        eprintln!("credwatch: {problems} secret reference(s) do not resolve");
        return EXIT_CONFIG;
    }
    println!(
        "{}: valid; {} integrations ({} active), every secret reference resolves",
        config.path,
        config.integrations.len(),
        config.active().count()
    );
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    fn filter(args: &[&str]) -> String {
        let mut all = vec!["credwatch"];
        all.extend_from_slice(args);
        Args::parse_from(all).log_filter()
    }

    #[test]
    fn a_bare_level_keeps_libraries_at_warn_at_most() {
        assert_eq!(filter(&["run"]), "warn,credwatch=info");
        assert_eq!(filter(&["check"]), "error,credwatch=error");
        assert_eq!(
            filter(&["--log-level", "debug", "run"]),
            "warn,credwatch=debug"
        );
        assert_eq!(
            filter(&["--log-level", "TRACE", "check"]),
            "warn,credwatch=trace"
        );
    }

    #[test]
    fn directives_keep_the_aws_sdk_at_info() {
        assert_eq!(
            filter(&["--log-level", "debug,credwatch=trace", "run"]),
            "debug,credwatch=trace,aws=info"
        );
    }
}
