//! HTTP Basic credentials (RFC 7617) from an `Authorization` header value: what the server's
//! users send, and what the demo's simulated providers are sent.

use base64::Engine;
use http::HeaderValue;

/// `Basic base64(user:password)` → user and password.
pub(crate) fn credentials(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::credentials;
    use http::HeaderValue;

    #[test]
    fn basic_credentials_are_parsed() {
        let value = HeaderValue::from_static("Basic b3BzOnMzY3I6ZXQ=");
        assert_eq!(credentials(&value), Some(("ops".into(), "s3cr:et".into())));
        assert_eq!(credentials(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(credentials(&HeaderValue::from_static("Basic !!")), None);
    }
}
