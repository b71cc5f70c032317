//! The config contract: every type's required fields, the Genesys limits, default and duplicate
//! names, cadences, and errors that name the file, the line and the field.

use crate::common;

use common::config;
use credwatch::config::Config;
use credwatch::integration::Cadence;

/// A minimal valid `[[integration]]` of each type; every credentials line is required.
const MINIMAL: &[(&str, &[&str], &str)] = &[
    (
        "aws_lambda",
        &[
            r#"role_arn = "arn:aws:iam::123456789012:role/genesys""#,
            r#"external_id = "org-1""#,
        ],
        "",
    ),
    (
        "genesys_cloud",
        &[
            r#"client_id = "id""#,
            r#"client_secret = "s""#,
            r#"region = "mypurecloud.ie""#,
        ],
        "",
    ),
    (
        "google",
        &[
            r#"credential_type = "gcp_service_account""#,
            r#"client_id = "1234""#,
            r#"client_email = "sa@p.iam.gserviceaccount.com""#,
            r#"private_key_id = "abc""#,
            r#"private_key = { file = "/k.pem" }"#,
        ],
        "",
    ),
    (
        "google",
        &[
            r#"credential_type = "workspace_service_account""#,
            r#"service_account_email = "sa@p.iam.gserviceaccount.com""#,
            r#"private_key_id = "abc""#,
            r#"private_key = { env = "K" }"#,
            r#"scopes = ["https://www.googleapis.com/auth/admin.directory.user.readonly"]"#,
        ],
        "",
    ),
    (
        "dynamics365",
        &[
            r#"username = "u@contoso.com""#,
            r#"password = { env = "P" }"#,
            r#"org_url = "https://contoso.crm.dynamics.com""#,
            r#"application_id = "51f81489-12ee-4a9e-aaae-a2591f45987d""#,
        ],
        "",
    ),
    (
        "salesforce",
        &[
            r#"username = "u@example.com""#,
            r#"password = { env = "P" }"#,
            r#"client_id = "3MVG9""#,
            r#"client_secret = { env = "S" }"#,
        ],
        "",
    ),
    (
        "web_service",
        &[
            r#"credential_type = "basic""#,
            r#"username = "u""#,
            r#"password = { env = "P" }"#,
        ],
        "[integration.request]\nurl = \"https://api.example.com/health\"\n",
    ),
    (
        "zendesk",
        &[
            r#"email = "ops@example.com""#,
            r#"base_url = "https://example.zendesk.com""#,
            r#"api_token = { env = "T" }"#,
        ],
        "",
    ),
];

fn integration(kind: &str, lines: &[&str], extra: &str) -> String {
    format!(
        "[[integration]]\ntype = \"{kind}\"\n[integration.credentials]\n{}\n{extra}",
        lines.join("\n")
    )
}

