//! The org view (`[genesys]`) against a Genesys Cloud API stand-in that pages: integrations of
//! all seven types in each reported state (plus one that is no data action), mTLS client
//! certificates Current and Upcoming from both authorities, each metric series asserted; a 403
//! names the permission to grant; a 429 is read again after `Retry-After`; the token is revoked
//! once, and never after a failed login; `[genesys]` mistakes are config errors naming the
//! field.

use crate::common;

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Metrics, received};
use credwatch::config::Config;
use credwatch::metrics::Metrics as Exported;
use credwatch::orgview::{self, ViewReport};
use credwatch::outcome::FailureReason;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "org-view-token-0123456789";
const SECRET: &str = "org-view-s3cr3t-abcdef-9876";

/// The states Genesys Cloud reports.
const STATES: [&str; 5] = ["ACTIVE", "ACTIVATING", "INACTIVE", "DEACTIVATING", "ERROR"];

/// Genesys Cloud's type id of each of credwatch's types.
const TYPE_IDS: [(&str, &str); 7] = [
    ("aws-lambda-data-actions", "aws_lambda"),
    ("purecloud-data-actions", "genesys_cloud"),
    ("google-data-actions", "google"),
    ("microsoft-dynamics-data-actions", "dynamics365"),
    ("salesforce-datadip", "salesforce"),
    ("custom-rest-actions", "web_service"),
    ("zendesk-data-actions", "zendesk"),
];

/// The stand-in's integrations: one per type and state, named `{type} {state}`, and a
/// non-data-action integration.
fn integrations() -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for (type_id, kind) in TYPE_IDS {
        for state in STATES {
            let intended = if matches!(state, "INACTIVE" | "DEACTIVATING") {
                "DISABLED"
            } else {
                "ENABLED"
            };
            let mut reported = serde_json::json!({"code": state});
            if state == "ERROR" {
                reported["detail"] = serde_json::json!({"message": "Credentials were rejected"});
            }
            all.push(serde_json::json!({
                "id": format!("{kind}-{state}"),
                "name": format!("{kind} {state}"),
                "integrationType": {"id": type_id},
                "intendedState": intended,
                "reportedState": reported,
            }));
        }
    }
    all.push(serde_json::json!({
        "id": "sso",
        "name": "Single sign-on",
        "integrationType": {"id": "okta-sso"},
        "intendedState": "ENABLED",
        "reportedState": {"code": "ACTIVE"},
    }));
    all
}

/// `GET /api/v2/integrations` as Genesys Cloud pages it, at most `page` entities a page.
struct Pages {
    page: usize,
    all: Vec<serde_json::Value>,
    /// `pageNumber` of each request, to fail on the first try of `once_429`.
    seen: Mutex<Vec<usize>>,
    once_429: Option<usize>,
}

impl Respond for Pages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let number = query("pageNumber").unwrap_or(1);
        let size = query("pageSize").unwrap_or(25).min(self.page);
        let first_try = {
            let mut seen = self.seen.lock().unwrap();
            let first = !seen.contains(&number);
            seen.push(number);
            first
        };
        if self.once_429 == Some(number) && first_try {
            return ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    serde_json::json!({"message": "Rate limit exceeded", "status": 429}),
                );
        }
        let entities: Vec<_> = self
            .all
            .iter()
            .skip((number - 1) * size)
            .take(size)
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "entities": entities,
            "pageSize": size,
            "pageNumber": number,
            "total": self.all.len(),
            "pageCount": self.all.len().div_ceil(size),
        }))
    }
}

/// A certificate PEM that expires `days` from now.
fn certificate(days: i64) -> (String, f64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut params = rcgen::CertificateParams::new(vec!["genesys".to_string()]).unwrap();
    let after = now + days * 86_400;
    params.not_before = time::OffsetDateTime::from_unix_timestamp(now - 86_400).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(after).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap().pem(), after as f64)
}

/// The certificates: (authority, status, days to expiry).
const CERTIFICATES: [(&str, &str, i64); 4] = [
    ("Genesys", "Current", 200),
    ("Genesys", "Upcoming", 560),
    ("DigiCert", "Current", 25),
    ("DigiCert", "Upcoming", 390),
];

/// The token endpoint, granting [`TOKEN`].
async fn grant_tokens(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": TOKEN, "token_type": "bearer", "expires_in": 86399
        })))
        .mount(server)
        .await;
}

