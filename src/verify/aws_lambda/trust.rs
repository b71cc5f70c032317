//! Whether a role's trust policy (IAM `GetRole`'s `AssumeRolePolicyDocument`, URL-encoded JSON)
//! still lets Genesys Cloud's AWS account assume it with the integration's external id: an
//! `Allow` of `sts:AssumeRole` to the account (its id or its root ARN, alone or in a list, or
//! `*`) whose `sts:ExternalId` condition (`StringEquals`, `StringLike`, their `IfExists` and
//! `ForAnyValue:` forms, or `StringEqualsIgnoreCase`) accepts the external id, and no `Deny`
//! that takes it away. Conditions on other keys are not evaluated (Genesys's request is not
//! known here): an `Allow` with them still counts, a `Deny` with them does not.

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// The AWS account Genesys Cloud's commercial regions assume roles from (Genesys's "Add an AWS
/// Lambda data actions integration" documentation). FedRAMP orgs use another.
pub const GENESYS_ACCOUNT: &str = "765628985471";

/// What the policy says of Genesys's account with the external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// An `Allow` grants it, and no `Deny` takes it away.
    Trusted,
    /// No statement grants it: why.
    Missing(String),
    /// A `Deny` takes it away.
    Denied,
}

/// Evaluates the trust policy `document` (JSON, or URL-encoded JSON as IAM returns it) for
/// `account` assuming the role with `external_id`. `Err` when it is not a policy.
pub fn evaluate(document: &str, account: &str, external_id: &str) -> Result<Trust, String> {
    let policy: Value = match serde_json::from_str(document.trim()) {
        Ok(policy) => policy,
        Err(_) => {
            let decoded = percent_decode_str(document.trim())
                .decode_utf8()
                .map_err(|e| format!("the trust policy is not UTF-8: {e}"))?;
            serde_json::from_str(&decoded)
                .map_err(|e| format!("the trust policy is not JSON: {e}"))?
        }
    };
    let statements = match policy.get("Statement") {
        Some(Value::Array(all)) => all.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("the trust policy has no Statement".to_string()),
    };
    let mut allowed = false;
    let mut without_external_id = false;
    for statement in statements {
        let effect = statement.get("Effect").and_then(Value::as_str);
        let applies = principal(statement, account) && assume_role(statement);
        match (effect, applies) {
            (Some("Deny"), true)
                if !other_conditions(statement)
                    && external_id_ok(statement, external_id) != Some(false) =>
            {
                return Ok(Trust::Denied);
            }
            (Some("Allow"), true) => match external_id_ok(statement, external_id) {
                Some(true) => allowed = true,
                Some(false) => {}
                None => without_external_id = true,
            },
            _ => {}
        }
    }
    Ok(if allowed {
        Trust::Trusted
    } else if without_external_id {
        Trust::Missing(format!(
            "its only statement for account {account} does not require the external id (sts:ExternalId), which Genesys always sends"
        ))
    } else {
        Trust::Missing(format!(
            "no statement allows sts:AssumeRole to account {account} with this external id"
        ))
    })
}

/// Whether the statement's `Principal` names `account` (its id, its root ARN, or `*`). A
/// `NotPrincipal` statement is not read as naming it.
fn principal(statement: &Value, account: &str) -> bool {
    let Some(principal) = statement.get("Principal") else {
        return false;
    };
    let names = |value: &Value| -> bool {
        strings(value).iter().any(|p| {
            *p == "*" || *p == account || {
                let parts: Vec<&str> = p.splitn(6, ':').collect();
                matches!(parts.as_slice(), ["arn", partition, "iam", "", id, "root"]
                    if partition.starts_with("aws") && *id == account)
            }
        })
    };
    match principal {
        Value::String(any) => any == "*",
        Value::Object(kinds) => kinds
            .iter()
            .any(|(kind, value)| kind.eq_ignore_ascii_case("AWS") && names(value)),
        _ => false,
    }
}

