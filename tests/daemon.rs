//! The built binary as a daemon: several integrations (one inactive, one hanging provider), the
//! scrape asserted series by series and linted by `promtool`, the hanging provider delaying no
//! one, graceful shutdown, and the last success surviving a restart.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Daemon, write};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ZD_AUTH: &str = "Basic b3BzQGV4YW1wbGUuY29tL3Rva2VuOnpkLXRva2VuLTAxMjM0NTY3ODk=";

async fn zendesk(delay: Duration, expected: Option<u64>) -> MockServer {
    let server = MockServer::start().await;
    let mock = Mock::given(method("GET"))
        .and(path("/api/v2/users/me.json"))
        .and(header("authorization", ZD_AUTH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    serde_json::json!({"user": {"id": 1, "active": true, "suspended": false}}),
                )
                .set_delay(delay),
        );
    let mock = match expected {
        Some(n) => mock.expect(n),
        None => mock,
    };
    mock.mount(&server).await;
    server
}

async fn genesys(token_status: u16) -> MockServer {
    let server = MockServer::start().await;
    let token = if token_status == 200 {
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "at", "token_type": "bearer", "expires_in": 3600}),
        )
    } else {
        ResponseTemplate::new(token_status)
            .set_body_json(serde_json::json!({"error": "invalid_client"}))
    };
    Mock::given(path("/oauth/token"))
        .respond_with(token)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/tokens/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"name": "x"})))
        .mount(&server)
        .await;
    server
}

fn zendesk_block(name: &str, base: &str, token_file: &str, extra: &str) -> String {
    format!(
        r#"
[[integration]]
type = "zendesk"
name = "{name}"
{extra}
[integration.credentials]
email = "ops@example.com"
base_url = "{base}"
api_token = {{ file = "{token_file}" }}
"#
    )
}