/// A stand-in: the token endpoint, the pages, the certificates (their expiry returned) and the
/// revocation.
async fn stand_in(pages: Pages) -> (MockServer, Vec<(&'static str, &'static str, f64)>) {
    let server = MockServer::start().await;
    grant_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/integrations"))
        .respond_with(pages)
        .mount(&server)
        .await;
    let mut expiries = Vec::new();
    for status in ["Current", "Upcoming"] {
        let mut entities = Vec::new();
        for (authority, _, days) in CERTIFICATES.iter().filter(|c| c.1 == status) {
            let (pem, after) = certificate(*days);
            expiries.push((*authority, status, after));
            entities.push(serde_json::json!({
                "signingAuthority": authority, "certificate": pem, "status": status, "type": "Client"
            }));
        }
        Mock::given(method("GET"))
            .and(path("/api/v2/integrations/actions/certificates"))
            .and(query_param("status", status))
            .and(query_param("type", "Client"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"entities": entities})),
            )
            .mount(&server)
            .await;
    }
    Mock::given(method("DELETE"))
        .and(path("/api/v2/tokens/me"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    // Genesys's record of executions: none, unless a test mounts its own.
    Mock::given(method("POST"))
        .and(path(AGGREGATES))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .with_priority(10)
        .mount(&server)
        .await;
    // The view's own OAuth client, active.
    Mock::given(method("GET"))
        .and(path("/api/v2/oauth/clients/view-client"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "view-client", "name": "credwatch org view", "state": "active",
            "dateCreated": "2025-01-10T09:00:00.000Z", "dateModified": "2026-09-01T10:00:00.000Z"
        })))
        .mount(&server)
        .await;
    (server, expiries)
}

/// `GET /api/v2/tokens/me` answers: the checks of the Genesys integration pass.
async fn checks_pass(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v2/tokens/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"name": "c"})))
        .mount(server)
        .await;
}

fn pages(page: usize) -> Pages {
    Pages {
        page,
        all: integrations(),
        seen: Mutex::default(),
        once_429: None,
    }
}

/// A config whose org view reads `base`; credwatch checks the active `zendesk ACTIVE` and
/// `genesys_cloud ERROR` (the view's own client), and has an inactive `web_service ACTIVE`.
fn view_config(base: &str, extra: &str) -> String {
    format!(
        r#"
org = "acme"

[genesys]
integration = "genesys_cloud ERROR"
{extra}

[[integration]]
type = "genesys_cloud"
name = "genesys_cloud ERROR"
timeout = "10s"
[integration.credentials]
client_id = "view-client"
client_secret = "{SECRET}"
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{base}/oauth/token"
verify_url = "{base}/api/v2/tokens/me"

[[integration]]
type = "zendesk"
name = "zendesk ACTIVE"
[integration.credentials]
email = "agent@example.com"
base_url = "http://127.0.0.1:1"
api_token = "zd-token-0123456789"

[[integration]]
type = "web_service"
name = "web_service ACTIVE"
active = false
[integration.credentials]
credential_type = "basic"
username = "u"
password = "p-0123456789"
[integration.request]
url = "http://127.0.0.1:1/health"
"#
    )
}

/// [`view_config`] for a daemon: its state in `dir`, checks once an hour.
fn daemon_config(base: &str, extra: &str, dir: &std::path::Path) -> String {
    format!(
        "{}\n[defaults]\ninterval = \"1h\"\nstate_dir = \"{}\"\n",
        view_config(base, extra),
        dir.join("state").display()
    )
}

/// Reads the view of the config's only org, records it in fresh metrics as the daemon does,
/// and returns the report and the scrape.
async fn read(config: &Config) -> (ViewReport, Exported) {
    let org = &config.orgs[0];
    let view = org.view.as_ref().expect("[genesys] configured");
    let report = orgview::read(&org.name, view, None).await;
    let state = credwatch::state::State::load(std::path::Path::new("/nonexistent"), &org.name);
    let metrics = Exported::new(std::sync::Arc::new(state));
    metrics.observe_view(&report);
    (report, metrics)
}

