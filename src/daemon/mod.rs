//! The daemon: serves HTTP, runs the scheduler, reloads the config on SIGHUP or `POST /-/reload`
//! (a bad config keeps the running one and flips `credwatch_config_last_reload_successful` to 0;
//! requests that arrive during a reload are merged into one more), and on SIGTERM or SIGINT lets
//! the checks in flight finish, saves state and stops. Every task it starts (the server, the
//! schedules, scheduled and forced checks, org view reads, the secret-file watchers, the state
//! saver, the watchdog) runs in one [`TaskTracker`], so that shutdown knows what is still
//! running and waits for it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod diff;
mod observer;
mod saver;

use diff::ConfigDiff;
use saver::save_periodically;

use crate::checker::Checker;
use crate::config::Config;
use crate::guard::FingerprintKey;
use crate::integration::Integration;
use crate::metrics::Metrics;
use crate::notify;
use crate::orgview::{self, Views};
use crate::scheduler;
use crate::secret::SecretFiles;
use crate::server::{self, AppState, Hosts, ReloadRequest, Users};
use crate::state::State;
use crate::watch::{self, SecretWatch};

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot serve HTTPS: {0}")]
    Tls(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Where check results go, shared by the scheduler, the API and reloads.
#[derive(Clone)]
struct Services {
    state: Arc<State>,
    metrics: Arc<Metrics>,
    checker: Arc<Checker>,
    /// The scheduler's proof of life, for the systemd watchdog.
    pulse: Arc<AtomicU64>,
    /// The org views' last reports.
    views: Arc<Views>,
    /// The one owner of every task the daemon starts.
    tasks: TaskTracker,
    /// The secret files the watcher watches, as checks read them.
    secret_files: SecretFiles,
}

/// The config being checked, the signal that stops its schedule and org views, and the watch
/// on its secret files. Its tasks run in [`Services::tasks`].
struct Running {
    config: Config,
    stop: CancellationToken,
    _watch: Option<SecretWatch>,
}

impl Running {
    /// Schedules the config's integrations; those in `changed` are checked soon.
    fn start(config: Config, services: &Services, changed: &HashSet<String>) -> Self {
        let stop = CancellationToken::new();
        let permits = services
            .checker
            .set_limits(config.defaults.concurrency, config.defaults.force_cooldown);
        let wake = scheduler::spawn(
            &config.integrations,
            permits,
            services.checker.clone(),
            services.pulse.clone(),
            stop.clone(),
            changed,
            &services.tasks,
        );
        let watch = watch::spawn(
            &config.integrations,
            &services.secret_files,
            wake,
            stop.clone(),
            &services.tasks,
        );
        let observe: Arc<dyn orgview::Observe> = Arc::new(observer::ViewObserver {
            metrics: services.metrics.clone(),
            state: services.state.clone(),
        });
        orgview::spawn(&config, &services.views, &observe, &stop, &services.tasks);
        Self {
            config,
            stop,
            _watch: watch,
        }
    }

    /// No new checks or org view reads. Those in flight finish in their tasks and are recorded
    /// (see [`Checker`]); an org view's read in flight revokes its token and records nothing.
    /// A reload is not held up by a hanging provider; shutdown waits for them all.
    fn stop(&self) {
        self.stop.cancel();
    }
}

/// The longest shutdown waits for the tasks in flight: every check and read is bounded by its
/// own timeout, so this only bounds a bug.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(120);

/// Runs until SIGTERM or SIGINT. `config_path` is read again on reload; `listen` overrides
/// `[server] listen`.
pub async fn run(
    config: Config,
    config_path: PathBuf,
    listen: Option<SocketAddr>,
) -> Result<(), DaemonError> {
    let addr = listen.unwrap_or(config.server.listen);
    let services = Services::new(&config);
    let (state, tasks) = (services.state.clone(), services.tasks.clone());
    let tls = match &config.server.tls {
        None => None,
        Some(tls) => Some(server::acceptor(tls).map_err(DaemonError::Tls)?),
    };
    let (listener, bound) = bind(addr).await?;
    let mut signals = Signals::install()?;
    // Room for a request from every connection the server holds: none waits to be merged.
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(crate::listen::MAX_CONNECTIONS);
    let app = services.app_state(&config, bound, reload_tx);
    let (integrations, users, hosts) = (
        app.integrations.clone(),
        app.users.clone(),
        app.hosts.clone(),
    );
    let shutdown = CancellationToken::new();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = tasks.spawn(server::serve(listener, app, tls, shutdown.clone()));
    tasks.spawn(save_periodically(state.clone(), shutdown.clone()));
    tracing::info!(
        config = %config.path,
        integrations = config.integrations.len(),
        active = config.active().count(),
        "credwatch {} listening on {scheme}://{bound}",
        env!("CARGO_PKG_VERSION")
    );
    let mut running = Running::start(config, &services, &HashSet::new());
    release_free_memory();
    let status = {
        let (state, integrations) = (state.clone(), integrations.clone());
        move || status_line(&state, &integrations)
    };
    notify::ready(&status());
    tasks.spawn(notify::watchdog(
        services.pulse.clone(),
        status.clone(),
        shutdown.clone(),
    ));
    let reloader = Reloader {
        path: config_path,
        listen_overridden: listen.is_some(),
        services: services.clone(),
        integrations,
        users,
        hosts,
    };

    reloader
        .until_stopped(&mut signals, &mut reload_rx, &mut running, &status)
        .await;

    tracing::info!("shutting down: no new checks; waiting for the ones in flight");
    notify::stopping();
    shutdown.cancel();
    running.stop();
    drop(running);
    wait_for(&tasks).await;
    if let Err(e) = state.save() {
        tracing::warn!("cannot save state: {e}");
    }
    match server.await {
        Ok(result) => result.map_err(DaemonError::Serve)?,
        Err(e) => tracing::warn!("HTTP server task ended abnormally: {e}"),
    }
    tracing::info!("stopped");
    Ok(())
}

impl Services {
    /// What the HTTP server reads and asks of the daemon, for the listener at `bound`.
    fn app_state(
        &self,
        config: &Config,
        bound: SocketAddr,
        reload: mpsc::Sender<ReloadRequest>,
    ) -> AppState {
        let users = Arc::new(Users::new(config.server.users.clone()));
        if let Some(why) = server::posts_refused(bound, &users) {
            tracing::warn!("{why}");
        }
        AppState {
            metrics: self.metrics.clone(),
            genesys: self.views.clone(),
            state: self.state.clone(),
            checker: self.checker.clone(),
            integrations: Arc::new(RwLock::new(config.integrations.clone())),
            reload,
            users,
            hosts: Arc::new(Hosts::new(bound, config.server.names.clone())),
            bound,
        }
    }

    /// The state restored from the last run, fresh metrics of `config`, and the checker that
    /// records into both, with the lockout guard's fingerprint key.
    fn new(config: &Config) -> Self {
        let state = restore_state(config);
        let (key, warning) = FingerprintKey::load(&config.defaults.state_dir, true);
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        let metrics = Arc::new(Metrics::new(state.clone()));
        metrics.set_config(config);
        let tasks = TaskTracker::new();
        let secret_files = SecretFiles::default();
        let checker = Checker::new(
            state.clone(),
            metrics.clone(),
            key,
            tasks.clone(),
            secret_files.clone(),
        );
        Self {
            state,
            metrics,
            checker,
            pulse: Arc::default(),
            views: Arc::default(),
            tasks,
            secret_files,
        }
    }
}

/// The state from the last run, its records following renamed integrations and without those
/// of integrations no longer configured.
fn restore_state(config: &Config) -> Arc<State> {
    let state = Arc::new(State::load(
        &config.defaults.state_dir,
        &config.orgs[0].name,
    ));
    state.rename(&config.former_ids());
    let ids: HashSet<&str> = config.integrations.iter().map(|i| i.id.as_str()).collect();
    state.retain(|id| ids.contains(id));
    state
}

/// A listener on `addr`, and the address it got (`addr` may ask for port 0).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), DaemonError> {
    let listen_error = |source| DaemonError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    Ok((listener, bound))
}