fn genesys_block(name: &str, base: &str) -> String {
    format!(
        r#"
[[integration]]
type = "genesys_cloud"
name = "{name}"
[integration.credentials]
client_id = "cid"
client_secret = {{ env = "GENESYS_SECRET" }}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{base}/oauth/token"
verify_url = "{base}/api/v2/tokens/me"
"#
    )
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_exports_every_series_and_a_hung_provider_delays_no_one() {
    let ok = zendesk(Duration::ZERO, None).await;
    let hung = zendesk(Duration::from_secs(120), None).await;
    let inactive = zendesk(Duration::ZERO, Some(0)).await;
    let gc_ok = genesys(200).await;
    let gc_bad = genesys(401).await;
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "zd-token", "zd-token-0123456789\n");
    let token = token.to_str().unwrap();
    let text = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"5s\"\nstate_dir = \"{}\"\n{}{}{}{}{}",
        dir.path().join("state").display(),
        zendesk_block("Zendesk ok", &ok.uri(), token, ""),
        zendesk_block("Zendesk hung", &hung.uri(), token, "timeout = \"12s\""),
        zendesk_block("Zendesk off", &inactive.uri(), token, "active = false"),
        genesys_block("Genesys ok", &gc_ok.uri()),
        genesys_block("Genesys bad", &gc_bad.uri()),
    );
    let config = write(dir.path(), "credwatch.toml", &text);
    let daemon = Daemon::start(&config, &[("GENESYS_SECRET", "gc-secret")]);

    assert_eq!(daemon.get("/healthz").await.0, 200);
    let success = [("integration", "Zendesk ok"), ("result", "success")];
    let m = daemon
        .metrics_when(Duration::from_secs(20), "three passes of Zendesk ok", |m| {
            m.get("credwatch_checks_total", &success).unwrap_or(0.0) >= 3.0
                && m.get("credwatch_check_success", &[("integration", "Genesys bad")])
                    .is_some()
                && m.get("credwatch_check_success", &[("integration", "Genesys ok")])
                    .is_some()
        })
        .await;

    // The hung provider has not finished a single check, yet the others went on.
    assert_eq!(
        m.count(
            "credwatch_check_last_run_timestamp_seconds",
            &[("integration", "Zendesk hung")]
        ),
        0
    );
    assert_eq!(
        m.count("credwatch_checks_total", &[("integration", "Zendesk hung")]),
        0
    );
    let (ready, body) = daemon.get("/readyz").await;
    assert_eq!(ready, 503, "{body}");
    assert!(body.contains("3 of 4"), "{body}");

    let zd = [("integration", "Zendesk ok"), ("type", "zendesk")];
    assert_eq!(m.get("credwatch_check_success", &zd), Some(1.0));
    let last_run = m
        .get("credwatch_check_last_run_timestamp_seconds", &zd)
        .unwrap();
    assert!((now() - last_run).abs() < 10.0, "last run {last_run}");
    let last_success = m
        .get("credwatch_check_last_success_timestamp_seconds", &zd)
        .unwrap();
    assert!((now() - last_success).abs() < 10.0);
    let last_duration = m.get("credwatch_check_last_duration_seconds", &zd).unwrap();
    assert!(last_duration > 0.0 && last_duration < 5.0);
    assert_eq!(
        m.count(
            "credwatch_check_failure_reason",
            &[("integration", "Zendesk ok")]
        ),
        0
    );
    assert_eq!(
        m.count(
            "credwatch_token_expiry_timestamp_seconds",
            &[("integration", "Zendesk ok")]
        ),
        0
    );

    let gc = [("integration", "Genesys ok"), ("type", "genesys_cloud")];
    assert_eq!(m.get("credwatch_check_success", &gc), Some(1.0));
    let expiry = m
        .get("credwatch_token_expiry_timestamp_seconds", &gc)
        .unwrap();
    assert!((expiry - (now() + 3600.0)).abs() < 30.0, "expiry {expiry}");

    let bad = [("integration", "Genesys bad"), ("type", "genesys_cloud")];
    assert_eq!(m.get("credwatch_check_success", &bad), Some(0.0));
    assert_eq!(
        m.get(
            "credwatch_check_failure_reason",
            &[bad[0], bad[1], ("reason", "invalid_credentials")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.count(
            "credwatch_check_failure_reason",
            &[("integration", "Genesys bad")]
        ),
        1
    );
    assert!(
        m.get(
            "credwatch_checks_total",
            &[bad[0], ("result", "invalid_credentials")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        m.count(
            "credwatch_check_last_success_timestamp_seconds",
            &[("integration", "Genesys bad")]
        ),
        0
    );

    // The inactive integration is inventory only, and its provider was never called.
    assert_eq!(
        m.get(
            "credwatch_integration_info",
            &[
                ("integration", "Zendesk off"),
                ("active", "false"),
                ("credential_type", "api_token")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "credwatch_integration_info",
            &[
                ("integration", "Genesys ok"),
                ("active", "true"),
                ("credential_type", "client_credentials")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.count("credwatch_check_success", &[("integration", "Zendesk off")]),
        0
    );
    assert!(inactive.received_requests().await.unwrap().is_empty());

    assert_eq!(
        m.get("credwatch_integrations", &[("type", "zendesk")]),
        Some(3.0)
    );
    assert_eq!(
        m.get("credwatch_integrations", &[("type", "genesys_cloud")]),
        Some(2.0)
    );
    assert_eq!(
        m.get("credwatch_integrations", &[("type", "google")]),
        Some(0.0)
    );
    assert_eq!(
        m.get("credwatch_integrations_limit", &[("type", "zendesk")]),
        Some(10.0)
    );
    assert_eq!(
        m.get("credwatch_integrations_limit", &[("type", "salesforce")]),
        Some(50.0)
    );
    assert_eq!(
        m.get("credwatch_integrations_limit", &[("type", "google")]),
        Some(100.0)
    );
    assert_eq!(
        m.get("credwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(
        m.get(
            "credwatch_config_last_reload_success_timestamp_seconds",
            &[]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        m.get(
            "credwatch_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let histogram_count = m
        .get(
            "credwatch_check_duration_seconds_count",
            &[("type", "zendesk")],
        )
        .unwrap();
    assert!(histogram_count >= 3.0);
    assert!(m.get("process_resident_memory_bytes", &[]).unwrap() > 0.0);

    common::promtool(&m.text);

    // SIGTERM: the hung check is drained (bounded by its 12 s timeout), then a clean exit.
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "exit {status:?}; logs:\n{logs}");
    assert!(logs.contains("stopped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn last_success_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "zd-token", "zd-token-0123456789");
    let state_dir = dir.path().join("state");
    let config_for = |base: &str| {
        format!(
            "[defaults]\ninterval = \"1s\"\ntimeout = \"3s\"\nstate_dir = \"{}\"\n{}",
            state_dir.display(),
            zendesk_block("Zendesk", base, token.to_str().unwrap(), "")
        )
    };
    let labels = [("integration", "Zendesk"), ("type", "zendesk")];

    let server = zendesk(Duration::ZERO, None).await;
    let config = write(dir.path(), "a.toml", &config_for(&server.uri()));
    let daemon = Daemon::start(&config, &[]);
    daemon
        .metrics_when(Duration::from_secs(15), "a success", |m| {
            m.get("credwatch_check_success", &labels) == Some(1.0)
        })
        .await;
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(saved["format"], "credwatch-state");
    let saved = saved["integrations"]["default/Zendesk"]["last_success"]
        .as_f64()
        .expect("last success saved");
    drop(server);

    // The provider is gone now: checks fail, and the last success is the one saved.
    let gone = format!("http://127.0.0.1:{}", common::refused_port());
    let config = write(dir.path(), "b.toml", &config_for(&gone));
    let daemon = Daemon::start(&config, &[]);
    let failed = [labels[0], ("result", "network_error")];
    let m = daemon
        .metrics_when(Duration::from_secs(15), "a failed check", |m| {
            m.get("credwatch_checks_total", &failed).is_some()
        })
        .await;
    assert_eq!(m.get("credwatch_check_success", &labels), Some(0.0));
    assert_eq!(
        m.get("credwatch_check_last_success_timestamp_seconds", &labels),
        Some(saved)
    );
}
