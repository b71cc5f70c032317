//! `credwatch demo`: with no config it serves all seven types through the built-in simulator,
//! healthy ones and the failures it promises (a wrong secret, a locked account held by the
//! lockout guard, impersonation denied, MFA required, rate limited with Retry-After, a provider
//! too slow, a client certificate expiring in 5 days and one expired, a Salesforce password
//! expired and one 10 days before its policy's end), on the status page, the API and a
//! promtool-clean /metrics; `--print-config` prints a config `validate` accepts.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Daemon, binary};

/// What the demo's integrations must end as: name → result.
const EXPECTED: &[(&str, &str)] = &[
    ("Zendesk Support", "success"),
    ("Zendesk rotated token", "invalid_credentials"),
    ("Zendesk busy agent", "rate_limited"),
    ("Genesys Cloud Data Actions", "success"),
    ("Genesys Cloud retired client", "account_disabled"),
    ("Genesys Cloud slow login", "timeout"),
    ("Lambda order lookup", "success"),
    ("Lambda reporting", "permission_denied"),
    ("Lambda billing", "permission_denied"),
    ("Google Cloud", "success"),
    ("Google deleted key", "invalid_credentials"),
    ("Google Workspace directory", "impersonation_denied"),
    ("Dynamics 365 CRM", "success"),
    ("Dynamics 365 MFA user", "mfa_required"),
    ("Dynamics 365 locked user", "account_locked"),
    ("Salesforce Service Cloud", "success"),
    ("Salesforce rotated password", "invalid_credentials"),
    ("Salesforce expired password", "expired_credentials"),
    ("Orders API", "success"),
    ("Inventory API", "success"),
    ("Billing API (mTLS)", "success"),
    ("Payments API (mTLS)", "expired_credentials"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shows_every_type_and_the_promised_failures() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let daemon = Daemon::start_args(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    // Every integration has a result (the jitter spreads first checks over the 10 s interval).
    let deadline = Instant::now() + Duration::from_secs(40);
    let results = loop {
        let (status, body) = daemon.get("/api/v1/integrations").await;
        assert_eq!(status, 200, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let results: BTreeMap<String, String> = list["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| {
                Some((
                    i["name"].as_str()?.to_string(),
                    i["result"].as_str()?.to_string(),
                ))
            })
            .collect();
        // Every integration has its promised result (the retired Genesys client's first check
        // may come before the org view's first read: it fails ahead of the login after it).
        let promised = EXPECTED
            .iter()
            .all(|(name, result)| results.get(*name).map(String::as_str) == Some(*result));
        if results.len() == EXPECTED.len() && promised {
            break (results, list);
        }
        assert!(
            Instant::now() < deadline,
            "not every integration has its promised result: {results:?}\nlogs:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "every demo integration had a result after {:?}",
        started.elapsed()
    );
    let (results, list) = results;
    for (name, result) in EXPECTED {
        assert_eq!(
            results.get(*name).map(String::as_str),
            Some(*result),
            "{name}; logs:\n{}",
            daemon.logs()
        );
    }
    let types: std::collections::BTreeSet<&str> = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["result"] == "success")
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    let every: std::collections::BTreeSet<&str> =
        credwatch::verify::TYPES.iter().map(|t| t.key).collect();
    assert_eq!(types, every, "a success of every type");
    assert_eq!(list["summary"]["guarded"], 2, "{}", list["summary"]);

    // /metrics: the guard, Retry-After's reason, certificate expiry, and promtool's approval.
    // Genesys's record and credwatch's check disagree on "Zendesk Support" (Genesys holds the
    // token before its rotation): seen at the first view read after its check.
    let m = daemon
        .metrics_when(Duration::from_secs(25), "the disagreement", |m| {
            m.get(
                "credwatch_genesys_disagreement",
                &[
                    ("integration", "Zendesk Support"),
                    ("direction", "genesys_fails"),
                ],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(
        m.count(
            "credwatch_genesys_disagreement",
            &[("direction", "genesys_fails")]
        ),
        1
    );
    // The canaries Genesys runs: the Orders API's passes, the Zendesk one is refused at its
    // Execute step.
    let canary = |integration: &str| {
        m.get(
            "credwatch_genesys_canary_success",
            &[("integration", integration)],
        )
    };
    assert_eq!(canary("Orders API"), Some(1.0));
    assert_eq!(canary("Zendesk Support"), Some(0.0));
    assert_eq!(
        m.get(
            "credwatch_genesys_canary_failure_reason",
            &[
                ("integration", "Zendesk Support"),
                ("reason", "invalid_credentials")
            ]
        ),
        Some(1.0)
    );
    for name in ["Dynamics 365 locked user", "Salesforce rotated password"] {
        assert_eq!(
            m.get("credwatch_lockout_guard_engaged", &[("integration", name)]),
            Some(1.0),
            "{name}"
        );
    }
    // The healthy Genesys Cloud check revoked the token it minted, and the simulator took it.
    let revoked = m.get(
        "credwatch_token_revocations_total",
        &[
            ("org", "default"),
            ("type", "genesys_cloud"),
            ("result", "success"),
        ],
    );
    assert!(revoked >= Some(1.0), "{revoked:?}");
    assert_eq!(
        m.get(
            "credwatch_token_revocations_total",
            &[("type", "genesys_cloud"), ("result", "failure")]
        ),
        None
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Forecasts: the Salesforce password changed 80 days ago under a 90-day policy, and every
    // Zendesk API token ends on 2027-04-30.
    let salesforce = [
        ("integration", "Salesforce Service Cloud"),
        ("credential", "password"),
    ];
    let changed = m
        .get(
            "credwatch_credential_changed_timestamp_seconds",
            &salesforce,
        )
        .expect("the password's last change");
    assert!(
        (changed - (now - 80.0 * 86_400.0)).abs() < 60.0,
        "{changed}"
    );
    let policy = [&salesforce[..], &[("source", "policy")]].concat();
    assert_eq!(
        m.get("credwatch_credential_expiry_timestamp_seconds", &policy),
        Some(changed + 90.0 * 86_400.0)
    );
    assert_eq!(
        m.get(
            "credwatch_credential_expiry_timestamp_seconds",
            &[("integration", "Zendesk Support"), ("source", "sunset")]
        ),
        Some(1_809_043_200.0)
    );
    // The Dynamics 365 password, read from Graph: changed 70 days ago, Entra's default 90 days.
    let dynamics = [
        ("integration", "Dynamics 365 CRM"),
        ("credential", "password"),
    ];
    let changed = m
        .get("credwatch_credential_changed_timestamp_seconds", &dynamics)
        .expect("the Entra password's last change");
    assert!(
        (changed - (now - 70.0 * 86_400.0)).abs() < 60.0,
        "{changed}"
    );
    let policy = [&dynamics[..], &[("source", "policy")]].concat();
    assert_eq!(
        m.get("credwatch_credential_expiry_timestamp_seconds", &policy),
        Some(changed + 90.0 * 86_400.0)
    );
    // The retired Genesys Cloud OAuth client: Genesys deletes it in 6 days.
    let deleted = m
        .get(
            "credwatch_credential_expiry_timestamp_seconds",
            &[
                ("integration", "Genesys Cloud retired client"),
                ("credential", "oauth_client"),
                ("source", "provider"),
            ],
        )
        .expect("the retired client's deletion");
    assert!(
        (deleted - (now + 6.0 * 86_400.0)).abs() < 120.0,
        "{deleted}"
    );
    // The Google key Google publishes ends in 60 days.
    let key_ends = m
        .get(
            "credwatch_credential_expiry_timestamp_seconds",
            &[
                ("integration", "Google Cloud"),
                ("credential", "service_account_key"),
                ("source", "provider"),
            ],
        )
        .expect("the Google key's end");
    assert!(
        (key_ends - (now + 60.0 * 86_400.0)).abs() < 120.0,
        "{key_ends}"
    );
    // The AWS roles' trust in Genesys (IAM GetRole): the order lookup's role was last used 3
    // days ago; the billing role lost Genesys's trust.
    let used = m
        .get(
            "credwatch_aws_role_last_used_timestamp_seconds",
            &[("integration", "Lambda order lookup")],
        )
        .expect("the role's last use");
    assert!((used - (now - 3.0 * 86_400.0)).abs() < 120.0, "{used}");
    let (_, billing) = daemon.get("/api/v1/integrations/Lambda%20billing").await;
    assert!(
        billing.contains("no longer trusts Genesys's AWS account with this external id"),
        "{billing}"
    );
    // Genesys's own record of executions (12 a window in the simulator, one window a read):
    // the second web service's third party refuses Genesys's credential.
    let refused = m
        .get(
            "credwatch_genesys_action_executions_total",
            &[
                ("integration", "Web Services Data Actions (2)"),
                ("type", "web_service"),
                ("outcome", "auth_failure"),
            ],
        )
        .expect("the refused executions");
    assert!(refused >= 12.0 && refused % 12.0 == 0.0, "{refused}");
    // The org view (read at start): Genesys Cloud's integrations, the one in ERROR and the one
    // credwatch does not check, and the DigiCert certificate 20 days from expiry.
    let view = |name: &str, labels: &[(&str, &str)]| m.get(name, labels);
    assert_eq!(
        view("credwatch_genesys_view_success", &[("org", "default")]),
        Some(1.0),
        "{}",
        daemon.logs()
    );
    assert_eq!(
        view(
            "credwatch_genesys_integration_watched",
            &[
                ("integration", "Web Services Data Actions (2)"),
                ("type", "web_service")
            ]
        ),
        Some(0.0)
    );
    assert_eq!(
        view(
            "credwatch_genesys_integration_watched",
            &[("integration", "Zendesk Support"), ("type", "zendesk")]
        ),
        Some(1.0)
    );
    assert_eq!(
        view(
            "credwatch_genesys_integration_info",
            &[
                ("integration", "Web Services Data Actions (2)"),
                ("intended_state", "ENABLED"),
                ("reported_state", "ERROR")
            ]
        ),
        Some(1.0)
    );
    let digicert = view(
        "credwatch_genesys_mtls_certificate_expiry_timestamp_seconds",
        &[("signing_authority", "DigiCert"), ("status", "Current")],
    )
    .expect("the current DigiCert certificate");
    let days = (digicert - now) / 86_400.0;
    assert!((19.9..20.1).contains(&days), "expires in {days} days");
    let client = |name: &str| {
        m.get(
            "credwatch_certificate_expiry_timestamp_seconds",
            &[("integration", name), ("certificate", "client")],
        )
        .unwrap_or_else(|| panic!("client certificate of {name}"))
    };
    let days = (client("Billing API (mTLS)") - now) / 86_400.0;
    assert!((4.9..5.1).contains(&days), "expires in {days} days");
    assert!(client("Payments API (mTLS)") < now);
    common::promtool(&m.text);

    let (status, body) = daemon.get("/api/v1/genesys").await;
    assert_eq!(status, 200, "{body}");
    let genesys: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(genesys["orgs"][0]["result"], "success", "{genesys}");
    assert_eq!(genesys["orgs"][0]["token_revoked"], true, "{genesys}");
    assert_eq!(
        genesys["orgs"][0]["integrations"].as_array().map(Vec::len),
        Some(10),
        "every page read: {genesys}"
    );

    // The status page shows all of it.
    let (status, page) = daemon.get("/").await;
    assert_eq!(status, 200);
    for (name, _) in EXPECTED {
        assert!(page.contains(name), "{name} on the page");
    }
    assert!(page.contains("9 healthy"), "{page}");
    assert!(page.contains("2 guarded"), "{page}");
    assert!(page.contains("5 days left"), "{page}");
    assert!(page.contains("Genesys Cloud view of default"), "{page}");
    assert!(page.contains("Web Services Data Actions (2)"), "{page}");
    assert!(page.contains("actions refused (401/403)"), "{page}");
    assert!(page.contains("Canary action (run by Genesys)"), "{page}");
    assert!(
        page.contains("Couldn&#39;t authenticate you")
            || page.contains("Couldn't authenticate you"),
        "{page}"
    );

    // A real browser renders it (no script involved).
    if common::peer("chromium", &["chromium", "--version"]) {
        rendered_by_chromium(&daemon.url("/"), EXPECTED.len(), dir.path());
    }

    // No secret of the demo in anything it shows or keeps.
    let mut shown = vec![
        ("/", page),
        ("/metrics", m.text.clone()),
        ("/api/v1/integrations", list.to_string()),
        ("/api/v1/genesys", genesys.to_string()),
    ];
    for (name, _) in EXPECTED {
        let path = format!("/api/v1/integrations/{}", name.replace(' ', "%20"));
        shown.push(("an integration", daemon.get(&path).await.1));
        let path = format!("/integrations/{}", name.replace(' ', "%20"));
        shown.push(("an integration's page", daemon.get(&path).await.1));
    }
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    shown.push(("logs", logs));
    let state = std::fs::read_to_string(dir.path().join("state").join("state.json")).unwrap();
    shown.push(("state file", state));
    use credwatch::simulator::accounts::*;
    for secret in [
        ZENDESK_TOKEN,
        GENESYS_SECRET,
        DYNAMICS_PASSWORD,
        SALESFORCE_PASSWORD,
        SALESFORCE_SECURITY_TOKEN,
        SALESFORCE_CLIENT_SECRET,
        SALESFORCE_STALE_PASSWORD,
        AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY,
        WEB_PASSWORD,
        WEB_CLIENT_SECRET,
        "PRIVATE KEY",
    ] {
        for (what, text) in &shown {
            assert!(!text.contains(secret), "{what} shows a secret of the demo");
        }
    }
}

#[test]
fn print_config_is_a_working_example_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .args(["demo", "--print-config", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for kind in [
        "aws_lambda",
        "genesys_cloud",
        "google",
        "dynamics365",
        "salesforce",
        "web_service",
        "zendesk",
    ] {
        assert!(text.contains(&format!("type = \"{kind}\"")), "{kind}");
    }
    let config = dir.path().join("printed.toml");
    std::fs::write(&config, &text).unwrap();
    let validate = binary()
        .arg("--config")
        .arg(&config)
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    // No literal secrets: every secret lives in a file of the demo.
    assert!(
        !String::from_utf8_lossy(&validate.stderr).contains("literal secret"),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
}

#[test]
fn the_demo_directory_is_private_and_planted_links_are_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::set_permissions(
        dir.path().join("secrets"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    for planted in [
        "credwatch.toml",
        "orders-client.key",
        "google-service-account.json",
        "secrets/orders-api-password",
    ] {
        std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
    }
    let print = |dir: &std::path::Path| {
        binary()
            .args(["demo", "--print-config", "--dir"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let out = print(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path())
        .unwrap()
        .chain(std::fs::read_dir(dir.path().join("secrets")).unwrap())
    {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        assert!(!meta.file_type().is_symlink(), "{}", entry.path().display());
        if meta.is_file() {
            files += 1;
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", entry.path().display());
        }
    }
    assert!(files > 10, "{files} files");

    // A directory others may write is refused; none given, a new private one is made.
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = print(shared.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("others may write"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = binary()
        .args(["demo", "--print-config"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(made.len(), 1);
    assert!(
        made[0]
            .file_name()
            .to_string_lossy()
            .starts_with("credwatch-demo-")
    );
    let mode = made[0].metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

/// The page at `url` as Chromium renders it: the DOM has every row (`integrations` of them, and
/// the org view's), and the screenshot is a page, not a blank.
fn rendered_by_chromium(url: &str, integrations: usize, dir: &std::path::Path) {
    // The DOM Chromium built has every row, and
    // the screenshot is a page, not a blank.
    let dom = chromium(url, &["--dump-dom"], dir);
    assert!(dom.contains("Salesforce rotated password"), "{dom}");
    // The integrations with their header, then the org view's: nine data actions, three
    // certificates and two canaries, each table with its header.
    let view_rows = (1 + 9) + (1 + 3) + (1 + 2);
    // What ends within 30 days: the expired client certificate, the one with 5 days left, the
    // Salesforce password 10 days before its policy's end, the Entra one 20 days before, and
    // the retired Genesys OAuth client, deleted in 6 days.
    let ending_rows = 1 + 5;
    assert_eq!(
        dom.matches("<tr>").count(),
        integrations + 1 + view_rows + ending_rows,
        "{dom}"
    );
    let screenshot = dir.join("status-page.png");
    chromium(
        url,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1600,1300",
        ],
        dir,
    );
    let png = std::fs::read(&screenshot).expect("Chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The IHDR chunk: width and height as asked.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1600);
    assert!(
        png.len() > 60_000,
        "a blank page compresses to a few KiB: {} bytes",
        png.len()
    );
}

/// Runs headless Chromium (Debian's `chromium`; .ci/run installs it) on `url`; returns stdout.
fn chromium(url: &str, args: &[&str], dir: &std::path::Path) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is installed (Debian package `chromium`; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
