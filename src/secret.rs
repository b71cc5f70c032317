//! Secrets and secret references. A `Secret` never shows its value through `Debug` or `Display`;
//! a `SecretRef` says where a secret lives and is resolved afresh at every check, so rotating a
//! file takes effect without a reload. The daemon's [`SecretFiles`] (handed to the watcher,
//! `crate::watch`, and to every check) keeps a watched file's content from one read to the
//! next change the watcher sees; a file nobody watches is read at every check.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

/// What `Debug` and `Display` print in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// A secret value. The only way to read it is [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value, for putting on the wire. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

/// Where a secret lives: the four forms a secret field accepts in the config.
#[derive(Clone, PartialEq)]
pub enum SecretRef {
    /// `"value"` written in the config (allowed, warned about).
    Literal(Secret),
    /// `{ file = "/path" }`: the file's content, one trailing newline removed.
    File(Arc<Path>),
    /// `{ env = "VAR" }`: an environment variable of the credwatch process.
    Env(String),
    /// `{ credential = "name" }`: systemd `LoadCredential=`, `$CREDENTIALS_DIRECTORY/name`.
    Credential(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A secret reference could not be read. Messages name where, never what.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    #[error(
        "credential {0:?} needs $CREDENTIALS_DIRECTORY (set by systemd LoadCredential=), which is not set"
    )]
    NoCredentialsDirectory(String),
    #[error("secret from {0} is not valid UTF-8")]
    NotUnicode(String),
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl SecretRef {
    /// A description of the source that names it without revealing a value.
    pub fn describe(&self) -> String {
        match self {
            Self::Literal(_) => "a literal in the config".to_string(),
            Self::File(path) => format!("file {}", path.display()),
            Self::Env(var) => format!("environment variable {var}"),
            Self::Credential(name) => format!("systemd credential {name:?}"),
        }
    }

    /// The file the secret is read from, if it lives in one (for watching it).
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Self::File(path) => Some(path.to_path_buf()),
            Self::Credential(name) => {
                std::env::var_os("CREDENTIALS_DIRECTORY").map(|dir| PathBuf::from(dir).join(name))
            }
            Self::Literal(_) | Self::Env(_) => None,
        }
    }

    /// Reads the secret now.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        self.resolve_reading(read_from_disk)
    }

    /// Reads the secret now, a watched file's content from `files` while it is unchanged.
    pub fn resolve_with(&self, files: &SecretFiles) -> Result<Secret, SecretError> {
        self.resolve_reading(|path| files.read(path))
    }

    /// Reads the secret now, a file (or a systemd credential) with `read`.
    fn resolve_reading(
        &self,
        read: impl Fn(&Path) -> Result<String, SecretError>,
    ) -> Result<Secret, SecretError> {
        let value = match self {
            Self::Literal(secret) => secret.expose().to_string(),
            Self::File(path) => read(path)?,
            Self::Env(var) => match std::env::var(var) {
                Ok(value) => value,
                Err(std::env::VarError::NotPresent) => {
                    return Err(SecretError::EnvMissing(var.clone()));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(SecretError::EnvNotUnicode(var.clone()));
                }
            },
            Self::Credential(name) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                    .ok_or_else(|| SecretError::NoCredentialsDirectory(name.clone()))?;
                read(&PathBuf::from(dir).join(name))?
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.describe()));
        }
        Ok(Secret::new(value))
    }
}

/// A watched secret file: how many watchers watch it, and its content since the last change.
struct Watched {
    watchers: usize,
    content: Option<Secret>,
}

/// The watched files, and a count of the changes seen (a read that began before a change must
/// not keep what it read).
#[derive(Default)]
struct WatchedFiles {
    files: HashMap<PathBuf, Watched>,
    changes: u64,
}

/// The secret files the watcher watches, with their content since its last change: shared by
/// the watcher (which says what is watched and what changed) and the checks (which read
/// through it). A fresh one watches nothing, so every read goes to the disk.
#[derive(Clone, Default)]
pub struct SecretFiles(Arc<Mutex<WatchedFiles>>);