#[tokio::test]
async fn the_view_reads_every_page_and_exports_every_integration_and_certificate() {
    let (server, expiries) = stand_in(pages(8)).await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (report, metrics) = read(&config).await;
    assert_eq!(report.outcome, Ok(()));

    // Five pages of eight, each asked for with the largest page size, in order.
    let asked: Vec<(String, String)> = received(&server, "GET", "/api/v2/integrations")
        .await
        .iter()
        .map(|r| {
            let q = |k: &str| {
                r.url
                    .query_pairs()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (q("pageSize"), q("pageNumber"))
        })
        .collect();
    let expected: Vec<(String, String)> = (1..=5)
        .map(|n| ("100".to_string(), n.to_string()))
        .collect();
    assert_eq!(asked, expected);
    for request in server.received_requests().await.unwrap() {
        if request.url.path().starts_with("/api/") {
            assert_eq!(
                request.headers.get("authorization").unwrap(),
                &format!("Bearer {TOKEN}")
            );
        }
    }

    let m = Metrics::parse(&metrics.render());
    assert_eq!(m.count("credwatch_genesys_integration_info", &[]), 36);
    for (_, kind) in TYPE_IDS {
        for state in STATES {
            let name = format!("{kind} {state}");
            let intended = if matches!(state, "INACTIVE" | "DEACTIVATING") {
                "DISABLED"
            } else {
                "ENABLED"
            };
            assert_eq!(
                m.get(
                    "credwatch_genesys_integration_info",
                    &[
                        ("org", "acme"),
                        ("integration", &name),
                        ("type", kind),
                        ("intended_state", intended),
                        ("reported_state", state),
                    ]
                ),
                Some(1.0),
                "{name}"
            );
            // Checked by credwatch: the active zendesk and genesys_cloud ones of the same name;
            // the web_service one of the same name is inactive in credwatch.
            let watched = name == "zendesk ACTIVE" || name == "genesys_cloud ERROR";
            assert_eq!(
                m.get(
                    "credwatch_genesys_integration_watched",
                    &[("org", "acme"), ("integration", &name), ("type", kind)]
                ),
                Some(if watched { 1.0 } else { 0.0 }),
                "{name}"
            );
        }
    }
    // The integration that is no data action: listed with Genesys's type id, never "watched".
    assert_eq!(
        m.get(
            "credwatch_genesys_integration_info",
            &[("integration", "Single sign-on"), ("type", "okta-sso")]
        ),
        Some(1.0)
    );
    assert_eq!(m.count("credwatch_genesys_integration_watched", &[]), 35);

    assert_eq!(
        m.count(
            "credwatch_genesys_mtls_certificate_expiry_timestamp_seconds",
            &[]
        ),
        4
    );
    for (authority, status, after) in &expiries {
        assert_eq!(
            m.get(
                "credwatch_genesys_mtls_certificate_expiry_timestamp_seconds",
                &[
                    ("org", "acme"),
                    ("signing_authority", authority),
                    ("status", status)
                ]
            ),
            Some(*after),
            "{authority} {status}"
        );
    }
    assert_eq!(
        m.get("credwatch_genesys_view_success", &[("org", "acme")]),
        Some(1.0)
    );
    assert_eq!(m.count("credwatch_genesys_view_failure_reason", &[]), 0);
    assert_eq!(
        m.get(
            "credwatch_genesys_view_reads_total",
            &[("org", "acme"), ("result", "success")]
        ),
        Some(1.0)
    );

    // The token was revoked once, with the token the read minted.
    let deletes = received(&server, "DELETE", "/api/v2/tokens/me").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
    assert_eq!(
        m.get(
            "credwatch_token_revocations_total",
            &[
                ("org", "acme"),
                ("type", "genesys_cloud"),
                ("result", "success")
            ]
        ),
        Some(1.0)
    );
    assert!(!m.text.contains(SECRET) && !m.text.contains(TOKEN));
}

#[tokio::test]
async fn a_second_read_replaces_the_series_of_the_first_and_a_dropped_view_leaves_none() {
    let (server, _) = stand_in(pages(100)).await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (mut report, metrics) = read(&config).await;
    // Genesys Cloud now lists one integration fewer, and one in a new state.
    let integrations = report.integrations.as_mut().unwrap();
    integrations.retain(|i| i.name != "zendesk ERROR");
    let active = integrations
        .iter_mut()
        .find(|i| i.name == "zendesk ACTIVE")
        .unwrap();
    active.reported_state = "ERROR".to_string();
    metrics.observe_view(&report);
    let m = Metrics::parse(&metrics.render());
    assert_eq!(m.count("credwatch_genesys_integration_info", &[]), 35);
    assert_eq!(
        m.count(
            "credwatch_genesys_integration_info",
            &[("integration", "zendesk ERROR")]
        ),
        0
    );
    assert_eq!(
        m.get(
            "credwatch_genesys_integration_info",
            &[("integration", "zendesk ACTIVE")]
        )
        .map(|_| m.count(
            "credwatch_genesys_integration_info",
            &[
                ("integration", "zendesk ACTIVE"),
                ("reported_state", "ERROR")
            ]
        )),
        Some(1)
    );
    metrics.forget_view("acme");
    let text = metrics.render();
    for family in [
        "credwatch_genesys_integration_info{",
        "credwatch_genesys_integration_watched{",
        "credwatch_genesys_mtls_certificate_expiry_timestamp_seconds{",
        "credwatch_genesys_view_success{",
        "credwatch_genesys_view_reads_total{",
    ] {
        assert!(!text.contains(family), "{family} left after forget_view");
    }
}

#[tokio::test]
async fn a_missing_permission_is_a_failure_naming_it_and_the_other_part_is_still_read() {
    let (server, _) = stand_in(pages(100)).await;
    // Of a higher priority than the pages, so it answers.
    Mock::given(method("GET"))
        .and(path("/api/v2/integrations"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "You are not authorized to perform the requested action.",
            "code": "missing.any.permissions", "status": 403
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (report, metrics) = read(&config).await;
    let failure = report.outcome.clone().unwrap_err();
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    assert!(
        failure.message.contains("integrations:integration:view"),
        "{}",
        failure.message
    );
    assert!(report.integrations.is_none());
    assert_eq!(report.certificates.as_ref().map(Vec::len), Some(4));
    let m = Metrics::parse(&metrics.render());
    assert_eq!(
        m.get("credwatch_genesys_view_success", &[("org", "acme")]),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "credwatch_genesys_view_failure_reason",
            &[("org", "acme"), ("reason", "permission_denied")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "credwatch_genesys_view_reads_total",
            &[("org", "acme"), ("result", "permission_denied")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.count(
            "credwatch_genesys_mtls_certificate_expiry_timestamp_seconds",
            &[]
        ),
        4
    );
    // Revoked all the same.
    assert_eq!(
        received(&server, "DELETE", "/api/v2/tokens/me").await.len(),
        1
    );

    // The certificates' own permission.
    let (server, _) = stand_in(pages(100)).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/integrations/actions/certificates"))
        .respond_with(ResponseTemplate::new(403))
        .with_priority(1)
        .mount(&server)
        .await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (report, _) = read(&config).await;
    let failure = report.outcome.unwrap_err();
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    assert!(
        failure
            .message
            .contains("integrations:actionCertificate:view"),
        "{}",
        failure.message
    );
    assert_eq!(report.integrations.as_ref().map(Vec::len), Some(36));
}

#[tokio::test]
async fn a_rate_limited_page_is_read_again_after_retry_after() {
    let mut pages = pages(10);
    pages.once_429 = Some(2);
    let (server, _) = stand_in(pages).await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (report, _) = read(&config).await;
    assert_eq!(report.outcome, Ok(()));
    assert_eq!(report.integrations.as_ref().map(Vec::len), Some(36));
    let numbers: Vec<String> = received(&server, "GET", "/api/v2/integrations")
        .await
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "pageNumber")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(numbers, ["1", "2", "2", "3", "4"]);
    assert!(report.duration >= Duration::from_secs(1), "waited as asked");

    // A wait longer than the read's time left: rate_limited, with the wait kept for the next
    // read's schedule.
    let server = MockServer::start().await;
    grant_tokens(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (report, _) = read(&config).await;
    let failure = report.outcome.unwrap_err();
    assert_eq!(failure.reason, FailureReason::RateLimited);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(120)));
    assert!(
        report.duration < Duration::from_secs(5),
        "{:?}",
        report.duration
    );
}

#[tokio::test]
async fn a_failed_login_reads_nothing_and_revokes_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client", "description": "client not found"
        })))
        .mount(&server)
        .await;
    let config = common::config(&view_config(&server.uri(), ""));
    let (report, metrics) = read(&config).await;
    let failure = report.outcome.unwrap_err();
    assert_eq!(failure.reason, FailureReason::InvalidCredentials);
    assert_eq!(report.revoked, None);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "only the login: {requests:?}");
    let m = Metrics::parse(&metrics.render());
    assert_eq!(
        m.get(
            "credwatch_genesys_view_failure_reason",
            &[("org", "acme"), ("reason", "invalid_credentials")]
        ),
        Some(1.0)
    );
    assert_eq!(m.count("credwatch_token_revocations_total", &[]), 0);
}