/// Whether the statement's `Action` covers `sts:AssumeRole` (wildcards included). A
/// `NotAction` statement is not read as covering it.
fn assume_role(statement: &Value) -> bool {
    statement.get("Action").is_some_and(|actions| {
        strings(actions)
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), "sts:assumerole"))
    })
}

/// Whether the statement's `sts:ExternalId` conditions accept `external_id`: `None` when it
/// has none.
fn external_id_ok(statement: &Value, external_id: &str) -> Option<bool> {
    let conditions = statement.get("Condition")?.as_object()?;
    let mut verdict = None;
    for (operator, keys) in conditions {
        let Some(keys) = keys.as_object() else {
            continue;
        };
        for (key, wanted) in keys {
            if !key.eq_ignore_ascii_case("sts:ExternalId") {
                continue;
            }
            let base = operator
                .trim_start_matches("ForAnyValue:")
                .trim_start_matches("ForAllValues:")
                .trim_end_matches("IfExists");
            let wanted = strings(wanted);
            let ok = match base {
                "StringEquals" => wanted.contains(&external_id),
                "StringEqualsIgnoreCase" => {
                    wanted.iter().any(|w| w.eq_ignore_ascii_case(external_id))
                }
                "StringLike" => wanted.iter().any(|w| glob(w, external_id)),
                "StringNotEquals" => !wanted.contains(&external_id),
                "StringNotLike" => !wanted.iter().any(|w| glob(w, external_id)),
                // An operator credwatch does not read: not taken as accepting it.
                _ => false,
            };
            verdict = Some(verdict.unwrap_or(true) && ok);
        }
    }
    verdict
}

/// Whether the statement has conditions on keys other than `sts:ExternalId`, which are not
/// evaluated here: a `Deny` with them is not taken as denying Genesys.
fn other_conditions(statement: &Value) -> bool {
    let Some(conditions) = statement.get("Condition").and_then(Value::as_object) else {
        return false;
    };
    conditions.values().any(|keys| {
        keys.as_object().is_none_or(|keys| {
            keys.keys()
                .any(|k| !k.eq_ignore_ascii_case("sts:ExternalId"))
        })
    })
}

