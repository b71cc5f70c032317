//! The HTTP server as users meet it: the status page (summary, failures first, filters, escaped
//! user text, the detail page with its history), the JSON API's fields, basic auth with bcrypt
//! users (probes stay open), HTTPS from `[server.tls]`, and POSTs refused on a non-loopback
//! listener without users.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    // Not refused as cross-site: the force cooldown answers, as the button checked Orders just
    // before (the next forced check of it is allowed 10 s later).
    assert_eq!(own.status().as_u16(), 429, "the page's own form passes");
    assert!(own.headers().contains_key("retry-after"));
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

/// A request to the daemon with `Host` set to `host`: status, headers, body.
async fn with_host(
    daemon: &Daemon,
    method: reqwest::Method,
    path: &str,
    host: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = reqwest::Client::new()
        .request(method, daemon.url(path))
        .header("host", host)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn rebound_host_names_are_refused_and_every_answer_is_hardened() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let server = "[server]\nnames = [\"credwatch.example.test\"]\n";
    let daemon = Daemon::start(&config(dir.path(), &zendesk.uri(), server), &[]);
    ready(&daemon).await;
    let port = daemon.addr.port();

    // A page on a rebound name reads nothing and forces nothing.
    let rebound = format!("rebind.attacker.test:{port}");
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::GET, "/api/v1/integrations"),
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::POST, "/-/reload"),
    ] {
        let (status, headers, body) = with_host(&daemon, method.clone(), path, &rebound).await;
        assert_eq!(status, 421, "{method} {path}: {body}");
        assert!(!body.contains("credwatch_"), "{body}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
    let checks_path = "/api/v2/users/me.json";
    let before = common::received(&zendesk, "GET", checks_path).await.len();
    let zendesk_name = "Zendesk%20%3Cscript%3Ealert('owned')%3C%2Fscript%3E";
    let (status, _, _) = with_host(
        &daemon,
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{zendesk_name}/check"),
        &rebound,
    )
    .await;
    assert_eq!(status, 421);
    let after = common::received(&zendesk, "GET", checks_path).await.len();
    assert_eq!(after, before, "a refused POST checked");

    // Its own names pass: loopback, localhost, the configured name, the address itself.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "credwatch.example.test".to_string(),
        format!("CREDWATCH.example.test.:{port}"),
    ] {
        let (status, _, _) = with_host(&daemon, reqwest::Method::GET, "/healthz", &host).await;
        assert_eq!(status, 200, "{host}");
    }

    // Every kind of answer carries the headers: page, JSON, metrics, probe, 404, 421.
    for path in [
        "/",
        "/integrations/Orders",
        "/api/v1/integrations",
        "/metrics",
        "/healthz",
        "/nowhere",
    ] {
        let response = reqwest::get(daemon.url(path)).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }

    // A browser's cross-site POST is refused on either header, also when the other agrees.
    let url = daemon.url("/api/v1/integrations/Orders/check");
    let client = reqwest::Client::new();
    for (site, origin) in [
        (Some("cross-site"), None),
        (
            Some("same-origin"),
            Some("http://attacker.test".to_string()),
        ),
        (None, Some("null".to_string())),
        (Some("same-site"), Some(format!("http://127.0.0.1:{port}"))),
    ] {
        let mut request = client.post(&url);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        if let Some(origin) = &origin {
            request = request.header("origin", origin);
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, 403, "{site:?} {origin:?}");
    }
    let own = client
        .post(&url)
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://127.0.0.1:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_users_read_and_operators_operate() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let (read, operate) = (
        bcrypt::hash("scrape", 4).unwrap(),
        bcrypt::hash("operate", 4).unwrap(),
    );
    let server = format!(
        "[server.basic_auth_users]\nprometheus = {{ hash = \"{read}\", role = \"read\" }}\nops = {{ hash = \"{operate}\", role = \"operate\" }}\n"
    );
    let daemon = Daemon::start(&config(dir.path(), &zendesk.uri(), &server), &[]);
    let client = reqwest::Client::new();
    let status = |request: reqwest::RequestBuilder| async move {
        request.send().await.unwrap().status().as_u16()
    };
    for path in [
        "/",
        "/metrics",
        "/api/v1/integrations",
        "/integrations/Orders",
    ] {
        let get = client
            .get(daemon.url(path))
            .basic_auth("prometheus", Some("scrape"));
        assert_eq!(status(get).await, 200, "{path}");
    }
    for path in ["/api/v1/integrations/Orders/check", "/-/reload"] {
        let post = client
            .post(daemon.url(path))
            .basic_auth("prometheus", Some("scrape"));
        assert_eq!(status(post).await, 403, "read user: POST {path}");
        let post = client
            .post(daemon.url(path))
            .basic_auth("ops", Some("operate"));
        assert_eq!(status(post).await, 200, "operator: POST {path}");
    }
    // The page offers the button only to whom may press it.
    let page = |user: &'static str, password: &'static str| {
        let request = client
            .get(daemon.url("/integrations/Orders"))
            .basic_auth(user, Some(password));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert!(!page("prometheus", "scrape").await.contains("Check now"));
    assert!(page("ops", "operate").await.contains("Check now"));
}

