//! Adding an integration type is one verifier file (with its `IntegrationType`), one simulator
//! file (with its `Provider`), one line in each registry, and its docs: this walks
//! `verify::TYPES` and fails for a type missing from the simulator, the demo, the example config,
//! the unit's credential lines, the configuration docs or Genesys's type ids.

use crate::common;

use std::path::Path;

use credwatch::verify::TYPES;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap()
}

/// Whether the config `text` has an `[[integration]]` of type `key`.
fn has_type(text: &str, key: &str) -> bool {
    let config: toml::Table = text.parse().unwrap();
    config["integration"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["type"].as_str() == Some(key))
}

#[test]
fn every_type_is_in_the_simulator_the_demo_the_example_the_unit_and_the_docs() {
    let simulated: Vec<&str> = credwatch::simulator::simulated_types().collect();
    let dir = tempfile::tempdir().unwrap();
    let out = common::binary()
        .args(["demo", "--print-config", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo = String::from_utf8(out.stdout).unwrap();
    let example = read("config/credwatch.example.toml");
    let unit = read("systemd/credwatch.service");
    let docs = read("docs/configuration.md");

    let mut missing = Vec::new();
    for kind in TYPES {
        let (key, label) = (kind.key, kind.label());
        let mut lacks = |what: &str, there: bool| {
            if !there {
                missing.push(format!("{key}: {what}"));
            }
        };
        lacks("a simulator Provider", simulated.contains(&key));
        lacks("demo integrations", has_type(&demo, key));
        lacks(
            "an example in config/credwatch.example.toml",
            has_type(&example, key),
        );
        lacks(
            "a `# LABEL: LoadCredential=` line in the unit",
            unit.lines().any(|l| {
                l.to_lowercase()
                    .starts_with(&format!("# {}:", label.to_lowercase()))
                    && l.contains("LoadCredential=")
            }),
        );
        lacks(
            "a `### LABEL` section in docs/configuration.md",
            docs.lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("### {label}"))),
        );
        lacks("Genesys type ids", !kind.genesys_type_ids.is_empty());
        for id in kind.genesys_type_ids {
            assert_eq!(
                credwatch::orgview::type_of(id),
                Some(key),
                "{id} is one type's"
            );
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert_eq!(
        simulated.len(),
        TYPES.len(),
        "a Provider without a type: {simulated:?}"
    );
}