impl SecretFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, WatchedFiles> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A watcher now watches `paths`: their content may be kept between checks.
    pub(crate) fn watch(&self, paths: &[PathBuf]) {
        let mut watched = self.lock();
        for path in paths {
            watched
                .files
                .entry(path.clone())
                .or_insert(Watched {
                    watchers: 0,
                    content: None,
                })
                .watchers += 1;
        }
    }

    /// A watcher of `paths` stopped: unless another watches them, they are read at every check.
    pub(crate) fn unwatch(&self, paths: &[PathBuf]) {
        let mut watched = self.lock();
        for path in paths {
            if let Some(file) = watched.files.get_mut(path) {
                file.watchers -= 1;
                if file.watchers == 0 {
                    watched.files.remove(path);
                }
            }
        }
    }

    /// The watcher saw something change (or lost track): every watched file is read afresh.
    pub(crate) fn changed(&self) {
        let mut watched = self.lock();
        watched.changes += 1;
        for file in watched.files.values_mut() {
            file.content = None;
        }
    }

    /// A secret file's content: kept from an earlier read while the file is watched and
    /// unchanged.
    fn read(&self, path: &Path) -> Result<String, SecretError> {
        let changes = {
            let watched = self.lock();
            match watched.files.get(path) {
                Some(Watched {
                    content: Some(content),
                    ..
                }) => return Ok(content.expose().to_string()),
                Some(_) => Some(watched.changes),
                None => None,
            }
        };
        let text = read_from_disk(path)?;
        if let Some(changes) = changes {
            let mut watched = self.lock();
            if watched.changes == changes
                && let Some(file) = watched.files.get_mut(path)
            {
                file.content = Some(Secret::new(text.clone()));
            }
        }
        Ok(text)
    }
}

fn read_from_disk(path: &Path) -> Result<String, SecretError> {
    let bytes = std::fs::read(path).map_err(|source| SecretError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let mut text = String::from_utf8(bytes)
        .map_err(|_| SecretError::NotUnicode(format!("file {}", path.display())))?;
    // `echo secret > file` leaves one newline; it is never part of the secret.
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Secret fields read once for a whole check, by field name: what the lockout guard
/// fingerprints is then exactly what the check sends. An error is the reference's message.
pub type Resolved = Vec<(Arc<str>, Result<Secret, String>)>;

/// Reads every field now, watched files through `files`.
pub fn resolve_all(fields: &[SecretField], files: &SecretFiles) -> Resolved {
    fields
        .iter()
        .map(|f| {
            (
                f.field.clone(),
                f.source.resolve_with(files).map_err(|e| e.to_string()),
            )
        })
        .collect()
}

/// A secret field of an integration: its name in the config (`credentials.api_token`) and where
/// its value lives.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretField {
    /// The dotted config path, e.g. `credentials.api_token`.
    pub field: Arc<str>,
    /// Where the value lives.
    pub source: SecretRef,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        let literal = SecretRef::Literal(secret);
        assert!(!format!("{literal:?}").contains("hunter2"));
    }

    #[test]
    fn file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "  value \n\n").unwrap();
        let secret = SecretRef::File(path.into()).resolve().unwrap();
        assert_eq!(secret.expose(), "  value \n");
    }

    #[test]
    fn watched_files_are_read_again_only_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let (watched, unwatched) = (dir.path().join("w"), dir.path().join("u"));
        let files = SecretFiles::default();
        let read = |path: &PathBuf| {
            SecretRef::File(path.as_path().into())
                .resolve_with(&files)
                .unwrap()
        };
        std::fs::write(&watched, "one").unwrap();
        std::fs::write(&unwatched, "one").unwrap();
        files.watch(std::slice::from_ref(&watched));
        assert_eq!(read(&watched).expose(), "one");
        assert_eq!(read(&unwatched).expose(), "one");
        std::fs::write(&watched, "two").unwrap();
        std::fs::write(&unwatched, "two").unwrap();
        // The watcher has not reported the change yet: the kept content stands.
        assert_eq!(read(&watched).expose(), "one");
        assert_eq!(read(&unwatched).expose(), "two");
        files.changed();
        assert_eq!(read(&watched).expose(), "two");
        // What one handle keeps, another (a `credwatch check`, a test's) does not see.
        std::fs::write(&watched, "three").unwrap();
        assert_eq!(read(&watched).expose(), "two");
        let fresh = SecretRef::File(watched.as_path().into()).resolve().unwrap();
        assert_eq!(fresh.expose(), "three");
        // Nobody watches it any more: read at every check.
        files.unwatch(std::slice::from_ref(&watched));
        std::fs::write(&watched, "four").unwrap();
        assert_eq!(read(&watched).expose(), "four");
    }
}
