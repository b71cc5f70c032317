//! Helpers shared by the integration tests: configs, the built binary as a daemon, a parser of
//! the Prometheus text format, and polling instead of sleeping.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credwatch::config::Config;
use credwatch::runner::{self, Report};

/// An RFC 6749 token answer granting `token` for `expires_in` seconds.
pub fn token_answer(token: &str, expires_in: u64) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": token, "token_type": "Bearer", "expires_in": expires_in
    }))
}

/// A token endpoint at `path` on `server` that grants `token` (for an hour) to anyone.
pub async fn mock_token(server: &wiremock::MockServer, path: &str, token: &str) {
    wiremock::Mock::given(wiremock::matchers::path(path))
        .respond_with(token_answer(token, 3600))
        .mount(server)
        .await;
}

/// One `[[integration]]` of a test config, built field by field and written as TOML
/// (`to_string`, or straight into `format!`).
#[derive(Debug, Clone)]
pub struct Fixture {
    kind: &'static str,
    fields: Vec<(String, String)>,
    credentials: Vec<(String, String)>,
    endpoints: Vec<(String, String)>,
}

impl Fixture {
    /// An integration of type `kind`, without name or credentials.
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            fields: Vec::new(),
            credentials: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// Its `name`.
    pub fn name(self, name: &str) -> Self {
        self.set("name", &quoted(name))
    }

    /// Sets a field of the integration to `toml`, a TOML value as written: `"\"1s\""`,
    /// `"false"`, `"{ env = \"X\" }"`.
    pub fn set(mut self, key: &str, toml: &str) -> Self {
        put(&mut self.fields, key, toml.to_string());
        self
    }

    /// Sets a field of its `[integration.credentials]` to `toml`, a TOML value as written.
    pub fn credential(mut self, key: &str, toml: &str) -> Self {
        put(&mut self.credentials, key, toml.to_string());
        self
    }

    /// Points one of its `[integration.endpoints]` at `url`.
    pub fn endpoint(mut self, key: &str, url: &str) -> Self {
        put(&mut self.endpoints, key, quoted(url));
        self
    }
}

/// Sets `key` in `table` to `value`, in place of what it had.
fn put(table: &mut Vec<(String, String)>, key: &str, value: String) {
    match table.iter_mut().find(|(k, _)| k == key) {
        Some((_, old)) => *old = value,
        None => table.push((key.to_string(), value)),
    }
}

impl std::fmt::Display for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "\n[[integration]]\ntype = {}", quoted(self.kind))?;
        for (key, value) in &self.fields {
            writeln!(f, "{key} = {value}")?;
        }
        writeln!(f, "[integration.credentials]")?;
        for (key, value) in &self.credentials {
            writeln!(f, "{key} = {value}")?;
        }
        if !self.endpoints.is_empty() {
            writeln!(f, "[integration.endpoints]")?;
        }
        for (key, value) in &self.endpoints {
            writeln!(f, "{key} = {value}")?;
        }
        Ok(())
    }
}

/// `text` as a TOML string.
pub fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A Zendesk integration at `base_url` for ops@example.com, its API token read from `token`
/// (a TOML value: `"{ env = \"ZD_TOKEN\" }"`, `"{ file = \"…\" }"`).
pub fn zendesk(base_url: &str, token: &str) -> Fixture {
    Fixture::new("zendesk")
        .credential("email", &quoted("ops@example.com"))
        .credential("base_url", &quoted(base_url))
        .credential("api_token", token)
}

/// A Genesys Cloud integration (client `cid`, its secret read from `secret`, a TOML value)
/// whose token and verify endpoints are on `base`.
pub fn genesys_cloud(base: &str, secret: &str) -> Fixture {
    Fixture::new("genesys_cloud")
        .credential("client_id", &quoted("cid"))
        .credential("client_secret", secret)
        .credential("region", &quoted("mypurecloud.com"))
        .endpoint("token_url", &format!("{base}/oauth/token"))
        .endpoint("verify_url", &format!("{base}/api/v2/tokens/me"))
}

/// A secret read from the environment variable `name`, as the config writes it.
pub fn from_env(name: &str) -> String {
    format!("{{ env = {} }}", quoted(name))
}

/// A secret read from the file at `path`, as the config writes it.
pub fn from_file(path: impl AsRef<Path>) -> String {
    format!(
        "{{ file = {} }}",
        quoted(&path.as_ref().display().to_string())
    )
}

/// Parses config text that must be valid.
pub fn config(text: &str) -> Config {
    Config::parse("test.toml", text).unwrap_or_else(|e| panic!("config should parse: {e}"))
}

/// Checks the only integration of a config once.
pub async fn check_only(text: &str) -> Report {
    let config = config(text);
    assert_eq!(config.integrations.len(), 1);
    runner::run(&config.integrations[0]).await
}

/// A Zendesk that accepts any credentials: `GET /api/v2/users/me.json` answers an active user.
pub async fn zendesk_ok() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path("/api/v2/users/me.json"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"user": {"id": 1, "active": true, "suspended": false}}),
        ))
        .mount(&server)
        .await;
    server
}

