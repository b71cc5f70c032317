//! The docs hold together: every relative link in the README and `docs/` names a file that
//! exists and, with `#anchor`, a heading of that file (as GitHub makes anchors); every alert's
//! `runbook_url` names a runbook heading.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The markdown files: the README and everything in `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// The lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchors for a page's headings: lower case, punctuation but `-` and `_` dropped,
/// spaces as `-`, and `-1`, `-2` on repeats.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
    }
    seen
}

/// The targets of the page's inline links, `[text](target)`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// Whether `target` (relative to `page`) resolves; the problem if not.
fn check(page: &Path, target: &str) -> Result<(), String> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Ok(());
    }
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path = if file.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap().join(file)
    };
    if !path.exists() {
        return Err(format!("{target}: no {}", path.display()));
    }
    if !anchor.is_empty() {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{target}: {e}"))?;
        if !anchors(&text).contains(anchor) {
            return Err(format!("{target}: no heading makes #{anchor}"));
        }
    }
    Ok(())
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            checked += 1;
            if let Err(problem) = check(&page, &target) {
                problems.push(format!("{}: {problem}", page.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} links found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The checker itself finds what is missing.
    let readme = Path::new(ROOT).join("README.md");
    assert!(check(&readme, "docs/nothing.md").is_err());
    assert!(check(&readme, "docs/runbooks.md#credwatchnothing").is_err());
    assert!(check(&readme, "docs/runbooks.md#credwatchdown").is_ok());
}

#[test]
fn every_alert_has_its_runbook() {
    let rules = std::fs::read_to_string(Path::new(ROOT).join("dashboards/alerts.yml")).unwrap();
    let runbooks = std::fs::read_to_string(Path::new(ROOT).join("docs/runbooks.md")).unwrap();
    let headings = anchors(&runbooks);
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    let urls: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .map(|u| u.trim_matches('"'))
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    assert_eq!(alerts.len(), urls.len(), "one runbook_url per alert");
    for (alert, url) in alerts.iter().zip(&urls) {
        let anchor = url
            .strip_prefix("https://github.com/credwatch/credwatch/blob/main/docs/runbooks.md#")
            .unwrap_or_else(|| panic!("{alert}: {url} is not a runbook of docs/runbooks.md"));
        assert!(
            headings.contains(anchor),
            "{alert}: no heading makes #{anchor}"
        );
        // A runbook may cover a pair (the warning and the critical one), and names both.
        assert!(
            runbooks.contains(&format!("`{alert}`")) || headings.contains(&alert.to_lowercase()),
            "{alert} is not in its runbook"
        );
    }
}
