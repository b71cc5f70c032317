//! Canary actions (`[[genesys.canary]]`) against a Genesys Cloud stand-in: Genesys runs each
//! data action with `POST /api/v2/integrations/actions/{action}/test` and the canary's input; a
//! passing test, a step the third party refused (401), a missing action (404) and a missing
//! permission (403) each get their metrics, their page row and their API entry; the messages
//! Genesys echoes (the view's secret and token, the spoken-for integration's password) are
//! scrubbed everywhere; a reload without a canary drops its series; a canary keeps its schedule
//! across reloads and restarts unless it changed; config mistakes name the field.

use crate::common;

use std::time::Duration;

use common::{Fixture, Metrics, quoted};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "canary-view-token-5f1e2d3c4b";
const SECRET: &str = "canary-view-s3cr3t-91ab7c";
const PASSWORD: &str = "orders-api-p4ss-0c8d6e";

/// A Genesys Cloud stand-in: a token, an empty org view, the revocation, and the four actions.
async fn genesys() -> MockServer {
    let server = MockServer::start().await;
    common::mock_token(&server, "/oauth/token", TOKEN).await;
    let empty = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    for (verb, at, body) in [
        (
            "GET",
            "/api/v2/integrations",
            serde_json::json!({"entities": [], "pageCount": 1}),
        ),
        (
            "GET",
            "/api/v2/integrations/actions/certificates",
            serde_json::json!({"entities": []}),
        ),
        (
            "POST",
            "/api/v2/analytics/actions/aggregates/query",
            serde_json::json!({}),
        ),
        (
            "GET",
            "/api/v2/oauth/clients/cid",
            serde_json::json!({"id": "cid", "state": "active"}),
        ),
        (
            "GET",
            "/api/v2/tokens/me",
            serde_json::json!({"name": "cid"}),
        ),
    ] {
        Mock::given(method(verb))
            .and(path(at))
            .respond_with(empty(body))
            .mount(&server)
            .await;
    }
    Mock::given(method("DELETE"))
        .and(path("/api/v2/tokens/me"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let action = |id: &str| format!("/api/v2/integrations/actions/{id}/test");
    Mock::given(method("POST"))
        .and(path(action("custom_-_ok")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(serde_json::json!({"orderId": "1001", "verbose": true})))
        .respond_with(empty(serde_json::json!({
            "operations": [{"step": 1, "name": "Execute", "success": true, "result": {"status": 200}}],
            "finalResult": {"name": "Ada"}, "success": true
        })))
        .mount(&server)
        .await;
    // The third party refuses Genesys's credential; the message echoes what it was sent.
    let echoed = format!(
        "Response from web service: {{\"error\":\"bad credentials {PASSWORD}\",\"seen\":\"Bearer {TOKEN} {SECRET}\"}}"
    );
    Mock::given(method("POST"))
        .and(path(action("custom_-_refused")))
        .respond_with(empty(serde_json::json!({
            "operations": [
                {"step": 1, "name": "Resolve request configuration template", "success": true},
                {"step": 2, "name": "Execute", "success": false, "error": {
                    "message": "REST call for action execute failed.", "code": "UNAUTHORIZED", "status": 401,
                    "details": [{"errorCode": "ACTION.REMOTE_ENDPOINT"}],
                    "errors": [{"message": echoed, "code": "UNAUTHORIZED", "status": 401}]
                }}
            ],
            "error": {"message": "REST call for action execute failed.", "code": "UNAUTHORIZED", "status": 401},
            "success": false
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(action("custom_-_gone")))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "message": "Action custom_-_gone not found", "code": "not.found", "status": 404
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(action("custom_-_forbidden")))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "You are missing the following permission(s): integrations:action:execute",
            "code": "missing.any.permissions", "status": 403
        })))
        .mount(&server)
        .await;
    server
}

/// A canary entry.
fn canary(action: &str, extra: &str) -> String {
    format!(
        "\n[[genesys.canary]]\naction = {}\n{extra}\n",
        quoted(action)
    )
}

/// The org `acme`: its view read with "Genesys Cloud" at `base`, `canaries` under it, and the
/// web service "Orders API" the canaries speak for.
fn config(base: &str, canaries: &str, dir: &std::path::Path) -> String {
    let view = Fixture::new("genesys_cloud")
        .name("Genesys Cloud")
        .credential("client_id", &quoted("cid"))
        .credential("client_secret", &quoted(SECRET))
        .credential("region", &quoted("mypurecloud.com"))
        .endpoint("token_url", &format!("{base}/oauth/token"))
        .endpoint("verify_url", &format!("{base}/api/v2/tokens/me"));
    let orders = Fixture::new("web_service")
        .name("Orders API")
        .credential("credential_type", &quoted("basic"))
        .credential("username", &quoted("orders"))
        .credential("password", &quoted(PASSWORD));
    format!(
        "org = \"acme\"\n\n[defaults]\ninterval = \"1h\"\nstate_dir = {}\n\n[genesys]\nintegration = \"Genesys Cloud\"\ninterval = \"1h\"\n{canaries}\n{view}\n{orders}[integration.request]\nurl = \"http://127.0.0.1:1/health\"\n",
        quoted(&dir.join("state").display().to_string())
    )
}

fn all_four() -> String {
    [
        canary(
            "custom_-_ok",
            "integration = \"Orders API\"\ninput = { orderId = \"1001\", verbose = true }",
        ),
        canary("custom_-_refused", "integration = \"Orders API\""),
        canary("custom_-_gone", ""),
        canary("custom_-_forbidden", "interval = \"30m\""),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn genesys_runs_each_canary_and_each_result_is_exported_shown_and_scrubbed() {
    let server = genesys().await;
    let dir = tempfile::tempdir().unwrap();
    let text = config(&server.uri(), &all_four(), dir.path());
    let file = common::write(dir.path(), "c.toml", &text);
    let daemon = common::Daemon::start(&file, &[]);
    let success = |m: &Metrics, action: &str, integration: &str| {
        m.get(
            "credwatch_genesys_canary_success",
            &[
                ("org", "acme"),
                ("action", action),
                ("integration", integration),
            ],
        )
    };
    let m = daemon
        .metrics_when(Duration::from_secs(15), "every canary ran", |m| {
            m.count("credwatch_genesys_canary_last_run_timestamp_seconds", &[]) == 4
        })
        .await;
    assert_eq!(success(&m, "custom_-_ok", "Orders API"), Some(1.0));
    assert_eq!(success(&m, "custom_-_refused", "Orders API"), Some(0.0));
    assert_eq!(success(&m, "custom_-_gone", ""), Some(0.0));
    assert_eq!(success(&m, "custom_-_forbidden", ""), Some(0.0));
    let reason = |action: &str| {
        let found: Vec<String> = m
            .text
            .lines()
            .filter(|l| l.starts_with("credwatch_genesys_canary_failure_reason{"))
            .filter(|l| l.contains(&format!("action=\"{action}\"")))
            .map(String::from)
            .collect();
        assert_eq!(found.len(), 1, "{action}: {found:?}");
        found[0].clone()
    };
    assert!(reason("custom_-_refused").contains("reason=\"invalid_credentials\""));
    assert!(reason("custom_-_gone").contains("reason=\"config_error\""));
    assert!(reason("custom_-_forbidden").contains("reason=\"permission_denied\""));
    assert_eq!(
        m.count(
            "credwatch_genesys_canary_failure_reason",
            &[("action", "custom_-_ok")]
        ),
        0
    );
    assert!(
        m.get(
            "credwatch_genesys_canary_last_success_timestamp_seconds",
            &[("action", "custom_-_ok")]
        )
        .is_some()
    );
    common::promtool(&m.text);
    // Each ran once (the next run is an interval away).
    let tests: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/test"))
        .collect();
    assert_eq!(tests.len(), 4);

    // The API: each result, the failing step and its message.
    let (_, body) = daemon.get("/api/v1/genesys").await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let canaries = api["orgs"][0]["canaries"].as_array().expect("canaries");
    let of = |action: &str| canaries.iter().find(|c| c["action"] == action).unwrap();
    assert_eq!(of("custom_-_ok")["result"], "success");
    let refused = of("custom_-_refused");
    assert_eq!(refused["result"], "invalid_credentials");
    assert_eq!(refused["step"], "Execute");
    assert_eq!(refused["integration"], "Orders API");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("bad credentials"), "{message}");
    assert!(message.contains("HTTP 401"), "{message}");
    // What the third party echoed is there, its secrets are not.
    assert!(message.contains("[redacted]"), "{message}");
    assert!(
        of("custom_-_gone")["message"]
            .as_str()
            .unwrap()
            .contains("has no data action custom_-_gone")
    );
    assert!(
        of("custom_-_forbidden")["message"]
            .as_str()
            .unwrap()
            .contains("integrations:action:execute")
    );

    // The page: one row each, the failing step named.
    let (_, page) = daemon.get("/").await;
    assert!(page.contains("Canary action (run by Genesys)"), "{page}");
    for action in [
        "custom_-_ok",
        "custom_-_refused",
        "custom_-_gone",
        "custom_-_forbidden",
    ] {
        assert!(page.contains(action), "{action}");
    }
    assert!(page.contains("<td>Execute</td>"), "{page}");

    // Nothing Genesys echoed leaves credwatch.
    let logs = daemon.logs();
    for (place, text) in [
        ("page", &page),
        ("api", &body),
        ("metrics", &m.text),
        ("logs", &logs),
    ] {
        for secret in [SECRET, TOKEN, PASSWORD] {
            assert!(!text.contains(secret), "{place} leaks {secret}");
        }
    }
    assert!(logs.contains("genesys.canary.action"), "{logs}");

    // A reload without the refused canary drops its series and its entry.
    let fewer = [
        canary(
            "custom_-_ok",
            "integration = \"Orders API\"\ninput = { orderId = \"1001\", verbose = true }",
        ),
        canary("custom_-_gone", ""),
        canary("custom_-_forbidden", "interval = \"30m\""),
    ]
    .concat();
    common::write(
        dir.path(),
        "c.toml",
        &config(&server.uri(), &fewer, dir.path()),
    );
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let m = daemon.metrics().await;
    assert_eq!(
        m.count(
            "credwatch_genesys_canary_success",
            &[("action", "custom_-_refused")]
        ),
        0
    );
    assert_eq!(
        m.count(
            "credwatch_genesys_canary_runs_total",
            &[("action", "custom_-_refused")]
        ),
        0
    );
    let (_, body) = daemon.get("/api/v1/genesys").await;
    assert!(!body.contains("custom_-_refused"), "{body}");
}

/// The action tests Genesys ran of `action`.
async fn tests_of(server: &MockServer, action: &str) -> usize {
    let at = format!("/api/v2/integrations/actions/{action}/test");
    common::received(server, "POST", &at).await.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_runs_at_its_interval_across_reloads_and_restarts_unless_it_changed() {
    let server = genesys().await;
    let dir = tempfile::tempdir().unwrap();
    let ok = canary(
        "custom_-_ok",
        "integration = \"Orders API\"\ninput = { orderId = \"1001\", verbose = true }",
    );
    let two = ok.clone() + &canary("custom_-_refused", "integration = \"Orders API\"");
    let file = common::write(
        dir.path(),
        "c.toml",
        &config(&server.uri(), &two, dir.path()),
    );
    let daemon = common::Daemon::start(&file, &[]);
    let runs = |m: &Metrics, action: &str| {
        m.count("credwatch_genesys_canary_runs_total", &[("action", action)])
    };
    daemon
        .metrics_when(Duration::from_secs(15), "both canaries ran", |m| {
            m.count("credwatch_genesys_canary_last_run_timestamp_seconds", &[]) == 2
        })
        .await;

    // A reload: the refused canary no longer speaks for "Orders API" (changed: it runs at
    // once); the passing one is as it was (its next run is an hour after its last).
    let changed = ok.clone() + &canary("custom_-_refused", "");
    common::write(
        dir.path(),
        "c.toml",
        &config(&server.uri(), &changed, dir.path()),
    );
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let m = daemon
        .metrics_when(Duration::from_secs(15), "the changed canary ran", |m| {
            m.get(
                "credwatch_genesys_canary_success",
                &[("action", "custom_-_refused"), ("integration", "")],
            ) == Some(0.0)
        })
        .await;
    // A run is recorded when every test of it answered: the unchanged one was not in it.
    assert_eq!(tests_of(&server, "custom_-_refused").await, 2);
    assert_eq!(
        tests_of(&server, "custom_-_ok").await,
        1,
        "{}",
        daemon.logs()
    );
    assert_eq!(
        m.get(
            "credwatch_genesys_canary_success",
            &[("action", "custom_-_ok")]
        ),
        Some(1.0)
    );
    assert_eq!(runs(&m, "custom_-_ok"), 1);
    let (status, _) = daemon.terminate();
    assert!(status.success());
    let state = std::fs::read_to_string(dir.path().join("state/state.json")).unwrap();
    assert!(state.contains("\"canaries\""), "{state}");
    for secret in [SECRET, TOKEN, PASSWORD] {
        assert!(!state.contains(secret), "the state keeps {secret}");
    }

    // A restart: neither runs (an hour has not passed); both are shown as they last ran, and
    // counted by no runs counter of this run.
    let daemon = common::Daemon::start(&file, &[]);
    let m = daemon
        .metrics_when(Duration::from_secs(15), "the canaries shown again", |m| {
            m.count("credwatch_genesys_canary_success", &[]) == 2
                && m.count("credwatch_genesys_view_success", &[]) == 1
        })
        .await;
    assert_eq!(
        m.get(
            "credwatch_genesys_canary_success",
            &[("action", "custom_-_ok"), ("integration", "Orders API")]
        ),
        Some(1.0)
    );
    assert!(
        m.get(
            "credwatch_genesys_canary_failure_reason",
            &[
                ("action", "custom_-_refused"),
                ("reason", "invalid_credentials")
            ]
        ) == Some(1.0),
        "{}",
        m.text
    );
    assert_eq!(m.count("credwatch_genesys_canary_runs_total", &[]), 0);
    let (_, body) = daemon.get("/api/v1/genesys").await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let refused = api["orgs"][0]["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "custom_-_refused")
        .cloned()
        .unwrap();
    assert_eq!(refused["step"], "Execute", "{body}");
    assert!(
        refused["message"].as_str().unwrap().contains("[redacted]"),
        "{body}"
    );
    // Had either been due, it would have run at the start: give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tests_of(&server, "custom_-_ok").await, 1);
    assert_eq!(tests_of(&server, "custom_-_refused").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_refused_the_credential_of_a_guarded_integration_is_held_across_restarts() {
    let server = genesys().await;
    let dir = tempfile::tempdir().unwrap();
    // "Orders API" logs in with a password (basic): the lockout guard is on. The missing action,
    // every second, is the clock.
    let canaries = canary(
        "custom_-_refused",
        "integration = \"Orders API\"\ninterval = \"1s\"",
    ) + &canary("custom_-_gone", "interval = \"1s\"");
    let text = config(&server.uri(), &canaries, dir.path());
    let file = common::write(dir.path(), "c.toml", &text);
    // What Genesys says of the action's credential: modified long ago (another credential
    // changed later, on the listing's first page; the action's is on its second).
    let answer = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("GET"))
        .and(path("/api/v2/integrations/actions/custom_-_refused"))
        .respond_with(answer(
            serde_json::json!({"id": "custom_-_refused", "integrationId": "int-orders"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/integrations/int-orders/config/current"))
        .respond_with(answer(serde_json::json!({"credentials": {
            "basicAuth": {"id": "cred-orders", "name": "Orders", "type": {"name": "basicAuth"}}
        }})))
        .mount(&server)
        .await;
    let listing = "/api/v2/integrations/credentials/listing";
    Mock::given(method("GET"))
        .and(path(listing))
        .and(query_param_is_missing("after"))
        .respond_with(answer(serde_json::json!({
            "entities": [{"id": "cred-other", "modifiedDate": "2099-01-01T00:00:00.000Z"}],
            "nextUri": format!("{listing}?pageSize=200&after=page-2")
        })))
        .mount(&server)
        .await;
    let second_page = |modified: &str| {
        Mock::given(method("GET"))
            .and(path(listing))
            .and(query_param("after", "page-2"))
            .respond_with(answer(serde_json::json!({
                "entities": [{"id": "cred-orders", "modifiedDate": modified}]
            })))
    };
    second_page("2020-01-01T00:00:00.000Z").mount(&server).await;
    let daemon = common::Daemon::start(&file, &[]);
    let server = &server;
    let ticks = |n: usize| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tests_of(server, "custom_-_gone").await < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{n} runs of the clock"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    ticks(3).await;
    assert_eq!(tests_of(server, "custom_-_refused").await, 1);
    let held = |body: &str| {
        let api: serde_json::Value = serde_json::from_str(body).unwrap();
        let of = |action: &str| {
            let canaries = api["orgs"][0]["canaries"].as_array().unwrap();
            let found = canaries.iter().find(|c| c["action"] == action).unwrap();
            found["held_until"].clone()
        };
        (of("custom_-_refused"), of("custom_-_gone"))
    };
    let (_, body) = daemon.get("/api/v1/genesys").await;
    let (refused, gone) = held(&body);
    let until = chrono::DateTime::parse_from_rfc3339(refused.as_str().expect("held")).unwrap();
    let hours = (until.timestamp() - chrono::Utc::now().timestamp()) as f64 / 3600.0;
    assert!(
        (5.9..=6.0).contains(&hours),
        "held for guard_retry (6h): {hours}"
    );
    assert!(gone.is_null(), "{body}");
    let (_, page) = daemon.get("/").await;
    assert!(page.contains("Held by the lockout guard until"), "{page}");
    let held_gauge =
        |m: &Metrics, action: &str| m.get("credwatch_genesys_canary_held", &[("action", action)]);
    let m = daemon.metrics().await;
    assert_eq!(held_gauge(&m, "custom_-_refused"), Some(1.0), "{}", m.text);
    assert_eq!(held_gauge(&m, "custom_-_gone"), Some(0.0));
    assert!(
        daemon.logs().contains("the lockout guard holds the canary"),
        "{}",
        daemon.logs()
    );
    let (status, _) = daemon.terminate();
    assert!(status.success());

    // After a restart it is still held, and said to be.
    let daemon = common::Daemon::start(&file, &[]);
    let clock = tests_of(server, "custom_-_gone").await;
    ticks(clock + 2).await;
    assert_eq!(tests_of(server, "custom_-_refused").await, 1);
    let (_, body) = daemon.get("/api/v1/genesys").await;
    assert!(held(&body).0.is_string(), "{body}");
    let m = daemon.metrics().await;
    assert_eq!(held_gauge(&m, "custom_-_refused"), Some(1.0), "{}", m.text);
    // Meanwhile Genesys was asked, page after page, whether the credential changed.
    let asked = common::received(server, "GET", listing).await;
    assert!(
        asked
            .iter()
            .any(|r| r.url.query().is_some_and(|q| q.contains("after=page-2"))),
        "{asked:?}"
    );

    // The credential is updated in Genesys: the guard lets the canary run at its next
    // interval, not six hours later (and holds it again, since the stand-in still refuses).
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    second_page(&now).with_priority(1).mount(server).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tests_of(server, "custom_-_refused").await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the changed credential released the canary; logs:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        daemon.logs().contains("the lockout guard lets it run"),
        "{}",
        daemon.logs()
    );
}

#[test]
fn canary_mistakes_are_config_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        (
            canary("custom_-_a", "") + &canary("custom_-_a", ""),
            "genesys.canary.action",
        ),
        (
            canary("custom_-_a", "integration = \"Nobody\""),
            "genesys.canary.integration",
        ),
        (canary("custom/../a", ""), "genesys.canary.action"),
        (
            canary("custom_-_a", "interval = \"soon\""),
            "genesys.canary.interval",
        ),
        (
            canary("custom_-_a", "interval = \"0s\""),
            "genesys.canary.interval",
        ),
        (
            canary("custom_-_a", "input = \"x\""),
            "genesys.canary.input",
        ),
        (canary("custom_-_a", "actoin = \"x\""), "actoin"),
    ];
    for (canaries, field) in rows {
        let text = config("http://127.0.0.1:1", &canaries, dir.path());
        let error = credwatch::config::Config::parse("test.toml", &text)
            .expect_err("a bad canary")
            .to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
    let text = config("http://127.0.0.1:1", &all_four(), dir.path());
    let config = credwatch::config::Config::parse("test.toml", &text).unwrap();
    let canaries = &config.orgs[0].view.as_ref().unwrap().canaries;
    assert_eq!(canaries.len(), 4);
    assert_eq!(canaries[0].interval, credwatch::config::CANARY_INTERVAL);
    assert_eq!(canaries[3].interval, Duration::from_secs(1800));
    assert_eq!(canaries[0].integration_name(), "Orders API");
    assert_eq!(
        canaries[0].input,
        serde_json::json!({"orderId": "1001", "verbose": true})
    );
}
