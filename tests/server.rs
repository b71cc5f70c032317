//! The HTTP server as users meet it: the status page (summary, failures first, filters, escaped
//! user text, the detail page with its history), the JSON API's fields, basic auth with bcrypt
//! users (probes stay open), HTTPS from `[server.tls]`, and POSTs refused on a non-loopback
//! listener without users.

mod common;

use std::time::Duration;

use common::{Daemon, refused_port, write, zendesk_ok};

const XSS: &str = "<script>alert('owned')</script>";

/// A healthy Zendesk, a failing web service, an inactive one; user text with markup in it.
fn config(dir: &std::path::Path, zendesk: &str, server: &str) -> std::path::PathBuf {
    let token = write(dir, "token", "zd-token-0123456789");
    write(
        dir,
        "c.toml",
        &format!(
            r#"
{server}
[defaults]
interval = "1s"
timeout = "3s"
state_dir = "{state}"

[[integration]]
type = "zendesk"
name = "Zendesk {XSS}"
notes = "owned by CX {XSS} & co"
[integration.credentials]
email = "ops@example.com"
base_url = "{zendesk}"
api_token = {{ file = "{token}" }}

[[integration]]
type = "web_service"
name = "Orders"
[integration.credentials]
credential_type = "none"
[integration.request]
url = "http://127.0.0.1:{port}/orders"

[[integration]]
type = "web_service"
name = "Old"
active = false
[integration.credentials]
credential_type = "none"
[integration.request]
url = "http://127.0.0.1:{port}/old"
"#,
            state = dir.join("state").display(),
            token = token.display(),
            port = refused_port(),
        ),
    )
}