/// A string, or each string of a list.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(all) => all.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's `StringLike` matching: `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTERNAL_ID: &str = "8a6d1f2e-acme-org";

    fn policy(statements: Value) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    fn allow(principal: Value, condition: Value) -> Value {
        serde_json::json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", "Condition": condition})
    }

    fn equals(id: &str) -> Value {
        serde_json::json!({"StringEquals": {"sts:ExternalId": id}})
    }

    fn trust(document: &str) -> Trust {
        evaluate(document, GENESYS_ACCOUNT, EXTERNAL_ID).unwrap()
    }

    #[test]
    fn the_principal_may_be_a_string_or_a_list_the_account_id_or_its_root_arn() {
        for principal in [
            serde_json::json!({"AWS": "765628985471"}),
            serde_json::json!({"AWS": "arn:aws:iam::765628985471:root"}),
            serde_json::json!({"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::765628985471:root"]}),
            serde_json::json!({"AWS": ["111122223333", "765628985471"]}),
        ] {
            let document = policy(serde_json::json!([allow(
                principal.clone(),
                equals(EXTERNAL_ID)
            )]));
            assert_eq!(trust(&document), Trust::Trusted, "{principal}");
        }
        // Another account, a role of Genesys's account (not its root), a service.
        for principal in [
            serde_json::json!({"AWS": "arn:aws:iam::111122223333:root"}),
            serde_json::json!({"AWS": "arn:aws:iam::765628985471:role/someone"}),
            serde_json::json!({"Service": "lambda.amazonaws.com"}),
        ] {
            let document = policy(serde_json::json!([allow(
                principal.clone(),
                equals(EXTERNAL_ID)
            )]));
            assert!(matches!(trust(&document), Trust::Missing(_)), "{principal}");
        }
    }

    #[test]
    fn the_external_id_must_match_by_string_equals_or_string_like() {
        let genesys = serde_json::json!({"AWS": "arn:aws:iam::765628985471:root"});
        let rows = [
            (equals(EXTERNAL_ID), true),
            (
                serde_json::json!({"StringEquals": {"sts:ExternalId": ["other", EXTERNAL_ID]}}),
                true,
            ),
            (
                serde_json::json!({"StringLike": {"sts:ExternalId": "8a6d1f2e-*"}}),
                true,
            ),
            (
                serde_json::json!({"StringLike": {"sts:externalid": "8a6d1f2e-acme-or?"}}),
                true,
            ),
            (equals("someone-else"), false),
            (
                serde_json::json!({"StringLike": {"sts:ExternalId": "zzz*"}}),
                false,
            ),
        ];
        for (condition, trusted) in rows {
            let document = policy(serde_json::json!([allow(
                genesys.clone(),
                condition.clone()
            )]));
            assert_eq!(trust(&document) == Trust::Trusted, trusted, "{condition}");
        }
        // No external id condition at all: Genesys could be anyone's deputy.
        let document = policy(
            serde_json::json!([{"Effect": "Allow", "Principal": genesys, "Action": "sts:AssumeRole"}]),
        );
        match trust(&document) {
            Trust::Missing(why) => {
                assert!(why.contains("does not require the external id"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_deny_takes_it_away_and_an_unrelated_statement_grants_nothing() {
        let genesys = serde_json::json!({"AWS": "765628985471"});
        let granted = allow(genesys.clone(), equals(EXTERNAL_ID));
        let deny =
            serde_json::json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:*"});
        assert_eq!(
            trust(&policy(serde_json::json!([granted.clone(), deny]))),
            Trust::Denied
        );
        // A Deny of another external id leaves it.
        let other = serde_json::json!({"Effect": "Deny", "Principal": genesys, "Action": "sts:AssumeRole", "Condition": equals("old-id")});
        assert_eq!(
            trust(&policy(serde_json::json!([granted.clone(), other]))),
            Trust::Trusted
        );
        // A Deny on a condition credwatch cannot evaluate is not taken as denying Genesys.
        let unknowable = serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}}});
        assert_eq!(
            trust(&policy(serde_json::json!([granted.clone(), unknowable]))),
            Trust::Trusted
        );
        // Unrelated: another action, a service principal, a lone object statement.
        let unrelated = serde_json::json!([
            {"Effect": "Allow", "Principal": genesys, "Action": "sts:TagSession", "Condition": equals(EXTERNAL_ID)},
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]);
        assert!(matches!(trust(&policy(unrelated)), Trust::Missing(_)));
        let single = serde_json::json!({"Version": "2012-10-17", "Statement": granted}).to_string();
        assert_eq!(trust(&single), Trust::Trusted);
    }

    #[test]
    fn iams_url_encoded_document_is_read_and_a_tampered_one_is_not_trusted() {
        let document = policy(serde_json::json!([allow(
            serde_json::json!({"AWS": "arn:aws:iam::765628985471:root"}),
            equals(EXTERNAL_ID)
        )]));
        let encoded: String =
            percent_encoding::utf8_percent_encode(&document, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(trust(&encoded), Trust::Trusted);
        // One digit of the account changed: no longer Genesys's.
        let tampered = document.replace("765628985471", "765628985472");
        assert!(matches!(trust(&tampered), Trust::Missing(_)));
        // The external id changed.
        let tampered = document.replace(EXTERNAL_ID, "8a6d1f2e-acme-org2");
        assert!(matches!(trust(&tampered), Trust::Missing(_)));
        // Not a policy at all.
        assert!(
            evaluate(
                "{\"Version\": \"2012-10-17\"}",
                GENESYS_ACCOUNT,
                EXTERNAL_ID
            )
            .is_err()
        );
        assert!(evaluate("%7Bnot json", GENESYS_ACCOUNT, EXTERNAL_ID).is_err());
    }

    #[test]
    fn globs_match_as_iam_does() {
        assert!(glob("sts:*", "sts:assumerole"));
        assert!(glob("*", "anything"));
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("a?c", "abcd"));
        assert!(!glob("sts:assume", "sts:assumerole"));
    }
}