/// Median of `n` timings of `call`.
async fn median<F, Fut>(n: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::new();
    for _ in 0..n {
        let started = std::time::Instant::now();
        call().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_cost_the_same_and_are_bounded() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    // A cost that takes a noticeable while in a debug build, as cost 12 does in a release one.
    let hash = bcrypt::hash("correct horse", 8).unwrap();
    let server = format!("[server.basic_auth_users]\nops = \"{hash}\"\n");
    let daemon = Daemon::start(&config(dir.path(), &zendesk.uri(), &server), &[]);
    let client = reqwest::Client::new();
    let url = daemon.url("/api/v1/integrations");
    let try_as = |user: &'static str, password: &'static str| {
        let request = client.get(&url).basic_auth(user, Some(password));
        async move {
            let status = request.send().await.unwrap().status().as_u16();
            assert_eq!(status, 401, "{user}");
        }
    };
    let wrong = median(5, || try_as("ops", "wrong")).await;
    let unknown = median(5, || try_as("nobody", "wrong")).await;
    let ratio = wrong.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "an unknown user is refused in {unknown:?}, a wrong password in {wrong:?}: user names can be found by timing"
    );

    // The right user's pair is remembered; then 64 guessers at once.
    let right = client
        .get(daemon.url("/metrics"))
        .basic_auth("ops", Some("correct horse"));
    assert_eq!(right.send().await.unwrap().status().as_u16(), 200);
    let guessers: Vec<_> = (0..64)
        .map(|n| {
            let request = client
                .get(&url)
                .basic_auth("ops", Some(format!("guess {n}")));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut slow = 0;
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let response = client
            .get(daemon.url("/metrics"))
            .basic_auth("ops", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        if started.elapsed() > Duration::from_secs(1) {
            slow += 1;
        }
    }
    assert!(
        slow <= 1,
        "{slow} of 10 scrapes took over a second while 64 guessed"
    );
    for guesser in guessers {
        let status = guesser.await.unwrap().unwrap();
        assert!(status == 401 || status == 503, "{status}");
    }
}

/// Opens `n` connections to `addr` that send nothing, re-opening each as the server closes it,
/// until `stop` is set.
fn idle_sockets(addr: std::net::SocketAddr, n: usize, stop: Arc<AtomicBool>) {
    for _ in 0..n {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let mut buffer = [0u8; 64];
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), socket.read(&mut buffer)).await;
            }
        });
    }
}

/// Holds `n` keep-alive connections, each asking for `/healthz` every 8 s, until `stop`.
fn keep_alive_holders(addr: std::net::SocketAddr, n: usize, stop: Arc<AtomicBool>) {
    for _ in 0..n {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                while !stop.load(Ordering::Relaxed) {
                    let asked = socket
                        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                        .await;
                    let mut buffer = [0u8; 1024];
                    if asked.is_err() || matches!(socket.read(&mut buffer).await, Ok(0) | Err(_)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(8)).await;
                }
            }
        });
    }
}

/// Of `tries` fresh scrapes, how many answered within 2 s.
async fn fresh_scrapes(daemon: &Daemon, tries: usize) -> usize {
    let mut answered = 0;
    for _ in 0..tries {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        if let Ok(response) = client.get(daemon.url("/metrics")).send().await
            && response.status().as_u16() == 200
            && response.text().await.is_ok()
        {
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    answered
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sockets_and_keep_alive_holders_cannot_starve_a_scrape() {
    let zendesk = zendesk_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&config(dir.path(), &zendesk.uri(), ""), &[]);
    // Idle sockets, eight times the server's slots.
    let stop = Arc::new(AtomicBool::new(false));
    idle_sockets(daemon.addr, 2000, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered = fresh_scrapes(&daemon, 20).await;
    stop.store(true, Ordering::Relaxed);
    assert!(
        answered >= 18,
        "{answered} of 20 scrapes answered under 2,000 idle sockets"
    );
    // Keep-alive holders, as many as the server's slots.
    let stop = Arc::new(AtomicBool::new(false));
    keep_alive_holders(daemon.addr, 256, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered = fresh_scrapes(&daemon, 20).await;
    stop.store(true, Ordering::Relaxed);
    assert!(
        answered >= 18,
        "{answered} of 20 scrapes answered under 256 keep-alive holders"
    );
}
