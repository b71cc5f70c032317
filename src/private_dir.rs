//! Where the demo and the simulator write their keys, secrets and config: a directory only the
//! user can enter. By default a new one with a random name in the temporary directory (a fixed
//! name there could be made first by someone else, with links planted in it); a given one must
//! be the user's own and writable by no one else. Files in it are created afresh, never through
//! a link, and readable by the user alone.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A new private directory in the temporary directory, or `given` once it proves private
/// (created private if missing).
pub fn prepare(given: Option<&Path>) -> Result<PathBuf, String> {
    let Some(dir) = given else {
        return new_in(&std::env::temp_dir());
    };
    subdir(dir)?;
    Ok(dir.to_path_buf())
}

/// A new directory `credwatch-demo-XXXXXXXXXXXX` in `parent`, mode 0700.
fn new_in(parent: &Path) -> Result<PathBuf, String> {
    for _ in 0..16 {
        let mut random = [0u8; 6];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| "no randomness for a directory name")?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = parent.join(format!("credwatch-demo-{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot find a free directory name in {}",
        parent.display()
    ))
}

/// `dir` as a private directory: created with mode 0700 if missing (its missing parents too);
/// if it exists, it must be a directory (not a link to one) of this user that no one else may
/// write.
pub fn subdir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let why = if !meta.file_type().is_dir() {
        Some("it is not a directory (a link is not followed)")
    } else if meta.uid() != me {
        Some("it belongs to another user")
    } else if meta.mode() & 0o022 != 0 {
        Some("others may write in it")
    } else {
        None
    };
    match why {
        Some(why) => Err(format!(
            "refusing {}: {why}; give --dir an empty or own private directory, or leave it out for a new one",
            dir.display()
        )),
        None => Ok(()),
    }
}

/// Writes `text` to `path` as a new file of mode 0600: whatever was at `path` (a file, or a link
/// anyone planted) is removed first, and the new file is created exclusively, without
/// following links.
pub fn write(path: &Path, text: &[u8]) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot replace {}: {e}", path.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(text)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn default_directories_are_new_and_private() {
        let parent = tempfile::tempdir().unwrap();
        let (a, b) = (
            new_in(parent.path()).unwrap(),
            new_in(parent.path()).unwrap(),
        );
        assert_ne!(a, b);
        let mode = std::fs::metadata(&a).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn shared_directories_and_links_are_refused() {
        let parent = tempfile::tempdir().unwrap();
        let open = parent.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(subdir(&open).unwrap_err().contains("others may write"));
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(parent.path(), &link).unwrap();
        assert!(subdir(&link).unwrap_err().contains("not a directory"));
        let own = parent.path().join("own").join("deeper");
        subdir(&own).unwrap();
        subdir(&own).unwrap();
        let mode = std::fs::metadata(&own).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn files_replace_planted_links_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir.path().join("key.pem");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write(&planted, b"demo key").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&planted).unwrap(), "demo key");
        let meta = std::fs::symlink_metadata(&planted).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
}
