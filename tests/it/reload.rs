//! Reloading the config: SIGHUP and `POST /-/reload` swap in a valid config (new integrations
//! checked, removed ones' series gone); a bad config keeps the running one and flips
//! `credwatch_config_last_reload_successful` to 0.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{Daemon, write};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn zendesk(name: &str, base: &str) -> common::Fixture {
    common::zendesk(base, &common::from_env("ZD")).name(name)
}

fn header(state: &std::path::Path) -> String {
    format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"3s\"\nstate_dir = \"{}\"\n",
        state.display()
    )
}

fn passes(m: &common::Metrics, name: &str) -> f64 {
    m.get(
        "credwatch_checks_total",
        &[("integration", name), ("result", "success")],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_swaps_valid_configs_and_keeps_the_running_one_on_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/users/me.json"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"user": {"id": 1}})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let uri = server.uri();
    let config = write(
        dir.path(),
        "c.toml",
        &format!(
            "{}{}{}",
            header(&state),
            zendesk("One", &uri),
            zendesk("Two", &uri)
        ),
    );
    let daemon = Daemon::start(&config, &[("ZD", "token")]);
    daemon
        .metrics_when(Duration::from_secs(15), "One and Two pass", |m| {
            passes(m, "One") >= 1.0 && passes(m, "Two") >= 1.0
        })
        .await;

    // SIGHUP with Two removed and Three added.
    write(
        dir.path(),
        "c.toml",
        &format!(
            "{}{}{}",
            header(&state),
            zendesk("One", &uri),
            zendesk("Three", &uri)
        ),
    );
    let pid = daemon.pid().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let m = daemon
        .metrics_when(Duration::from_secs(15), "Three passes after SIGHUP", |m| {
            passes(m, "Three") >= 1.0
        })
        .await;
    assert_eq!(
        m.get("credwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    for metric in [
        "credwatch_check_success",
        "credwatch_checks_total",
        "credwatch_integration_info",
        "credwatch_check_last_run_timestamp_seconds",
    ] {
        assert_eq!(
            m.count(metric, &[("integration", "Two")]),
            0,
            "{metric} of Two is gone"
        );
    }
    assert_eq!(
        m.get("credwatch_integrations", &[("type", "zendesk")]),
        Some(2.0)
    );
    let one_before = passes(&m, "One");
    assert!(one_before >= 1.0, "One kept its counter across the reload");

    // A broken config: the running one stays, the metric says so, the log names the line.
    write(
        dir.path(),
        "c.toml",
        &format!(
            "{}[[integration]]\ntype = \"zendesk\"\nname = \n",
            header(&state)
        ),
    );
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let m = daemon
        .metrics_when(Duration::from_secs(15), "the failed reload to show", |m| {
            m.get("credwatch_config_last_reload_successful", &[]) == Some(0.0)
        })
        .await;
    assert!(daemon.logs().contains("c.toml:7"), "{}", daemon.logs());
    let passes_then = passes(&m, "Three");
    daemon
        .metrics_when(
            Duration::from_secs(15),
            "the running config to go on being checked",
            |m| passes(m, "Three") > passes_then && passes(m, "One") > one_before,
        )
        .await;

    // The same over HTTP: a 500 naming the line, then a 200 once the file is fixed.
    let client = reqwest::Client::new();
    let response = client.post(daemon.url("/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert!(response.text().await.unwrap().contains("c.toml:7"));
    write(
        dir.path(),
        "c.toml",
        &format!("{}{}", header(&state), zendesk("Only", &uri)),
    );
    let response = client.post(daemon.url("/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let m = daemon
        .metrics_when(Duration::from_secs(15), "Only passes", |m| {
            passes(m, "Only") >= 1.0
        })
        .await;
    assert_eq!(
        m.get("credwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert_eq!(
        m.count("credwatch_check_success", &[("integration", "One")]),
        0
    );
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_requests_during_a_reload_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let text = header(&dir.path().join("state")).replace("interval = \"1s\"", "interval = \"1h\"");
    // Enough integrations (20 orgs of 10) that a reload takes a moment.
    let orgs = dir.path().join("orgs");
    std::fs::create_dir(&orgs).unwrap();
    for org in 0..20 {
        let mut text = String::new();
        for n in 0..10 {
            let inactive = zendesk(&format!("z{n}"), "http://127.0.0.1:9").set("active", "false");
            text.push_str(&inactive.to_string());
        }
        write(&orgs, &format!("org{org}.toml"), &text);
    }
    let config = write(
        dir.path(),
        "c.toml",
        &format!("include = [\"orgs/*.toml\"]\n{text}"),
    );
    let daemon = Daemon::start(&config, &[("ZD", "token-value")]);
    let client = reqwest::Client::new();
    let posts: Vec<_> = (0..200)
        .map(|_| {
            let request = client.post(daemon.url("/-/reload"));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), 200);
    }
    let reloads = daemon.logs().matches("config reloaded").count();
    // Each reload answers every request waiting when it starts: far fewer than 200.
    assert!(
        (1..=50).contains(&reloads),
        "200 requests made {reloads} reloads"
    );
}
