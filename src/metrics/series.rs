//! The per-integration series, kept compactly and written straight to the text exposition
//! format. The `prometheus` crate keeps every labelled series as its own object with copies of
//! its label pairs (close to a kilobyte each) and builds the whole scrape in memory; at ten
//! series per integration and tens of thousands of integrations that is hundreds of megabytes.
//! Here one integration is one small struct, and a scrape is written family by family, a slice
//! of integrations at a time, so that checks recording results are never kept waiting long.

use std::cmp::Ordering;
use std::io::{self, Write};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use crate::forecast::{self, Credential};
use crate::guard::Engaged;
use crate::state::{Record, Records, State};

/// How many integrations one lock of the store writes before letting checks record again.
const SLICE: usize = 512;

/// What the metrics themselves keep of one integration: what the config says of it and how
/// many checks it had. Everything a check's result sets (success, reason, times, expiries,
/// the guard) is read from its record in the [`State`] when a scrape is written. Its `org` and
/// `integration` labels are its key, `ORG/NAME` (an org has no `/`).
#[derive(Debug, Default, Clone)]
pub(super) struct Series {
    pub(super) kind: &'static str,
    /// What the running config says of it; `None` when the config no longer has it.
    pub(super) info: Option<Info>,
    /// Checks by result (`success` or a reason), in the order first seen.
    pub(super) checks: Vec<(&'static str, u64)>,
}

/// What the running config says of an integration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Info {
    pub(super) credential_type: &'static str,
    pub(super) active: bool,
    /// The lockout guard watches it.
    pub(super) guarded: bool,
    /// How often it is checked, in seconds (none for an inactive one).
    pub(super) interval: Option<f64>,
    /// Its main credential, and when the config says it ends (`expires`).
    pub(super) credential: Credential,
    pub(super) expires: Option<f64>,
}

impl Series {
    fn is_empty(&self) -> bool {
        self.info.is_none() && self.checks.is_empty()
    }
}

/// One integration as a scrape sees it: its series and its record in the state.
struct Known<'a> {
    series: &'a Series,
    /// Its record, when it is checked (an inactive integration's is not exported) and of its
    /// type.
    record: Option<&'a Record>,
}

impl Known<'_> {
    /// The record of an integration checked (or held by the guard) in this run.
    fn seen(&self) -> Option<&Record> {
        self.record.filter(|record| record.seen())
    }

    /// The engaged lockout guard of an integration the guard watches.
    fn engaged(&self) -> Option<&Engaged> {
        self.series
            .info
            .filter(|info| info.guarded)
            .and(self.record)
            .and_then(|record| record.guard.as_deref())
    }

    /// Whether the last check passed: an engaged guard reports the failure that engaged it
    /// (also after a restart, before anything else has said so).
    fn success(&self) -> Option<bool> {
        if self.engaged().is_some() {
            return Some(false);
        }
        Some(self.seen()?.last()?.failure.is_none())
    }
}

/// Every integration's series, by `ORG/NAME`: a vector sorted by it, which costs a third less
/// than a map's half-full nodes.
#[derive(Debug, Default)]
pub(super) struct Store {
    series: Mutex<Vec<(String, Series)>>,
}

/// The position of `id` in the sorted series, or where it would go.
fn find(series: &[(String, Series)], id: &str) -> Result<usize, usize> {
    series.binary_search_by(|(key, _)| key.as_str().cmp(id))
}

/// One family: its name, type, help, and how to write an integration's samples of it.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: fn(&Known<'_>, &mut Sample<'_>) -> io::Result<()>,
}

/// Writes the samples of one integration: its `org`, `integration` and `type` labels, then any
/// extra ones.
struct Sample<'a> {
    out: &'a mut Vec<u8>,
    family: &'static str,
    /// The integration's `ORG/NAME`.
    id: &'a str,
    /// Its type.
    kind: &'static str,
}

