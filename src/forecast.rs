//! Credential expiry forecasts: which credential of an integration ends, when, and who says so.
//! A forecast comes from the provider (a check read it), a policy (the provider's last change of
//! the credential plus a maximum age from the config), a sunset (a published end of the whole
//! credential kind, in [`SUNSETS`]) or the config (`expires`, what only the operator knows).
//! The metrics, the status page and the API all take an integration's forecasts from
//! [`forecasts`].

use serde::{Deserialize, Serialize};

/// A kind of credential: the `credential` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    Password,
    ApiToken,
    ClientSecret,
    ServiceAccountKey,
    OauthClient,
    /// The IAM role Genesys assumes (AWS Lambda): it does not end, but it may go unused.
    Role,
}

impl Credential {
    /// The label value, e.g. `api_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ApiToken => "api_token",
            Self::ClientSecret => "client_secret",
            Self::ServiceAccountKey => "service_account_key",
            Self::OauthClient => "oauth_client",
            Self::Role => "role",
        }
    }
}

/// Who says when a credential ends: the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The provider said so (a check read it).
    Provider,
    /// The provider's last change of the credential plus a configured maximum age.
    Policy,
    /// A published end of the whole kind of credential ([`SUNSETS`]).
    Sunset,
    /// The operator wrote it (`expires`).
    Config,
}

impl Source {
    /// The label value, e.g. `sunset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Policy => "policy",
            Self::Sunset => "sunset",
            Self::Config => "config",
        }
    }
}

/// When one credential of an integration ends, and who says so.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forecast {
    pub credential: Credential,
    pub source: Source,
    /// Unix seconds.
    pub at: f64,
}

/// What a check learnt of one of the integration's credentials: when it last changed and when
/// it ends, where the provider tells. Kept in the state until a later check learns anew.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Learnt {
    pub credential: Credential,
    /// When the credential last changed, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<f64>,
    /// When it ends (unix seconds), and who says so: the provider, or a policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<(Source, f64)>,
    /// When the provider says it was last used, unix seconds (an IAM role's `RoleLastUsed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<f64>,
}

impl Learnt {
    /// What a check learnt of a credential's dates: its last change and its end.
    pub fn dated(
        credential: Credential,
        changed: Option<f64>,
        expires: Option<(Source, f64)>,
    ) -> Self {
        Self {
            credential,
            changed,
            expires,
            used: None,
        }
    }
}

/// A published end of a whole kind of credential of one integration type.
#[derive(Debug)]
pub struct Sunset {
    /// The integration type's config key.
    pub kind: &'static str,
    pub credential: Credential,
    /// The end, unix seconds.
    pub at: f64,
    /// What ends, in a sentence for the status page and the docs.
    pub what: &'static str,
    /// Where the provider published it.
    pub published: &'static str,
}

/// Every known sunset: the next provider change is one line here.
pub static SUNSETS: &[Sunset] = &[Sunset {
    kind: "zendesk",
    credential: Credential::ApiToken,
    // 2027-04-30T00:00:00Z
    at: 1_809_043_200.0,
    what: "Zendesk permanently deactivates every API token on 2027-04-30; OAuth access tokens replace them",
    published: "https://developer.zendesk.com/documentation/api-basics/authentication/migrating-from-api-tokens-to-oauth-access-tokens/",
}];

/// The sunset of credentials of the integration type `kind`, if one is published.
pub fn sunset_of(kind: &str) -> Option<&'static Sunset> {
    SUNSETS.iter().find(|sunset| sunset.kind == kind)
}

/// Every forecast of an integration of type `kind`, soonest first: the sunset of its type,
/// `expires` from its config (about `main`, its main credential), and what its checks learnt.
pub fn forecasts(
    kind: &str,
    main: Credential,
    expires: Option<f64>,
    learnt: &[Learnt],
) -> Vec<Forecast> {
    let mut all: Vec<Forecast> = each(kind, main, expires, learnt).collect();
    all.sort_by(|a, b| a.at.total_cmp(&b.at));
    all
}

/// The same forecasts in no particular order, without allocating (a scrape writes tens of
/// thousands of them).
pub fn each<'a>(
    kind: &str,
    main: Credential,
    expires: Option<f64>,
    learnt: &'a [Learnt],
) -> impl Iterator<Item = Forecast> + 'a {
    let sunset = sunset_of(kind).map(|sunset| Forecast {
        credential: sunset.credential,
        source: Source::Sunset,
        at: sunset.at,
    });
    let configured = expires.map(|at| Forecast {
        credential: main,
        source: Source::Config,
        at,
    });
    let told = learnt.iter().filter_map(|learnt| {
        let (source, at) = learnt.expires?;
        Some(Forecast {
            credential: learnt.credential,
            source,
            at,
        })
    });
    sunset.into_iter().chain(configured).chain(told)
}

/// Merges what a check learnt into what was known: a credential learnt anew replaces what was
/// known of it; the others stay (a check that failed before it could read them learnt nothing).
pub fn merge(known: &mut Vec<Learnt>, learnt: &[Learnt]) {
    let before = known.len();
    for new in learnt {
        match known.iter_mut().find(|k| k.credential == new.credential) {
            Some(old) => *old = *new,
            None => known.push(*new),
        }
    }
    // Tens of thousands of records keep one or two: no room for more.
    if known.len() != before {
        known.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zendesk_sunset_is_the_end_of_april_2027() {
        let sunset = sunset_of("zendesk").unwrap();
        assert_eq!(crate::clock::rfc3339(sunset.at), "2027-04-30T00:00:00Z");
        assert_eq!(sunset.credential, Credential::ApiToken);
        assert!(sunset_of("salesforce").is_none());
    }

    #[test]
    fn forecasts_come_soonest_first_from_every_source() {
        let learnt = [
            Learnt {
                credential: Credential::Password,
                used: None,
                changed: Some(100.0),
                expires: Some((Source::Policy, 300.0)),
            },
            Learnt {
                credential: Credential::OauthClient,
                used: None,
                changed: Some(50.0),
                expires: None,
            },
        ];
        let all = forecasts("zendesk", Credential::ApiToken, Some(200.0), &learnt);
        let seen: Vec<_> = all.iter().map(|f| (f.credential, f.source, f.at)).collect();
        assert_eq!(
            seen,
            [
                (Credential::ApiToken, Source::Config, 200.0),
                (Credential::Password, Source::Policy, 300.0),
                (Credential::ApiToken, Source::Sunset, 1_809_043_200.0),
            ]
        );
        assert!(forecasts("salesforce", Credential::Password, None, &[]).is_empty());
    }

    #[test]
    fn a_credential_learnt_anew_replaces_what_was_known_of_it() {
        let password = |changed| Learnt {
            credential: Credential::Password,
            used: None,
            changed: Some(changed),
            expires: None,
        };
        let key = Learnt {
            credential: Credential::ServiceAccountKey,
            used: None,
            changed: None,
            expires: Some((Source::Provider, 9.0)),
        };
        let mut known = vec![password(1.0), key];
        merge(&mut known, &[password(2.0)]);
        assert_eq!(known, [password(2.0), key]);
    }
}