fn error(text: &str) -> String {
    match Config::parse("test.toml", text) {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn minimal_config_of_every_type_is_valid() {
    for (kind, lines, extra) in MINIMAL {
        let config = config(&integration(kind, lines, extra));
        assert_eq!(config.integrations[0].kind.key, *kind);
        assert!(config.integrations[0].active);
    }
}

#[test]
fn every_required_field_is_named_with_file_and_line_when_missing() {
    for (kind, lines, extra) in MINIMAL {
        for (skip, line) in lines.iter().enumerate() {
            let kept: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            let field = line.split(' ').next().unwrap();
            let message = error(&integration(kind, &kept, extra));
            assert!(
                message.starts_with("test.toml:")
                    && message.contains(&format!("credentials.{field}")),
                "{kind} without {field}: {message}"
            );
            let line_no: usize = message
                .split(':')
                .nth(1)
                .unwrap()
                .parse()
                .expect("a line number");
            assert!(
                (1..=4).contains(&line_no),
                "{kind}/{field}: line {line_no} in {message}"
            );
        }
    }
}

#[test]
fn web_service_without_request_url_names_it() {
    let message = error(&integration(
        "web_service",
        &[r#"credential_type = "none""#],
        "",
    ));
    assert!(message.contains("request.url"), "{message}");
}

#[test]
fn wrong_value_points_at_its_own_line() {
    let text = "[[integration]]\ntype = \"zendesk\"\n[integration.credentials]\nemail = \"ops@example.com\"\nbase_url = \"ftp://x\"\napi_token = \"t\"\n";
    let message = error(text);
    assert!(message.starts_with("test.toml:5: "), "{message}");
    assert!(message.contains("credentials.base_url"), "{message}");
}

#[test]
fn unknown_key_and_unknown_type_are_rejected() {
    let (_, lines, _) = MINIMAL.iter().find(|(k, _, _)| *k == "zendesk").unwrap();
    let mut with_typo: Vec<&str> = lines.to_vec();
    with_typo.push(r#"api_tokn = "x""#);
    let message = error(&integration("zendesk", &with_typo, ""));
    assert!(
        message.contains("credentials.api_tokn") && message.contains("unknown key"),
        "{message}"
    );
    assert!(message.starts_with("test.toml:7:"), "{message}");

    let message = error("[[integration]]\ntype = \"zendsk\"\n");
    assert!(message.starts_with("test.toml:2:"), "{message}");
    assert!(
        message.contains("zendesk") && message.contains("aws_lambda"),
        "{message}"
    );
}

#[test]
fn bad_toml_reports_its_line() {
    let message = error("[defaults]\ninterval = \"5m\"\ntimeout = \n");
    assert!(message.starts_with("test.toml:3:"), "{message}");
    let message = error("[defaults]\nintervall = \"5m\"\n");
    assert!(
        message.starts_with("test.toml:2:") && message.contains("intervall"),
        "{message}"
    );
}

fn zendesks(count: usize, active: bool) -> String {
    let (_, lines, _) = MINIMAL.iter().find(|(k, _, _)| *k == "zendesk").unwrap();
    (0..count)
        .map(|_| {
            integration("zendesk", lines, "").replace(
                "type = \"zendesk\"",
                &format!("type = \"zendesk\"\nactive = {active}"),
            )
        })
        .collect()
}

#[test]
fn limits_follow_genesys() {
    config(&zendesks(10, true));
    // Inactive integrations count against the limit too.
    let text = zendesks(10, true) + &zendesks(1, false);
    let message = error(&text);
    assert!(
        message.contains("zendesk") && message.contains("at most 10"),
        "{message}"
    );
    let eleventh = text
        .lines()
        .enumerate()
        .filter(|(_, line)| *line == "[[integration]]")
        .nth(10)
        .map(|(index, _)| index + 1)
        .unwrap();
    assert!(
        message.starts_with(&format!("test.toml:{eleventh}:")),
        "{message}"
    );

    let (_, lines, _) = MINIMAL.iter().find(|(k, _, _)| *k == "google").unwrap();
    let hundred: String = (0..100).map(|_| integration("google", lines, "")).collect();
    let config = config(&hundred);
    assert_eq!(config.integrations.len(), 100);
    assert_eq!(config.integrations[99].name, "Google Data Actions (100)");
    let message = error(&(hundred + &integration("google", lines, "")));
    assert!(
        message.contains("google") && message.contains("at most 100"),
        "{message}"
    );

    let (_, lines, extra) = MINIMAL
        .iter()
        .find(|(k, _, _)| *k == "web_service")
        .unwrap();
    let fifty_one: String = (0..51)
        .map(|_| integration("web_service", lines, extra))
        .collect();
    assert!(error(&fifty_one).contains("at most 50"));
}

/// The names of a config's integrations, in order.
fn names(config: &Config) -> Vec<&str> {
    config
        .integrations
        .iter()
        .map(|i| i.name.as_str())
        .collect()
}

#[test]
fn nameless_integrations_get_numbered_default_names() {
    let config = config(&zendesks(3, true));
    let names = names(&config);
    assert_eq!(
        names,
        [
            "Zendesk Data Actions",
            "Zendesk Data Actions (2)",
            "Zendesk Data Actions (3)"
        ]
    );
}

#[test]
fn default_names_skip_names_taken_explicitly() {
    let text = zendesks(2, true).replacen(
        "type = \"zendesk\"",
        "type = \"zendesk\"\nname = \"Zendesk Data Actions\"",
        1,
    );
    let config = config(&text);
    let names = names(&config);
    assert_eq!(names, ["Zendesk Data Actions", "Zendesk Data Actions (2)"]);
}

#[test]
fn duplicate_explicit_names_are_rejected_at_the_second() {
    let text =
        zendesks(2, true).replace("type = \"zendesk\"", "type = \"zendesk\"\nname = \"Prod\"");
    let message = error(&text);
    assert!(
        message.contains("\"Prod\"") && message.contains("unique"),
        "{message}"
    );
    let second = text.match_indices("name = \"Prod\"").nth(1).unwrap().0;
    let line = text[..second].lines().count() + 1;
    assert!(
        message.starts_with(&format!("test.toml:{line}:")),
        "{message}"
    );
}

#[test]
fn cadence_and_defaults() {
    let text = format!(
        "[defaults]\ninterval = \"2m\"\ntimeout = \"7s\"\nconcurrency = 3\n{}",
        zendesks(2, true).replacen(
            "active = true",
            "active = true\nschedule = \"0 */5 * * * *\"",
            1
        )
    );
    let config = config(&text);
    assert_eq!(config.defaults.concurrency, 3);
    assert!(matches!(
        config.integrations[0].cadence,
        Cadence::Schedule(_)
    ));
    assert!(matches!(config.integrations[1].cadence, Cadence::Interval(d) if d.as_secs() == 120));
    assert_eq!(config.integrations[1].timeout.as_secs(), 7);

    let both = zendesks(1, true).replace(
        "active = true",
        "interval = \"1m\"\nschedule = \"0 * * * * *\"",
    );
    assert!(error(&both).contains("not both"));
    let bad_cron = zendesks(1, true).replace("active = true", "schedule = \"every minute\"");
    assert!(error(&bad_cron).contains("schedule"));
    let bad_interval = zendesks(1, true).replace("active = true", "interval = \"soon\"");
    assert!(error(&bad_interval).contains("interval"));
}

#[test]
fn genesys_region_must_be_known_unless_both_endpoints_are_set() {
    let text = integration(
        "genesys_cloud",
        &[
            r#"client_id = "id""#,
            r#"client_secret = "s""#,
            r#"region = "mypurecloud.xx""#,
        ],
        "",
    );
    let message = error(&text);
    assert!(
        message.contains("credentials.region") && message.contains("usw2.pure.cloud"),
        "{message}"
    );
    let with_endpoints = text
        + "[integration.endpoints]\ntoken_url = \"https://login.example/oauth/token\"\nverify_url = \"https://api.example/api/v2/tokens/me\"\n";
    config(&with_endpoints);
}

#[test]
fn secret_reference_forms() {
    let with = |value: &str| {
        integration(
            "zendesk",
            &[
                r#"email = "ops@example.com""#,
                r#"base_url = "https://example.zendesk.com""#,
                &format!("api_token = {value}"),
            ],
            "",
        )
    };
    for good in [
        r#""literal""#,
        r#"{ file = "/x" }"#,
        r#"{ env = "X" }"#,
        r#"{ credential = "x" }"#,
    ] {
        config(&with(good));
    }
    for bad in [
        r#"{ vault = "x" }"#,
        r#"{ file = "/x", env = "Y" }"#,
        "42",
        r#""""#,
        r#"{ credential = "../x" }"#,
    ] {
        let message = error(&with(bad));
        assert!(
            message.contains("credentials.api_token"),
            "{bad}: {message}"
        );
    }
    // A literal is allowed but warned about, without its value.
    let config = config(&with(r#""s3cret-literal""#));
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].contains("credentials.api_token"));
    assert!(!config.warnings[0].contains("s3cret-literal"));
}

#[test]
fn web_service_placeholders_must_name_offered_fields() {
    let text = integration(
        "web_service",
        &[
            r#"credential_type = "user_defined""#,
            "[integration.credentials.fields]",
            r#"apiKey = { env = "K" }"#,
        ],
        "[integration.request]\nurl = \"https://api.example.com/x?key=${credentials.apiKey}\"\n[integration.request.headers]\nX-Other = \"${credentials.nope}\"\n",
    );
    let message = error(&text);
    assert!(
        message.contains("request.headers.X-Other") && message.contains("nope"),
        "{message}"
    );
    config(&text.replace("${credentials.nope}", "${credentials.apiKey}"));
}

#[test]
fn inactive_integrations_are_kept_and_counted() {
    let config = config(&(zendesks(1, true) + &zendesks(1, false)));
    assert_eq!(config.integrations.len(), 2);
    assert_eq!(config.active().count(), 1);
}

#[test]
fn logins_more_often_than_once_a_minute_are_warned_about() {
    let salesforce = |interval: &str, active: bool| {
        format!(
            "[[integration]]\ntype = \"salesforce\"\nname = \"SF\"\ninterval = \"{interval}\"\nactive = {active}\n\
             [integration.credentials]\nusername = \"u@example.com\"\npassword = {{ env = \"P\" }}\n\
             security_token = {{ env = \"T\" }}\nclient_id = \"c\"\nclient_secret = {{ env = \"S\" }}\n"
        )
    };
    let warned = config(&salesforce("30s", true)).warnings;
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("default/SF"), "{}", warned[0]);
    assert!(warned[0].contains("checked every 30s"), "{}", warned[0]);
    assert!(
        warned[0].contains("3,600 logins per user per hour"),
        "{}",
        warned[0]
    );
    assert!(warned[0].contains("lockout guard"), "{}", warned[0]);
    // Once a minute is fine, and an inactive integration is never checked.
    assert_eq!(
        config(&salesforce("1m", true)).warnings,
        Vec::<String>::new()
    );
    assert_eq!(
        config(&salesforce("10s", false)).warnings,
        Vec::<String>::new()
    );

    // A cron schedule every 15 seconds, a client-credentials login.
    let genesys = "[[integration]]\ntype = \"genesys_cloud\"\nschedule = \"*/15 * * * * *\"\n\
                   [integration.credentials]\nclient_id = \"c\"\nclient_secret = { env = \"S\" }\nregion = \"mypurecloud.com\"\n";
    let warned = config(genesys).warnings;
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("Genesys Cloud rate-limits token requests"),
        "{}",
        warned[0]
    );

    // An API token is not a login: no warning however often.
    let zendesk = "[[integration]]\ntype = \"zendesk\"\ninterval = \"10s\"\n[integration.credentials]\n\
                   email = \"a@b.c\"\nbase_url = \"https://x.zendesk.com\"\napi_token = { env = \"T\" }\n";
    assert_eq!(config(zendesk).warnings, Vec::<String>::new());
}

#[test]
fn former_default_names_map_to_the_genesys_numbering() {
    let numbered = config(&zendesks(3, true));
    assert_eq!(
        numbered.former_ids(),
        [
            (
                "default/Zendesk Data Actions 2".to_string(),
                "default/Zendesk Data Actions (2)".to_string()
            ),
            (
                "default/Zendesk Data Actions 3".to_string(),
                "default/Zendesk Data Actions (3)".to_string()
            ),
        ]
    );
    // An integration still named the old way keeps its own state.
    let text = zendesks(3, true).replacen(
        "type = \"zendesk\"",
        "type = \"zendesk\"\nname = \"Zendesk Data Actions 2\"",
        1,
    );
    let renamed = config(&text);
    let names = names(&renamed);
    assert_eq!(
        names,
        [
            "Zendesk Data Actions 2",
            "Zendesk Data Actions",
            "Zendesk Data Actions (2)"
        ]
    );
    assert_eq!(renamed.former_ids(), Vec::<(String, String)>::new());
}
