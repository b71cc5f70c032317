//! The state file on disk: `state_dir/state.json`, replaced atomically (write a temporary file,
//! fsync it, rename it over the old one, fsync the directory) so that a crash at any moment
//! leaves either the old or the new file, never a torn one. A file that cannot be read as
//! credwatch's state (corrupt, truncated, someone else's) is renamed aside with a warning:
//! the daemon never refuses to start because of its state.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;

use super::{Inner, Record, Records};

/// The state file's name inside `state_dir`.
pub const STATE_FILE: &str = "state.json";

/// The value of the file's `format` key: what tells credwatch's state from a foreign file.
const FORMAT: &str = "credwatch-state";
/// The current version of the layout: 2 keys integrations by `ORG/NAME`; 1 keyed them by name.
const VERSION: u32 = 2;

/// The file's layout, as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    /// Checked on the raw value first, to tell a foreign file.
    #[serde(rename = "format")]
    _format: String,
    version: u32,
    /// `ORG/NAME` → what credwatch remembers of it.
    integrations: Records,
}

/// How many records one lock of the state encodes before letting checks record again.
const SLICE: usize = 256;

/// Writes the file's layout (compact JSON) to `out`, taking the records from the state a
/// slice at a time: with tens of thousands of integrations, encoding them all under one lock
/// would keep checks waiting.
pub(super) fn encode(inner: &Mutex<Inner>, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(&header())?;
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut after: Option<String> = None;
    let mut first = true;
    loop {
        buffer.clear();
        let last = {
            let inner = inner.lock().unwrap_or_else(|p| p.into_inner());
            let records = &inner.records;
            let range = match &after {
                None => records.range::<String, _>(..),
                Some(key) => records.range::<String, _>((
                    std::ops::Bound::Excluded(key.clone()),
                    std::ops::Bound::Unbounded,
                )),
            };
            let mut last = None;
            for (key, record) in range.take(SLICE) {
                if !std::mem::take(&mut first) {
                    buffer.push(b',');
                }
                serde_json::to_writer(&mut buffer, key)?;
                buffer.push(b':');
                serde_json::to_writer(&mut buffer, record)?;
                last = Some(key);
            }
            last.cloned()
        };
        out.write_all(&buffer)?;
        match last {
            Some(key) => after = Some(key),
            None => break,
        }
    }
    out.write_all(FOOTER)
}

/// The file's layout up to the first record: `{"format":…,"version":…,"integrations":{`.
fn header() -> Vec<u8> {
    let mut head = serde_json::to_vec(&serde_json::json!({"format": FORMAT, "version": VERSION}))
        .expect("two plain fields encode");
    head.pop(); // the object stays open for the records
    head.extend_from_slice(br#","integrations":{"#);
    head
}

/// What closes the records and the file.
const FOOTER: &[u8] = b"}}\n";

/// The layout of credwatch 0.1's first releases: last successes only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Legacy {
    last_success: BTreeMap<String, f64>,
}

/// What loading found.
pub(crate) struct Loaded {
    pub(crate) integrations: Records,
    /// Something an operator should hear about (a file moved aside, an unreadable file).
    pub(crate) warning: Option<String>,
    /// The file exists but could not be read (permissions): what it holds is unknown.
    pub(crate) unreadable: bool,
}

/// Reads the state file. Missing: a fresh start. Not credwatch's state: moved aside to
/// `state.json.corrupt-<unix time>` and a fresh start. Records of earlier layouts, keyed by
/// name alone, belong to `main_org` (the main file's org).
pub(crate) fn load(file: &Path, main_org: &str) -> Loaded {
    remove_orphaned_temporaries(file);
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fresh(None),
        Err(e) => {
            return Loaded {
                unreadable: true,
                ..fresh(Some(format!(
                    "cannot read state file {}: {e}; starting without it",
                    file.display()
                )))
            };
        }
    };
    match parse(&bytes, main_org) {
        Ok(integrations) => Loaded {
            integrations,
            warning: None,
            unreadable: false,
        },
        Err(problem) => {
            let aside = aside_name(file);
            let warning = match std::fs::rename(file, &aside) {
                Ok(()) => format!(
                    "state file {} is not credwatch state ({problem}); moved it to {} and started afresh",
                    file.display(),
                    aside.display()
                ),
                Err(e) => format!(
                    "state file {} is not credwatch state ({problem}) and cannot be moved aside ({e}); it will be replaced",
                    file.display()
                ),
            };
            fresh(Some(warning))
        }
    }
}

/// Removes the temporary files of writers that died before their rename (a crash, SIGKILL).
fn remove_orphaned_temporaries(file: &Path) {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return;
    };
    let prefix = format!("{}.tmp.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let entry_name = entry.file_name();
        let Some(pid) = entry_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn fresh(warning: Option<String>) -> Loaded {
    Loaded {
        integrations: BTreeMap::new(),
        warning,
        unreadable: false,
    }
}

fn parse(bytes: &[u8], main_org: &str) -> Result<Records, String> {
    // The current layout straight into records: a large file never becomes a JSON tree.
    if let Ok(stored) = serde_json::from_slice::<Stored>(bytes)
        && stored._format == FORMAT
        && stored.version == VERSION
    {
        return Ok(stored.integrations);
    }
    let in_main_org = |name: String| format!("{main_org}/{name}");
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("format").is_none()
        && let Ok(legacy) = serde_json::from_value::<Legacy>(value.clone())
    {
        return Ok(legacy
            .last_success
            .into_iter()
            .map(|(name, seconds)| {
                let record = Record {
                    last_success: Some(seconds),
                    ..Record::default()
                };
                (in_main_org(name), Box::new(record))
            })
            .collect());
    }
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(format!("no \"format\": \"{FORMAT}\""));
    }
    let stored: Stored = serde_json::from_value(value).map_err(|e| e.to_string())?;
    match stored.version {
        VERSION => Ok(stored.integrations),
        1 => Ok(stored
            .integrations
            .into_iter()
            .map(|(name, record)| (in_main_org(name), record))
            .collect()),
        other => Err(format!(
            "version {other} (this credwatch reads 1 and {VERSION})"
        )),
    }
}

