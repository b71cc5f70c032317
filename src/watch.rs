//! Secret-file watching: when a file behind `{ file = ... }` or `{ credential = ... }` changes
//! (written in place, replaced by a rename, or a symlink swapped as Kubernetes secret volumes
//! do), every integration that reads it is checked again at once. The watcher (inotify through
//! the `notify` crate) watches each file's directory and its link target's directory, because a
//! rename or a swapped link replaces the directory entry rather than the file. Events come in
//! bursts: they are gathered for a moment, then only files whose content really changed wake
//! their integrations (so the state file written beside a secret wakes no one).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::integration::Integration;
use crate::scheduler::Wake;
use crate::secret::SecretFiles;

/// Quiet time that ends a burst of events.
const SETTLE: Duration = Duration::from_millis(150);
/// A burst never delays the re-check longer than this.
const MAX_SETTLE: Duration = Duration::from_millis(800);

/// A running watch; dropping it stops it.
pub struct SecretWatch {
    task: tokio::task::JoinHandle<()>,
    /// The files whose content checks may keep while this watch runs.
    files: Kept,
    /// Where checks keep it.
    cache: SecretFiles,
}

/// The files this watch lets checks keep the content of (see [`crate::secret`]).
type Kept = Arc<std::sync::Mutex<Vec<PathBuf>>>;

impl Drop for SecretWatch {
    fn drop(&mut self) {
        self.task.abort();
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        self.cache.unwatch(&files);
    }
}

/// What is watched: each secret file, who reads it, and a digest of what it held.
struct Files {
    /// File → the integrations that read it (rung by id, see [`Wake`]).
    readers: HashMap<PathBuf, Vec<Arc<Integration>>>,
    /// File → digest of its content (`None`: unreadable).
    digests: HashMap<PathBuf, Option<u64>>,
    /// Directory → the files whose entry or link target lives there.
    by_dir: HashMap<PathBuf, BTreeSet<PathBuf>>,
    /// Directories the system refused to watch.
    unwatched: HashSet<PathBuf>,
    hasher: RandomState,
}

impl Files {
    fn digest(&self, file: &Path) -> Option<u64> {
        std::fs::read(file)
            .ok()
            .map(|bytes| self.hasher.hash_one(bytes))
    }

    /// The directories to watch for `file`: its own, and its link target's.
    fn dirs_of(file: &Path) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(parent) = file.parent() {
            dirs.push(parent.to_path_buf());
        }
        if let Ok(target) = std::fs::canonicalize(file)
            && let Some(parent) = target.parent()
            && !dirs.iter().any(|d| d == parent)
        {
            dirs.push(parent.to_path_buf());
        }
        dirs
    }
}

/// Starts watching the secret files of the active integrations, in `tasks`; `wake` rings an
/// integration's scheduler task. `None` (with a warning logged) when there is nothing to watch or the system
/// refuses a watcher: checks then run on their cadence only.
pub fn spawn(
    integrations: &[Arc<Integration>],
    cache: &SecretFiles,
    wake: Wake,
    shutdown: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Option<SecretWatch> {
    let mut readers: HashMap<PathBuf, Vec<Arc<Integration>>> = HashMap::new();
    for integration in crate::scheduler::scheduled(integrations) {
        for secret in &integration.secrets {
            if let Some(path) = secret.source.path() {
                let reading = readers.entry(path).or_default();
                if !reading.last().is_some_and(|i| Arc::ptr_eq(i, integration)) {
                    reading.push(integration.clone());
                }
            }
        }
    }
    if readers.is_empty() {
        return None;
    }
    let (events_tx, events_rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let changed = cache.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Opening a file to read it changes nothing.
            Ok(event) if event.kind.is_access() => {}
            Ok(event) => {
                // At once, before the burst settles: no check keeps reading what was there.
                changed.changed();
                let _ = events_tx.send(event.paths);
            }
            // Events were lost (a full queue): nothing kept can be trusted.
            Err(_) => changed.changed(),
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!("cannot watch secret files ({e}); changes are seen at the next check");
            return None;
        }
    };
    let mut files = Files {
        readers,
        digests: HashMap::new(),
        by_dir: HashMap::new(),
        unwatched: HashSet::new(),
        hasher: RandomState::new(),
    };
    let paths: Vec<PathBuf> = files.readers.keys().cloned().collect();
    let mut kept = Vec::new();
    for file in paths {
        let digest = files.digest(&file);
        files.digests.insert(file.clone(), digest);
        let mut watched = true;
        for dir in Files::dirs_of(&file) {
            watched &= add_dir(&mut watcher, &mut files, dir, &file);
        }
        if watched {
            kept.push(file);
        }
    }
    // Only files whose every directory is watched: a change elsewhere would go unseen.
    cache.watch(&kept);
    let kept = Arc::new(std::sync::Mutex::new(kept));
    let watching = Watching {
        wake,
        kept: kept.clone(),
        cache: cache.clone(),
    };
    let task = tasks.spawn(run(watcher, files, events_rx, watching, shutdown));
    Some(SecretWatch {
        task,
        files: kept,
        cache: cache.clone(),
    })
}

