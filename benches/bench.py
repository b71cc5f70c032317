#!/usr/bin/env python3
"""credwatch's benchmark: CPU per check by type, and memory, against the demo's provider
simulator running as a process of its own (so that its CPU is not counted).

    python3 benches/bench.py                 # the full run: 20 s per case, prints a table
    python3 benches/bench.py --write         # ... and writes benches/RESULTS.md
    python3 benches/bench.py --smoke         # a few integrations for a few seconds
    python3 benches/bench.py --smoke --binary target/debug/credwatch   # the same on the test build (.ci/run)

For each case it starts the release binary with integrations of one kind checked every second,
waits for a warm-up, then reads the process's CPU time (/proc/PID/stat) and the checks it
counted (credwatch_checks_total on /metrics) over the measured window. When
prometheus-blackbox-exporter is installed, it probes the same basic-auth endpoint and the table
gives credwatch's CPU per check as a ratio to it.

One case talks HTTPS to a server (Python's, in a thread of this script) that closes every
connection after one answer, as checks minutes apart meet real providers: each check pays a TLS
handshake (resumed where the server's session tickets allow). blackbox_exporter probes that
endpoint too.
"""

import argparse
import http.server
import json
import os
import platform
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "credwatch")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    """The CPU time a process spends from now until `seconds()`: perf's task-clock (exact, every
    thread, those that end meanwhile too) when `perf stat` works here, else /proc's utime +
    stime, counted in clock ticks (1/100 s: a window of a thousand checks then reads to 0.01 ms
    per check)."""

    def __init__(self, pid):
        self.pid = pid
        self.start = cpu_seconds(pid)
        self.perf = None
        if shutil.which("perf"):
            self.perf = subprocess.Popen(
                ["perf", "stat", "-x", ",", "-e", "task-clock", "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.2)  # attached to every thread before the window starts
            if self.perf.poll() is not None:
                self.perf = None

    def seconds(self):
        ticks = cpu_seconds(self.pid) - self.start
        if self.perf is None:
            return ticks
        self.perf.send_signal(signal.SIGINT)
        _, err = self.perf.communicate(timeout=30)
        for line in err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] == "task-clock":
                try:
                    return float(fields[0]) / 1000.0  # msec
                except ValueError:
                    break
        return ticks


def cpu_method():
    """How CPU time is measured in this run, for the results' header."""
    probe = subprocess.Popen(["sleep", "1"])
    meter = CpuMeter(probe.pid)
    exact = meter.perf is not None
    meter.seconds()
    probe.wait()
    return "perf stat's task-clock" if exact else "/proc clock ticks (1/100 s)"


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def checks_total(text, result=None):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("credwatch_checks_total{"):
            if result and f'result="{result}"' not in line:
                continue
            total += float(line.rsplit(" ", 1)[1])
    return total


def secret(sim, name):
    return '{ file = "%s" }' % os.path.join(sim["secrets"], name)


def integration(kind, n, sim):
    """One [[integration]] table of a benchmark case."""
    e, a = sim["endpoints"], sim["accounts"]
    name = f'name = "{kind} {n:03}"\n'
    if kind == "basic":
        return f"""
[[integration]]
type = "web_service"
{name}[integration.credentials]
credential_type = "basic"
username = "{a['web_user']}"
password = {secret(sim, 'orders-api-password')}
[integration.request]
url = "{e['web']}/orders/health"
"""
    if kind == "oauth":
        return f"""
[[integration]]
type = "web_service"
{name}[integration.credentials]
credential_type = "user_defined_oauth"
login_url = "{e['web']}/oauth/token"
client_id = "{a['web_client_id']}"
client_secret = {secret(sim, 'inventory-client-secret')}
[integration.request]
url = "{e['web']}/inventory/health"
[integration.request.headers]
Authorization = "Bearer ${{credentials.token}}"
"""
    if kind == "https_close":
        return f"""
[[integration]]
type = "web_service"
{name}[integration.credentials]
credential_type = "none"
[integration.request]
url = "{sim['https_close']['url']}"
[integration.tls]
ca_cert = "{sim['https_close']['ca']}"
"""
    if kind == "google":
        return f"""
[[integration]]
type = "google"
{name}[integration.credentials]
credential_type = "gcp_service_account"
key_file = "{sim['google_key_file']}"
[integration.endpoints]
token_url = "{e['google']}/token"
tokeninfo_url = "{e['google']}/tokeninfo"
revoke_url = "{e['google']}/revoke"
certificates_url = "{e['google']}/service_accounts/v1/metadata/x509/"
"""
    if kind == "aws":
        return f"""
[[integration]]
type = "aws_lambda"
{name}[integration.credentials]
role_arn = "{a['aws_role_arn']}"
external_id = "{a['aws_external_id']}"
region = "us-east-1"
access_key_id = {secret(sim, 'aws-access-key-id')}
secret_access_key = {secret(sim, 'aws-secret-access-key')}
[integration.endpoints]
sts_endpoint = "{e['aws_sts']}"
"""
    if kind == "salesforce":
        return f"""
[[integration]]
type = "salesforce"
{name}[integration.credentials]
username = "{a['salesforce_user']}"
password = {secret(sim, 'salesforce-password')}
security_token = {secret(sim, 'salesforce-security-token')}
login_url = "{e['salesforce']}"
client_id = "{a['salesforce_client_id']}"
client_secret = {secret(sim, 'salesforce-client-secret')}
"""
    if kind == "zendesk":
        return f"""
[[integration]]
type = "zendesk"
{name}[integration.credentials]
email = "{a['zendesk_email']}"
base_url = "{e['zendesk']}"
api_token = {secret(sim, 'zendesk-token')}
"""
    if kind == "genesys":
        return f"""
[[integration]]
type = "genesys_cloud"
{name}[integration.credentials]
client_id = "{a['genesys_client_id']}"
client_secret = {secret(sim, 'genesys-client-secret')}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{e['genesys']}/oauth/token"
verify_url = "{e['genesys']}/api/v2/tokens/me"
"""
    if kind == "dynamics":
        return f"""
[[integration]]
type = "dynamics365"
{name}[integration.credentials]
username = "{a['dynamics_user']}"
password = {secret(sim, 'dynamics-password')}
org_url = "{e['dynamics']}"
application_id = "{a['entra_application_id']}"
tenant = "demo.onmicrosoft.com"
[integration.endpoints]
token_url = "{e['entra']}/demo.onmicrosoft.com/oauth2/v2.0/token"
"""
    raise ValueError(kind)


# Case, what one check is, and how many integrations (within one org's Genesys limit).
CASES = [
    ("basic", "HTTP basic auth, one request", 50),
    ("oauth", "OAuth client credentials + one bearer GET", 50),
    ("google", "Google service account (RS256 assertion, exchange, tokeninfo, revoke)", 50),
    ("aws", "AWS STS AssumeRole + GetCallerIdentity (SigV4)", 10),
    ("salesforce", "Salesforce password grant + identity + revoke", 50),
    ("https_close", "HTTPS GET, a new connection each check (the server closes it)", 50),
]

# Cases run in one org only: the Python server of `https_close` is the limit beyond.
ONE_ORG_ONLY = {"https_close"}


def https_close_server(work):
    """An HTTPS server in a thread of this script answering `200 ok` with `Connection: close`
    to every request; returns its URL and the CA file that trusts it."""
    path = lambda name: os.path.join(work, name)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    with open(path("close.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    for command in [
        ["req", "-x509", *ec, "-subj", "/CN=credwatch bench CA", "-days", "2",
         "-keyout", path("ca.key"), "-out", path("ca.crt")],
        ["req", *ec, "-subj", "/CN=localhost", "-keyout", path("close.key"), "-out", path("close.csr")],
        ["x509", "-req", "-in", path("close.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
         "-CAcreateserial", "-days", "2", "-extfile", path("close.ext"), "-out", path("close.crt")],
    ]:
        subprocess.run(["openssl", *command], check=True, capture_output=True)
    cert, key = path("close.crt"), path("close.key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def finish_request(self, request, client_address):
            # The handshake in the connection's own thread, not the accepting one.
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            super().finish_request(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return {"url": f"https://localhost:{server.server_address[1]}/health", "ca": path("ca.crt")}


def start_daemon(config, log_path):
    """Starts the release binary on `config`; its address comes from its log."""
    log = open(log_path, "w")
    daemon = subprocess.Popen(
        [BINARY, "--config", config, "run", "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    addr = None
    started = time.monotonic()
    while addr is None and time.monotonic() - started < 60:
        line = daemon.stderr.readline()
        if not line:
            break
        log.write(line)
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            addr = m.group(1)
    if addr is None:
        daemon.kill()
        raise SystemExit(f"credwatch did not start; see {log_path}")
    # Drain the log in the background so that the pipe never fills.
    drain = subprocess.Popen(["cat"], stdin=daemon.stderr, stdout=log)
    return daemon, addr, drain


def stop_daemon(daemon, drain):
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    drain.wait(timeout=5)


def run_case(kind, count, sim, work, warmup, seconds, orgs=1):
    """`count` integrations of one kind in each of `orgs` orgs, each checked every second."""
    config = os.path.join(work, f"{kind}.toml")
    include = f'include = ["{kind}-orgs/*.toml"]\n' if orgs > 1 else ""
    with open(config, "w") as f:
        f.write(f'{include}[defaults]\ninterval = "1s"\ntimeout = "5s"\nstate_dir = "{work}/state-{kind}"\n')
        for n in range(count):
            f.write(integration(kind, n, sim))
    if orgs > 1:
        os.makedirs(os.path.join(work, f"{kind}-orgs"), exist_ok=True)
        for o in range(1, orgs):
            with open(os.path.join(work, f"{kind}-orgs", f"org-{o:03}.toml"), "w") as f:
                for n in range(count):
                    f.write(integration(kind, n, sim))
    daemon, addr, drain = start_daemon(config, os.path.join(work, f"{kind}.log"))
    metrics = f"http://{addr}/metrics"
    time.sleep(warmup)
    meter = CpuMeter(daemon.pid)
    checks0, t0 = checks_total(scrape(metrics)), time.monotonic()
    time.sleep(seconds)
    text = scrape(metrics)
    checks1, t1 = checks_total(text), time.monotonic()
    cpu = meter.seconds()
    failed = checks_total(text) - checks_total(text, "success")
    rss = rss_mib(daemon.pid)
    stop_daemon(daemon, drain)
    checks = checks1 - checks0
    return {
        "checks": checks,
        "failed": failed,
        "cpu_ms_per_check": cpu * 1000 / checks if checks else float("nan"),
        "cpu_percent": cpu / (t1 - t0) * 100,
        "rss_mib": rss,
    }


def blackbox(sim, work, probes, module="basic"):
    """CPU per probe of prometheus-blackbox-exporter on the endpoint of a case (`basic`: the
    basic-auth one; `https_close`: the HTTPS server closing every connection), or None."""
    exe = shutil.which("prometheus-blackbox-exporter")
    if not exe:
        return None
    password = open(os.path.join(sim["secrets"], "orders-api-password")).read().strip()
    config = os.path.join(work, "blackbox.yml")
    with open(config, "w") as f:
        f.write(
            "modules:\n  basic:\n    prober: http\n    timeout: 5s\n    http:\n"
            f"      basic_auth:\n        username: {sim['accounts']['web_user']}\n"
            f"        password: {password}\n"
            "  https_close:\n    prober: http\n    timeout: 5s\n    http:\n"
            f"      tls_config:\n        ca_file: {sim['https_close']['ca']}\n"
        )
    targets = {
        "basic": f"{sim['endpoints']['web']}/orders/health",
        "https_close": sim["https_close"]["url"],
    }
    port = 19115
    exporter = subprocess.Popen(
        [exe, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/probe?module={module}&target={targets[module]}"
        for _ in range(50):
            try:
                scrape(url)
                break
            except OSError:
                time.sleep(0.1)
        meter = CpuMeter(exporter.pid)
        for _ in range(probes):
            scrape(url)
        return meter.seconds() * 1000 / probes
    finally:
        exporter.terminate()
        exporter.wait()


# One org at every type's Genesys limit: 240 integrations.
ORG_MIX = [
    ("aws", 10), ("genesys", 10), ("google", 100), ("dynamics", 10), ("zendesk", 10),
    ("salesforce", 50), ("basic", 25), ("oauth", 25),
]


def histogram_buckets(text, name):
    """A histogram's cumulative buckets on a scrape: (upper bound, count), sorted."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = re.search(r'le="([^"]+)"', line).group(1)
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    return buckets


def quantile(before, after, q):
    """The q-quantile of what a histogram counted between two scrapes, interpolated inside its
    bucket as PromQL's histogram_quantile does."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = counts[-1][1] if counts else 0
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le, count in counts:
        if count >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = le, count
    return lower


def scrape_gzip(url):
    """Seconds and compressed bytes of one whole /metrics scrape, asking for gzip."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        encoding = response.headers.get("Content-Encoding")
    return time.monotonic() - started, len(body), encoding


def run_soak(sim, work, orgs, interval, warmup, seconds, after=10.0):
    """`orgs` orgs of 240 integrations (every type at its limit) at one cadence."""
    config = os.path.join(work, "soak.toml")
    os.makedirs(os.path.join(work, "orgs"), exist_ok=True)
    with open(config, "w") as f:
        f.write(
            f'include = ["orgs/*.toml"]\n[defaults]\ninterval = "{interval}s"\ntimeout = "10s"\n'
            f'concurrency = 256\nstate_dir = "{work}/state-soak"\n'
        )
    for o in range(orgs):
        with open(os.path.join(work, "orgs", f"org-{o:03}.toml"), "w") as f:
            f.write(f'org = "org-{o:03}"\n')
            for kind, count in ORG_MIX:
                for n in range(count):
                    f.write(integration(kind, n, sim))
    total = orgs * sum(count for _, count in ORG_MIX)
    started = time.monotonic()
    subprocess.run([BINARY, "--config", config, "validate"], check=True, capture_output=True)
    load = time.monotonic() - started

    daemon, addr, drain = start_daemon(config, os.path.join(work, "soak.log"))
    metrics = f"http://{addr}/metrics"
    time.sleep(warmup)
    text0 = scrape(metrics)
    lag0 = histogram_buckets(text0, "credwatch_check_start_lag_seconds")
    meter = CpuMeter(daemon.pid)
    checks0, t0, wall0 = checks_total(text0), time.monotonic(), time.time()
    rss, scrapes = 0.0, []
    end = t0 + seconds
    while time.monotonic() < end:
        time.sleep(min(5.0, max(0.0, end - time.monotonic())))
        rss = max(rss, rss_mib(daemon.pid))
        if len(scrapes) < 5:
            scrapes.append(scrape_gzip(metrics))
    text1 = scrape(metrics)
    checks1, t1, wall1 = checks_total(text1), time.monotonic(), time.time()
    cpu = meter.seconds()
    lag1 = histogram_buckets(text1, "credwatch_check_start_lag_seconds")
    failed = checks_total(text1) - checks_total(text1, "success")

    # Reload with one integration of one org changed: how long, and whether checks burst.
    org_file = os.path.join(work, "orgs", "org-000.toml")
    text = open(org_file).read()
    with open(org_file, "w") as f:
        f.write(text.replace('name = "aws 000"\n', 'name = "aws 000"\ntimeout = "9s"\n', 1))
    before = checks_total(scrape(metrics))
    started = time.monotonic()
    request = urllib.request.Request(f"http://{addr}/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    reload_seconds = time.monotonic() - started
    time.sleep(after)
    after_reload = checks_total(scrape(metrics)) - before
    stop_daemon(daemon, drain)

    # Starts per second over the measured window, from the results the daemon kept.
    with open(os.path.join(work, "state-soak", "state.json")) as f:
        records = json.load(f)["integrations"]
    per_second = {}
    for record in records.values():
        for entry in record.get("history", []):
            start = entry["time"] - entry.get("duration_seconds", 0)
            if wall0 <= start < wall1:
                per_second[int(start - wall0)] = per_second.get(int(start - wall0), 0) + 1
    windows = [per_second.get(k, 0) for k in range(int(wall1 - wall0))]
    mean = sum(windows) / len(windows) if windows else 0
    checks = checks1 - checks0
    return {
        "integrations": total,
        "orgs": orgs,
        "interval": interval,
        "seconds": t1 - t0,
        "checks": checks,
        "failed": failed,
        "cpu_percent": cpu / (t1 - t0) * 100,
        "cpu_ms_per_check": cpu * 1000 / checks if checks else float("nan"),
        "rss_mib": rss,
        "scrape_seconds": max(s[0] for s in scrapes) if scrapes else float("nan"),
        "scrape_bytes": scrapes[-1][1] if scrapes else 0,
        "scrape_encoding": scrapes[-1][2] if scrapes else None,
        "config_load_seconds": load,
        "lag_p50": quantile(lag0, lag1, 0.5),
        "lag_p99": quantile(lag0, lag1, 0.99),
        "busiest_second": max(windows) if windows else 0,
        "mean_per_second": mean,
        "reload_seconds": reload_seconds,
        "checks_after_reload": after_reload,
        "after_reload_seconds": after,
        "expected_after_reload": total / interval * after,
    }


def soak_table(r):
    return "\n".join([
        "| soak measure | value | target |",
        "|---|---|---|",
        f"| integrations | {r['integrations']} ({r['orgs']} orgs × 240, every type at its limit) | 24000 |",
        f"| cadence, measured window | {r['interval']} s, {r['seconds']:.0f} s ({r['checks']:.0f} checks, {r['failed']:.0f} failed) | 60 s |",
        f"| average CPU (one core) | {r['cpu_percent']:.1f} % ({r['cpu_ms_per_check']:.3f} ms per check) | ≤ 15 % |",
        f"| RSS (peak) | {r['rss_mib']:.1f} MiB | ≤ 64 MiB |",
        f"| full /metrics scrape, gzip asked | {r['scrape_seconds'] * 1000:.0f} ms ({r['scrape_bytes'] / 1024:.0f} KiB, {r['scrape_encoding'] or 'identity'}) | ≤ 250 ms |",
        f"| config load (`credwatch validate`) | {r['config_load_seconds']:.2f} s | ≤ 1 s |",
        f"| start lag p50 / p99 | {r['lag_p50'] * 1000:.1f} ms / {r['lag_p99'] * 1000:.1f} ms | p99 ≤ 1 s |",
        f"| busiest 1 s window / mean | {r['busiest_second']} / {r['mean_per_second']:.1f} starts ({r['busiest_second'] / max(r['mean_per_second'], 1e-9):.2f}×) | ≤ 2× |",
        f"| reload, one file changed | {r['reload_seconds']:.2f} s; {r['checks_after_reload']:.0f} checks in the next {r['after_reload_seconds']:.0f} s (cadence: {r['expected_after_reload']:.0f}) | ≤ 2 s, no burst |",
    ])


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {mem}, Linux {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few integrations for a few seconds")
    parser.add_argument("--write", action="store_true", help="write benches/RESULTS.md")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per case")
    parser.add_argument("--only", action="append", help="run only these cases (basic, oauth, ...)")
    parser.add_argument(
        "--orgs", type=int, action="append", help="orgs per case, each at the case's count (default: 1 and 10)"
    )
    parser.add_argument(
        "--binary", help="the credwatch binary to run (default: a release build, made if --smoke is not given)"
    )
    parser.add_argument("--soak", action="store_true", help="run only the soak")
    parser.add_argument("--no-soak", action="store_true", help="skip the soak")
    parser.add_argument("--soak-orgs", type=int, default=100, help="orgs of 240 integrations")
    parser.add_argument("--soak-interval", type=int, default=60, help="the soak's cadence, seconds")
    parser.add_argument("--soak-seconds", type=float, default=180.0, help="the soak's measured window")
    args = parser.parse_args()
    # The smoke run only proves that every part runs: its numbers mean nothing.
    warmup, seconds, scale = (0.5, 0.5, 0.1) if args.smoke else (5.0, args.seconds, 1.0)

    global BINARY
    if args.binary:
        BINARY = os.path.abspath(args.binary)
    elif not os.path.exists(BINARY) or not args.smoke:
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="credwatch-bench-")
    sim_proc = subprocess.Popen(
        [BINARY, "simulate", "--dir", os.path.join(work, "sim")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sim = json.loads(sim_proc.stdout.readline())
    sim["https_close"] = https_close_server(work)
    rows = []
    try:
        # One org (a check every 20 ms or so), and ten (the rate of the 24,000 soak), where
        # checks share the process's wake-ups.
        for orgs in args.orgs or ([1] if args.smoke else [1, 10]):
            for kind, what, count in CASES:
                if args.soak or (args.only and kind not in args.only):
                    continue
                if orgs > 1 and kind in ONE_ORG_ONLY:
                    continue
                n = max(1, int(count * scale))
                result = run_case(kind, n, sim, work, warmup, seconds, orgs)
                if result["failed"]:
                    raise SystemExit(f"{kind}: {result['failed']:.0f} checks failed; see {work}/{kind}.log")
                rows.append((kind, what, n * orgs, result))
        box = None if args.smoke or args.only or args.soak else blackbox(sim, work, 500)
        measured_tls = any(kind == "https_close" for kind, _, _, _ in rows)
        box_tls = blackbox(sim, work, 500, "https_close") if measured_tls and not args.smoke else None
        soak = None
        if args.smoke:
            soak = run_soak(sim, work, 2, 2, 3.0, 2.0, after=1.5)
        elif not (args.only or args.no_soak):
            # Warm-up: the first round of checks is spread over the whole cadence.
            soak = run_soak(
                sim, work, args.soak_orgs, args.soak_interval, args.soak_interval * 1.5, args.soak_seconds
            )
    finally:
        sim_proc.send_signal(signal.SIGTERM)
        sim_proc.wait(timeout=10)

    lines = [
        "| check | integrations, each checked every second | checks measured | CPU per check | CPU (one core) | RSS |",
        "|---|---|---|---|---|---|",
    ]
    for kind, what, n, r in rows:
        lines.append(
            f"| {what} | {n} | {r['checks']:.0f} | {r['cpu_ms_per_check']:.3f} ms | "
            f"{r['cpu_percent']:.1f} % | {r['rss_mib']:.1f} MiB |"
        )
    basics = [(n, r["cpu_ms_per_check"]) for kind, _, n, r in rows if kind == "basic"]
    if box is not None and basics:
        ratios = ", ".join(f"{ms / box:.2f} of that with {n} integrations" for n, ms in basics)
        lines.append("")
        lines.append(
            f"prometheus-blackbox-exporter on the same basic-auth endpoint: {box:.3f} ms CPU per "
            f"probe; credwatch's basic check costs {ratios}."
        )
    elif rows and not shutil.which("prometheus-blackbox-exporter"):
        lines.append("")
        lines.append("prometheus-blackbox-exporter is not installed: no comparison in this run.")
    closes = [(n, r["cpu_ms_per_check"]) for kind, _, n, r in rows if kind == "https_close"]
    if box_tls is not None and closes:
        n, ms = closes[0]
        lines.append("")
        lines.append(
            f"prometheus-blackbox-exporter on the HTTPS server that closes every connection: "
            f"{box_tls:.3f} ms CPU per probe; credwatch's check there costs {ms:.3f} ms "
            f"({ms / box_tls:.2f} of that) with {n} integrations."
        )
    if soak is not None:
        if soak["failed"]:
            raise SystemExit(f"soak: {soak['failed']:.0f} checks failed; see {work}/soak.log")
        lines.append("")
        lines.append(soak_table(soak))
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(os.path.join(ROOT, "benches", "RESULTS.md"), "w") as f:
            f.write(
                "# Benchmark results\n\n"
                f"`python3 benches/bench.py --write` on {machine()}, "
                f"{time.strftime('%Y-%m-%d', time.gmtime())}, release build, providers simulated "
                "by `credwatch simulate` in a process of its own. Each case: integrations of one "
                "kind in one org and in ten, each checked every second, "
                f"{seconds:.0f} s measured after {warmup:.0f} s of warm-up. The soak: "
                f"{soak['integrations'] if soak else 0} integrations at a {soak['interval'] if soak else 0} s "
                f"cadence, {soak['seconds'] if soak else 0:.0f} s measured after a warm-up of one and a "
                f"half cadences, then a reload with one file changed. CPU time: {cpu_method()}.\n\n"
                f"{table}\n"
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