/// Closes the task tracker and waits for the tasks in flight, at most [`SHUTDOWN_WAIT`].
async fn wait_for(tasks: &TaskTracker) {
    tasks.close();
    if tokio::time::timeout(SHUTDOWN_WAIT, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} tasks still running after {}; saving state without them",
            tasks.len(),
            humantime::format_duration(SHUTDOWN_WAIT)
        );
    }
}

/// What the daemon acts on between start and stop.
enum Event {
    /// SIGHUP: reload.
    Hangup,
    /// `POST /-/reload` requests, answered by one reload.
    Requests(Vec<ReloadRequest>),
}

/// The signals the daemon handles.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, DaemonError> {
        let handler = |kind| signal(kind).map_err(DaemonError::Signals);
        Ok(Self {
            terminate: handler(SignalKind::terminate())?,
            interrupt: handler(SignalKind::interrupt())?,
            hangup: handler(SignalKind::hangup())?,
        })
    }

    /// The next event, or `None` on SIGTERM or SIGINT. Every reload request waiting when one
    /// arrives is answered by the same reload; those that arrive while it runs wait for the next.
    async fn next(&mut self, requests: &mut mpsc::Receiver<ReloadRequest>) -> Option<Event> {
        tokio::select! {
            _ = self.terminate.recv() => None,
            _ = self.interrupt.recv() => None,
            _ = self.hangup.recv() => Some(Event::Hangup),
            Some(first) = requests.recv() => {
                let mut answers = vec![first];
                while let Ok(more) = requests.try_recv() {
                    answers.push(more);
                }
                Some(Event::Requests(answers))
            }
        }
    }
}