/// Watches `dir` for `file`; whether it is watched.
fn add_dir(watcher: &mut RecommendedWatcher, files: &mut Files, dir: PathBuf, file: &Path) -> bool {
    let new = !files.by_dir.contains_key(&dir);
    files
        .by_dir
        .entry(dir.clone())
        .or_default()
        .insert(file.to_path_buf());
    if new && let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(
            "cannot watch {} for secret changes ({e}); changes there are seen at the next check",
            dir.display()
        );
        files.unwatched.insert(dir.clone());
    }
    !files.unwatched.contains(&dir)
}

/// Whom a watch tells of a change: the schedule, and the checks' cache of the files it keeps.
struct Watching {
    wake: Wake,
    kept: Kept,
    cache: SecretFiles,
}

async fn run(
    mut watcher: RecommendedWatcher,
    mut files: Files,
    mut events: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    watching: Watching,
    shutdown: CancellationToken,
) {
    let Watching { wake, kept, cache } = watching;
    loop {
        let mut touched = BTreeSet::new();
        tokio::select! {
            paths = events.recv() => match paths {
                Some(paths) => touched.extend(paths),
                None => return,
            },
            _ = shutdown.cancelled() => return,
        }
        // Gather the rest of the burst.
        let deadline = tokio::time::Instant::now() + MAX_SETTLE;
        loop {
            let quiet = tokio::time::sleep(SETTLE);
            tokio::select! {
                paths = events.recv() => match paths {
                    Some(paths) => touched.extend(paths),
                    None => return,
                },
                _ = quiet => break,
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut candidates = BTreeSet::new();
        for path in &touched {
            for dir in [Some(path.as_path()), path.parent()].into_iter().flatten() {
                if let Some(in_dir) = files.by_dir.get(dir) {
                    candidates.extend(in_dir.iter().cloned());
                }
            }
        }
        let mut woken = BTreeSet::new();
        for file in candidates {
            let digest = files.digest(&file);
            if files.digests.get(&file) == Some(&digest) {
                continue;
            }
            files.digests.insert(file.clone(), digest);
            // A swapped link may now point into a directory not yet watched.
            for dir in Files::dirs_of(&file) {
                if !add_dir(&mut watcher, &mut files, dir, &file) {
                    // Its new directory is not watched: read it at every check from now on.
                    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(at) = kept.iter().position(|f| *f == file) {
                        cache.unwatch(&[kept.swap_remove(at)]);
                    }
                }
            }
            tracing::info!(file = %file.display(), "secret file changed");
            if let Some(readers) = files.readers.get(&file) {
                woken.extend(readers.iter().map(|i| i.id.clone()));
            }
        }
        for id in woken {
            wake.ring(&id);
        }
    }
}