async fn ready(daemon: &Daemon) {
    daemon
        .metrics_when(Duration::from_secs(10), "both checked", |m| {
            m.count("credwatch_check_success", &[]) == 2
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_and_api() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&config(dir.path(), &zendesk.uri(), ""), &[]);
    ready(&daemon).await;

    let (status, page) = daemon.get("/").await;
    assert_eq!(status, 200);
    assert!(!page.contains(XSS), "user text must be escaped:\n{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    assert!(page.contains("1 healthy"), "{page}");
    assert!(page.contains("1 failing"), "{page}");
    assert!(page.contains("1 inactive"), "{page}");
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    assert!(!page.contains("<script"), "no script at all:\n{page}");
    // Failures first, then healthy, then inactive.
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{page}"))
    };
    assert!(at(">Orders<") < at(">Zendesk &lt;script"));
    assert!(at(">Zendesk &lt;script") < at(">Old<"));
    assert!(page.contains("network_error"), "{page}");
    assert!(
        page.contains("/integrations/default%2FZendesk%20%3Cscript%3E"),
        "{page}"
    );

    // Filters.
    let (_, only_zendesk) = daemon.get("/?type=zendesk").await;
    assert!(only_zendesk.contains(">Zendesk &lt;script"));
    assert!(!only_zendesk.contains(">Orders<"));
    let (_, failing) = daemon.get("/?result=failing").await;
    assert!(failing.contains(">Orders<"));
    assert!(!failing.contains(">Old<"));
    let (_, by_reason) = daemon.get("/?result=network_error").await;
    assert!(by_reason.contains(">Orders<"));
    assert!(!by_reason.contains(">Zendesk &lt;script"));

    // The detail page with the last results.
    let (status, detail) = daemon.get("/integrations/Orders").await;
    assert_eq!(status, 200);
    assert!(detail.contains("Last results"), "{detail}");
    assert!(detail.matches("network_error").count() >= 2, "{detail}");
    assert!(detail.contains("Check now"), "{detail}");
    assert_eq!(daemon.get("/integrations/Nope").await.0, 404);

    // The API.
    let (status, list) = daemon.get("/api/v1/integrations").await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        list["summary"],
        serde_json::json!({"healthy": 1, "failing": 1, "guarded": 0, "pending": 0, "inactive": 1})
    );
    let zd = &list["integrations"][0];
    assert_eq!(zd["name"], format!("Zendesk {XSS}"));
    assert_eq!(zd["type"], "zendesk");
    assert_eq!(zd["credential_type"], "api_token");
    assert_eq!(zd["status"], "healthy");
    assert_eq!(zd["result"], "success");
    assert!(zd["last_success"].as_str().unwrap().ends_with('Z'));
    assert_eq!(zd["guard"]["enabled"], false);
    assert!(zd.get("history").is_none());
    let (status, orders) = daemon.get("/api/v1/integrations/Orders").await;
    assert_eq!(status, 200);
    let orders: serde_json::Value = serde_json::from_str(&orders).unwrap();
    assert_eq!(orders["status"], "failing");
    let history = orders["history"].as_array().unwrap();
    assert!(!history.is_empty() && history.len() <= 20);
    assert_eq!(history[0]["result"], "network_error");
    assert!(
        history[0]["time"].as_f64().unwrap() >= history.last().unwrap()["time"].as_f64().unwrap()
    );

    let (status, body) = daemon.post("/api/v1/integrations/Old/check").await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = daemon.post("/api/v1/integrations/Nope/check").await;
    assert_eq!(status, 404);
    // The page's button: a form POST answered with a redirect back.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(daemon.url("/integrations/Orders/check"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        "/integrations/default%2FOrders"
    );

    // A form on another site's page may not make checks (each bypasses the lockout guard).
    let client = reqwest::Client::new();
    let post = |headers: &[(&'static str, String)]| {
        let mut request = client.post(daemon.url("/integrations/Orders/check"));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    let forged = post(&[("origin", "http://evil.example".into())])
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    assert!(forged.text().await.unwrap().contains("another site"));
    let forged = post(&[("sec-fetch-site", "cross-site".into())])
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let own = post(&[
        ("origin", format!("http://{}", daemon.addr)),
        ("sec-fetch-site", "same-origin".into()),
    ])
    .await
    .unwrap();
    assert_eq!(
        own.status().as_u16(),
        200,
        "the page's own form is followed to the page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_guards_all_but_the_probes() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    let server = format!("[server.basic_auth_users]\nops = \"{hash}\"\n");
    // Not on loopback: with users, POSTs are allowed to them.
    let daemon = Daemon::start_on(
        &config(dir.path(), &zendesk.uri(), &server),
        &[],
        "0.0.0.0:0",
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", daemon.addr.port());
    for path in [
        "/",
        "/metrics",
        "/api/v1/integrations",
        "/integrations/Orders",
    ] {
        let response = client.get(url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic realm=\"credwatch\""),
            "{path}"
        );
        let wrong = client
            .get(url(path))
            .basic_auth("ops", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path}");
        let right = client
            .get(url(path))
            .basic_auth("ops", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status().as_u16(), 200, "{path}");
    }
    for path in ["/healthz", "/readyz"] {
        let status = client
            .get(url(path))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 200 || status == 503, "{path}: {status}");
    }
    let post = client
        .post(url("/api/v1/integrations/Orders/check"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 401);
    let post = client
        .post(url("/api/v1/integrations/Orders/check"))
        .basic_auth("ops", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_are_refused_on_a_reachable_listener_without_users() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_on(&config(dir.path(), &zendesk.uri(), ""), &[], "0.0.0.0:0");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", daemon.addr.port());
    for path in ["/api/v1/integrations/Orders/check", "/-/reload"] {
        let response = client.post(url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("not a loopback address"), "{body}");
        assert!(body.contains("basic_auth_users"), "{body}");
    }
    // Reading stays open, and the page offers no button that would be refused.
    assert_eq!(
        client
            .get(url("/metrics"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let detail = client
        .get(url("/integrations/Orders"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!detail.contains("Check now"), "{detail}");
    assert!(daemon.logs().contains("POST refused"), "{}", daemon.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn https_from_server_tls() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_file = write(dir.path(), "server.crt", &cert.pem());
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    write(&credentials, "https-key", &key.serialize_pem());
    let server = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = {{ credential = \"https-key\" }}\n",
        cert_file.display()
    );
    let daemon = Daemon::start(
        &config(dir.path(), &zendesk.uri(), &server),
        &[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())],
    );
    assert!(
        daemon.logs().contains("listening on https://"),
        "{}",
        daemon.logs()
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .resolve("localhost", daemon.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/metrics", daemon.addr.port());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("credwatch_build_info")
    );
    // Plain HTTP on the HTTPS port gets no page.
    let plain = reqwest::get(format!("http://{}/metrics", daemon.addr)).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_oversized_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&config(dir.path(), &zendesk.uri(), ""), &[]);

    // Headers that never finish: the server hangs up (10 s for headers), and serves others
    // meanwhile.
    let mut slow = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(daemon.get("/healthz").await.0, 200);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server kept a stalled connection open");

    // A body nobody reads is refused: 413, or, when the server answers and closes before the
    // whole body is written, the client's write fails (a race, not a different verdict).
    let sent = reqwest::Client::new()
        .post(daemon.url("/api/v1/integrations/Orders/check"))
        .body(vec![b'x'; 1 << 20])
        .send()
        .await;
    match sent {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        Err(e) => assert!(format!("{e:?}").contains("BodyWrite"), "{e:?}"),
    }
}
