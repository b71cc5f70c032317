//! The keys and certificates the demo needs, made fresh at every start and written to the demo's
//! directory: the Google service account's RSA key (as Google's JSON key file), the private CA
//! and server certificate of the mTLS web service, and two client certificates from the client
//! CA: one that expires in 5 days and one that expired 2 days ago.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256, RsaKeySize,
};
use time::OffsetDateTime;

use super::accounts;

const DAY: u64 = 86_400;

/// Files and public halves the demo and the simulator share.
#[derive(Debug, Clone)]
pub struct Material {
    /// Google's JSON key file of the service account.
    pub google_key_file: PathBuf,
    /// The service account's public key (SPKI PEM): what Google verifies assertions with.
    pub google_public_pem: String,
    /// The key's certificate as Google publishes it: made 30 days ago, valid for 90 (an org
    /// policy's `iam.serviceAccountKeyExpiryHours`).
    pub google_key_certificate: String,
    /// The same service account's key file of a key Google no longer publishes (deleted).
    pub google_deleted_key_file: PathBuf,
    /// The CA that signed the mTLS server's certificate (`tls.ca_cert`).
    pub server_ca: PathBuf,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// The CA the mTLS server trusts for client certificates.
    pub client_ca_pem: String,
    /// A client certificate and key that expire in 5 days.
    pub client_soon: (PathBuf, PathBuf),
    /// A client certificate and key that expired 2 days ago.
    pub client_expired: (PathBuf, PathBuf),
    /// The mTLS client certificates the simulated Genesys Cloud says it presents (signing
    /// authority, status, PEM): its own, a DigiCert one 20 days from expiry, and the DigiCert
    /// one that takes over from it.
    pub genesys_mtls: Vec<(&'static str, &'static str, String)>,
}

fn at(offset_days: i64) -> OffsetDateTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    OffsetDateTime::from_unix_timestamp(now + offset_days * DAY as i64)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn ca(name: &str) -> Result<(Issuer<'static, KeyPair>, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = at(-1);
    params.not_after = at(365);
    let pem = params.self_signed(&key)?.pem();
    Ok((Issuer::new(params, key), pem))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.not_before = not_before;
    params.not_after = not_after;
    Ok((params.signed_by(&key, issuer)?.pem(), key.serialize_pem()))
}

/// The Google service account's key: its key file, the file of a key that was deleted, the
/// certificate Google publishes of it, and its public half.
struct Google {
    key_file: PathBuf,
    deleted_key_file: PathBuf,
    certificate: String,
    public_pem: String,
}

impl Google {
    fn create(write: &dyn Fn(&str, &str) -> Result<PathBuf, String>) -> Result<Self, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("demo {what}: {e}");
        let google = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
            .map_err(|e| fail("RSA key", &e))?;
        let key_file = serde_json::json!({
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": accounts::GOOGLE_KEY_ID,
            "private_key": google.serialize_pem(),
            "client_email": accounts::GOOGLE_CLIENT_EMAIL,
            "client_id": accounts::GOOGLE_CLIENT_ID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        });
        let mut deleted = key_file.clone();
        deleted["private_key_id"] = accounts::GOOGLE_DELETED_KEY_ID.into();
        // Made 30 days ago under a 90-day key expiry policy.
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| fail("Google key certificate", &e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, accounts::GOOGLE_CLIENT_EMAIL);
        params.not_before = at(-30);
        params.not_after = at(60);
        let certificate = params
            .self_signed(&google)
            .map_err(|e| fail("Google key certificate", &e))?
            .pem();
        Ok(Google {
            key_file: write(
                "google-service-account.json",
                &serde_json::to_string_pretty(&key_file).unwrap_or_default(),
            )?,
            deleted_key_file: write(
                "google-deleted-key.json",
                &serde_json::to_string_pretty(&deleted).unwrap_or_default(),
            )?,
            certificate,
            public_pem: google.public_key_pem(),
        })
    }
}

impl Material {
    /// TLS with the demo server certificate, requiring a client certificate from the client CA:
    /// the simulator's mTLS services.
    pub(crate) fn mtls_acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, String> {
        crate::listen::tls_acceptor(
            self.server_cert_pem.as_bytes(),
            self.server_key_pem.as_bytes(),
            Some(self.client_ca_pem.as_bytes()),
        )
        .map_err(|e| format!("demo mTLS server: {e}"))
    }

    /// Makes everything and writes the files into `dir` (created private if missing; see
    /// [`crate::private_dir`]).
    pub fn create(dir: &Path) -> Result<Material, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("demo {what}: {e}");
        crate::private_dir::subdir(dir).map_err(|e| fail("directory", &e))?;
        let write = |name: &str, text: &str| -> Result<PathBuf, String> {
            let path = dir.join(name);
            crate::private_dir::write(&path, text.as_bytes()).map_err(|e| fail(name, &e))?;
            Ok(path)
        };

        let google = Google::create(&write)?;
        let (server_issuer, server_ca_pem) =
            ca("credwatch demo server CA").map_err(|e| fail("CA", &e))?;
        let (server_cert_pem, server_key_pem) =
            leaf(&server_issuer, &["localhost", "127.0.0.1"], at(-1), at(365))
                .map_err(|e| fail("server certificate", &e))?;
        let (client_issuer, client_ca_pem) =
            ca("credwatch demo client CA").map_err(|e| fail("CA", &e))?;
        // An hour past the fifth day, so that it reads "5 days left" for the demo's first hour.
        let soon = at(5) + time::Duration::hours(1);
        let (soon_cert, soon_key) = leaf(&client_issuer, &["credwatch-orders"], at(-360), soon)
            .map_err(|e| fail("client certificate", &e))?;
        let (old_cert, old_key) = leaf(&client_issuer, &["credwatch-billing"], at(-365), at(-2))
            .map_err(|e| fail("client certificate", &e))?;
        let (genesys_issuer, _) = ca("Genesys demo CA").map_err(|e| fail("CA", &e))?;
        let (digicert_issuer, _) = ca("DigiCert demo CA").map_err(|e| fail("CA", &e))?;
        let mut genesys_mtls = Vec::new();
        for (issuer, authority, status, from, until) in [
            (&genesys_issuer, "Genesys", "Current", -100, 265),
            (&digicert_issuer, "DigiCert", "Current", -345, 20),
            (&digicert_issuer, "DigiCert", "Upcoming", -10, 385),
        ] {
            let (pem, _) = leaf(issuer, &["genesys-data-actions"], at(from), at(until))
                .map_err(|e| fail("Genesys certificate", &e))?;
            genesys_mtls.push((authority, status, pem));
        }
        Ok(Material {
            genesys_mtls,
            google_key_file: google.key_file,
            google_deleted_key_file: google.deleted_key_file,
            google_key_certificate: google.certificate,
            google_public_pem: google.public_pem,
            server_ca: write("server-ca.pem", &server_ca_pem)?,
            server_cert_pem,
            server_key_pem,
            client_ca_pem,
            client_soon: (
                write("orders-client.crt", &soon_cert)?,
                write("orders-client.key", &soon_key)?,
            ),
            client_expired: (
                write("billing-client.crt", &old_cert)?,
                write("billing-client.key", &old_key)?,
            ),
        })
    }
}