impl Sample<'_> {
    fn value(&mut self, extra: &[(&str, &str)], value: f64) -> io::Result<()> {
        let out = &mut *self.out;
        out.extend_from_slice(self.family.as_bytes());
        let (org, name) = self.id.split_once('/').unwrap_or(("", self.id));
        out.extend_from_slice(b"{org=\"");
        escape(out, org);
        out.extend_from_slice(b"\",integration=\"");
        escape(out, name);
        out.extend_from_slice(b"\",type=\"");
        escape(out, self.kind);
        out.push(b'"');
        for (label, text) in extra {
            out.push(b',');
            out.extend_from_slice(label.as_bytes());
            out.extend_from_slice(b"=\"");
            escape(out, text);
            out.push(b'"');
        }
        out.extend_from_slice(b"} ");
        write_float(out, value)?;
        out.push(b'\n');
        Ok(())
    }

    fn some(&mut self, value: Option<f64>) -> io::Result<()> {
        match value {
            Some(value) => self.value(&[], value),
            None => Ok(()),
        }
    }
}

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
fn escape(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(byte),
        }
    }
}

/// A sample value as the text format wants it (Go's float formatting for the special values).
fn write_float(out: &mut Vec<u8>, value: f64) -> io::Result<()> {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        write!(out, "{value}")?;
    }
    Ok(())
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

const FAMILIES: &[Family] = &[
    Family {
        name: "credwatch_check_success",
        kind: "gauge",
        help: "1 if the last check of the integration passed, else 0.",
        samples: |k, out| out.some(k.success().map(flag)),
    },
    Family {
        name: "credwatch_check_last_duration_seconds",
        kind: "gauge",
        help: "Time the last check of the integration took.",
        samples: |k, out| {
            out.some(
                k.seen()
                    .and_then(Record::last)
                    .map(|e| e.duration_seconds()),
            )
        },
    },
    Family {
        name: "credwatch_check_last_run_timestamp_seconds",
        kind: "gauge",
        help: "When the last check of the integration ended (unix seconds).",
        samples: |k, out| out.some(k.seen().and_then(Record::last).map(|e| e.time())),
    },
    Family {
        name: "credwatch_check_last_success_timestamp_seconds",
        kind: "gauge",
        help: "When the integration last passed a check (unix seconds); survives restarts.",
        samples: |k, out| out.some(k.record.and_then(|r| r.last_success)),
    },
    Family {
        name: "credwatch_checks_total",
        kind: "counter",
        help: "Checks run, by result: success or the failure reason.",
        samples: |k, out| {
            for (result, count) in &k.series.checks {
                out.value(&[("result", result)], *count as f64)?;
            }
            Ok(())
        },
    },
    Family {
        name: "credwatch_check_failure_reason",
        kind: "gauge",
        help: "1 for the reason the last check of the integration failed; absent after a success.",
        samples: |k, out| {
            let failure = match k.engaged() {
                Some(engaged) => Some(engaged.reason),
                None => k.seen().and_then(Record::last).and_then(|e| e.failure),
            };
            match failure {
                Some(reason) => out.value(&[("reason", reason.as_str())], 1.0),
                None => Ok(()),
            }
        },
    },
    Family {
        name: "credwatch_token_expiry_timestamp_seconds",
        kind: "gauge",
        help: "Expiry of the token or session minted by the last successful check (unix seconds).",
        samples: |k, out| out.some(k.seen().and_then(|r| r.token_expiry)),
    },
    Family {
        name: "credwatch_certificate_expiry_timestamp_seconds",
        kind: "gauge",
        help: "notAfter of the mTLS client certificate (certificate=\"client\") and of the soonest-expiring server leaf certificate the last check was shown (certificate=\"server\"), unix seconds.",
        samples: |k, out| {
            let Some(record) = k.seen() else {
                return Ok(());
            };
            if let Some(at) = record.client_certificate_expiry {
                out.value(&[("certificate", "client")], at)?;
            }
            if let Some(at) = record.server_certificate_expiry {
                out.value(&[("certificate", "server")], at)?;
            }
            Ok(())
        },
    },
    Family {
        name: "credwatch_credential_expiry_timestamp_seconds",
        kind: "gauge",
        help: "When a credential of the integration ends (unix seconds), by credential and by who says so: provider, policy (last change plus the configured maximum age), sunset (a published end of the kind) or config (expires).",
        samples: |k, out| {
            let Some(info) = k.series.info.filter(|info| info.active) else {
                return Ok(());
            };
            let learnt = k.record.map_or(&[][..], |r| &r.credentials);
            for f in forecast::each(k.series.kind, info.credential, info.expires, learnt) {
                let labels = [
                    ("credential", f.credential.as_str()),
                    ("source", f.source.as_str()),
                ];
                out.value(&labels, f.at)?;
            }
            Ok(())
        },
    },
    Family {
        name: "credwatch_credential_changed_timestamp_seconds",
        kind: "gauge",
        help: "When the provider says a credential of the integration last changed (unix seconds).",
        samples: |k, out| {
            for learnt in k.record.map_or(&[][..], |r| &r.credentials) {
                if let Some(at) = learnt.changed {
                    out.value(&[("credential", learnt.credential.as_str())], at)?;
                }
            }
            Ok(())
        },
    },
    Family {
        name: "credwatch_aws_role_last_used_timestamp_seconds",
        kind: "gauge",
        help: "When the IAM role of an aws_lambda integration was last used to assume it, by anyone, as IAM's RoleLastUsed says (unix seconds; with genesys_trust = true). IAM tracks 400 days.",
        samples: |k, out| {
            let learnt = k.record.map_or(&[][..], |r| &r.credentials);
            let role = learnt
                .iter()
                .find(|l| l.credential == forecast::Credential::Role);
            out.some(role.and_then(|l| l.used))
        },
    },
    Family {
        name: "credwatch_lockout_guard_engaged",
        kind: "gauge",
        help: "1 while the lockout guard pauses attempts so as not to lock the account; 0 when it does not (integrations the guard watches only).",
        samples: |k, out| match k.series.info {
            Some(info) if info.active && info.guarded => {
                out.value(&[], flag(k.engaged().is_some()))
            }
            _ => Ok(()),
        },
    },
    Family {
        name: "credwatch_check_interval_seconds",
        kind: "gauge",
        help: "How often the integration is checked: its interval, or the time between its next two cron runs.",
        samples: |k, out| out.some(k.series.info.and_then(|info| info.interval)),
    },
    Family {
        name: "credwatch_integration_info",
        kind: "gauge",
        help: "Configured integrations; always 1.",
        samples: |k, out| match &k.series.info {
            Some(info) => out.value(
                &[
                    ("credential_type", info.credential_type),
                    ("active", if info.active { "true" } else { "false" }),
                ],
                1.0,
            ),
            None => Ok(()),
        },
    },
];

