//! Credential expiry forecasts: the Zendesk API-token sunset for every active Zendesk
//! integration, `expires` from the config, and how the metrics, the API and the status page show
//! them (docs/operating.md, "Expiry forecasts").

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Daemon, write, zendesk_ok};

/// 2027-04-30T00:00:00Z, the day Zendesk deactivates every API token.
const ZENDESK_SUNSET: f64 = 1_809_043_200.0;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn expires_takes_a_date_or_a_date_time_and_names_itself_when_wrong() {
    let parsed = |value: &str| {
        let text = common::zendesk("http://127.0.0.1:1", "\"t\"")
            .set("expires", value)
            .to_string();
        credwatch::config::Config::parse("t.toml", &text).map(|c| c.integrations[0].expires)
    };
    // A date is midnight UTC; a date-time without an offset is UTC; an offset is honoured.
    assert_eq!(parsed("2027-03-01").unwrap(), Some(1_803_859_200.0));
    assert_eq!(
        parsed("2027-03-01T12:00:00").unwrap(),
        Some(1_803_902_400.0)
    );
    assert_eq!(
        parsed("2027-03-01T12:00:00+02:00").unwrap(),
        Some(1_803_895_200.0)
    );
    assert_eq!(
        parsed("2027-03-01T12:00:00Z").unwrap(),
        Some(1_803_902_400.0)
    );
    for wrong in ["12:00:00", "\"soon\"", "20270301"] {
        let error = parsed(wrong).unwrap_err().to_string();
        assert!(error.contains("expires"), "{wrong}: {error}");
    }
    let without = credwatch::config::Config::parse(
        "t.toml",
        &common::zendesk("http://127.0.0.1:1", "\"t\"").to_string(),
    )
    .unwrap();
    assert_eq!(without.integrations[0].expires, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sunset_and_expires_reach_the_metrics_the_api_and_the_page() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let token = common::from_env("ZD_TOKEN");
    // Five days and a bit from now: inside the page's 30-day list, and critical.
    let soon = (now() as u64 / 86_400 + 6) * 86_400;
    let soon_date = credwatch::clock::rfc3339(soon as f64)[..10].to_string();
    let text = format!(
        "[defaults]\ninterval = \"1s\"\nstate_dir = \"{}\"\n{}{}{}",
        dir.path().join("state").display(),
        common::zendesk(&zendesk.uri(), &token).name("Zendesk prod"),
        common::zendesk(&zendesk.uri(), &token)
            .name("Zendesk old")
            .set("active", "false"),
        common::zendesk(&zendesk.uri(), &token)
            .name("Zendesk contract")
            .set("expires", &soon_date),
    );
    let config = write(dir.path(), "c.toml", &text);
    let daemon = Daemon::start(&config, &[("ZD_TOKEN", "zd-token-0123456789")]);

    let m = daemon
        .metrics_when(Duration::from_secs(20), "both active checked", |m| {
            m.count("credwatch_check_success", &[]) == 2
        })
        .await;
    let expiry = |integration: &str, source: &str| {
        m.get(
            "credwatch_credential_expiry_timestamp_seconds",
            &[
                ("integration", integration),
                ("type", "zendesk"),
                ("credential", "api_token"),
                ("source", source),
            ],
        )
    };
    assert_eq!(expiry("Zendesk prod", "sunset"), Some(ZENDESK_SUNSET));
    assert_eq!(expiry("Zendesk prod", "config"), None);
    assert_eq!(expiry("Zendesk contract", "sunset"), Some(ZENDESK_SUNSET));
    assert_eq!(expiry("Zendesk contract", "config"), Some(soon as f64));
    // An inactive integration is never exercised, and forecasts nothing.
    assert_eq!(
        m.count(
            "credwatch_credential_expiry_timestamp_seconds",
            &[("integration", "Zendesk old")]
        ),
        0
    );
    // Zendesk tells no change date.
    assert_eq!(
        m.count("credwatch_credential_changed_timestamp_seconds", &[]),
        0
    );
    common::promtool(&m.text);

    // The API: every forecast, soonest first, with the days left.
    let (status, body) = daemon
        .get("/api/v1/integrations/default%2FZendesk%20contract")
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expiries = answer["expiries"].as_array().unwrap();
    assert_eq!(expiries.len(), 2, "{answer}");
    assert_eq!(expiries[0]["source"], "config");
    assert_eq!(expiries[0]["credential"], "api_token");
    assert_eq!(expiries[0]["expires"], format!("{soon_date}T00:00:00Z"));
    let days = expiries[0]["days_left"].as_i64().unwrap();
    assert!((5..=6).contains(&days), "{answer}");
    assert_eq!(expiries[1]["source"], "sunset");
    assert_eq!(expiries[1]["expires"], "2027-04-30T00:00:00Z");
    assert_eq!(answer["credentials_changed"], serde_json::json!([]));

    // The page: the "Expires" column, and the list of what ends within 30 days, which has the
    // contract's date but not the sunset, five months away.
    let (status, page) = daemon.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<th>Expires</th>"), "{page}");
    let (_, ending) = page
        .split_once("Ending in the next 30 days")
        .unwrap_or_else(|| panic!("no list of what ends soon: {page}"));
    let ending = ending.split("</table>").next().unwrap();
    assert!(ending.contains("default/Zendesk contract"), "{ending}");
    assert!(ending.contains(&soon_date), "{ending}");
    assert!(!ending.contains("default/Zendesk prod"), "{ending}");
    assert!(page.contains("2027-04-30"), "{page}");
}
