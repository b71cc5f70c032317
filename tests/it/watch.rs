//! Secret-file watching: a secret file written in place, replaced by a rename, or swapped as a
//! Kubernetes secret volume swaps its `..data` link each makes the integration that reads it
//! check again within 2 s, once per change; a write that leaves the content as it was makes none.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Daemon, write, zendesk_ok};
use credwatch::config::Config;
use wiremock::MockServer;

fn block(name: &str, base: &str, token: &Path) -> String {
    common::zendesk(base, &common::from_file(token))
        .name(name)
        .to_string()
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// Waits for the server to see one more request than `before`; returns how long it took.
async fn next_request(server: &MockServer, before: usize, daemon: &Daemon) -> Duration {
    let started = Instant::now();
    while requests(server).await <= before {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no check after the change; logs:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Names whose first scheduled check comes late (the jitter is deterministic), so that every
/// request the test sees before then comes from the watcher.
fn late_names(count: usize, interval: &str) -> Vec<String> {
    (0..)
        .map(|n| format!("watched {n}"))
        .filter(|name| {
            let text = format!(
                "[defaults]\ninterval = \"{interval}\"\n{}",
                block(name, "http://127.0.0.1:1", Path::new("/t"))
            );
            let config = Config::parse("t.toml", &text).unwrap();
            credwatch::scheduler::first_delay(&config.integrations[0]) > Duration::from_secs(27)
        })
        .take(count)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn in_place_rename_and_symlink_swap_each_trigger_one_check() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let (in_place, renamed, swapped) = (zendesk_ok().await, zendesk_ok().await, zendesk_ok().await);

    // Kubernetes' layout: token -> ..data/token, ..data -> ..<timestamp>/.
    let k8s = dir.path().join("k8s");
    std::fs::create_dir_all(k8s.join("..2026_11_25_a")).unwrap();
    std::fs::write(k8s.join("..2026_11_25_a/token"), "token-a").unwrap();
    std::os::unix::fs::symlink("..2026_11_25_a", k8s.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/token", k8s.join("token")).unwrap();

    let plain = write(&secrets, "in-place", "token-1");
    let replaced = write(&secrets, "renamed", "token-1");
    let names = late_names(3, "1h");
    let config = write(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\ninterval = \"1h\"\nstate_dir = \"{}\"\n{}{}{}",
            // The state file lives beside the secrets: its writes must wake no one.
            secrets.display(),
            block(&names[0], &in_place.uri(), &plain),
            block(&names[1], &renamed.uri(), &replaced),
            block(&names[2], &swapped.uri(), &k8s.join("token")),
        ),
    );
    let daemon = Daemon::start(&config, &[]);
    // inotify watches are in place once the daemon serves; give the first burst of the state
    // directory a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(requests(&in_place).await, 0);

    // Written in place.
    std::fs::write(&plain, "token-2").unwrap();
    let took = next_request(&in_place, 0, &daemon).await;
    assert!(took < Duration::from_secs(2), "in place: {took:?}");

    // Replaced by a rename.
    let tmp = write(&secrets, ".renamed.tmp", "token-2");
    std::fs::rename(&tmp, &replaced).unwrap();
    let took = next_request(&renamed, 0, &daemon).await;
    assert!(took < Duration::from_secs(2), "rename: {took:?}");

    // The ..data link swapped to a new directory.
    std::fs::create_dir(k8s.join("..2026_11_25_b")).unwrap();
    std::fs::write(k8s.join("..2026_11_25_b/token"), "token-b").unwrap();
    std::os::unix::fs::symlink("..2026_11_25_b", k8s.join("..data_tmp")).unwrap();
    std::fs::rename(k8s.join("..data_tmp"), k8s.join("..data")).unwrap();
    std::fs::remove_dir_all(k8s.join("..2026_11_25_a")).unwrap();
    let took = next_request(&swapped, 0, &daemon).await;
    assert!(took < Duration::from_secs(2), "symlink swap: {took:?}");

    // One check per change, and none for a write that changes nothing.
    std::fs::write(&plain, "token-2").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(requests(&in_place).await, 1, "logs:\n{}", daemon.logs());
    assert_eq!(requests(&renamed).await, 1);
    assert_eq!(requests(&swapped).await, 1);

    // The new result is on /metrics.
    let m = daemon.metrics().await;
    for name in &names {
        assert_eq!(
            m.get("credwatch_check_success", &[("integration", name.as_str())]),
            Some(1.0),
            "{name}"
        );
    }
}
