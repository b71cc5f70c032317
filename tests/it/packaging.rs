//! The package as `cargo deb` and `cargo install` make it (`.ci/release` builds both): every
//! asset of `[package.metadata.deb]` but the release binary exists in the repo, the config it
//! installs is the one kept across upgrades, and the unit it ships is the one in `systemd/`.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn deb_metadata() -> toml::Table {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb]")
        .clone()
}

#[test]
fn every_deb_asset_is_in_the_repo() {
    let deb = deb_metadata();
    let assets = deb["assets"].as_array().unwrap();
    let mut destinations = Vec::new();
    for asset in assets {
        let [source, destination, mode] = asset.as_array().unwrap().as_slice() else {
            panic!("an asset is [source, destination, mode]: {asset}");
        };
        let (source, destination) = (source.as_str().unwrap(), destination.as_str().unwrap());
        let mode = u32::from_str_radix(mode.as_str().unwrap(), 8).unwrap();
        if source == "target/release/credwatch" {
            assert_eq!(mode, 0o755);
            assert_eq!(destination, "usr/bin/");
        } else if source.contains('*') {
            let pattern = Path::new(ROOT).join(source);
            let matched = glob::glob(pattern.to_str().unwrap()).unwrap().count();
            assert!(matched > 0, "{source} matches nothing");
            assert!(destination.ends_with('/'), "{source} goes into a directory");
            assert_eq!(mode, 0o644, "{source}");
            continue;
        } else {
            assert!(
                Path::new(ROOT).join(source).is_file(),
                "{source} is missing"
            );
            assert_eq!(mode, 0o644, "{source}");
        }
        let name = Path::new(source).file_name().unwrap().to_str().unwrap();
        destinations.push(if destination.ends_with('/') {
            format!("/{destination}{name}")
        } else {
            format!("/{destination}")
        });
    }
    for conf in deb["conf-files"].as_array().unwrap() {
        let conf = conf.as_str().unwrap();
        assert!(
            destinations.iter().any(|d| d == conf),
            "{conf} is not installed"
        );
    }
    let units = deb["systemd-units"]["unit-scripts"].as_str().unwrap();
    assert!(
        Path::new(ROOT)
            .join(units)
            .join("credwatch.service")
            .is_file()
    );
    assert!(
        destinations.contains(&"/etc/credwatch/credwatch.toml".to_string()),
        "{destinations:?}"
    );
}
