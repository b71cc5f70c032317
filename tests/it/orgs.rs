//! Several Genesys Cloud orgs in one daemon: `include` files, each one org, with the Genesys
//! limits and names per org; `org` labels on a live scrape; `ORG/NAME` (or a unique bare name)
//! in `check` and the API; reload with an included file changed, removed and broken.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, binary, write, zendesk_ok};
use credwatch::config::Config;

fn zendesk(name: Option<&str>, base: &str) -> String {
    let integration = common::zendesk(base, &common::from_env("ZD_TOKEN"));
    match name {
        Some(name) => integration.name(name),
        None => integration,
    }
    .to_string()
}

fn main_file(dir: &Path, extra: &str) -> std::path::PathBuf {
    write(
        dir,
        "credwatch.toml",
        &format!(
            "include = [\"orgs/*.toml\"]\norg = \"hq\"\n[defaults]\ninterval = \"1s\"\nstate_dir = \"{}\"\n{extra}",
            dir.join("state").display()
        ),
    )
}

fn org_file(dir: &Path, file: &str, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("orgs")).unwrap();
    write(&dir.join("orgs"), file, text)
}

#[test]
fn limits_and_names_are_per_org() {
    let dir = tempfile::tempdir().unwrap();
    let ten: String = (0..10)
        .map(|_| zendesk(None, "http://127.0.0.1:1"))
        .collect();
    org_file(dir.path(), "acme-prod.toml", &ten);
    org_file(
        dir.path(),
        "acme-test.toml",
        &format!("org = \"acme-test\"\n{ten}"),
    );
    let main = main_file(
        dir.path(),
        &zendesk(Some("Zendesk prod"), "http://127.0.0.1:1"),
    );
    let config = Config::load(&main).unwrap();
    let orgs: Vec<&str> = config.orgs.iter().map(|o| &*o.name).collect();
    assert_eq!(orgs, ["hq", "acme-prod", "acme-test"]);
    assert_eq!(config.integrations.len(), 21);
    // Default names are numbered per org, so each org has its own "Zendesk Data Actions".
    let first = config.find("acme-prod/Zendesk Data Actions").unwrap();
    assert_eq!(&*first.org, "acme-prod");
    assert!(config.find("acme-test/Zendesk Data Actions (10)").is_ok());
    assert!(
        config
            .find("Zendesk Data Actions")
            .unwrap_err()
            .contains("several orgs")
    );
    assert_eq!(config.find("Zendesk prod").unwrap().id, "hq/Zendesk prod");

    // Eleven in one org are too many.
    let eleven: String = (0..11)
        .map(|_| zendesk(None, "http://127.0.0.1:1"))
        .collect();
    org_file(
        dir.path(),
        "acme-test.toml",
        &format!("org = \"acme-test\"\n{eleven}"),
    );
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(e.contains("acme-test.toml"), "{e}");
    assert!(
        e.contains("too many zendesk integrations in org \"acme-test\""),
        "{e}"
    );

    // Equal names within one org are an error; across orgs they are fine (above).
    let twice = format!(
        "{}{}",
        zendesk(Some("Same"), "http://127.0.0.1:1"),
        zendesk(Some("Same"), "http://127.0.0.1:1")
    );
    org_file(dir.path(), "acme-test.toml", &twice);
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(
        e.contains("name \"Same\" is used by another integration"),
        "{e}"
    );

    // Two files of one org.
    org_file(dir.path(), "acme-test.toml", "org = \"acme-prod\"\n");
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(
        e.contains("acme-prod.toml") && e.contains("acme-test.toml"),
        "{e}"
    );

    // An included file holds one org's integrations, nothing else.
    org_file(
        dir.path(),
        "acme-test.toml",
        "[defaults]\ninterval = \"1m\"\n",
    );
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(
        e.contains("acme-test.toml") && e.contains("defaults"),
        "{e}"
    );
}

