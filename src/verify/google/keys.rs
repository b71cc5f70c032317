//! The service account's public key certificates, which Google publishes without a token at
//! `https://www.googleapis.com/service_accounts/v1/metadata/x509/{client_email}` as
//! `{private_key_id: PEM}`. A key missing from the set was deleted or disabled: the check fails
//! as `invalid_credentials` before it spends a token request. The key's certificate says when
//! the key was made (`notBefore`) and when it stops working (`notAfter`, the key's
//! `validBeforeTime`; year 9999 for a key that never expires, which forecasts nothing).

use std::collections::HashMap;

use url::Url;

use crate::forecast::{Credential, Learnt, Source};
use crate::outcome::{Failure, FailureReason};
use crate::verify::{CheckContext, status_failure};

/// Where Google publishes the certificates (`endpoints.certificates_url` overrides it); the
/// service account's email is appended.
pub(super) const CERTIFICATES: &str =
    "https://www.googleapis.com/service_accounts/v1/metadata/x509/";

/// The first moment of the year 9999: keys that never expire end at its last second.
const NEVER: i64 = 253_370_764_800;

/// Reads the published certificates of `client_email`: fails when `key_id` is not among them,
/// tells `ctx` when the key was made and ends. A set that cannot be read is a warning: the token
/// request that follows proves the key anyway.
pub(super) async fn check(
    ctx: &CheckContext,
    base: &Url,
    client_email: &str,
    key_id: &str,
) -> Result<(), Failure> {
    // The email as google-auth puts it in the path: `@` and `.` as they are.
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(client_email);
    }
    let what = "Google's public key certificates of the service account";
    let read = async {
        let response = ctx.http.send(ctx.http.get(url)).await?;
        if response.status.as_u16() != 200 {
            return Err(status_failure(what, &response));
        }
        response.json::<HashMap<String, String>>(what)
    };
    let certificates = match read.await {
        Ok(certificates) => certificates,
        Err(failure) => {
            cannot_tell(ctx, &failure.message);
            return Ok(());
        }
    };
    let Some(pem) = certificates.get(key_id) else {
        return Err(Failure::new(
            FailureReason::InvalidCredentials,
            format!(
                "the key {key_id} is not among the keys Google publishes for {client_email}: it \
                 was deleted or disabled; create a new key and update it in Genesys Cloud and in \
                 credwatch"
            ),
        ));
    };
    if let Some((made, ends)) = crate::certs::validity(pem.as_bytes()) {
        ctx.learn(Learnt {
            credential: Credential::ServiceAccountKey,
            used: None,
            changed: Some(made as f64),
            expires: (ends < NEVER).then_some((Source::Provider, ends as f64)),
        });
    }
    Ok(())
}

fn cannot_tell(ctx: &CheckContext, why: &str) {
    ctx.warn(
        "reading the service account's public key certificates failed, so credwatch cannot tell \
         whether the key is still published or when it expires",
        why,
    );
}
