//! What the state keeps for the integration an org view reads with: where its last window of
//! Genesys's execution records ended, and the last run of each of the org's canaries, so that
//! neither a restart nor a reload reads a window twice or runs a canary ahead of its time.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::State;

/// What an org view remembers, in its integration's record (boxed there: few records have one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewMemory {
    /// Where the last window of Genesys's execution records ended (unix seconds).
    pub executions_until: Option<f64>,
    /// The last run of each canary, one per action.
    pub canaries: Vec<CanaryRun>,
}

/// The last run of one canary, as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRun {
    /// The data action's id.
    pub action: String,
    /// What the canary was when it ran (`Canary::definition`): a run of another definition is
    /// not its own.
    pub definition: String,
    /// The `integration` label it ran with.
    #[serde(default)]
    pub integration: String,
    /// When it finished, unix seconds.
    pub finished: f64,
    pub duration_seconds: f64,
    /// `success` or a failure reason.
    pub result: Cow<'static, str>,
    /// The step that failed, if a step did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The failure's message (scrubbed when it was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl State {
    /// Where the last window of Genesys's execution records read with the integration ended.
    pub fn executions_until(&self, name: &str) -> Option<f64> {
        self.lock()
            .records
            .get(name)?
            .view
            .as_ref()?
            .executions_until
    }

    /// Remembers where the window of execution records read with the integration ended (the
    /// state file keeps it: the next window starts there, also after a restart).
    pub fn set_executions_until(&self, name: &str, until: f64) {
        self.remember(name, |view| view.executions_until = Some(until));
    }

    /// The last runs remembered of the canaries of the view read with the integration `name`
    /// whose action and definition are among `current`; the others are forgotten.
    pub fn canary_runs(&self, name: &str, current: &[(&str, &str)]) -> Vec<CanaryRun> {
        let mut kept = Vec::new();
        self.remember(name, |view| {
            view.canaries.retain(|run| {
                current.iter().any(|(action, definition)| {
                    run.action == *action && run.definition == *definition
                })
            });
            kept = view.canaries.clone();
        });
        kept
    }

    /// Remembers a canary's last run (in place of the one before).
    pub fn set_canary_run(&self, name: &str, run: CanaryRun) {
        self.remember(name, |view| {
            match view.canaries.iter_mut().find(|r| r.action == run.action) {
                Some(before) => *before = run,
                None => view.canaries.push(run),
            }
        });
    }

    /// Changes what the view read with the integration `name` remembers, marking the state
    /// for saving when it changed.
    fn remember(&self, name: &str, change: impl FnOnce(&mut ViewMemory)) {
        {
            let mut inner = self.lock();
            let record = inner.records.entry(name.to_string()).or_default();
            // Only a genesys_cloud integration reads an org view.
            if record.kind.is_none() {
                record.kind = Some(Cow::Borrowed("genesys_cloud"));
            }
            let view = record.view.get_or_insert_default();
            let before = (**view).clone();
            change(view);
            if **view == before {
                return;
            }
            inner.dirty = true;
        }
        self.changed.notify_one();
    }
}
