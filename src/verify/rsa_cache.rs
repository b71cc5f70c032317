//! RS256 signatures of service-account assertions with each private key parsed once.
//! jsonwebtoken parses (and validates) the RSA key at every signature. Its extension point, a
//! [`CryptoProvider`], is installed here: aws-lc's own provider, except that RS256 signers take
//! the parsed key from a small cache keyed by a SHA-256 of the key (kept in memory only). A key
//! not used for a while (a rotated secret's old key) leaves the cache.
//!
//! The one process-wide cache credwatch keeps: jsonwebtoken's provider is installed for the
//! process and its signer factory is a plain `fn`, with nowhere to carry a handle. It holds
//! parsed keys only, never reads or decides anything, and a test sees the same signatures
//! with or without it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, aws_lc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::signature::{Error as SignatureError, Signer};
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey};

/// A key unused for this long is dropped.
const IDLE: Duration = Duration::from_secs(15 * 60);

/// SHA-256 of a key's DER → the parsed key and when it was last used.
type Cache = HashMap<[u8; 32], (Arc<RsaKeyPair>, Instant)>;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: signer,
    ..aws_lc::DEFAULT_PROVIDER.clone()
});

/// Makes jsonwebtoken sign through the cache, once per process, before the first signature.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only fails when a provider is installed already, which then stays in charge.
        let _ = PROVIDER.install_default();
    });
}

fn signer(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::RS256 || key.family() != AlgorithmFamily::Rsa {
        return (aws_lc::DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    Ok(Box::new(CachedRs256(parsed(key.inner())?)))
}

/// The parsed key for `der`, from the cache or parsed now.
fn parsed(der: &[u8]) -> jsonwebtoken::errors::Result<Arc<RsaKeyPair>> {
    let mut id = [0u8; 32];
    id.copy_from_slice(digest::digest(&digest::SHA256, der).as_ref());
    let now = Instant::now();
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((pair, used)) = cache.get_mut(&id) {
        *used = now;
        return Ok(pair.clone());
    }
    let pair =
        Arc::new(RsaKeyPair::from_der(der).map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?);
    cache.retain(|_, (_, used)| now.duration_since(*used) < IDLE);
    cache.insert(id, (pair.clone(), now));
    Ok(pair)
}

/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) with an already parsed key.
struct CachedRs256(Arc<RsaKeyPair>);

impl Signer<Vec<u8>> for CachedRs256 {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(SignatureError::from_source)?;
        Ok(signature)
    }
}

impl JwtSigner for CachedRs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_parsed_once_and_signs_verifiably() {
        install();
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let encoding = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap();
        let header = jsonwebtoken::Header::new(Algorithm::RS256);
        let claims = serde_json::json!({"iss": "a", "exp": 4_102_444_800u64});
        let first = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
        let second = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
        let a = parsed(encoding.inner()).unwrap();
        let b = parsed(encoding.inner()).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second use takes the cached key");
        let decoding =
            jsonwebtoken::DecodingKey::from_rsa_pem(key.public_key_pem().as_bytes()).unwrap();
        let validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        for token in [first, second] {
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        }
    }
}
