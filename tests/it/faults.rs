//! The fault suite: every integration type against a server that misbehaves in each way a network,
//! a proxy or a provider can (a fault server written for this test, on 127.0.0.1), asserting the
//! failure reason, that the check ends within its timeout, that `Retry-After` is kept, that a
//! huge answer is not read past the cap, and that no secret reaches a message.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use credwatch::listen::tls_acceptor;
use credwatch::outcome::FailureReason;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Every check's timeout.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Cells checked at once (a debug build on two cores: enough to be quick, few enough that no
/// check waits long for the CPU).
const AT_ONCE: usize = 12;
/// How long after its timeout a check may still take to end.
const SLACK: Duration = Duration::from_millis(1500);
/// The huge answer's size.
const HUGE: u64 = 200 * 1024 * 1024;
/// What the client may have taken of the huge answer: the body cap plus socket buffers.
const HUGE_READ_AT_MOST: u64 = 32 * 1024 * 1024;

/// Secret values of every cell; none may appear in a message.
const CANARIES: [(&str, &str); 7] = [
    ("password", "canary-password-4f1c"),
    ("token", "canary-security-token-77ab"),
    ("client-secret", "canary-client-secret-9e2d"),
    ("api-token", "canary-api-token-c0de"),
    ("aws-key-id", "AKIACANARY0000000001"),
    ("aws-secret", "canary/aws/secret/access/key/0123456789ab"),
    ("web-password", "canary-web-password-51f0"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The connection is reset once the request is in.
    Reset,
    /// The request is read and never answered.
    Silence,
    /// A status line and headers, then nothing.
    HeadersThenStall,
    /// HTTP 500.
    ServerError,
    /// HTTP 429 with `Retry-After: 120`.
    TooManyRequests,
    /// An SSH banner: bytes that are not HTTP.
    NotHttp,
    /// HTTP 200, `application/json`, and a body that is not JSON.
    InvalidJson,
    /// HTTP 200 with a 200 MB body (chunked, no length announced).
    HugeBody,
    /// A whole answer, one byte every half second.
    Drip,
    /// HTTP 302 to another host.
    Redirect,
    /// A load balancer's HTML 503 page.
    BalancerPage,
    /// TLS with a self-signed certificate nobody trusts.
    SelfSigned,
    /// TLS with a certificate from the trusted CA that expired yesterday.
    ExpiredCertificate,
    /// TLS with a certificate from the trusted CA for another host name.
    WrongHostName,
    /// TLS with a leaf from an intermediate CA, sent without the intermediate.
    MissingIntermediate,
    /// TCP accepted, the TLS handshake never answered.
    HandshakeStall,
    /// A host name that does not resolve.
    Unresolvable,
}

const FAULTS: [Fault; 17] = [
    Fault::Reset,
    Fault::Silence,
    Fault::HeadersThenStall,
    Fault::ServerError,
    Fault::TooManyRequests,
    Fault::NotHttp,
    Fault::InvalidJson,
    Fault::HugeBody,
    Fault::Drip,
    Fault::Redirect,
    Fault::BalancerPage,
    Fault::SelfSigned,
    Fault::ExpiredCertificate,
    Fault::WrongHostName,
    Fault::MissingIntermediate,
    Fault::HandshakeStall,
    Fault::Unresolvable,
];

impl Fault {
    /// The reason every type must give.
    fn expected(self) -> FailureReason {
        match self {
            Fault::Reset | Fault::Unresolvable => FailureReason::NetworkError,
            Fault::Silence | Fault::HeadersThenStall | Fault::Drip | Fault::HandshakeStall => {
                FailureReason::Timeout
            }
            Fault::ServerError | Fault::BalancerPage => FailureReason::ProviderError,
            Fault::TooManyRequests => FailureReason::RateLimited,
            Fault::NotHttp | Fault::InvalidJson | Fault::HugeBody | Fault::Redirect => {
                FailureReason::ProtocolError
            }
            Fault::SelfSigned
            | Fault::ExpiredCertificate
            | Fault::WrongHostName
            | Fault::MissingIntermediate => FailureReason::TlsError,
        }
    }

    fn is_tls(self) -> bool {
        matches!(
            self,
            Fault::SelfSigned
                | Fault::ExpiredCertificate
                | Fault::WrongHostName
                | Fault::MissingIntermediate
                | Fault::HandshakeStall
        )
    }
}

/// Whole seconds from now, as X.509 keeps them.
fn days(offset: i64) -> OffsetDateTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    OffsetDateTime::from_unix_timestamp(now + offset * 86_400).unwrap()
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = days(-30);
    params.not_after = days(365);
    params
}

