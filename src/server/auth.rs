//! HTTP Basic authentication against `[server.basic_auth_users]` (bcrypt hashes), as Prometheus
//! exporters' web config does it. A bcrypt check costs a deliberate quarter second, so a
//! password that passed once is remembered, as a keyed digest of user and password (never the
//! password), for as long as the process runs.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use aws_lc_rs::hmac;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::AppState;

/// The configured users.
pub struct Users {
    hashes: std::sync::RwLock<BTreeMap<String, String>>,
    key: hmac::Key,
    verified: Mutex<HashSet<Vec<u8>>>,
}

impl Users {
    pub fn new(hashes: BTreeMap<String, String>) -> Self {
        let mut key = [0u8; 32];
        // aws-lc's generator only fails when the system has no randomness at all.
        let _ = aws_lc_rs::rand::fill(&mut key);
        Self {
            hashes: std::sync::RwLock::new(hashes),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Whether any user is configured (then authentication is required).
    pub fn any(&self) -> bool {
        !self.read().is_empty()
    }

    /// The users of a reloaded config.
    pub fn replace(&self, hashes: BTreeMap<String, String>) {
        *self.hashes.write().unwrap_or_else(|p| p.into_inner()) = hashes;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, String>> {
        self.hashes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the `Authorization` header names a configured user with the right password.
    async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(basic) else {
            return false;
        };
        let Some(hash) = self.read().get(&user).cloned() else {
            return false;
        };
        let mut context = hmac::Context::with_key(&self.key);
        context.update(user.as_bytes());
        context.update(&[0]);
        context.update(password.as_bytes());
        context.update(&[0]);
        context.update(hash.as_bytes());
        let digest = context.sign().as_ref().to_vec();
        if self.lock().contains(&digest) {
            return true;
        }
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if ok {
            let mut verified = self.lock();
            // Bounded: a handful of users with their current passwords.
            if verified.len() > 1024 {
                verified.clear();
            }
            verified.insert(digest);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `Basic base64(user:password)` → user and password.
pub(crate) fn basic(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Middleware: 401 with `WWW-Authenticate` unless a configured user authenticates.
pub(super) async fn require_user(
    AxumState(app): AxumState<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !app.users.any()
        || app
            .users
            .allows(request.headers().get(header::AUTHORIZATION))
            .await
    {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"credwatch\", charset=\"UTF-8\"",
        )],
        "authentication required\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_parsed() {
        let value = HeaderValue::from_static("Basic b3BzOnMzY3I6ZXQ=");
        assert_eq!(basic(&value), Some(("ops".into(), "s3cr:et".into())));
        assert_eq!(basic(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(basic(&HeaderValue::from_static("Basic !!")), None);
    }

    #[tokio::test]
    async fn only_the_right_password_passes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Users::new(BTreeMap::from([("ops".to_string(), hash)]));
        let header = |user: &str, password: &str| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
        };
        assert!(users.allows(Some(&header("ops", "s3cret"))).await);
        assert!(
            users.allows(Some(&header("ops", "s3cret"))).await,
            "remembered"
        );
        assert!(!users.allows(Some(&header("ops", "wrong"))).await);
        assert!(!users.allows(Some(&header("other", "s3cret"))).await);
        assert!(!users.allows(None).await);
    }
}
