//! What a reload changes, as a pure comparison of the running config and the new one: which
//! integrations lose their series, which are checked soon, what the state keeps, and which org
//! views and canaries end.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::Config;
use crate::integration::Integration;

/// The difference between two configs that a reload acts on.
#[derive(Debug)]
pub(super) struct ConfigDiff<'a> {
    /// Integrations of the old config that the new one does not check (gone, inactive, or now of
    /// another type): their series go.
    pub(super) unchecked: Vec<&'a Arc<Integration>>,
    /// The new config's active integrations that are new or whose definition changed: checked
    /// soon; the others keep their place on the schedule.
    pub(super) changed: HashSet<&'a str>,
    /// Every integration of the new config, active or not: the state keeps only these.
    pub(super) ids: HashSet<&'a str>,
    /// Orgs whose view the old config read and the new one does not: their series go.
    pub(super) views_gone: Vec<&'a str>,
    /// Orgs the new config reads a view of: the only reports kept.
    pub(super) viewed: HashSet<&'a str>,
    /// The new config's canaries, by org and action: the only ones whose series and reports
    /// are kept.
    pub(super) canaries: HashSet<(&'a str, &'a str)>,
}

impl<'a> ConfigDiff<'a> {
    pub(super) fn between(old: &'a Config, new: &'a Config) -> Self {
        let before: HashMap<&str, &Arc<Integration>> = old
            .integrations
            .iter()
            .map(|i| (i.id.as_str(), i))
            .collect();
        let checked: HashMap<&str, &Arc<Integration>> =
            new.active().map(|i| (i.id.as_str(), i)).collect();
        let mut unchecked: Vec<_> = old
            .integrations
            .iter()
            .filter(|was| {
                checked
                    .get(was.id.as_str())
                    .is_none_or(|now| now.kind.key != was.kind.key)
            })
            .collect();
        unchecked.shrink_to_fit();
        let changed = checked
            .iter()
            .filter(|(id, now)| {
                before
                    .get(*id)
                    .is_none_or(|was| was.definition != now.definition)
            })
            .map(|(id, _)| *id)
            .collect();
        let viewed: HashSet<&str> = new
            .orgs
            .iter()
            .filter(|o| o.view.is_some())
            .map(|o| &*o.name)
            .collect();
        let views_gone = old
            .orgs
            .iter()
            .filter(|o| o.view.is_some() && !viewed.contains(&*o.name))
            .map(|o| &*o.name)
            .collect();
        let canaries = new
            .orgs
            .iter()
            .flat_map(|o| {
                let canaries = o.view.iter().flat_map(|v| &v.canaries);
                canaries.map(|c| (&*o.name, c.action.as_str()))
            })
            .collect();
        ConfigDiff {
            canaries,
            unchecked,
            changed,
            ids: new.integrations.iter().map(|i| i.id.as_str()).collect(),
            views_gone,
            viewed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigDiff;
    use crate::config::Config;

    fn config(text: &str) -> Config {
        Config::parse("test.toml", text).unwrap()
    }

    fn zendesk(name: &str, extra: &str) -> String {
        format!(
            "[[integration]]\ntype = \"zendesk\"\nname = \"{name}\"\n{extra}\n[integration.credentials]\nemail = \"a@example.com\"\nbase_url = \"https://acme.zendesk.com\"\napi_token = \"t\"\n"
        )
    }

    fn sorted<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut ids: Vec<_> = ids.into_iter().collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn integrations_kept_changed_added_removed_and_deactivated() {
        let old = config(
            &[
                zendesk("kept", ""),
                zendesk("retimed", "interval = \"5m\""),
                zendesk("removed", ""),
                zendesk("deactivated", ""),
                zendesk("inactive", "active = false"),
            ]
            .concat(),
        );
        let new = config(
            &[
                zendesk("kept", ""),
                zendesk("retimed", "interval = \"10m\""),
                zendesk("deactivated", "active = false"),
                zendesk("inactive", "active = false"),
                zendesk("added", ""),
            ]
            .concat(),
        );
        let diff = ConfigDiff::between(&old, &new);
        assert_eq!(
            sorted(diff.changed.iter().copied()),
            ["default/added", "default/retimed"]
        );
        assert_eq!(
            sorted(diff.unchecked.iter().map(|i| i.id.as_str())),
            ["default/deactivated", "default/inactive", "default/removed"]
        );
        assert_eq!(
            sorted(diff.ids.iter().copied()),
            [
                "default/added",
                "default/deactivated",
                "default/inactive",
                "default/kept",
                "default/retimed"
            ]
        );
        assert!(diff.views_gone.is_empty() && diff.viewed.is_empty());
    }

    #[test]
    fn the_same_config_changes_nothing_and_a_new_type_is_a_new_integration() {
        let text = zendesk("one", "");
        let (old, new) = (config(&text), config(&text));
        let diff = ConfigDiff::between(&old, &new);
        assert!(diff.changed.is_empty() && diff.unchecked.is_empty());

        let old = config(&zendesk("one", ""));
        let new = config(
            "[[integration]]\ntype = \"genesys_cloud\"\nname = \"one\"\n[integration.credentials]\nclient_id = \"i\"\nclient_secret = \"s\"\nregion = \"mypurecloud.de\"\n",
        );
        let diff = ConfigDiff::between(&old, &new);
        assert_eq!(sorted(diff.changed.iter().copied()), ["default/one"]);
        assert_eq!(diff.unchecked.len(), 1, "the zendesk series go");
    }

    #[test]
    fn an_org_view_that_ends() {
        let genesys = "[[integration]]\ntype = \"genesys_cloud\"\nname = \"g\"\n[integration.credentials]\nclient_id = \"i\"\nclient_secret = \"s\"\nregion = \"mypurecloud.de\"\n";
        let old = config(&format!("[genesys]\nintegration = \"g\"\n{genesys}"));
        let new = config(genesys);
        let diff = ConfigDiff::between(&old, &new);
        assert_eq!(diff.views_gone, ["default"]);
        assert!(diff.viewed.is_empty());
        let diff = ConfigDiff::between(&new, &old);
        assert!(diff.views_gone.is_empty());
        assert_eq!(sorted(diff.viewed.iter().copied()), ["default"]);
    }
}