/// The requests `server` received with `method` at `path`.
pub async fn received(
    server: &wiremock::MockServer,
    method: &str,
    path: &str,
) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .collect()
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The built `credwatch` binary.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_credwatch"))
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `credwatch run` in the background, with its logs collected.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts the daemon on a free port and waits until it serves.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        Self::start_on(config, env, "127.0.0.1:0")
    }

    /// Starts the daemon on `listen` (port 0: a free one) and waits until it serves, over HTTP
    /// or HTTPS.
    pub fn start_on(config: &Path, env: &[(&str, &str)], listen: &str) -> Daemon {
        let mut command = binary();
        command
            .arg("--config")
            .arg(config)
            .args(["run", "--listen", listen]);
        Self::launch(command, env)
    }

    /// Starts `credwatch` with `args` (a command that serves) and waits until it serves.
    pub fn start_args(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut command = binary();
        command.args(args);
        Self::launch(command, env)
    }

    fn launch(mut command: Command, env: &[(&str, &str)]) -> Daemon {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("credwatch starts");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Kept before the address is handed over: a test reading the logs as soon as
                // the daemon serves finds the line.
                {
                    let mut logs = sink.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                }
                if let Some(rest) = line
                    .split("listening on http://")
                    .nth(1)
                    .or_else(|| line.split("listening on https://").nth(1))
                {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = addr_tx.send(addr.parse::<SocketAddr>().expect("address logged"));
                }
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("credwatch did not start; logs:\n{}", logs.lock().unwrap());
            }
        };
        Daemon { child, addr, logs }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET a path; returns status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(self.url(path)).await.expect("daemon answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POST a path with an empty body; returns status and body.
    pub async fn post(&self, path: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .send()
            .await
            .expect("daemon answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// SIGKILL: no chance to save anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn metrics(&self) -> Metrics {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        Metrics::parse(&body)
    }

    /// Scrapes every 50 ms until `condition` holds (or `limit` passes) and returns that scrape.
    pub async fn metrics_when(
        &self,
        limit: Duration,
        what: &str,
        condition: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let deadline = Instant::now() + limit;
        loop {
            let metrics = self.metrics().await;
            if condition(&metrics) {
                return metrics;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}\nlast scrape:\n{}\nlogs:\n{}",
                metrics.text,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status (waiting at most 30 s).
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Give the reader thread a moment to drain the pipe.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "credwatch did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 25 ms until it holds; panics naming `what` after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One sample of a scrape.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A scrape, parsed into samples.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    samples: Vec<Sample>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = value.parse().expect("numeric value");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), Vec::new()),
                Some((name, rest)) => (name.to_string(), parse_labels(rest.trim_end_matches('}'))),
            };
            samples.push(Sample {
                name,
                labels,
                value,
            });
        }
        Metrics {
            text: text.to_string(),
            samples,
        }
    }

    /// Samples of `name` whose labels include `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<_> = self.matching(name, labels).collect();
        assert!(
            matching.len() <= 1,
            "{name} {labels:?} matches {} samples",
            matching.len()
        );
        matching.first().map(|s| s.value)
    }

    /// How many samples of `name` have labels including `labels`.
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.matching(name, labels).count()
    }
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((key.trim_start_matches(',').to_string(), value));
        rest = &after[end..];
    }
    labels
}

/// Matches a form-encoded body with exactly these fields, in any order.
pub struct FormIs(pub Vec<(String, String)>);

impl FormIs {
    pub fn new(fields: &[(&str, &str)]) -> Self {
        Self(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl wiremock::Match for FormIs {
    fn matches(&self, request: &wiremock::Request) -> bool {
        let mut got = form_of(request);
        let mut want = self.0.clone();
        got.sort();
        want.sort();
        got == want
    }
}

/// The fields of a form-encoded body, decoded, in order.
pub fn form_of(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether the real peer `name` is here, told by `probe` (a command that succeeds when it is).
/// When it is not, the test says `SKIPPED: <name> not installed` and should pass without it;
/// with `CREDWATCH_REQUIRE_PEERS=1` (`.ci/run` sets it once it has installed every peer) a
/// missing peer fails the test instead.
pub fn peer(name: &str, probe: &[&str]) -> bool {
    let here = Command::new(probe[0])
        .args(&probe[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !here {
        peer_missing(name, &format!("`{}` fails", probe.join(" ")));
    }
    here
}

/// The peer `name` is not here (`why`): the test says `SKIPPED: <name> not installed` and the
/// caller returns, or, with `CREDWATCH_REQUIRE_PEERS=1`, the test fails.
pub fn peer_missing(name: &str, why: &str) {
    assert!(
        std::env::var("CREDWATCH_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{name} is required here (CREDWATCH_REQUIRE_PEERS=1) but {why}; .ci/run installs it"
    );
    println!("SKIPPED: {name} not installed ({why})");
}

/// Runs `promtool check metrics` on a scrape; panics with its complaints. Without promtool
/// (Debian package `prometheus`) the lint is skipped, as `peer` says.
pub fn promtool(text: &str) {
    if !peer("promtool", &["promtool", "--version"]) {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package `prometheus`; .ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