fn leaf_params(name: &str, not_after: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = days(-30);
    params.not_after = not_after;
    params
}

/// The TLS servers' certificates: a root every check trusts (`ca_cert`) and one acceptor per
/// TLS fault.
struct Pki {
    root_pem: String,
    self_signed: TlsAcceptor,
    expired: TlsAcceptor,
    wrong_host: TlsAcceptor,
    missing_intermediate: TlsAcceptor,
}

impl Pki {
    fn new() -> Pki {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params("credwatch fault root");
        let root_pem = root_params.self_signed(&root_key).unwrap().pem();
        let root = Issuer::new(root_params, root_key);
        let acceptor = |params: CertificateParams, issuer: Option<&Issuer<'_, KeyPair>>| {
            let key = KeyPair::generate().unwrap();
            let cert = match issuer {
                Some(issuer) => params.signed_by(&key, issuer).unwrap(),
                None => params.self_signed(&key).unwrap(),
            };
            tls_acceptor(cert.pem().as_bytes(), key.serialize_pem().as_bytes(), None).unwrap()
        };
        let intermediate_key = KeyPair::generate().unwrap();
        let intermediate_params = ca_params("credwatch fault intermediate");
        intermediate_params
            .signed_by(&intermediate_key, &root)
            .unwrap();
        let intermediate = Issuer::new(intermediate_params, intermediate_key);
        Pki {
            self_signed: acceptor(leaf_params("127.0.0.1", days(365)), None),
            expired: acceptor(leaf_params("127.0.0.1", days(-1)), Some(&root)),
            wrong_host: acceptor(leaf_params("elsewhere.example", days(365)), Some(&root)),
            missing_intermediate: acceptor(
                leaf_params("127.0.0.1", days(365)),
                Some(&intermediate),
            ),
            root_pem,
        }
    }

    fn acceptor(&self, fault: Fault) -> Option<TlsAcceptor> {
        match fault {
            Fault::SelfSigned => Some(self.self_signed.clone()),
            Fault::ExpiredCertificate => Some(self.expired.clone()),
            Fault::WrongHostName => Some(self.wrong_host.clone()),
            Fault::MissingIntermediate => Some(self.missing_intermediate.clone()),
            _ => None,
        }
    }
}

/// A server on 127.0.0.1 committing one fault on every connection. `written` counts the bytes
/// of answer bodies it got out.
struct FaultServer {
    base: String,
    written: Arc<AtomicU64>,
}

impl FaultServer {
    async fn start(fault: Fault, pki: &Pki) -> FaultServer {
        let written = Arc::new(AtomicU64::new(0));
        if fault == Fault::Unresolvable {
            return FaultServer {
                base: "http://credwatch-fault.invalid".to_string(),
                written,
            };
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if fault.is_tls() { "https" } else { "http" };
        let acceptor = pki.acceptor(fault);
        let counter = written.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    match acceptor {
                        // The client gives up on the handshake; nothing more happens.
                        Some(acceptor) => drop(acceptor.accept(stream).await),
                        None => commit(fault, stream, &counter).await,
                    }
                });
            }
        });
        FaultServer {
            base: format!("{scheme}://127.0.0.1:{port}"),
            written,
        }
    }
}

/// Reads one request (head and `Content-Length` body), or what arrives before the peer stops;
/// `false` when the peer closed the connection before a whole request.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        seen.extend_from_slice(&buf[..n]);
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if seen.len() >= end + 4 + length {
            return true;
        }
    }
}

