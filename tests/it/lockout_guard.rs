//! The lockout guard against a Salesforce-like password server that counts login attempts and
//! locks the user after 5 failures, as Salesforce and Entra do: a wrong password checked every
//! second makes one attempt, a restart none, `credwatch check` none, `check --force` one, the API
//! one (two concurrent requests sharing it), and rewriting the secret file one, within 2 s.

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{Daemon, binary, wait_until, write};

/// Waits for `n` more scheduled checks to start (each one the guard held, or an attempt) than
/// had started when the daemon was last scraped: time passing, counted by the daemon.
async fn scheduled_checks(daemon: &Daemon, n: f64) {
    let starts = |m: &common::Metrics| {
        m.get("credwatch_check_start_lag_seconds_count", &[])
            .unwrap_or(0.0)
    };
    let before = starts(&daemon.metrics().await);
    daemon
        .metrics_when(
            Duration::from_secs(5 + 2 * n as u64),
            &format!("{n} more scheduled checks"),
            |m| starts(m) >= before + n,
        )
        .await;
}

const USERNAME: &str = "integration@example.com";
const RIGHT: &str = "right-password-1234";
const WRONG: &str = "stale-password-5678";
const NAME: &str = "Salesforce prod";

/// What the password server has seen.
#[derive(Default)]
struct Counts {
    attempts: usize,
    failures: usize,
    locked: bool,
}

#[derive(Clone)]
struct Provider {
    counts: Arc<Mutex<Counts>>,
    base: String,
}

impl Provider {
    fn attempts(&self) -> usize {
        self.counts.lock().unwrap().attempts
    }

    fn locked(&self) -> bool {
        self.counts.lock().unwrap().locked
    }
}

async fn token(
    State(provider): State<Provider>,
    body: String,
) -> (axum::http::StatusCode, Json<serde_json::Value>) {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    // Long enough for two API requests to overlap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut counts = provider.counts.lock().unwrap();
    counts.attempts += 1;
    let right = field("username") == Some(USERNAME) && field("password") == Some(RIGHT);
    if right && !counts.locked {
        return (
            axum::http::StatusCode::OK,
            Json(serde_json::json!({
                "access_token": "00Dxx!access",
                "instance_url": provider.base,
                "id": format!("{}/id/00Dxx/005xx", provider.base),
                "token_type": "Bearer",
                "issued_at": "1558553873237",
                "signature": "c2ln"
            })),
        );
    }
    if !right {
        counts.failures += 1;
        if counts.failures >= 5 {
            counts.locked = true;
        }
    }
    // Salesforce answers a locked user exactly like a wrong password.
    (
        axum::http::StatusCode::BAD_REQUEST,
        Json(
            serde_json::json!({"error": "invalid_grant", "error_description": "authentication failure"}),
        ),
    )
}

async fn identity() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user_id": "005xx", "organization_id": "00Dxx", "username": USERNAME, "active": true
    }))
}

async fn provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let provider = Provider {
        counts: Arc::default(),
        base: format!("http://{addr}"),
    };
    let app = Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/id/00Dxx/005xx", get(identity))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    provider
}

fn config(
    dir: &std::path::Path,
    base: &str,
    password_file: &std::path::Path,
) -> std::path::PathBuf {
    write(
        dir,
        "credwatch.toml",
        &format!(
            r#"
[defaults]
interval = "1s"
timeout = "5s"
state_dir = "{state}"

[[integration]]
type = "salesforce"
name = "{NAME}"
[integration.credentials]
username = "{USERNAME}"
password = {{ file = "{password}" }}
login_url = "{base}"
client_id = "3MVG9-key"
client_secret = "consumer-secret-9876"
"#,
            state = dir.join("state").display(),
            password = password_file.display(),
        ),
    )
}

const LABELS: [(&str, &str); 2] = [("integration", NAME), ("type", "salesforce")];