fn aside_name(file: &Path) -> PathBuf {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".corrupt-{seconds}"));
    PathBuf::from(name)
}

/// Replaces `file` with what `write` writes, so that a crash leaves the old or the new
/// content. Returns the new file's size.
pub(crate) fn write_atomically(
    file: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // Per process: `credwatch check` may save while the daemon does.
    let mut tmp_name = file.as_os_str().to_owned();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let size;
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Messages and fingerprints are no secrets, but they are nobody else's business.
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut buffered = std::io::BufWriter::with_capacity(256 * 1024, out);
        write(&mut buffered)?;
        let out = buffered.into_inner().map_err(|e| e.into_error())?;
        out.sync_all()?;
        size = out.metadata()?.len();
    }
    std::fs::rename(&tmp, file)?;
    // The rename itself is only durable once the directory is.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let mut integrations = BTreeMap::new();
        integrations.insert(
            "a".to_string(),
            Box::new(Record {
                last_success: Some(5.0),
                ..Record::default()
            }),
        );
        let view = super::super::ViewMemory {
            executions_until: Some(7.0),
            canaries: vec![super::super::CanaryRun {
                action: "custom_-_a".into(),
                definition: "0123456789abcdef".into(),
                integration: "Orders API".into(),
                finished: 9.5,
                duration_seconds: 0.25,
                result: "invalid_credentials".into(),
                step: Some("Execute".into()),
                message: Some("refused".into()),
            }],
        };
        integrations.insert(
            "b".to_string(),
            Box::new(Record {
                view: Some(Box::new(view.clone())),
                ..Record::default()
            }),
        );
        let inner = Mutex::new(Inner {
            records: integrations,
            ..Inner::default()
        });
        write_atomically(&file, |out| encode(&inner, out)).unwrap();
        let loaded = load(&file, "default");
        assert!(loaded.warning.is_none());
        assert_eq!(loaded.integrations["a"].last_success, Some(5.0));
        assert_eq!(loaded.integrations["a"].view, None);
        assert_eq!(loaded.integrations["b"].view.as_deref(), Some(&view));
    }

    #[test]
    fn the_first_layout_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        std::fs::write(&file, r#"{"last_success": {"Zendesk": 12.5}}"#).unwrap();
        let loaded = load(&file, "prod");
        assert!(loaded.warning.is_none());
        assert_eq!(loaded.integrations["prod/Zendesk"].last_success, Some(12.5));
        std::fs::write(
            &file,
            r#"{"format": "credwatch-state", "version": 1, "integrations": {"Zendesk": {"last_success": 3.0}}}"#,
        )
        .unwrap();
        let loaded = load(&file, "default");
        assert_eq!(
            loaded.integrations["default/Zendesk"].last_success,
            Some(3.0)
        );
    }

    /// A record with fields a newer release added is read for what this one knows: its
    /// guard and results stay.
    #[test]
    fn fields_a_newer_release_added_are_dropped_not_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let text = r#"{"format":"credwatch-state","version":2,"integrations":{"acme/A":{"type":"salesforce","last_success":5.0,"token_expiry":null,"guard":{"reason":"invalid_credentials","message":"no","since":1.0,"fingerprint":"k:f","later":1},"history":[{"time":6.0,"duration_seconds":0.5,"result":"invalid_credentials","message":"no","later":2}],"canaries":[{"action":"a","definition":"d","finished":7.0,"duration_seconds":1.0,"result":"success","later":3}],"later":4}}}"#;
        std::fs::write(&file, text).unwrap();
        let loaded = load(&file, "default");
        assert!(loaded.warning.is_none(), "{:?}", loaded.warning);
        let record = &loaded.integrations["acme/A"];
        assert_eq!(record.last_success, Some(5.0));
        assert!(record.guard.is_some());
        assert_eq!(record.history.len(), 1);
        assert_eq!(record.view.as_ref().unwrap().canaries.len(), 1);
    }

    #[test]
    fn foreign_truncated_and_garbage_files_are_moved_aside() {
        for content in [
            &b"{\"format\": \"credwatch-state\", \"version\": 1, \"integr"[..],
            b"{\"hello\": \"world\"}",
            b"\x00\x01\x02",
            b"{\"format\": \"credwatch-state\", \"version\": 99, \"integrations\": {}}",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(STATE_FILE);
            std::fs::write(&file, content).unwrap();
            let loaded = load(&file, "default");
            assert!(loaded.integrations.is_empty());
            assert!(loaded.warning.unwrap().contains("moved it to"));
            assert!(!file.exists());
            let aside: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(aside.len(), 1);
            assert!(aside[0].starts_with("state.json.corrupt-"), "{aside:?}");
        }
    }
}
