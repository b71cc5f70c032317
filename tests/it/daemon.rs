//! The built binary as a daemon: several integrations (one inactive, one hanging provider), the
//! scrape asserted series by series and linted by `promtool`, the hanging provider delaying no
//! one, graceful shutdown, and the last success surviving a restart.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Daemon, from_env, from_file, write};
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
        common::token_answer("at", 3600)
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
    let token = from_file(write(dir.path(), "zd-token", "zd-token-0123456789\n"));
    let text = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"5s\"\nstate_dir = \"{}\"\n{}{}{}{}{}",
        dir.path().join("state").display(),
        common::zendesk(&ok.uri(), &token).name("Zendesk ok"),
        common::zendesk(&hung.uri(), &token)
            .name("Zendesk hung")
            .set("timeout", "\"12s\""),
        common::zendesk(&inactive.uri(), &token)
            .name("Zendesk off")
            .set("active", "false"),
        common::genesys_cloud(&gc_ok.uri(), &from_env("GENESYS_SECRET")).name("Genesys ok"),
        common::genesys_cloud(&gc_bad.uri(), &from_env("GENESYS_SECRET")).name("Genesys bad"),
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
            common::zendesk(base, &from_file(&token)).name("Zendesk")
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

/// An HTTP/1.1 server that answers `200 ok` and closes a keep-alive connection `idle` after its
/// last answer, as servers with a keep-alive timeout do, in the worst way for a client: its
/// timer fires just as the next request arrives. Any request on a connection idle for more than
/// half of `idle` is that request: the connection closes with it unanswered.
async fn closes_idle_connections(idle: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut answered: Option<std::time::Instant> = None;
                loop {
                    let mut buffer = [0u8; 4096];
                    let read = tokio::time::timeout(idle, socket.read(&mut buffer)).await;
                    let Ok(Ok(n @ 1..)) = read else { return };
                    request.extend_from_slice(&buffer[..n]);
                    if request.windows(4).any(|w| w == b"\r\n\r\n") {
                        if answered.is_some_and(|at| at.elapsed() > idle / 2) {
                            return;
                        }
                        answered = Some(std::time::Instant::now());
                        request.clear();
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_closing_idle_connections_at_the_interval_causes_no_failure() {
    // 40 integrations, each on a server of its own (a pool of its own), checked every second
    // by servers that close idle connections after exactly a second.
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"5s\"\nstate_dir = \"{}\"\n",
        dir.path().join("state").display()
    );
    for n in 0..40 {
        let addr = closes_idle_connections(Duration::from_secs(1)).await;
        text.push_str(&format!(
            "\n[[integration]]\ntype = \"web_service\"\nname = \"ws{n}\"\n[integration.credentials]\ncredential_type = \"none\"\n[integration.request]\nurl = \"http://{addr}/health\"\n"
        ));
    }
    let config = write(dir.path(), "credwatch.toml", &text);
    let daemon = Daemon::start(&config, &[]);
    let checks = |m: &common::Metrics| {
        (0..40)
            .map(|n| {
                let name = format!("ws{n}");
                let labels = [("integration", name.as_str()), ("result", "success")];
                m.get("credwatch_checks_total", &labels).unwrap_or(0.0)
            })
            .sum::<f64>()
    };
    let m = daemon
        .metrics_when(Duration::from_secs(60), "400 checks", |m| {
            checks(m) >= 400.0
        })
        .await;
    let failed: Vec<&str> = m
        .text
        .lines()
        .filter(|l| l.starts_with("credwatch_checks_total") && !l.contains("result=\"success\""))
        .collect();
    assert!(failed.is_empty(), "{failed:?}\nlogs:\n{}", daemon.logs());
    assert!(!daemon.logs().contains("check failed"), "{}", daemon.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forced_check_running_at_sigterm_is_saved() {
    let service = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&service)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let config = write(
        dir.path(),
        "credwatch.toml",
        &format!(
            "[defaults]\ninterval = \"1h\"\ntimeout = \"10s\"\nstate_dir = \"{}\"\n\n[[integration]]\ntype = \"web_service\"\nname = \"Slow\"\n[integration.credentials]\ncredential_type = \"none\"\n[integration.request]\nurl = \"{}/slow\"\n",
            dir.path().join("state").display(),
            service.uri()
        ),
    );
    // Checked just now (by `credwatch check`): the daemon's schedule waits most of an hour.
    let checked = common::binary()
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");

    // Now the service is slow and failing; a forced check is running when SIGTERM comes, and
    // runs longer than the server gives its requests to finish.
    service.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_secs(7)))
        .mount(&service)
        .await;
    let daemon = Daemon::start(&config, &[]);
    let url = daemon.url("/api/v1/integrations/Slow/check");
    let forced = tokio::spawn(async move { reqwest::Client::new().post(url).send().await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while service.received_requests().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the forced check never came"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    let _ = forced.await;

    let daemon = Daemon::start(&config, &[]);
    let (status, body) = daemon.get("/api/v1/integrations/Slow").await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["result"], "provider_error", "{view}\nlogs:\n{logs}");
    assert_eq!(view["history"].as_array().unwrap().len(), 2, "{view}");
}