/// `credwatch check` with the daemon's config and state; returns exit code and JSON rows.
fn cli_check(config: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value) {
    let output = binary()
        .arg("--config")
        .arg(config)
        .arg("check")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let rows = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), rows)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_password_never_locks_the_account() {
    let provider = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "sf-password", WRONG);
    let config = config(dir.path(), &provider.base, &password);

    // A wrong password at a 1 s interval for 20 s: exactly one attempt.
    let daemon = Daemon::start(&config, &[]);
    let m = daemon
        .metrics_when(Duration::from_secs(40), "the guard engaged", |m| {
            m.get("credwatch_lockout_guard_engaged", &LABELS) == Some(1.0)
        })
        .await;
    assert_eq!(m.get("credwatch_check_success", &LABELS), Some(0.0));
    // More scheduled checks than the server takes failures before it locks the user.
    scheduled_checks(&daemon, 8.0).await;
    assert_eq!(provider.attempts(), 1, "logs:\n{}", daemon.logs());
    let m = daemon.metrics().await;
    let failed = [LABELS[0], LABELS[1], ("result", "invalid_credentials")];
    assert_eq!(m.get("credwatch_checks_total", &failed), Some(1.0));
    let reason = [LABELS[0], LABELS[1], ("reason", "invalid_credentials")];
    assert_eq!(m.get("credwatch_check_failure_reason", &reason), Some(1.0));
    assert_eq!(m.get("credwatch_lockout_guard_engaged", &LABELS), Some(1.0));
    let (status, body) = daemon.get("/api/v1/integrations/Salesforce%20prod").await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["status"], "guarded");
    assert_eq!(view["result"], "invalid_credentials");
    assert_eq!(view["guard"]["engaged"], true);
    assert!(
        view["message"].as_str().unwrap().contains("lockout guard"),
        "{view}"
    );
    assert_eq!(view["history"].as_array().unwrap().len(), 1);

    // A restart makes none: the guard is in the state file.
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    let daemon = Daemon::start(&config, &[]);
    daemon
        .metrics_when(Duration::from_secs(5), "the restored guard", |m| {
            m.get("credwatch_lockout_guard_engaged", &LABELS) == Some(1.0)
                && m.get("credwatch_check_success", &LABELS) == Some(0.0)
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon.get("/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "not ready: {}", daemon.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    scheduled_checks(&daemon, 3.0).await;
    assert_eq!(provider.attempts(), 1, "logs:\n{}", daemon.logs());

    // `credwatch check` honours the guard; `--force` makes one attempt.
    let (code, rows) = cli_check(&config, &[]);
    assert_eq!(code, 1);
    assert_eq!(rows[0]["result"], "guarded", "{rows}");
    assert_eq!(provider.attempts(), 1);
    let (code, rows) = cli_check(&config, &["--force", NAME]);
    assert_eq!(code, 1);
    assert_eq!(rows[0]["result"], "invalid_credentials", "{rows}");
    assert_eq!(provider.attempts(), 2);

    // The API makes one, and a second request while it runs shares it.
    let path = "/api/v1/integrations/Salesforce%20prod/check";
    let ((s1, b1), (s2, b2)) = tokio::join!(daemon.post(path), daemon.post(path));
    assert_eq!((s1, s2), (200, 200), "{b1}\n{b2}");
    assert_eq!(provider.attempts(), 3, "logs:\n{}", daemon.logs());
    let view: serde_json::Value = serde_json::from_str(&b1).unwrap();
    assert_eq!(view["result"], "invalid_credentials");
    assert_eq!(view["guard"]["engaged"], true);
    scheduled_checks(&daemon, 2.0).await;
    assert_eq!(provider.attempts(), 3);

    // The fixed password: one attempt within 2 s of the file changing, and it passes.
    let changed = Instant::now();
    std::fs::write(&password, RIGHT).unwrap();
    daemon
        .metrics_when(Duration::from_secs(5), "a success", |m| {
            m.get("credwatch_check_success", &LABELS) == Some(1.0)
        })
        .await;
    let took = changed.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(provider.attempts(), 4);
    let m = daemon.metrics().await;
    assert_eq!(m.get("credwatch_lockout_guard_engaged", &LABELS), Some(0.0));
    assert!(!provider.locked());
}

#[tokio::test(flavor = "multi_thread")]
async fn guard_false_turns_it_off_and_reloads_keep_it() {
    let provider = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "sf-password", WRONG);
    let config = config(dir.path(), &provider.base, &password);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "name = \"Salesforce prod\"",
            "name = \"Salesforce prod\"\nguard = false",
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config, &[]);
    wait_until(Duration::from_secs(40), "five attempts", || {
        provider.attempts() >= 5
    })
    .await;
    assert!(
        provider.locked(),
        "with guard = false the server locks the user"
    );
    let m = daemon.metrics().await;
    assert_eq!(m.get("credwatch_lockout_guard_engaged", &LABELS), None);

    // Turned back on by a reload: one more attempt, then it holds, and a second reload keeps it.
    std::fs::write(&config, &text).unwrap();
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    daemon
        .metrics_when(Duration::from_secs(10), "the guard engaged", |m| {
            m.get("credwatch_lockout_guard_engaged", &LABELS) == Some(1.0)
        })
        .await;
    let after = provider.attempts();
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    scheduled_checks(&daemon, 3.0).await;
    assert_eq!(provider.attempts(), after, "logs:\n{}", daemon.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn guard_retry_allows_one_attempt_then_holds_again() {
    let provider = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "sf-password", WRONG);
    let config = config(dir.path(), &provider.base, &password);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("timeout = \"5s\"", "timeout = \"5s\"\nguard_retry = \"3s\""),
    )
    .unwrap();
    let daemon = Daemon::start(&config, &[]);
    wait_until(
        Duration::from_secs(20),
        "the attempt after guard_retry",
        || provider.attempts() >= 2,
    )
    .await;
    // It failed the same way: held again, with a fresh guard_retry ahead.
    let m = daemon
        .metrics_when(Duration::from_secs(5), "the guard engaged again", |m| {
            m.get("credwatch_lockout_guard_engaged", &LABELS) == Some(1.0)
        })
        .await;
    let failed = [LABELS[0], LABELS[1], ("result", "invalid_credentials")];
    assert_eq!(m.get("credwatch_checks_total", &failed), Some(2.0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(provider.attempts(), 2, "logs:\n{}", daemon.logs());
    assert!(
        daemon.logs().contains("guard_retry has passed"),
        "{}",
        daemon.logs()
    );
}

/// credwatch 0.1 named the second nameless Salesforce integration `Salesforce Data Actions 2`;
/// it is now `Salesforce Data Actions (2)`, as Genesys Cloud names it. A guard engaged under the
/// old name must still hold under the new one: no attempt with the stale password.
#[tokio::test(flavor = "multi_thread")]
async fn a_guard_follows_the_renamed_default_name() {
    let provider = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "password", "stale-password");
    let nameless = |n: usize| {
        format!(
            "\n[[integration]]\ntype = \"salesforce\"\n[integration.credentials]\nusername = \"{USERNAME}\"\n\
             password = {{ file = \"{}\" }}\nlogin_url = \"{}\"\nclient_id = \"3MVG9-key-{n}\"\nclient_secret = \"s\"\n",
            password.display(),
            provider.base
        )
    };
    let state = dir.path().join("state");
    let config = write(
        dir.path(),
        "credwatch.toml",
        &format!(
            "[defaults]\ninterval = \"1m\"\nstate_dir = \"{}\"\n{}{}",
            state.display(),
            nameless(1),
            nameless(2)
        ),
    );
    std::fs::create_dir_all(&state).unwrap();
    let engaged = serde_json::json!({
        "format": "credwatch-state",
        "version": 2,
        "integrations": {
            "default/Salesforce Data Actions 2": {
                "type": "salesforce",
                "guard": {
                    "reason": "invalid_credentials",
                    "message": "Salesforce token endpoint answered invalid_grant: authentication failure",
                    "since": std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs_f64(),
                    "fingerprint": "00000000:made-with-another-key"
                }
            }
        }
    });
    std::fs::write(state.join("state.json"), engaged.to_string()).unwrap();

    let (code, rows) = cli_check(&config, &[]);
    assert_eq!(code, 1, "{rows}");
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {rows}"))
            .clone()
    };
    assert_eq!(
        row("Salesforce Data Actions (2)")["result"],
        "guarded",
        "{rows}"
    );
    assert_eq!(
        row("Salesforce Data Actions")["result"],
        "invalid_credentials",
        "{rows}"
    );
    // Only the unguarded one tried its password.
    assert_eq!(provider.attempts(), 1);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    let integrations = saved["integrations"].as_object().unwrap();
    assert!(
        integrations["default/Salesforce Data Actions (2)"]["guard"].is_object(),
        "{saved}"
    );
    assert!(
        !integrations.contains_key("default/Salesforce Data Actions 2"),
        "{saved}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forced_checks_on_an_engaged_guard_cost_one_attempt_per_cooldown() {
    let provider = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "sf-password", WRONG);
    let config = config(dir.path(), &provider.base, &password);
    let daemon = Daemon::start(&config, &[]);
    daemon
        .metrics_when(Duration::from_secs(40), "the guard engaged", |m| {
            m.get("credwatch_lockout_guard_engaged", &LABELS) == Some(1.0)
        })
        .await;
    assert_eq!(provider.attempts(), 1);

    // 20 forced checks: the first is an attempt, the other 19 wait for the cooldown.
    let client = reqwest::Client::new();
    let url = daemon.url("/api/v1/integrations/Salesforce%20prod/check");
    let mut refused = 0;
    for n in 0..20 {
        let response = client.post(&url).send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let view: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(view["result"], "invalid_credentials", "{view}");
        if n == 0 {
            assert_eq!(status, 200, "{view}");
            continue;
        }
        assert_eq!(status, 429, "request {n}: {view}");
        let seconds: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
        assert!((250..=300).contains(&seconds), "Retry-After {seconds}");
        refused += 1;
    }
    assert_eq!(refused, 19);
    assert_eq!(provider.attempts(), 2, "logs:\n{}", daemon.logs());
    let m = daemon.metrics().await;
    assert_eq!(
        m.get("credwatch_forced_checks_total", &[("result", "checked")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("credwatch_forced_checks_total", &[("result", "refused")]),
        Some(19.0)
    );
    // The page's button is held to the same cooldown.
    let button = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(daemon.url("/integrations/Salesforce%20prod/check"))
        .send()
        .await
        .unwrap();
    assert_eq!(button.status().as_u16(), 429);
    assert_eq!(provider.attempts(), 2);
}

/// A web service that answers after 300 ms and remembers the most requests it had at once.
async fn slow_counting_service() -> (String, Arc<Mutex<(usize, usize)>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<(usize, usize)>> = Arc::default();
    let counts = seen.clone();
    let app = Router::new().route(
        "/{name}",
        get(move || {
            let counts = counts.clone();
            async move {
                {
                    let mut counts = counts.lock().unwrap();
                    counts.0 += 1;
                    counts.1 = counts.1.max(counts.0);
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                counts.lock().unwrap().0 -= 1;
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn forced_checks_respect_concurrency() {
    let (base, seen) = slow_counting_service().await;
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[defaults]\ninterval = \"1h\"\nconcurrency = 1\nstate_dir = \"{}\"\n",
        dir.path().join("state").display()
    );
    for n in 0..6 {
        text.push_str(&format!(
            "\n[[integration]]\ntype = \"web_service\"\nname = \"ws{n}\"\n[integration.credentials]\ncredential_type = \"none\"\n[integration.request]\nurl = \"{base}/ws{n}\"\n"
        ));
    }
    let config = write(dir.path(), "credwatch.toml", &text);
    let daemon = Daemon::start(&config, &[]);
    let posts: Vec<_> = (0..6)
        .map(|n| {
            let url = daemon.url(&format!("/api/v1/integrations/ws{n}/check"));
            tokio::spawn(async move { reqwest::Client::new().post(url).send().await.unwrap() })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap().status().as_u16(), 200);
    }
    let (_, most) = *seen.lock().unwrap();
    assert_eq!(most, 1, "with concurrency = 1, {most} checks ran at once");
}
