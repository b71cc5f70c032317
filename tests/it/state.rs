//! The state file under stress: the daemon killed with SIGKILL at random moments around its
//! writes of a large state file, 50 times (in two directories at once); every restart finds a whole, valid file (the atomic
//! replace never leaves a torn one). A corrupt file is moved aside and the daemon starts anyway.

use crate::common;

use std::time::Duration;

use common::{Daemon, refused_port, write};

/// Fifty web services (the Genesys limit) failing every second: the state changes at once and the
/// daemon saves its first change straight away (later ones at least 10 s apart), so a kill 0.2 to
/// 1.2 s after the start lands during or around the write of a large file.
fn busy_config(dir: &std::path::Path) -> std::path::PathBuf {
    let port = refused_port();
    let mut text = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"2s\"\nstate_dir = \"{}\"\n",
        dir.join("state").display()
    );
    for n in 0..50 {
        text.push_str(&format!(
            r#"
[[integration]]
type = "web_service"
name = "Web service {n:02} with a name long enough to make the state file large"
[integration.credentials]
credential_type = "none"
[integration.request]
url = "http://127.0.0.1:{port}/a/path/long/enough/to/make/every/message/longer"
"#
        ));
    }
    write(dir, "c.toml", &text)
}

fn state_file(dir: &std::path::Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(dir.join("state").join("state.json")).ok()?;
    Some(
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("torn state file ({e}): {}", String::from_utf8_lossy(&bytes))
        }),
    )
}

fn moved_aside(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("state"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.contains(".corrupt-"))
                .collect()
        })
        .unwrap_or_default()
}

/// `rounds` times: a daemon started on a state directory of its own, killed with SIGKILL at a
/// moment drawn from `seed`; after each, the file is whole. Then a clean start clears what the
/// killed writers left. Returns the longest history the file came to hold.
async fn kill_rounds(mut seed: u64, rounds: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let config = busy_config(dir.path());
    let mut histories = 0;
    for round in 0..rounds {
        let daemon = Daemon::start(&config, &[]);
        // A small deterministic generator: the moments differ from round to round.
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let wait = 200 + (seed >> 33) % 1000;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        daemon.kill();
        if let Some(state) = state_file(dir.path()) {
            assert_eq!(state["format"], "credwatch-state", "round {round}");
            let integrations = state["integrations"].as_object().unwrap();
            histories = integrations
                .values()
                .map(|r| r["history"].as_array().unwrap().len())
                .max()
                .unwrap_or(0);
        }
        assert_eq!(
            moved_aside(dir.path()),
            Vec::<String>::new(),
            "round {round}"
        );
    }
    // What killed writers left behind is cleared at the next start.
    let daemon = Daemon::start(&config, &[]);
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("state.json.tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    histories
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_writes_never_leaves_a_torn_file() {
    // 50 kills in two state directories side by side (half the wait of one after the other).
    let (one, two) = tokio::join!(
        kill_rounds(0x9e37_79b9_7f4a_7c15, 25),
        kill_rounds(0x2545_f491_4f6c_dd1d, 25)
    );
    // The rounds did write: results accumulated across the restarts.
    assert!(one + two >= 5, "longest histories: {one} and {two}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_state_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let config = busy_config(dir.path());
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state").join("state.json"),
        "{\"format\": \"credwatch-state\", \"version\": 1, \"integrations\": {\"Zend",
    )
    .unwrap();
    let daemon = Daemon::start(&config, &[]);
    let aside = moved_aside(dir.path());
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].starts_with("state.json.corrupt-"), "{aside:?}");
    daemon
        .metrics_when(Duration::from_secs(10), "checks running", |m| {
            m.count("credwatch_check_success", &[]) == 50
        })
        .await;
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    assert!(logs.contains("moved it to"), "{logs}");
    assert_eq!(state_file(dir.path()).unwrap()["format"], "credwatch-state");
}
