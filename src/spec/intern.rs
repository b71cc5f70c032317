//! One copy of each URL, secret file path and field name the config names. Tens of thousands
//! of integrations mostly share a few dozen endpoints (every Google integration's token URL, an
//! org's Zendesk) and secret files, and a parsed URL alone costs well over a hundred bytes:
//! integrations hold shared pointers instead. An [`Interner`] lives for one load of the config
//! (every file of it shares one); entries whose value was dropped are swept as a table grows.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use url::Url;

/// A URL shared by every integration that names it.
pub type SharedUrl = Arc<Url>;

/// Live values by key.
struct Table<K, T: ?Sized> {
    by_key: HashMap<K, Weak<T>>,
    /// Entries at the last sweep: the next one comes when the table has doubled.
    swept_at: usize,
}

impl<K, T: ?Sized> Default for Table<K, T> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            swept_at: 0,
        }
    }
}

fn intern<K, Q, T>(
    table: &Mutex<Table<K, T>>,
    key: &Q,
    make: impl FnOnce() -> (K, Arc<T>),
) -> Arc<T>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
    T: ?Sized,
{
    let mut table = table.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = table.by_key.get(key).and_then(Weak::upgrade) {
        return existing;
    }
    if table.by_key.len() >= 2 * table.swept_at.max(64) {
        table.by_key.retain(|_, value| value.strong_count() > 0);
        table.swept_at = table.by_key.len();
    }
    let (key, value) = make();
    table.by_key.insert(key, Arc::downgrade(&value));
    value
}

/// The tables of one load of the config; clones share them.
#[derive(Clone, Default)]
pub struct Interner(Arc<Tables>);

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interner")
    }
}

#[derive(Default)]
struct Tables {
    urls: Mutex<Table<String, Url>>,
    paths: Mutex<Table<PathBuf, Path>>,
    texts: Mutex<Table<String, str>>,
}

impl Interner {
    /// The shared copy of `url`.
    pub fn url(&self, url: Url) -> SharedUrl {
        let key = url.as_str().to_string();
        intern(&self.0.urls, &key.clone(), || (key, Arc::new(url)))
    }

    /// The shared copy of a path.
    pub fn path(&self, path: &Path) -> Arc<Path> {
        intern(&self.0.paths, path, || {
            (path.to_path_buf(), Arc::from(path))
        })
    }

    /// The shared copy of a short text (a field name).
    pub fn text(&self, text: &str) -> Arc<str> {
        intern(&self.0.texts, text, || (text.to_string(), Arc::from(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_are_one_copy_until_dropped() {
        let interner = Interner::default();
        let shared = |url| interner.url(url);
        let path = |p| interner.path(p);
        let text = |t| interner.text(t);
        let a = shared(Url::parse("https://intern.example/token").unwrap());
        let b = shared(Url::parse("https://intern.example/token").unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        let other = shared(Url::parse("https://intern.example/other").unwrap());
        assert!(!Arc::ptr_eq(&a, &other));
        drop((a, b));
        let again = shared(Url::parse("https://intern.example/token").unwrap());
        assert_eq!(again.as_str(), "https://intern.example/token");
        let (p, q) = (path(Path::new("/run/s")), path(Path::new("/run/s")));
        assert!(Arc::ptr_eq(&p, &q));
        assert!(Arc::ptr_eq(
            &text("credentials.password"),
            &text("credentials.password")
        ));
        // Another load's interner shares nothing with this one.
        let other = Interner::default().url(Url::parse("https://intern.example/token").unwrap());
        assert!(!Arc::ptr_eq(&again, &other));
    }
}
