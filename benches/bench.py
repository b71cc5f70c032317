#!/usr/bin/env python3
"""credwatch's benchmark: CPU per check by type, and memory, against the demo's provider
simulator running as a process of its own (so that its CPU is not counted).

    python3 benches/bench.py                 # the full run: 20 s per case, prints a table
    python3 benches/bench.py --write         # ... and writes benches/RESULTS.md
    python3 benches/bench.py --smoke         # a few integrations for a few seconds (.ci/run)

For each case it starts the release binary with integrations of one kind checked every second,
waits for a warm-up, then reads the process's CPU time (/proc/PID/stat) and the checks it
counted (credwatch_checks_total on /metrics) over the measured window. When
prometheus-blackbox-exporter is installed, it probes the same basic-auth endpoint and the table
gives credwatch's CPU per check as a ratio to it.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
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
    raise ValueError(kind)


# Case, what one check is, and how many integrations (within one org's Genesys limit).
CASES = [
    ("basic", "HTTP basic auth, one request", 50),
    ("oauth", "OAuth client credentials + one bearer GET", 50),
    ("google", "Google service account (RS256 assertion, exchange, tokeninfo)", 50),
    ("aws", "AWS STS AssumeRole + GetCallerIdentity (SigV4)", 10),
    ("salesforce", "Salesforce password grant + identity", 50),
]


def run_case(kind, count, sim, work, warmup, seconds):
    config = os.path.join(work, f"{kind}.toml")
    with open(config, "w") as f:
        f.write(f'[defaults]\ninterval = "1s"\ntimeout = "5s"\nstate_dir = "{work}/state-{kind}"\n')
        for n in range(count):
            f.write(integration(kind, n, sim))
    log = open(os.path.join(work, f"{kind}.log"), "w")
    # The address it serves on comes from its log.
    daemon = subprocess.Popen(
        [BINARY, "--config", config, "run", "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    addr = None
    started = time.monotonic()
    while addr is None and time.monotonic() - started < 30:
        line = daemon.stderr.readline()
        log.write(line)
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            addr = m.group(1)
    if addr is None:
        daemon.kill()
        raise SystemExit(f"{kind}: credwatch did not start; see {log.name}")
    # Drain the log in the background so that the pipe never fills.
    drain = subprocess.Popen(["cat"], stdin=daemon.stderr, stdout=log)
    metrics = f"http://{addr}/metrics"
    time.sleep(warmup)
    cpu0, checks0, t0 = cpu_seconds(daemon.pid), checks_total(scrape(metrics)), time.monotonic()
    time.sleep(seconds)
    text = scrape(metrics)
    cpu1, checks1, t1 = cpu_seconds(daemon.pid), checks_total(text), time.monotonic()
    failed = checks_total(text) - checks_total(text, "success")
    rss = rss_mib(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    drain.wait(timeout=5)
    checks = checks1 - checks0
    return {
        "checks": checks,
        "failed": failed,
        "cpu_ms_per_check": (cpu1 - cpu0) * 1000 / checks if checks else float("nan"),
        "cpu_percent": (cpu1 - cpu0) / (t1 - t0) * 100,
        "rss_mib": rss,
    }


def blackbox(sim, work, probes):
    """CPU per probe of prometheus-blackbox-exporter on the same basic-auth endpoint, or None."""
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
        )
    port = 19115
    exporter = subprocess.Popen(
        [exe, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/probe?module=basic&target={sim['endpoints']['web']}/orders/health"
        for _ in range(50):
            try:
                scrape(url)
                break
            except OSError:
                time.sleep(0.1)
        cpu0 = cpu_seconds(exporter.pid)
        for _ in range(probes):
            scrape(url)
        return (cpu_seconds(exporter.pid) - cpu0) * 1000 / probes
    finally:
        exporter.terminate()
        exporter.wait()


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
    args = parser.parse_args()
    warmup, seconds, scale = (3.0, 2.0, 0.1) if args.smoke else (5.0, args.seconds, 1.0)

    if not os.path.exists(BINARY) or not args.smoke:
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="credwatch-bench-")
    sim_proc = subprocess.Popen(
        [BINARY, "simulate", "--dir", os.path.join(work, "sim")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sim = json.loads(sim_proc.stdout.readline())
    rows = []
    try:
        for kind, what, count in CASES:
            n = max(1, int(count * scale))
            result = run_case(kind, n, sim, work, warmup, seconds)
            if result["failed"]:
                raise SystemExit(f"{kind}: {result['failed']:.0f} checks failed; see {work}/{kind}.log")
            rows.append((kind, what, n, result))
        box = None if args.smoke else blackbox(sim, work, 500)
    finally:
        sim_proc.send_signal(signal.SIGTERM)
        sim_proc.wait(timeout=10)

    lines = [
        "| check | integrations | checks measured | CPU per check | CPU (one core) | RSS |",
        "|---|---|---|---|---|---|",
    ]
    for kind, what, n, r in rows:
        lines.append(
            f"| {what} | {n} | {r['checks']:.0f} | {r['cpu_ms_per_check']:.3f} ms | "
            f"{r['cpu_percent']:.1f} % | {r['rss_mib']:.1f} MiB |"
        )
    if box is not None:
        basic = rows[0][3]["cpu_ms_per_check"]
        lines.append("")
        lines.append(
            f"prometheus-blackbox-exporter on the same basic-auth endpoint: {box:.3f} ms CPU per "
            f"probe; credwatch's basic check costs {basic / box:.2f} of that."
        )
    else:
        lines.append("")
        lines.append("prometheus-blackbox-exporter is not installed: no comparison in this run.")
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(os.path.join(ROOT, "benches", "RESULTS.md"), "w") as f:
            f.write(
                "# Benchmark results\n\n"
                f"`python3 benches/bench.py --write` on {machine()}, "
                f"{time.strftime('%Y-%m-%d', time.gmtime())}, release build, providers simulated "
                "by `credwatch simulate` in a process of its own, every integration checked every "
                f"second, {seconds:.0f} s measured after {warmup:.0f} s of warm-up.\n\n"
                f"{table}\n"
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
