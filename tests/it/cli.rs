//! The command line: `check` output and exit codes, `validate`, `--config`/`CREDWATCH_CONFIG`,
//! and each kind of secret reference delivering exactly its value to the provider.

use crate::common;

use std::process::Output;

use common::{binary, write};
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn zendesk_block(name: &str, base: &str, token: &str, email: &str) -> String {
    common::zendesk(base, token)
        .name(name)
        .credential("email", &common::quoted(email))
        .to_string()
}

/// A Zendesk that accepts exactly `{email}/token:{token}` and answers 401 to anything else.
async fn zendesk_accepting(pairs: &[(&str, &str)]) -> MockServer {
    use base64::Engine;
    let server = MockServer::start().await;
    for (email, token) in pairs {
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{email}/token:{token}"));
        Mock::given(path("/api/v2/users/me.json"))
            .and(header("authorization", format!("Basic {auth}").as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"user": {"id": 5, "active": true}})),
            )
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(path("/api/v2/users/me.json"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = binary();
    command.args(args).env_remove("CREDWATCH_CONFIG");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("credwatch runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_json_reports_every_integration_and_exits_1_on_a_failure() {
    let server = zendesk_accepting(&[("good@example.com", "right-token")]).await;
    let dir = tempfile::tempdir().unwrap();
    let text_config = format!(
        "{}{}{}",
        zendesk_block("Good", &server.uri(), "\"right-token\"", "good@example.com"),
        zendesk_block("Bad", &server.uri(), "\"wrong-token\"", "good@example.com"),
        zendesk_block("Off", &server.uri(), "\"right-token\"", "good@example.com").replace(
            "[integration.credentials]",
            "active = false\n[integration.credentials]"
        ),
    );
    let config = write(dir.path(), "c.toml", &text_config);
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "check",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["name"], "Good");
    assert_eq!(rows[0]["result"], "success");
    assert_eq!(rows[0]["type"], "zendesk");
    assert!(rows[0]["duration_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(rows[1]["name"], "Bad");
    assert_eq!(rows[1]["result"], "invalid_credentials");
    assert!(rows[1]["message"].as_str().unwrap().contains("401"));
    assert_eq!(rows[2]["name"], "Off");
    assert_eq!(rows[2]["result"], "inactive");
    assert_eq!(rows[2]["active"], false);

    // Only the passing one, by name, through CREDWATCH_CONFIG: exit 0 and a table.
    let out = run(
        &["check", "Good"],
        &[("CREDWATCH_CONFIG", config.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert!(
        stdout.lines().nth(1).unwrap().contains("Good") && stdout.contains("success"),
        "{stdout}"
    );
    assert!(!stdout.contains("Bad"));

    let out = run(
        &["--config", config.to_str().unwrap(), "check", "Nobody"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("Nobody"));
}

#[test]
fn config_errors_exit_2_and_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad.toml",
        "[defaults]\ninterval = \"5m\"\n[[integration]]\ntype = \"zendesk\"\n",
    );
    for command in [&["check"][..], &["validate"], &["run"]] {
        let mut args = vec!["--config", config.to_str().unwrap()];
        args.extend_from_slice(command);
        let out = run(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", text(&out));
        assert!(
            text(&out).contains("bad.toml:4"),
            "{command:?}: {}",
            text(&out)
        );
    }
    let out = run(
        &["--config", "/nonexistent/credwatch.toml", "validate"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("/nonexistent/credwatch.toml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_secret_reference_kind_reaches_the_provider_exactly() {
    let server = zendesk_accepting(&[
        ("literal@example.com", "tok-literal"),
        ("file@example.com", "tok-file"),
        ("env@example.com", "tok-env"),
        ("cred@example.com", "tok-cred"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "token", "tok-file\n");
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    write(&creds, "zendesk", "tok-cred");
    let uri = server.uri();
    let config_text = [
        zendesk_block("Literal", &uri, "\"tok-literal\"", "literal@example.com"),
        zendesk_block(
            "File",
            &uri,
            &format!("{{ file = \"{}\" }}", file.display()),
            "file@example.com",
        ),
        zendesk_block("Env", &uri, "{ env = \"ZD_TOKEN\" }", "env@example.com"),
        zendesk_block(
            "Credential",
            &uri,
            "{ credential = \"zendesk\" }",
            "cred@example.com",
        ),
    ]
    .concat();
    let config = write(dir.path(), "c.toml", &config_text);
    let env = [
        ("ZD_TOKEN", "tok-env"),
        ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
    ];
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "check",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = run(&["--config", config.to_str().unwrap(), "validate"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("literal secret"),
        "literal warned about: {}",
        text(&out)
    );

    // A rotated file is read again at the next check, with no reload.
    std::fs::write(&file, "tok-rotated").unwrap();
    let out = run(
        &["--config", config.to_str().unwrap(), "check", "File"],
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the mock only accepts the old token: {}",
        text(&out)
    );

    // Missing file, unset variable, no credentials directory: validate names each one.
    std::fs::remove_file(&file).unwrap();
    let out = run(&["--config", config.to_str().unwrap(), "validate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out);
    assert!(
        said.contains("\"File\"") && said.contains(&file.display().to_string()),
        "{said}"
    );
    assert!(said.contains("ZD_TOKEN"), "{said}");
    assert!(said.contains("CREDENTIALS_DIRECTORY"), "{said}");
    assert!(said.contains("credentials.api_token"), "{said}");
    // And a check through a missing file is a config_error naming the field.
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "check",
            "File",
            "--format",
            "json",
        ],
        &env,
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["result"], "config_error");
    assert!(
        rows[0]["message"]
            .as_str()
            .unwrap()
            .contains("credentials.api_token")
    );
}

#[test]
fn version_and_example_config() {
    let out = run(&["--version"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    // The shipped example parses (its secrets live elsewhere, so validate names them).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/credwatch.example.toml");
    credwatch::config::Config::load(std::path::Path::new(example))
        .expect("the example config is valid");
}