#[tokio::test]
async fn the_view_gives_up_at_its_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let config = common::config(&view_config(&server.uri(), "timeout = \"1s\""));
    let (report, _) = read(&config).await;
    assert_eq!(report.outcome.unwrap_err().reason, FailureReason::Timeout);
    assert!(
        report.duration < Duration::from_secs(3),
        "{:?}",
        report.duration
    );
}

#[test]
fn genesys_mistakes_are_config_errors_naming_the_field() {
    let base = "http://127.0.0.1:1";
    let cases = [
        (
            view_config(base, "").replace(
                "integration = \"genesys_cloud ERROR\"",
                "integration = \"Nobody\"",
            ),
            "genesys.integration: org \"acme\" has no integration named \"Nobody\"",
        ),
        (
            view_config(base, "").replace(
                "integration = \"genesys_cloud ERROR\"",
                "integration = \"zendesk ACTIVE\"",
            ),
            "is a zendesk integration",
        ),
        (
            view_config(base, "").replace(
                "name = \"genesys_cloud ERROR\"\n",
                "name = \"genesys_cloud ERROR\"\nactive = false\n",
            ),
            "is inactive",
        ),
        (
            view_config(base, "interval = \"soon\""),
            "genesys.interval:",
        ),
        (view_config(base, "every = \"5m\""), "unknown field `every`"),
    ];
    for (text, expected) in cases {
        let error = Config::parse("test.toml", &text).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}\nwanted: {expected}");
        assert!(error.starts_with("test.toml:"), "names the line: {error}");
    }
    // The defaults: every 5 minutes, within the integration's timeout.
    let config = common::config(&view_config(base, ""));
    let view = config.orgs[0].view.as_ref().unwrap();
    assert_eq!(view.interval, Duration::from_secs(300));
    assert_eq!(view.timeout, Duration::from_secs(10));
}