impl Store {
    pub(super) fn lock(&self) -> MutexGuard<'_, Vec<(String, Series)>> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes room for integrations not seen before, all at once (inserting one by one into a
    /// sorted vector of tens of thousands would move it each time).
    pub(super) fn add<'a>(&self, ids: impl Iterator<Item = (&'a str, &'static str)>) {
        let mut series = self.lock();
        let known = series.len();
        for (id, kind) in ids {
            if find(&series[..known], id).is_err() {
                series.push((
                    id.to_string(),
                    Series {
                        kind,
                        ..Series::default()
                    },
                ));
            }
        }
        if series.len() > known {
            series.sort_by(|(a, _), (b, _)| a.cmp(b));
            series.dedup_by(|(a, _), (b, _)| a == b);
        }
    }

    /// The series of `id`, if it has one.
    pub(super) fn get_mut<'a>(
        series: &'a mut [(String, Series)],
        id: &str,
    ) -> Option<&'a mut Series> {
        let at = find(series, id).ok()?;
        Some(&mut series[at].1)
    }

    /// The series of integration `id` (`ORG/NAME`) of type `kind`, created if new.
    pub(super) fn with<R>(
        &self,
        id: &str,
        kind: &'static str,
        change: impl FnOnce(&mut Series) -> R,
    ) -> R {
        let mut series = self.lock();
        let at = match find(&series, id) {
            Ok(at) => at,
            Err(at) => {
                let new = Series {
                    kind,
                    ..Series::default()
                };
                series.insert(at, (id.to_string(), new));
                at
            }
        };
        let existing = &mut series[at].1;
        // Another type under the same name is another integration.
        if existing.kind != kind {
            *existing = Series {
                kind,
                ..Series::default()
            };
        }
        change(existing)
    }

    /// Drops integrations nothing is exported of any more.
    pub(super) fn prune(&self) {
        let mut series = self.lock();
        series.retain(|(_, series)| !series.is_empty());
        series.shrink_to_fit();
    }

    /// Writes every family to `out`, reading what checks set from `state`, and taking the
    /// locks (the store's, then the state's) for [`SLICE`] integrations at a time.
    pub(super) fn write(&self, state: &State, out: &mut dyn Write) -> io::Result<()> {
        let mut buffer = Vec::with_capacity(64 * 1024);
        for family in FAMILIES {
            let mut header_written = false;
            let mut after: Option<String> = None;
            loop {
                buffer.clear();
                let last = {
                    let series = self.lock();
                    let start = match &after {
                        None => 0,
                        Some(key) => series.partition_point(|(id, _)| id <= key),
                    };
                    let slice = &series[start..series.len().min(start + SLICE)];
                    state
                        .with_records(|records| write_slice(family, slice, records, &mut buffer))?;
                    slice.last().map(|(key, _)| key.clone())
                };
                if !buffer.is_empty() && !header_written {
                    writeln!(out, "# HELP {} {}", family.name, family.help)?;
                    writeln!(out, "# TYPE {} {}", family.name, family.kind)?;
                    header_written = true;
                }
                out.write_all(&buffer)?;
                match last {
                    Some(key) => after = Some(key),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

/// Writes `family`'s samples of the integrations in `slice` to `out`. The series and the records
/// are both sorted by `ORG/NAME`, so they are walked side by side rather than looked up.
fn write_slice(
    family: &Family,
    slice: &[(String, Series)],
    records: &Records,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let Some((first, _)) = slice.first() else {
        return Ok(());
    };
    let mut ahead = records
        .range::<str, _>((Bound::Included(first.as_str()), Bound::Unbounded))
        .peekable();
    for (key, series) in slice {
        let mut record = None;
        while let Some((id, found)) = ahead.peek() {
            match id.as_str().cmp(key) {
                Ordering::Less => {}
                Ordering::Equal => record = Some(&***found),
                Ordering::Greater => break,
            }
            ahead.next();
        }
        let checked = series.info.is_none_or(|info| info.active);
        let record = record.filter(|record| checked && record.kind.as_deref() == Some(series.kind));
        let known = Known { series, record };
        let mut sample = Sample {
            out,
            family: family.name,
            id: key,
            kind: series.kind,
        };
        (family.samples)(&known, &mut sample)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        escape(&mut out, "a\\b\"c\nd");
        assert_eq!(out, b"a\\\\b\\\"c\\nd");
    }

    #[test]
    fn floats_are_written_as_the_text_format_wants() {
        for (value, text) in [
            (1.0, "1"),
            (0.25, "0.25"),
            (1_764_090_000.5, "1764090000.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            let mut out = Vec::new();
            write_float(&mut out, value).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn families_are_written_whole_across_slices() {
        let store = Store::default();
        for n in 0..(SLICE * 2 + 3) {
            store.with(&format!("acme/i{n:04}"), "web_service", |s| {
                s.info = Some(Info {
                    credential_type: "api_token",
                    active: true,
                    guarded: false,
                    interval: Some(60.0),
                    credential: Credential::Password,
                    expires: None,
                });
            });
        }
        let state = State::load(std::path::Path::new("/nonexistent/credwatch"), "acme");
        let mut out = Vec::new();
        store.write(&state, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 * (2 + SLICE * 2 + 3), "{text}");
        assert_eq!(
            lines[0],
            "# HELP credwatch_check_interval_seconds How often the integration is checked: its interval, or the time between its next two cron runs."
        );
        assert_eq!(
            lines[2],
            "credwatch_check_interval_seconds{org=\"acme\",integration=\"i0000\",type=\"web_service\"} 60"
        );
        assert_eq!(
            text.matches("# TYPE credwatch_check_interval_seconds gauge")
                .count(),
            1
        );
        assert!(lines[2 + SLICE * 2 + 3].starts_with("# HELP credwatch_integration_info"));
    }
}
