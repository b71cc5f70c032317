//! credwatch under systemd: the unit's exposure score (`systemd-analyze security --offline`),
//! the notification protocol over a `NOTIFY_SOCKET` made here (READY, STATUS, WATCHDOG,
//! RELOADING with MONOTONIC_USEC, STOPPING), and the log formats: journald's priority prefixes
//! when stderr is the journal's stream, JSON lines on request.

use crate::common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, binary, refused_port, write, zendesk_ok};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/credwatch.service");

#[test]
fn the_unit_scores_1_5_or_lower() {
    if !common::peer("systemd-analyze", &["systemd-analyze", "--version"]) {
        return;
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", UNIT])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score: {text}{}", String::from_utf8_lossy(&out.stderr)));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable score: {line}"));
    eprintln!("{line}");
    assert!(score <= 1.5, "{line}");
}

#[test]
fn the_unit_is_a_notify_service_with_a_watchdog_and_reload() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=credwatch",
        "ConfigurationDirectory=credwatch",
        "LoadCredential=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestartPreventExitStatus=2",
    ] {
        assert!(unit.contains(line), "{line} in the unit");
    }
    // ProcSubset=pid hides /proc/stat (process_start_time_seconds reads the boot time there),
    // and no man page ships for a man: link to name.
    for line in ["ProcSubset=", "man:credwatch"] {
        assert!(!unit.contains(line), "{line} in the unit");
    }
}

/// A `NOTIFY_SOCKET` of the test's own, collecting every datagram.
struct NotifySocket {
    path: std::path::PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    fn bind(dir: &std::path::Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        Self { path, messages }
    }

    fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits for a datagram after the `skip` first that contains `needle`; returns its index.
    async fn wait_for(&self, needle: &str, skip: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self
                .all()
                .iter()
                .enumerate()
                .skip(skip)
                .find(|(_, m)| m.contains(needle))
                .map(|(i, _)| i)
            {
                return i;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} after message {skip}: {:?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn config(dir: &std::path::Path, zendesk: &str) -> std::path::PathBuf {
    let token = write(dir, "token", "zd-token-0123456789");
    write(
        dir,
        "c.toml",
        &format!(
            r#"
[defaults]
interval = "1s"
state_dir = "{state}"

[[integration]]
type = "zendesk"
name = "Zendesk"
[integration.credentials]
email = "ops@example.com"
base_url = "{zendesk}"
api_token = {{ file = "{token}" }}

[[integration]]
type = "web_service"
name = "Orders"
[integration.credentials]
credential_type = "none"
[integration.request]
url = "http://127.0.0.1:{port}/orders"
"#,
            state = dir.join("state").display(),
            token = token.display(),
            port = refused_port(),
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_speaks_the_notification_protocol() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = NotifySocket::bind(dir.path());
    let daemon = Daemon::start(
        &config(dir.path(), &zendesk.uri()),
        &[
            ("NOTIFY_SOCKET", socket.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let ready = socket.wait_for("READY=1", 0).await;
    assert!(
        socket.all()[ready].contains("STATUS=2 integrations:"),
        "{:?}",
        socket.all()
    );
    // Watchdog pings at half the period, with a STATUS that follows the checks.
    let ping = socket.wait_for("WATCHDOG=1", ready).await;
    socket.wait_for("1 healthy, 1 failing", ping).await;

    let before = socket.all().len();
    let (status, body) = daemon.post("/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let reloading = socket.wait_for("RELOADING=1", before).await;
    assert!(
        socket.all()[reloading].contains("MONOTONIC_USEC="),
        "{:?}",
        socket.all()
    );
    socket.wait_for("READY=1", reloading).await;

    let before = socket.all().len();
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    socket.wait_for("STOPPING=1", before).await;
}

/// Runs `credwatch check` on a config whose check fails, with `env`; stderr goes to a file
/// (so that the test knows its device and inode, as journald's stream would be).
fn failing_check(dir: &std::path::Path, args: &[&str], journal: bool) -> String {
    use std::os::unix::fs::MetadataExt;
    let config = write(
        dir,
        "failing.toml",
        &format!(
            r#"
[defaults]
state_dir = "{}"
[[integration]]
type = "web_service"
name = "Orders"
[integration.credentials]
credential_type = "basic"
username = "orders"
password = "canary-password-7f3a"
[integration.request]
url = "http://127.0.0.1:{}/orders"
"#,
            dir.join("state").display(),
            refused_port()
        ),
    );
    let log = dir.join(format!("stderr-{}.log", args.join("-")));
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let mut command = binary();
    command
        .arg("--config")
        .arg(&config)
        .args(args)
        .args(["--log-level", "info", "check"])
        .stderr(file);
    if journal {
        command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let status = command.status().unwrap();
    assert_eq!(status.code(), Some(1));
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn journald_gets_priorities_and_shippers_get_json() {
    let dir = tempfile::tempdir().unwrap();

    let journal = failing_check(dir.path(), &[], true);
    let failed = journal
        .lines()
        .find(|l| l.contains("check failed"))
        .unwrap_or_else(|| panic!("{journal}"));
    assert!(failed.starts_with("<4>"), "{failed}");
    assert!(
        !failed.contains("WARN"),
        "journald records the level: {failed}"
    );
    assert!(
        !failed
            .chars()
            .take(8)
            .any(|c| c.is_ascii_digit() && c != '4'),
        "no timestamp: {failed}"
    );
    for field in [
        "integration=Orders",
        "type=\"web_service\"",
        "reason=\"network_error\"",
    ] {
        assert!(failed.contains(field), "{field} in {failed}");
    }

    let plain = failing_check(dir.path(), &[], false);
    assert!(!plain.contains("<4>"), "{plain}");

    let json = failing_check(dir.path(), &["--log-format", "json"], false);
    let mut saw_failure = false;
    for line in json.lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(object["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(object["level"].is_string(), "{line}");
        assert!(object["message"].is_string(), "{line}");
        if object["message"]
            .as_str()
            .unwrap()
            .starts_with("check failed")
        {
            saw_failure = true;
            assert_eq!(object["level"], "warn");
            assert_eq!(object["integration"], "Orders");
            assert_eq!(object["type"], "web_service");
            assert_eq!(object["reason"], "network_error");
        }
    }
    assert!(saw_failure, "{json}");

    for text in [&journal, &plain, &json] {
        assert!(!text.contains("canary-password-7f3a"), "{text}");
    }
}
