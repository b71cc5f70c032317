//! Expiry dates of X.509 certificates: the mTLS client certificate credwatch presents and the
//! server leaf certificates it is shown, for `credwatch_certificate_expiry_timestamp_seconds`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::pem::Pem;

/// The `notAfter` of a DER certificate, or `None` when it does not parse.
pub fn not_after(der: &[u8]) -> Option<SystemTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let seconds = cert.validity().not_after.timestamp();
    Some(match u64::try_from(seconds) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH,
    })
}

/// The `notBefore` and `notAfter` of the first certificate of a PEM text, in unix seconds.
pub fn validity(pem: &[u8]) -> Option<(i64, i64)> {
    let block = Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .find(|block| block.label == "CERTIFICATE")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&block.contents).ok()?;
    let validity = cert.validity();
    Some((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// The `notAfter` of the first certificate of a PEM file (the leaf, by convention).
pub fn leaf_not_after(pem: &[u8]) -> Result<SystemTime, String> {
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| format!("not a PEM file: {e}"))?;
        if block.label == "CERTIFICATE" {
            return not_after(&block.contents)
                .ok_or_else(|| "the first certificate does not parse".to_string());
        }
    }
    Err("holds no CERTIFICATE block".to_string())
}