#[test]
fn an_org_id_is_the_default_external_id() {
    let dir = tempfile::tempdir().unwrap();
    let lambda = r#"
[[integration]]
type = "aws_lambda"
[integration.credentials]
role_arn = "arn:aws:iam::123456789012:role/genesys"
"#;
    org_file(
        dir.path(),
        "acme.toml",
        &format!("org_id = \"8c1a3f0e-org\"\n{lambda}"),
    );
    let main = main_file(dir.path(), "");
    assert!(Config::load(&main).is_ok());
    org_file(dir.path(), "acme.toml", lambda);
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(e.contains("external_id") && e.contains("org_id"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn orgs_in_the_daemon_the_cli_and_the_api() {
    let server = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    org_file(
        dir.path(),
        "acme-prod.toml",
        &zendesk(Some("Zendesk"), &server.uri()),
    );
    org_file(
        dir.path(),
        "acme-test.toml",
        &zendesk(Some("Zendesk"), &server.uri()),
    );
    let main = main_file(dir.path(), &zendesk(Some("Support"), &server.uri()));
    let env = [("ZD_TOKEN", "zd-token-0123456789")];
    let daemon = Daemon::start(&main, &env);
    let m = daemon
        .metrics_when(Duration::from_secs(15), "three successes", |m| {
            m.count("credwatch_check_success", &[]) == 3
        })
        .await;
    for (org, name) in [
        ("hq", "Support"),
        ("acme-prod", "Zendesk"),
        ("acme-test", "Zendesk"),
    ] {
        let labels = [("org", org), ("integration", name), ("type", "zendesk")];
        assert_eq!(
            m.get("credwatch_check_success", &labels),
            Some(1.0),
            "{org}"
        );
        assert_eq!(
            m.get(
                "credwatch_integrations",
                &[("org", org), ("type", "zendesk")]
            ),
            Some(1.0)
        );
        assert_eq!(
            m.get(
                "credwatch_integrations_limit",
                &[("org", org), ("type", "zendesk")]
            ),
            Some(10.0)
        );
    }
    common::promtool(&m.text);

    // The API: ORG/NAME, or a name only one org has; an ambiguous one says which to choose.
    let (status, body) = daemon.get("/api/v1/integrations/acme-test%2FZendesk").await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["org"], "acme-test");
    assert_eq!(view["id"], "acme-test/Zendesk");
    assert_eq!(daemon.get("/api/v1/integrations/Support").await.0, 200);
    let (status, body) = daemon.get("/api/v1/integrations/Zendesk").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("acme-prod/Zendesk") && body.contains("acme-test/Zendesk"),
        "{body}"
    );
    let (status, body) = daemon
        .post("/api/v1/integrations/acme-prod%2FZendesk/check")
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, page) = daemon.get("/?org=acme-prod").await;
    assert!(page.contains("/integrations/acme-prod%2FZendesk"), "{page}");
    assert!(
        !page.contains("/integrations/acme-test%2FZendesk"),
        "{page}"
    );

    // The CLI.
    let check = |args: &[&str]| {
        let mut command = binary();
        command.arg("--config").arg(&main).arg("check").args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let out = check(&["acme-prod/Zendesk", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["org"], "acme-prod");
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let out = check(&["Zendesk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("several orgs"));
    let out = check(&[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme-test/Zendesk"));

    // Reload: a changed file adds an integration; a removed file takes its series away.
    org_file(
        dir.path(),
        "acme-prod.toml",
        &format!(
            "{}{}",
            zendesk(Some("Zendesk"), &server.uri()),
            zendesk(Some("Zendesk EU"), &server.uri())
        ),
    );
    std::fs::remove_file(dir.path().join("orgs/acme-test.toml")).unwrap();
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    daemon
        .metrics_when(
            Duration::from_secs(15),
            "the new integration checked",
            |m| {
                m.get(
                    "credwatch_check_success",
                    &[("org", "acme-prod"), ("integration", "Zendesk EU")],
                ) == Some(1.0)
                    && m.count("credwatch_check_success", &[("org", "acme-test")]) == 0
                    && m.count("credwatch_integrations", &[("org", "acme-test")]) == 0
            },
        )
        .await;

    // A broken file keeps the whole running config.
    org_file(
        dir.path(),
        "acme-prod.toml",
        "[[integration]]\ntype = \"nope\"\n",
    );
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 500);
    assert!(body.contains("acme-prod.toml"), "{body}");
    let m = daemon.metrics().await;
    assert_eq!(
        m.get("credwatch_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(
        m.count("credwatch_check_success", &[("org", "acme-prod")]),
        2,
        "{}",
        m.text
    );
}
