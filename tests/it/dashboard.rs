//! The Grafana dashboard and the alert rules against a real Prometheus (Debian's `prometheus`;
//! .ci/run installs it) scraping `credwatch demo` every second: every panel's query and every
//! variable returns data, the rules load and evaluate without error, and every metric either
//! names is one credwatch exports.

use crate::common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, refused_port, write};

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/credwatch.json");
const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/alerts.yml");

/// A Prometheus server of the test's own.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &std::path::Path, target: std::net::SocketAddr) -> Prometheus {
        let config = write(
            dir,
            "prometheus.yml",
            &format!(
                r#"
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {ALERTS}
scrape_configs:
  - job_name: credwatch
    static_configs:
      - targets: ["{target}"]
"#
            ),
        );
        let port = refused_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (Debian package `prometheus`; .ci/run installs it)");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .query(query)
            .send()
            .await
            .ok()?;
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// The result of an instant query (panics on an error answer).
    async fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let answer = self
            .get("/api/v1/query", &[("query", expr)])
            .await
            .unwrap_or_else(|| panic!("no answer to {expr}"));
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A panel query with Grafana's variables as the test runs it.
fn resolve(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$integration", ".*")
        .replace("$type", ".*")
        .replace("$org", ".*")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_query_returns_data_from_a_real_prometheus() {
    if !common::peer("prometheus", &["prometheus", "--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Daemon::start_args(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--dir",
            dir.path().join("demo").to_str().unwrap(),
        ],
        &[],
    );
    let prometheus = Prometheus::start(dir.path(), demo.addr);
    // Every demo integration checked, and enough scrapes after that for rates over a minute.
    demo.metrics_when(
        Duration::from_secs(40),
        "every demo integration checked",
        |m| m.count("credwatch_check_success", &[]) == 19,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let scrapes = prometheus
            .get(
                "/api/v1/query",
                &[(
                    "query",
                    "count_over_time(credwatch_checks_total{integration=\"Lambda reporting\"}[1m])",
                )],
            )
            .await
            .and_then(|a| {
                a["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(String::from)
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if scrapes >= 5.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the demo"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let mut queries = 0;
    let mut with_data = 0;
    let mut empty = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = resolve(target["expr"].as_str().unwrap());
            queries += 1;
            if prometheus.query(&expr).await.is_empty() {
                empty.push(format!("{}: {expr}", panel["title"]));
            } else {
                with_data += 1;
            }
        }
    }
    eprintln!("{with_data} of {queries} dashboard queries returned data");
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );

    // The variables: label_values(selector, label) is Grafana's; Prometheus' label API answers it.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let definition = resolve(variable["definition"].as_str().unwrap());
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap();
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let answer = prometheus
            .get(
                &format!("/api/v1/label/{}/values", label.trim()),
                &[("match[]", selector.trim())],
            )
            .await
            .unwrap();
        let values = answer["data"].as_array().unwrap();
        assert!(!values.is_empty(), "{definition}: {answer}");
    }

    // The rules load and evaluate without error against the live data.
    let rules = prometheus.get("/api/v1/rules", &[]).await.unwrap();
    let rules: Vec<&serde_json::Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(rules.len(), 24);
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule}");
    }

    // Every credwatch metric the dashboard and the rules name is one credwatch exports.
    let scrape = demo.metrics().await.text;
    let exported: BTreeSet<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let named = |text: &str| -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("credwatch_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // A label value (`direction="credwatch_fails"`) is no metric.
            let before = rest[..at].trim_end_matches(['"', '\\']);
            if !before.ends_with('=') {
                names.insert(name.clone());
            }
            rest = &rest[at + name.len()..];
        }
        names
    };
    let dashboard_text = std::fs::read_to_string(DASHBOARD).unwrap();
    let alerts_text = std::fs::read_to_string(ALERTS).unwrap();
    let mut checked = 0;
    for name in named(&dashboard_text)
        .into_iter()
        .chain(named(&alerts_text))
    {
        assert!(exported.contains(name.as_str()), "{name} is not exported");
        checked += 1;
    }
    assert!(checked >= 12, "{checked} metric names checked");
    drop(prometheus);
}
