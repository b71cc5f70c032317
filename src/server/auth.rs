//! HTTP Basic authentication against `[server.basic_auth_users]` (bcrypt hashes), as Prometheus
//! exporters' web config does it, and the role each user has. A bcrypt check costs a deliberate
//! quarter second, so a password that passed once is remembered, as a keyed digest of user and
//! password (never the password), for as long as the process runs. The cost is bounded and
//! tells nothing: at most [`BCRYPT_AT_ONCE`] checks run at once (the rest wait a moment, then get
//! 503), and an unknown user is checked against a stand-in hash of the same cost, so that a
//! refusal takes as long whether the name exists or not.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lc_rs::hmac;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::AppState;
use crate::config::{Role, User};

/// bcrypt checks running at once: each takes a core for a quarter second.
pub const BCRYPT_AT_ONCE: usize = 2;

/// How long a request waits for a bcrypt slot before it is answered 503.
const BCRYPT_WAIT: Duration = Duration::from_secs(2);

/// The salt and digest of the stand-in hash an unknown user is checked against: a well-formed
/// bcrypt hash that no password matches in practice.
const STAND_IN: &str = "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

/// What an `Authorization` header proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A configured user with the right password.
    Allowed(Role),
    /// No user, an unknown user or a wrong password.
    Refused,
    /// Too many bcrypt checks are waiting: try again shortly.
    Busy,
}

/// The configured users.
pub struct Users {
    users: std::sync::RwLock<BTreeMap<String, User>>,
    key: hmac::Key,
    verified: Mutex<HashSet<Vec<u8>>>,
    bcrypt: Semaphore,
    /// bcrypt checks running now.
    running: AtomicUsize,
    /// The most bcrypt checks that ever ran at once.
    peak: AtomicUsize,
}

impl Users {
    pub fn new(users: BTreeMap<String, User>) -> Self {
        let mut key = [0u8; 32];
        // aws-lc's generator only fails when the system has no randomness at all.
        let _ = aws_lc_rs::rand::fill(&mut key);
        Self {
            users: std::sync::RwLock::new(users),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            verified: Mutex::new(HashSet::new()),
            bcrypt: Semaphore::new(BCRYPT_AT_ONCE),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Whether any user is configured (then authentication is required).
    pub fn any(&self) -> bool {
        !self.read().is_empty()
    }

    /// The users of a reloaded config.
    pub fn replace(&self, users: BTreeMap<String, User>) {
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = users;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, User>> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The hash `user` is checked against and the role it grants: an unknown user gets the
    /// stand-in at the highest cost configured, and no role.
    fn lookup(&self, user: &str) -> (String, Option<Role>) {
        let users = self.read();
        if let Some(found) = users.get(user) {
            return (found.hash.clone(), Some(found.role));
        }
        let cost = users
            .values()
            .filter_map(|u| u.hash.parse::<bcrypt::HashParts>().ok())
            .map(|parts| parts.get_cost())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        (format!("$2b${cost:02}${STAND_IN}"), None)
    }

    /// What the `Authorization` header proves.
    pub(super) async fn verdict(&self, authorization: Option<&HeaderValue>) -> Verdict {
        let Some((user, password)) = authorization.and_then(crate::basic_auth::credentials) else {
            return Verdict::Refused;
        };
        let (hash, role) = self.lookup(&user);
        let mut context = hmac::Context::with_key(&self.key);
        context.update(user.as_bytes());
        context.update(&[0]);
        context.update(password.as_bytes());
        context.update(&[0]);
        context.update(hash.as_bytes());
        let digest = context.sign().as_ref().to_vec();
        if let Some(role) = role
            && self.lock().contains(&digest)
        {
            return Verdict::Allowed(role);
        }
        let Ok(Ok(_slot)) = tokio::time::timeout(BCRYPT_WAIT, self.bcrypt.acquire()).await else {
            return Verdict::Busy;
        };
        let now = self.running.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        self.running.fetch_sub(1, Ordering::Relaxed);
        match role {
            Some(role) if ok => {
                let mut verified = self.lock();
                // Bounded: a handful of users with their current passwords.
                if verified.len() > 1024 {
                    verified.clear();
                }
                verified.insert(digest);
                Verdict::Allowed(role)
            }
            _ => Verdict::Refused,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Middleware: 401 with `WWW-Authenticate` unless a configured user authenticates; the user's
/// [`Role`] goes with the request (everyone operates where no users are configured).
pub(super) async fn require_user(
    AxumState(app): AxumState<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let verdict = if app.users.any() {
        app.users
            .verdict(request.headers().get(header::AUTHORIZATION))
            .await
    } else {
        Verdict::Allowed(Role::Operate)
    };
    match verdict {
        Verdict::Allowed(role) => {
            request.extensions_mut().insert(role);
            next.run(request).await
        }
        Verdict::Refused => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"credwatch\", charset=\"UTF-8\"",
            )],
            "authentication required\n",
        )
            .into_response(),
        Verdict::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "too many password checks at once; try again\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn user(password: &str, role: Role) -> User {
        User {
            hash: bcrypt::hash(password, 4).unwrap(),
            role,
        }
    }

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[tokio::test]
    async fn only_the_right_password_passes_with_its_role() {
        let users = Users::new(BTreeMap::from([
            ("ops".to_string(), user("s3cret", Role::Operate)),
            ("prom".to_string(), user("scrape", Role::Read)),
        ]));
        let allowed = Verdict::Allowed(Role::Operate);
        assert_eq!(users.verdict(Some(&header("ops", "s3cret"))).await, allowed);
        assert_eq!(
            users.verdict(Some(&header("ops", "s3cret"))).await,
            allowed,
            "remembered"
        );
        assert_eq!(
            users.verdict(Some(&header("prom", "scrape"))).await,
            Verdict::Allowed(Role::Read)
        );
        assert_eq!(
            users.verdict(Some(&header("ops", "wrong"))).await,
            Verdict::Refused
        );
        assert_eq!(
            users.verdict(Some(&header("other", "s3cret"))).await,
            Verdict::Refused
        );
        assert_eq!(users.verdict(None).await, Verdict::Refused);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_two_bcrypt_checks_run_at_once() {
        let users = std::sync::Arc::new(Users::new(BTreeMap::from([(
            "ops".to_string(),
            user("s3cret", Role::Operate),
        )])));
        let guesses: Vec<_> = (0..16)
            .map(|n| {
                let users = users.clone();
                tokio::spawn(async move {
                    let guess = header(if n % 2 == 0 { "ops" } else { "nobody" }, "guess");
                    users.verdict(Some(&guess)).await
                })
            })
            .collect();
        for guess in guesses {
            assert_ne!(guess.await.unwrap(), Verdict::Allowed(Role::Operate));
        }
        let peak = users.peak.load(Ordering::Relaxed);
        assert!((1..=BCRYPT_AT_ONCE).contains(&peak), "{peak} at once");
    }

    #[test]
    fn the_stand_in_is_a_hash_of_the_highest_cost() {
        let users = Users::new(BTreeMap::from([(
            "ops".to_string(),
            user("s3cret", Role::Operate),
        )]));
        let (hash, role) = users.lookup("nobody");
        assert_eq!(role, None);
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(!bcrypt::verify("s3cret", &hash).unwrap());
        assert!(!bcrypt::verify("", &hash).unwrap());
    }
}