#[test]
fn an_included_org_file_has_a_view_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let main = common::write(
        dir.path(),
        "credwatch.toml",
        "include = [\"orgs/*.toml\"]\n",
    );
    std::fs::create_dir(dir.path().join("orgs")).unwrap();
    common::write(
        &dir.path().join("orgs"),
        "acme.toml",
        &view_config("http://127.0.0.1:1", "interval = \"10m\""),
    );
    common::write(
        &dir.path().join("orgs"),
        "globex.toml",
        "[[integration]]\ntype = \"zendesk\"\n[integration.credentials]\nemail = \"a@b.c\"\nbase_url = \"https://g.zendesk.com\"\napi_token = \"t-0123456789\"\n",
    );
    let config = Config::load(&main).unwrap();
    let views: Vec<(&str, Option<Duration>)> = config
        .orgs
        .iter()
        .map(|o| (&*o.name, o.view.as_ref().map(|v| v.interval)))
        .collect();
    assert_eq!(
        views,
        [
            ("default", None),
            ("acme", Some(Duration::from_secs(600))),
            ("globex", None)
        ]
    );
}

#[test]
fn every_type_has_its_genesys_type_id() {
    for (type_id, kind) in TYPE_IDS {
        assert_eq!(orgview::type_of(type_id), Some(kind), "{type_id}");
    }
    assert_eq!(orgview::type_of("okta-sso"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_reads_the_view_on_its_interval_and_a_reload_without_it_drops_its_series() {
    let (server, _) = stand_in(pages(100)).await;
    checks_pass(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let with_view = daemon_config(&server.uri(), "interval = \"1s\"", dir.path());
    let config = common::write(dir.path(), "c.toml", &with_view);
    let daemon = common::Daemon::start(&config, &[]);
    let reads = |m: &Metrics| {
        m.get(
            "credwatch_genesys_view_reads_total",
            &[("org", "acme"), ("result", "success")],
        )
        .unwrap_or(0.0)
    };
    let m = daemon
        .metrics_when(Duration::from_secs(15), "two reads of the view", |m| {
            reads(m) >= 2.0
        })
        .await;
    assert_eq!(m.count("credwatch_genesys_integration_info", &[]), 36);
    let (status, body) = daemon.get("/api/v1/genesys").await;
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let org = &api["orgs"][0];
    assert_eq!(org["org"], "acme");
    assert_eq!(org["result"], "success");
    let zendesk = org["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "zendesk ACTIVE")
        .unwrap();
    assert_eq!(zendesk["watched"], true);
    assert_eq!(zendesk["type"], "zendesk");
    assert_eq!(org["certificates"].as_array().unwrap().len(), 4);
    let (_, page) = daemon.get("/").await;
    assert!(page.contains("Genesys Cloud view of acme"), "{page}");
    assert!(page.contains("DigiCert"), "{page}");
    assert!(!body.contains(SECRET) && !page.contains(SECRET) && !body.contains(TOKEN));

    // Without [genesys], a reload leaves no series of the view, and the API none.
    let without = with_view.replace(
        "[genesys]\nintegration = \"genesys_cloud ERROR\"\ninterval = \"1s\"\n",
        "",
    );
    assert_ne!(without, with_view);
    common::write(dir.path(), "c.toml", &without);
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let m = daemon.metrics().await;
    assert_eq!(m.count("credwatch_genesys_integration_info", &[]), 0);
    assert_eq!(m.count("credwatch_genesys_view_success", &[]), 0);
    let (_, body) = daemon.get("/api/v1/genesys").await;
    assert_eq!(body, r#"{"orgs":[]}"#);
    // And no more reads: the stand-in is asked for no page within two intervals.
    let pages = received(&server, "GET", "/api/v2/integrations").await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        received(&server, "GET", "/api/v2/integrations").await.len(),
        pages
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_during_a_read_lets_it_revoke_its_token_and_records_nothing() {
    let (server, _) = stand_in(pages(100)).await;
    // The integrations answer slowly: the reload comes while the read waits for them.
    Mock::given(method("GET"))
        .and(path("/api/v2/integrations"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"entities": [], "pageCount": 1}))
                .set_delay(Duration::from_millis(1500)),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let with_view = daemon_config(&server.uri(), "", dir.path());
    let config = common::write(dir.path(), "c.toml", &with_view);
    let daemon = common::Daemon::start(&config, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received(&server, "GET", "/api/v2/integrations")
        .await
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "the view reads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let without = with_view.replace("[genesys]\nintegration = \"genesys_cloud ERROR\"\n", "");
    assert_ne!(without, with_view);
    common::write(dir.path(), "c.toml", &without);
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    // The read goes on to its end and revokes its token, but records nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received(&server, "DELETE", "/api/v2/tokens/me")
        .await
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the token is revoked after the reload; logs:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = daemon.metrics().await;
    assert_eq!(m.count("credwatch_genesys_view_success", &[]), 0);
    assert_eq!(daemon.get("/api/v1/genesys").await.1, r#"{"orgs":[]}"#);
}

/// A second `genesys_cloud` integration of the org, logging in with the client `client_id`.
fn second_client(client_id: &str) -> String {
    format!(
        r#"
[[integration]]
type = "genesys_cloud"
name = "genesys_cloud ACTIVE"
[integration.credentials]
client_id = "{client_id}"
client_secret = "another-client-secret-0123"
region = "mypurecloud.com"
"#
    )
}

#[tokio::test]
async fn the_view_reads_every_genesys_integrations_oauth_client() {
    let (server, _) = stand_in(pages(100)).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/oauth/clients/retired-client"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "retired-client", "name": "old data actions", "state": "inactive",
            "dateToDelete": "2027-01-15T08:00:00Z", "dateModified": "2026-11-28T08:00:00.000Z"
        })))
        .mount(&server)
        .await;
    let text = view_config(&server.uri(), "") + &second_client("retired-client");
    let (report, _) = read(&common::config(&text)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let clients = report.oauth_clients.expect("the clients were read");
    assert_eq!(clients.len(), 2, "{clients:?}");
    let own = clients
        .iter()
        .find(|c| c.client_id == "view-client")
        .unwrap();
    assert_eq!(own.integration, "acme/genesys_cloud ERROR");
    assert_eq!(own.state, "active");
    assert!(own.ahead().is_none());
    assert_eq!(own.learnt().changed, Some(1_788_256_800.0));
    let retired = clients
        .iter()
        .find(|c| c.client_id == "retired-client")
        .unwrap();
    assert_eq!(retired.integration, "acme/genesys_cloud ACTIVE");
    assert_eq!(retired.state, "inactive");
    assert_eq!(retired.date_to_delete, Some(1_800_000_000.0));
    let ahead = retired
        .ahead()
        .expect("an inactive client fails ahead of the login");
    assert_eq!(ahead.reason, FailureReason::AccountDisabled);
    assert!(
        ahead.message.contains("2027-01-15T08:00:00Z"),
        "{}",
        ahead.message
    );

    // A client Genesys Cloud no longer has is gone, and fails ahead too.
    let text = view_config(&server.uri(), "") + &second_client("deleted-client");
    let (report, _) = read(&common::config(&text)).await;
    let clients = report.oauth_clients.expect("the clients were read");
    let gone = clients
        .iter()
        .find(|c| c.client_id == "deleted-client")
        .unwrap();
    assert_eq!(gone.state, "missing");
    assert!(gone.ahead().unwrap().message.contains("no longer exists"));
}

#[tokio::test]
async fn reading_oauth_clients_without_the_permission_names_it() {
    let (server, _) = stand_in(pages(100)).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/oauth/clients/other-client"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "You are not authorized", "code": "missing.permissions", "status": 403
        })))
        .mount(&server)
        .await;
    let text = view_config(&server.uri(), "") + &second_client("other-client");
    let (report, _) = read(&common::config(&text)).await;
    let failure = report.outcome.expect_err("a part of the view failed");
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    assert!(
        failure.message.contains("oauth:client:view"),
        "{}",
        failure.message
    );
    // The other parts were still read.
    assert!(report.integrations.is_some());
    assert!(report.certificates.is_some());
    assert!(report.oauth_clients.is_none());
}