/// Hands memory freed after loading a config (and dropping the one before) back to the system. Reading a large config leaves
/// the allocator holding megabytes of freed parse trees between the objects that stay, which
/// it would otherwise keep (and count in the RSS) for as long as the process runs.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only returns free pages of glibc's heaps to the
    // system; it is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The `STATUS=` line: how many integrations, and how they fare.
fn status_line(state: &State, integrations: &RwLock<Vec<Arc<Integration>>>) -> String {
    let integrations = integrations.read().unwrap_or_else(|p| p.into_inner());
    server::model::Summary::count(state, &integrations).line()
}

/// What a reload needs besides the running config.
struct Reloader {
    path: PathBuf,
    listen_overridden: bool,
    services: Services,
    integrations: Arc<RwLock<Vec<Arc<Integration>>>>,
    users: Arc<Users>,
    hosts: Arc<Hosts>,
}

impl Reloader {
    /// Reloads on SIGHUP and on reload requests until SIGTERM or SIGINT, telling systemd of
    /// each reload and the `status` after it.
    async fn until_stopped(
        &self,
        signals: &mut Signals,
        requests: &mut mpsc::Receiver<ReloadRequest>,
        running: &mut Running,
        status: &dyn Fn() -> String,
    ) {
        while let Some(event) = signals.next(requests).await {
            match event {
                Event::Hangup => {
                    tracing::info!("SIGHUP: reloading {}", self.path.display());
                    notify::reloading();
                    let _ = self.reload(running).await;
                }
                Event::Requests(answers) => {
                    tracing::info!(requests = answers.len(), "reload requested over HTTP");
                    notify::reloading();
                    let result = self.reload(running).await;
                    for answer in answers {
                        let _ = answer.send(result.clone());
                    }
                }
            }
            notify::ready(&status());
        }
    }

    /// Loads the config again and, if it is valid, checks it instead of the running one.
    async fn reload(&self, running: &mut Running) -> Result<(), String> {
        // On the blocking pool: a config of tens of thousands of integrations takes a moment
        // to read, and checks go on meanwhile.
        let path = self.path.clone();
        let loaded = match tokio::task::spawn_blocking(move || Config::load(&path)).await {
            Ok(loaded) => loaded.map_err(|e| e.to_string()),
            Err(e) => Err(format!("reading the config failed: {e}")),
        };
        let new = match loaded {
            Ok(config) => config,
            Err(e) => {
                tracing::error!("reload failed; keeping the running config: {e}");
                self.services.metrics.reload_failed();
                return Err(e);
            }
        };
        for warning in &new.warnings {
            tracing::warn!("{warning}");
        }
        self.warn_about_changes(&running.config, &new);
        running.stop();
        let diff = ConfigDiff::between(&running.config, &new);
        for gone in &diff.unchecked {
            self.services.metrics.forget(gone);
        }
        self.services.state.retain(|id| diff.ids.contains(id));
        for org in &diff.views_gone {
            self.services.metrics.forget_view(org);
            // No view any more: nothing it found fails a check ahead of the login.
            self.services.state.clear_ahead(org);
        }
        let keep_canary = |org: &str, action: &str| diff.canaries.contains(&(org, action));
        self.services
            .views
            .retain(|org| diff.viewed.contains(org), keep_canary);
        self.services.metrics.retain_canaries(keep_canary);
        self.services.metrics.set_config(&new);
        self.users.replace(new.server.users.clone());
        self.hosts.replace(new.server.names.clone());
        *self.integrations.write().unwrap_or_else(|p| p.into_inner()) = new.integrations.clone();
        tracing::info!(
            integrations = new.integrations.len(),
            active = new.active().count(),
            "config reloaded"
        );
        let changed: HashSet<String> = diff.changed.iter().map(|id| id.to_string()).collect();
        drop(diff);
        *running = Running::start(new, &self.services, &changed);
        release_free_memory();
        Ok(())
    }

    fn warn_about_changes(&self, old: &Config, new: &Config) {
        let before: HashMap<&str, &Arc<Integration>> = old
            .integrations
            .iter()
            .map(|i| (i.id.as_str(), i))
            .collect();
        for integration in &new.integrations {
            let Some(before) = before.get(integration.id.as_str()) else {
                continue;
            };
            let (was, is) = (
                before.verifier.credential_type(),
                integration.verifier.credential_type(),
            );
            if before.kind.key == integration.kind.key && was != is {
                tracing::warn!(
                    org = %integration.org,
                    integration = %integration.name,
                    "credential type changed from {was} to {is}; in Genesys Cloud this breaks every action that uses the integration"
                );
            }
        }
        if new.server.listen != old.server.listen && !self.listen_overridden {
            tracing::warn!(
                "server.listen changed to {}; restart credwatch to move the listener",
                new.server.listen
            );
        }
        if new.server.tls.is_some() != old.server.tls.is_some() {
            tracing::warn!("server.tls changed; HTTPS settings apply after a restart");
        }
        if new.defaults.state_dir != old.defaults.state_dir {
            tracing::warn!("defaults.state_dir changed; the new one is used after a restart");
        }
    }
}
