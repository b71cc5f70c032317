//! The schedule across reloads and restarts: integrations sit on a wall-clock grid, so a reload
//! checks only what it changed and a restart checks nothing that was checked within its
//! interval; and `/metrics` gzipped when the scraper asks.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{Daemon, write, zendesk_ok};
use credwatch::config::Config;

const INTERVAL: Duration = Duration::from_secs(3600);

fn zendesk(name: &str, base: &str) -> common::Fixture {
    common::zendesk(base, &common::from_env("ZD_TOKEN")).name(name)
}

/// Names checked within 3 s of a fresh start whose next grid point is more than 5 minutes
/// away: any other check the test sees comes from a reload or a restart.
fn quick_names(count: usize) -> Vec<String> {
    let now = SystemTime::now();
    (0..)
        .map(|n| format!("Zendesk {n}"))
        .filter(|name| {
            let text = format!(
                "[defaults]\ninterval = \"1h\"\n{}",
                zendesk(name, "http://127.0.0.1:1")
            );
            let config = Config::parse("t.toml", &text).unwrap();
            let integration = &config.integrations[0];
            let grid = credwatch::scheduler::on_grid(&integration.id, INTERVAL, now);
            credwatch::scheduler::first_delay(integration) < Duration::from_secs(3)
                && grid > now + Duration::from_secs(300)
        })
        .take(count)
        .collect()
}

fn config_text(dir: &Path, names: &[String], base: &str, changed: Option<&str>) -> String {
    let mut text = format!(
        "[defaults]\ninterval = \"1h\"\nstate_dir = \"{}\"\n",
        dir.join("state").display()
    );
    for name in names {
        let mut integration = zendesk(name, base);
        if Some(name.as_str()) == changed {
            integration = integration.set("timeout", "\"9s\"");
        }
        text.push_str(&integration.to_string());
    }
    text
}

fn checks(m: &common::Metrics, name: &str) -> f64 {
    m.get(
        "credwatch_checks_total",
        &[("integration", name), ("result", "success")],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_checks_what_changed_and_a_restart_checks_nothing_recent() {
    let server = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let names = quick_names(4);
    let config = write(
        dir.path(),
        "c.toml",
        &config_text(dir.path(), &names, &server.uri(), None),
    );
    let env = [("ZD_TOKEN", "zd-token-0123456789")];
    let daemon = Daemon::start(&config, &env);
    daemon
        .metrics_when(Duration::from_secs(15), "every first check", |m| {
            names.iter().all(|n| checks(m, n) == 1.0)
        })
        .await;

    // One integration changed: it alone is checked again, soon.
    write(
        dir.path(),
        "c.toml",
        &config_text(dir.path(), &names, &server.uri(), Some(&names[0])),
    );
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    daemon
        .metrics_when(Duration::from_secs(15), "the changed one checked", |m| {
            checks(m, &names[0]) == 2.0
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = daemon.metrics().await;
    for name in &names[1..] {
        assert_eq!(checks(&m, name), 1.0, "{name}: {}", m.text);
    }
    let before = server.received_requests().await.unwrap().len();
    assert_eq!(before, names.len() + 1);
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");

    // A restart: everything was checked within its interval, so nothing is checked now; the
    // last successes come from the state file.
    let daemon = Daemon::start(&config, &env);
    let m = daemon
        .metrics_when(Duration::from_secs(10), "last successes restored", |m| {
            names.iter().all(|n| {
                m.get(
                    "credwatch_check_last_success_timestamp_seconds",
                    &[("integration", n)],
                )
                .is_some()
            })
        })
        .await;
    assert_eq!(m.count("credwatch_checks_total", &[]), 0, "{}", m.text);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before,
        "{}",
        daemon.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_gzipped_when_the_scraper_asks() {
    let server = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let names = quick_names(1);
    let config = write(
        dir.path(),
        "c.toml",
        &config_text(dir.path(), &names, &server.uri(), None),
    );
    let daemon = Daemon::start(&config, &[("ZD_TOKEN", "zd-token-0123456789")]);
    let plain = daemon
        .metrics_when(Duration::from_secs(15), "the first check", |m| {
            checks(m, &names[0]) == 1.0
        })
        .await;
    let client = reqwest::Client::new();
    let response = client
        .get(daemon.url("/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    let bytes = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    let gzipped = common::Metrics::parse(&text);
    assert_eq!(checks(&gzipped, &names[0]), 1.0, "{text}");
    assert_eq!(
        gzipped.count("credwatch_integration_info", &[]),
        plain.count("credwatch_integration_info", &[])
    );
    common::promtool(&text);
    // Without the header: plain text.
    let response = client.get(daemon.url("/metrics")).send().await.unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("# TYPE credwatch_check_success gauge")
    );
}