/// Where Genesys Cloud answers the aggregates of data-action executions.
const AGGREGATES: &str = "/api/v2/analytics/actions/aggregates/query";

/// The `interval` of an aggregates query, as unix seconds.
fn interval_of(request: &Request) -> (i64, i64) {
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let interval = body["interval"].as_str().unwrap();
    let (start, end) = interval.split_once('/').unwrap();
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    (at(start), at(end))
}

/// One group of an aggregates answer: `count` executions of `integration`.
fn executions(integration: &str, error: &str, status: &str, count: u64) -> serde_json::Value {
    serde_json::json!({
        "group": {"integrationId": integration, "errorType": error, "responseStatus": status},
        "data": [{"interval": "2026-11-30T00:00:00.000Z/2026-11-30T00:05:00.000Z",
                  "metrics": [{"metric": "tTotalExecution", "stats": {"count": count, "sum": count * 100}}]}]
    })
}

#[tokio::test]
async fn the_view_counts_genesys_executions_by_integration_and_outcome() {
    let (server, _) = stand_in(pages(100)).await;
    Mock::given(method("POST"))
        .and(path(AGGREGATES))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"results": [
                executions("zendesk-ACTIVE", "NONE", "200", 30),
                executions("web_service-ERROR", "REMOTE_ENDPOINT_ERROR", "401", 4),
                executions("web_service-ERROR", "REMOTE_ENDPOINT_ERROR", "500", 1),
                executions("gone-integration", "NONE", "200", 2),
            ]})),
        )
        .mount(&server)
        .await;
    let (report, metrics) = read(&common::config(&view_config(&server.uri(), ""))).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);

    // The query: the last interval (5 minutes by default) on a first read, grouped as asked.
    let queries = received(&server, "POST", AGGREGATES).await;
    assert_eq!(queries.len(), 1);
    let (start, end) = interval_of(&queries[0]);
    assert_eq!(end - start, 300);
    assert_eq!(report.window, Some((start, end)));
    let body: serde_json::Value = serde_json::from_slice(&queries[0].body).unwrap();
    assert_eq!(
        body["groupBy"],
        serde_json::json!(["integrationId", "errorType", "responseStatus"])
    );
    assert_eq!(body["metrics"], serde_json::json!(["tTotalExecution"]));

    // Joined on the integration id: Genesys's name and credwatch's type.
    let m = Metrics::parse(&metrics.render());
    let count = |integration: &str, kind: &str, outcome: &str| {
        m.get(
            "credwatch_genesys_action_executions_total",
            &[
                ("org", "acme"),
                ("integration", integration),
                ("type", kind),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(count("zendesk ACTIVE", "zendesk", "success"), Some(30.0));
    assert_eq!(
        count("web_service ERROR", "web_service", "auth_failure"),
        Some(4.0)
    );
    assert_eq!(
        count("web_service ERROR", "web_service", "server_error"),
        Some(1.0)
    );
    // An id the integrations list does not have keeps its id.
    assert_eq!(count("gone-integration", "unknown", "success"), Some(2.0));
    common::promtool(&m.text);
}

#[tokio::test]
async fn reading_executions_without_the_permission_names_it() {
    let (server, _) = stand_in(pages(100)).await;
    Mock::given(method("POST"))
        .and(path(AGGREGATES))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "You are not authorized", "code": "missing.permissions", "status": 403
        })))
        .mount(&server)
        .await;
    let (report, _) = read(&common::config(&view_config(&server.uri(), ""))).await;
    let failure = report.outcome.expect_err("a part of the view failed");
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    assert!(
        failure.message.contains("integrations:action:view"),
        "{}",
        failure.message
    );
    // A window not read is asked again next time: the cursor did not move.
    assert_eq!(report.window, None);
    assert!(report.integrations.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn execution_windows_neither_overlap_nor_leave_a_gap_across_a_restart() {
    let (server, _) = stand_in(pages(100)).await;
    checks_pass(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let text = daemon_config(&server.uri(), "interval = \"1s\"", dir.path());
    let config = common::write(dir.path(), "c.toml", &text);
    let queries = |at_least: usize, what: &'static str| {
        let server = &server;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            loop {
                let seen = received(server, "POST", AGGREGATES).await;
                if seen.len() >= at_least {
                    return seen;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "timed out waiting for {what}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    let daemon = common::Daemon::start(&config, &[]);
    queries(3, "three windows read").await;
    let (status, _) = daemon.terminate();
    assert!(status.success());
    let before = queries(0, "").await.len();
    // Down for longer than the view's interval: a start that forgot where the last window
    // ended would look back one interval only, and leave a gap.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let daemon = common::Daemon::start(&config, &[]);
    queries(before + 1, "a window after the restart").await;
    drop(daemon);
    let windows: Vec<(i64, i64)> = queries(0, "").await.iter().map(interval_of).collect();
    assert!(windows.len() > before, "{windows:?}");
    let (start, end) = windows[before];
    assert!(
        end - start >= 2,
        "the window after the restart covers the downtime: {windows:?}"
    );
    for pair in windows.windows(2) {
        assert!(pair[0].0 < pair[0].1, "{windows:?}");
        assert_eq!(
            pair[0].1, pair[1].0,
            "each window starts where the last ended: {windows:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn genesys_and_credwatch_disagreeing_either_way_is_exported_and_marked() {
    let (server, _) = stand_in(pages(100)).await;
    // credwatch's check of `genesys_cloud ERROR` passes; `zendesk ACTIVE`'s fails (nothing
    // listens at its base URL).
    checks_pass(&server).await;
    // Genesys's side: the first refused with 401s, the second's executions succeed.
    Mock::given(method("POST"))
        .and(path(AGGREGATES))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"results": [
                executions("genesys_cloud-ERROR", "REMOTE_ENDPOINT_ERROR", "401", 5),
                executions("genesys_cloud-ERROR", "NONE", "200", 1),
                executions("zendesk-ACTIVE", "NONE", "200", 30),
            ]})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let text = daemon_config(&server.uri(), "interval = \"1s\"", dir.path());
    let config = common::write(dir.path(), "c.toml", &text);
    let daemon = common::Daemon::start(&config, &[]);
    // Checked now rather than at their places in the first interval.
    for name in ["zendesk%20ACTIVE", "genesys_cloud%20ERROR"] {
        let (status, body) = daemon
            .post(&format!("/api/v1/integrations/{name}/check"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let disagreement = |m: &Metrics, integration: &str, kind: &str, direction: &str| {
        m.get(
            "credwatch_genesys_disagreement",
            &[
                ("org", "acme"),
                ("integration", integration),
                ("type", kind),
                ("direction", direction),
            ],
        )
    };
    let m = daemon
        .metrics_when(Duration::from_secs(15), "both disagreements", |m| {
            disagreement(m, "genesys_cloud ERROR", "genesys_cloud", "genesys_fails") == Some(1.0)
                && disagreement(m, "zendesk ACTIVE", "zendesk", "credwatch_fails") == Some(1.0)
        })
        .await;
    // One series each: the direction, or none.
    assert_eq!(m.count("credwatch_genesys_disagreement", &[]), 2);
    assert_eq!(
        m.get(
            "credwatch_check_success",
            &[("org", "acme"), ("integration", "genesys_cloud ERROR")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "credwatch_check_success",
            &[("org", "acme"), ("integration", "zendesk ACTIVE")]
        ),
        Some(0.0)
    );

    let (_, body) = daemon.get("/api/v1/genesys").await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let compared = api["orgs"][0]["compared"].as_array().unwrap();
    let genesys = compared
        .iter()
        .find(|c| c["integration"] == "genesys_cloud ERROR")
        .unwrap();
    assert_eq!(genesys["disagreement"], "genesys_fails");
    assert_eq!(genesys["auth_failures"], 5);
    assert_eq!(genesys["credwatch"], "success");
    assert!(
        genesys["message"]
            .as_str()
            .unwrap()
            .contains("update the credential in Genesys")
    );
    let zendesk = compared
        .iter()
        .find(|c| c["integration"] == "zendesk ACTIVE")
        .unwrap();
    assert_eq!(zendesk["disagreement"], "credwatch_fails");
    assert_eq!(zendesk["successes"], 30);
    assert_eq!(zendesk["credwatch"], "network_error");
    let window = &api["orgs"][0]["executions"];
    assert!(
        window["start"].is_string() && window["end"].is_string(),
        "{window}"
    );

    // The page marks both rows, in credwatch's table and in the view's.
    let (_, page) = daemon.get("/").await;
    assert_eq!(
        page.matches("actions refused (401/403)").count(),
        2,
        "{page}"
    );
    assert_eq!(page.matches("actions succeed</span>").count(), 2, "{page}");
    assert!(page.contains("5 auth_failure"), "{page}");
}
