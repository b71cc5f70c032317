//! RFC 7009 revocation of a web service's `user_defined_oauth` token (`endpoints.revoke_url`)
//! against an HTTPS stand-in (the `oauth2` crate, as RFC 7009 says, revokes over HTTPS only):
//! one revocation per passed check, with the token that check minted and the client's Basic
//! credentials; none after a failure; a failing revocation leaves the check passed; and a
//! revocation URL that is not HTTPS is refused when the config loads.

use crate::common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

const CLIENT_ID: &str = "inventory-client";
const CLIENT_SECRET: &str = "inventory-client-secret-42";

/// What the stand-in saw and how it answers.
#[derive(Default)]
struct Stand {
    /// Each token it issued, in order.
    issued: Vec<String>,
    /// Each revocation: the Authorization header and the form.
    revocations: Vec<(String, Vec<(String, String)>)>,
    /// The API's status (200 passes the check).
    api_status: u16,
    /// The revocation endpoint's status.
    revoke_status: u16,
}

/// An HTTPS server on 127.0.0.1 for `127.0.0.1`, and the PEM of the CA that signed it.
async fn https_stand(stand: Arc<Mutex<Stand>>) -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let acceptor = credwatch::listen::tls_acceptor(
        cert.pem().as_bytes(),
        key.serialize_pem().as_bytes(),
        None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, stand) = (acceptor.clone(), stand.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let stand = stand.clone();
                    async move { Ok::<_, Infallible>(answer(&stand, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (base, ca_pem)
}

async fn answer(stand: &Mutex<Stand>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut stand = stand.lock().unwrap();
    let (status, body) = match path.as_str() {
        "/oauth/token" => {
            let token = format!("minted-token-{}", stand.issued.len() + 1);
            stand.issued.push(token.clone());
            (
                200,
                serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})
                    .to_string(),
            )
        }
        "/api/health" => (stand.api_status, "{\"status\": \"ok\"}".to_string()),
        "/revoke" => {
            stand.revocations.push((authorization, form));
            (stand.revoke_status, String::new())
        }
        _ => (404, String::new()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn config(base: &str, ca: &std::path::Path, revoke_url: &str) -> String {
    format!(
        r#"
[[integration]]
type = "web_service"
timeout = "5s"
[integration.credentials]
credential_type = "user_defined_oauth"
login_url = "{base}/oauth/token"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
[integration.request]
url = "{base}/api/health"
[integration.request.headers]
Authorization = "Bearer ${{credentials.token}}"
[integration.endpoints]
revoke_url = "{revoke_url}"
[integration.tls]
ca_cert = "{}"
"#,
        ca.display()
    )
}

#[tokio::test]
async fn a_passed_check_revokes_its_token_once_with_rfc_7009() {
    let stand = Arc::new(Mutex::new(Stand {
        api_status: 200,
        revoke_status: 200,
        ..Stand::default()
    }));
    let (base, ca_pem) = https_stand(stand.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = common::write(dir.path(), "ca.pem", &ca_pem);
    let text = config(&base, &ca, &format!("{base}/revoke"));

    let report = common::check_only(&text).await;
    assert_eq!(report.outcome.expect("passes").revoked, Some(true));
    {
        let seen = stand.lock().unwrap();
        assert_eq!(seen.issued, ["minted-token-1"]);
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        assert_eq!(
            seen.revocations,
            [(
                format!("Basic {basic}"),
                vec![
                    ("token".to_string(), "minted-token-1".to_string()),
                    ("token_type_hint".to_string(), "access_token".to_string()),
                ]
            )]
        );
    }

    // The API refuses: the check fails, and nothing is revoked.
    stand.lock().unwrap().api_status = 401;
    assert!(common::check_only(&text).await.outcome.is_err());
    assert_eq!(stand.lock().unwrap().revocations.len(), 1);

    // The revocation endpoint fails: the check still passes.
    {
        let mut s = stand.lock().unwrap();
        s.api_status = 200;
        s.revoke_status = 503;
    }
    let report = common::check_only(&text).await;
    assert_eq!(report.outcome.expect("still passes").revoked, Some(false));
    assert_eq!(stand.lock().unwrap().revocations.len(), 2);
}

#[test]
fn a_revocation_url_must_be_https() {
    let text = config(
        "https://api.example.com",
        std::path::Path::new("/nonexistent-ca.pem"),
        "http://api.example.com/revoke",
    )
    .replace("[integration.tls]\nca_cert = \"/nonexistent-ca.pem\"\n", "");
    let Err(error) = credwatch::config::Config::parse("test.toml", &text) else {
        panic!("a plain-HTTP revocation URL must be refused");
    };
    let error = error.to_string();
    assert!(error.contains("endpoints.revoke_url"), "{error}");
    assert!(error.contains("https://"), "{error}");
}