fn answer(status: &str, content_type: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

async fn commit(fault: Fault, mut stream: TcpStream, written: &AtomicU64) {
    if fault == Fault::HandshakeStall {
        return std::future::pending().await;
    }
    // The first request may be followed by others on the same connection (an HTTP/1.1 client
    // reuses it after a whole answer): each gets the same fault.
    if !read_request(&mut stream).await {
        return;
    }
    let reply = match fault {
        Fault::Reset => {
            // Linger 0: closing sends a reset. (Deprecated because it can block a thread on
            // drop; with a zero linger it never does.)
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            return drop(stream);
        }
        Fault::Silence => return std::future::pending().await,
        Fault::HeadersThenStall => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 512\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            return std::future::pending().await;
        }
        Fault::ServerError => answer(
            "500 Internal Server Error",
            "text/plain",
            "",
            "Internal Server Error",
        ),
        Fault::TooManyRequests => answer(
            "429 Too Many Requests",
            "text/plain",
            "Retry-After: 120\r\n",
            "Too Many Requests",
        ),
        Fault::NotHttp => "SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n".to_string(),
        Fault::InvalidJson => answer(
            "200 OK",
            "application/json",
            "",
            "{\"access_token\": \"x\", \"status\": ",
        ),
        Fault::HugeBody => return huge(stream, written).await,
        Fault::Drip => {
            let whole = answer("200 OK", "application/json", "", "{\"status\": \"ok\"}");
            for byte in whole.as_bytes() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            return;
        }
        Fault::Redirect => answer(
            "302 Found",
            "text/html",
            "Location: https://login.elsewhere.example/\r\n",
            "",
        ),
        Fault::BalancerPage => answer(
            "503 Service Temporarily Unavailable",
            "text/html",
            "",
            "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n\
             <center><h1>503 Service Temporarily Unavailable</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        ),
        _ => unreachable!("TLS faults are committed by their acceptors"),
    };
    // Keep the connection open: the client decides what the answer means, and may ask again.
    loop {
        if stream.write_all(reply.as_bytes()).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        if !read_request(&mut stream).await {
            return;
        }
    }
}

/// 200 MB of JSON-looking bytes in 64 KiB chunks, for as long as the client reads.
async fn huge(mut stream: TcpStream, written: &AtomicU64) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    let framed = [
        format!("{:x}\r\n", chunk.len()).into_bytes(),
        chunk,
        b"\r\n".to_vec(),
    ]
    .concat();
    let mut sent = 0;
    while sent < HUGE {
        if stream.write_all(&framed).await.is_err() {
            return;
        }
        sent += 64 * 1024;
        written.fetch_add(64 * 1024, Ordering::Relaxed);
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
}

/// A Google service account's JSON key file.
fn google_key_file(dir: &Path) -> String {
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let file = serde_json::json!({
        "type": "service_account",
        "project_id": "fault-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": key.serialize_pem(),
        "client_email": "credwatch@fault-project.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let path = dir.join("google.json");
    std::fs::write(&path, file.to_string()).unwrap();
    path.display().to_string()
}

/// One integration of `kind` whose every endpoint is `base`.
fn config(kind: &str, base: &str, dir: &Path, google_key: &str, ca: &str) -> String {
    let secret = |name: &str| format!("{{ file = \"{}\" }}", dir.join(name).display());
    let credentials = match kind {
        "aws_lambda" => format!(
            "role_arn = \"arn:aws:iam::123456789012:role/genesys-data-actions\"\nexternal_id = \"org-1\"\n\
             access_key_id = {}\nsecret_access_key = {}\n[integration.endpoints]\nsts_endpoint = \"{base}\"",
            secret("aws-key-id"),
            secret("aws-secret")
        ),
        "genesys_cloud" => format!(
            "client_id = \"0b5a0ee1-52d2-4c4f-a1bb-2c8d1b0c6f3e\"\nclient_secret = {}\nregion = \"mypurecloud.com\"\n\
             [integration.endpoints]\ntoken_url = \"{base}/oauth/token\"\nverify_url = \"{base}/api/v2/tokens/me\"",
            secret("client-secret")
        ),
        "google" => format!(
            "credential_type = \"gcp_service_account\"\nkey_file = \"{google_key}\"\n\
             [integration.endpoints]\ntoken_url = \"{base}/token\"\ntokeninfo_url = \"{base}/tokeninfo\"\nrevoke_url = \"{base}/revoke\"\ncertificates_url = \"{base}/x509/\""
        ),
        "dynamics365" => format!(
            "username = \"svc@contoso.example\"\npassword = {}\norg_url = \"{base}\"\n\
             application_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\"\ntenant = \"contoso.onmicrosoft.com\"\n\
             [integration.endpoints]\ntoken_url = \"{base}/contoso.onmicrosoft.com/oauth2/v2.0/token\"",
            secret("password")
        ),
        "salesforce" => format!(
            "username = \"svc@contoso.example\"\npassword = {}\nsecurity_token = {}\nlogin_url = \"{base}\"\n\
             client_id = \"3MVG9fault\"\nclient_secret = {}",
            secret("password"),
            secret("token"),
            secret("client-secret")
        ),
        "web_service" => format!(
            "credential_type = \"basic\"\nusername = \"svc\"\npassword = {}\n[integration.request]\n\
             url = \"{base}/health\"\nexpect_json = {{ pointer = \"/status\", equals = \"ok\" }}",
            secret("web-password")
        ),
        "zendesk" => format!(
            "email = \"ops@contoso.example\"\nbase_url = \"{base}\"\napi_token = {}",
            secret("api-token")
        ),
        _ => unreachable!(),
    };
    format!(
        "[[integration]]\ntype = \"{kind}\"\ntimeout = \"{}s\"\n[integration.credentials]\n{credentials}\n\
         [integration.tls]\nca_cert = \"{ca}\"\n",
        TIMEOUT.as_secs()
    )
}

/// What one cell saw.
struct Cell {
    kind: &'static str,
    fault: Fault,
    reason: Option<FailureReason>,
    retry_after: Option<Duration>,
    message: String,
    took: Duration,
    huge_read: u64,
}

async fn run_cell(kind: &'static str, fault: Fault, pki: Arc<Pki>, dir: Arc<Path>) -> Cell {
    let server = FaultServer::start(fault, &pki).await;
    let google_key = dir.join("google.json").display().to_string();
    let ca = dir.join("root.pem").display().to_string();
    let text = config(kind, &server.base, &dir, &google_key, &ca);
    let started = Instant::now();
    let report = common::check_only(&text).await;
    let took = started.elapsed();
    let (reason, retry_after, message) = match &report.outcome {
        Ok(_) => (None, None, String::new()),
        Err(f) => (Some(f.reason), f.retry_after, f.message.clone()),
    };
    Cell {
        kind,
        fault,
        reason,
        retry_after,
        message,
        took,
        huge_read: server.written.load(Ordering::Relaxed),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_against_every_fault() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in CANARIES {
        std::fs::write(dir.path().join(name), value).unwrap();
    }
    google_key_file(dir.path());
    let pki = Arc::new(Pki::new());
    std::fs::write(dir.path().join("root.pem"), &pki.root_pem).unwrap();
    let shared: Arc<Path> = Arc::from(dir.path());

    // A resolver that cannot answer within a check's timeout would turn the DNS cell into a
    // timeout: say so rather than assert something else.
    let resolver_answers = {
        let started = Instant::now();
        let answered = tokio::net::lookup_host("credwatch-fault.invalid:80")
            .await
            .is_err();
        answered && started.elapsed() < TIMEOUT / 2
    };

    let mut cells = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    for kind in credwatch::verify::TYPES.iter().map(|t| t.key) {
        for fault in FAULTS {
            if fault == Fault::Unresolvable && !resolver_answers {
                continue;
            }
            let (pki, dir, slots) = (pki.clone(), shared.clone(), slots.clone());
            cells.spawn(async move {
                let _slot = slots.acquire_owned().await.unwrap();
                run_cell(kind, fault, pki, dir).await
            });
        }
    }
    let mut problems = Vec::new();
    let mut table = Vec::new();
    while let Some(cell) = cells.join_next().await {
        let cell = cell.unwrap();
        let expected = cell.fault.expected();
        table.push(format!(
            "{:14} {:20} {:16} {:>6} ms  {}",
            cell.kind,
            format!("{:?}", cell.fault),
            cell.reason.map_or("success", |r| r.as_str()),
            cell.took.as_millis(),
            cell.message
        ));
        if cell.reason != Some(expected) {
            problems.push(format!(
                "{} / {:?}: {} (expected {}): {}",
                cell.kind,
                cell.fault,
                cell.reason.map_or("success", |r| r.as_str()),
                expected.as_str(),
                cell.message
            ));
        }
        if cell.took > TIMEOUT + SLACK {
            problems.push(format!(
                "{} / {:?}: took {:?}, past its timeout of {TIMEOUT:?}",
                cell.kind, cell.fault, cell.took
            ));
        }
        if cell.fault == Fault::TooManyRequests
            && cell.retry_after != Some(Duration::from_secs(120))
        {
            problems.push(format!(
                "{} / TooManyRequests: Retry-After read as {:?}",
                cell.kind, cell.retry_after
            ));
        }
        if cell.fault == Fault::HugeBody && cell.huge_read > HUGE_READ_AT_MOST {
            problems.push(format!(
                "{} / HugeBody: the client took {} MiB of the answer",
                cell.kind,
                cell.huge_read / (1024 * 1024)
            ));
        }
        for (name, value) in CANARIES {
            if cell.message.contains(value) {
                problems.push(format!(
                    "{} / {:?}: the secret {name} is in the message",
                    cell.kind, cell.fault
                ));
            }
        }
    }
    table.sort();
    println!("{}", table.join("\n"));
    if !resolver_answers {
        println!("SKIPPED the unresolvable-name cells: this machine's resolver does not answer");
    }
    assert!(
        problems.is_empty(),
        "{} cells off:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
