#!/usr/bin/env python3
"""Record real release scenarios for `ripcord-sidecar replay`.

Every scenario runs real processes: a baseline and a canary instance of a small HTTP app
(instrumented with `prometheus_client`), a load generator driving each over HTTP at a given rate,
and a recorder scraping each app's `/metrics` over HTTP once a second. The recordings are written
in the replay format (see testdata/scenarios/README.md): blocks headed `# SCRAPE <unix-ms>`.

    pip install prometheus_client
    python3 scripts/record-scenarios.py all            # every scenario, in parallel
    python3 scripts/record-scenarios.py all --only errors,thin
    python3 scripts/record-scenarios.py app --version v1 --port 8080   # the demo app alone

The baseline starts recording `PRE_RELEASE_S` seconds before the canary starts: those scrapes are
the pre-release history the judge uses to choose latency edges and learn baseline rates.
"""

import argparse
import http.client
import http.server
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# The app keeps its exposition small: no `_created` series.
os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

REPO = Path(__file__).resolve().parent.parent
SCENARIOS_DIR = REPO / "testdata" / "scenarios"
PRE_RELEASE_S = 20
CHECKOUT_SHARE = 0.25

# What each app version does: error rate, lognormal latency (median seconds, sigma), conversion.
VERSIONS = {
    "v1": {"error_rate": 0.02, "median_s": 0.020, "sigma": 0.5, "conversion": 0.40},
    "v2-errors": {"error_rate": 0.10, "median_s": 0.020, "sigma": 0.5, "conversion": 0.40},
    "v2-slow": {"error_rate": 0.02, "median_s": 0.060, "sigma": 0.5, "conversion": 0.40},
    "v2-conversion": {"error_rate": 0.02, "median_s": 0.020, "sigma": 0.5, "conversion": 0.20},
}

WATCH_ALL = """\
# The DESIGN.md example: errors, latency and conversion, each with its tolerance.
errors:     http_requests_total{code=~"5.."} / http_requests_total   max +50%
latency:    http_request_duration_seconds                             p99 max +20%
conversion: checkout_completed_total / checkout_started_total         min -5%
"""

WATCH_HEALTHY = """\
# Generous tolerances, so a few minutes of identical versions are enough to pass.
errors:     http_requests_total{code=~"5.."} / http_requests_total   max +100%
latency:    http_request_duration_seconds                             p90 max +50%
conversion: checkout_completed_total / checkout_started_total         min -30%
"""

# name: baseline/canary version and request rate (req/s), canary run time, events, watch spec,
# expected exit code (0 pass, 1 regression, 2 inconclusive), and the exposition format scraped.
SCENARIOS = {
    "healthy": dict(base=("v1", 60), canary=("v1", 60), run_s=420, watch=WATCH_HEALTHY,
                    expected=0, openmetrics=False),
    "errors": dict(base=("v1", 30), canary=("v2-errors", 30), run_s=150, watch=WATCH_ALL,
                   expected=1, openmetrics=False),
    "latency": dict(base=("v1", 30), canary=("v2-slow", 30), run_s=150, watch=WATCH_ALL,
                    expected=1, openmetrics=True),
    "conversion": dict(base=("v1", 30), canary=("v2-conversion", 30), run_s=150,
                       watch=WATCH_ALL, expected=1, openmetrics=True),
    "thin-traffic": dict(base=("v1", 1), canary=("v1", 1), run_s=150, watch=WATCH_ALL,
                         expected=2, openmetrics=False),
    "canary-restart": dict(base=("v1", 60), canary=("v1", 60), run_s=300, watch=WATCH_HEALTHY,
                           expected=0, openmetrics=False, restart_at_s=30, down_s=4),
    "baseline-no-traffic": dict(base=("v1", 0), canary=("v1", 30), run_s=150, watch=WATCH_ALL,
                                expected=2, openmetrics=False),
}


# ---------------------------------------------------------------------------------------- app


def run_app(version: str, port: int, seed: int) -> None:
    """Serve the demo app: `/api`, `/checkout` and `/metrics`."""
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.exposition import choose_encoder

    params = VERSIONS[version]
    rng = random.Random(seed)
    rng_lock = threading.Lock()
    registry = CollectorRegistry()
    requests = Counter("http_requests", "HTTP requests by status code.", ["code"],
                       registry=registry)
    for code in ("200", "500"):
        requests.labels(code=code)
    duration = Histogram("http_request_duration_seconds", "HTTP request latency.",
                         registry=registry)
    started = Counter("checkout_started", "Checkouts started.", registry=registry)
    completed = Counter("checkout_completed", "Checkouts completed.", registry=registry)

    def draw():
        with rng_lock:
            latency = rng.lognormvariate(math.log(params["median_s"]), params["sigma"])
            failed = rng.random() < params["error_rate"]
            converted = rng.random() < params["conversion"]
        return latency, failed, converted

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept"))
                self.reply(200, encoder(registry), content_type)
                return
            if self.path not in ("/api", "/checkout"):
                self.reply(404, b"not found\n")
                return
            began = time.perf_counter()
            latency, failed, converted = draw()
            time.sleep(latency)
            code = 500 if failed else 200
            if self.path == "/checkout" and not failed:
                started.inc()
                if converted:
                    completed.inc()
            self.reply(code, b"ok\n" if code == 200 else b"error\n")
            duration.observe(time.perf_counter() - began)
            requests.labels(code=str(code)).inc()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


# ----------------------------------------------------------------------------- load generator


class LoadGenerator:
    """Open-loop Poisson arrivals at `rate` req/s, sent by a few keep-alive workers."""

    def __init__(self, port: int, rate: float, seed: int, workers: int = 6):
        self.port = port
        self.rate = rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.next_at = time.monotonic()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(workers)]

    def start(self) -> None:
        if self.rate > 0:
            for thread in self.threads:
                thread.start()

    def claim(self):
        with self.lock:
            self.next_at += self.rng.expovariate(self.rate)
            path = "/checkout" if self.rng.random() < CHECKOUT_SHARE else "/api"
            return self.next_at, path

    def work(self) -> None:
        conn = None
        while not self.stop.is_set():
            at, path = self.claim()
            delay = at - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                return
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", path)
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                self.stop.wait(0.2)


# ----------------------------------------------------------------------------------- recorder


class Recorder:
    """Scrapes `/metrics` once a second and appends `# SCRAPE` blocks to a file."""

    def __init__(self, port: int, path: Path, openmetrics: bool):
        self.port = port
        self.path = path
        self.accept = ("application/openmetrics-text; version=1.0.0" if openmetrics
                       else "text/plain; version=0.0.4")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.work, daemon=True)
        self.scrapes = 0
        self.failures = 0

    def start(self) -> None:
        self.thread.start()

    def scrape(self) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.8)
        try:
            conn.request("GET", "/metrics", headers={"Accept": self.accept})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            return body
        finally:
            conn.close()

    def work(self) -> None:
        began = time.monotonic()
        with open(self.path, "wb") as out:
            tick = 0
            while not self.stop.wait(max(0.0, began + tick - time.monotonic())):
                tick += 1
                at_ms = int(time.time() * 1000)
                try:
                    body = self.scrape()
                    out.write(f"# SCRAPE {at_ms}\n".encode())
                    out.write(body if body.endswith(b"\n") else body + b"\n")
                except (OSError, http.client.HTTPException) as err:
                    message = str(err).replace("\n", " ") or type(err).__name__
                    out.write(f"# SCRAPE {at_ms} error {message}\n".encode())
                    self.failures += 1
                self.scrapes += 1
                out.flush()


# ---------------------------------------------------------------------------------- scenarios


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(version: str, port: int, seed: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, __file__, "app", "--version", version,
                                "--port", str(port), "--seed", str(seed)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"app {version} did not listen on port {port}")


def run_scenario(name: str, out_dir: Path) -> None:
    """Record one scenario into `out_dir`: baseline.rec, canary.rec, watch.txt, expected."""
    scenario = SCENARIOS[name]
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = sum(map(ord, name))
    base_version, base_rate = scenario["base"]
    canary_version, canary_rate = scenario["canary"]
    base_port, canary_port = free_port(), free_port()
    apps = [start_app(base_version, base_port, seed)]
    base_load = LoadGenerator(base_port, base_rate, seed + 1)
    base_rec = Recorder(base_port, out_dir / "baseline.rec", scenario["openmetrics"])
    base_load.start()
    base_rec.start()
    canary_load = canary_rec = None
    try:
        time.sleep(PRE_RELEASE_S)
        apps.append(start_app(canary_version, canary_port, seed + 2))
        canary_load = LoadGenerator(canary_port, canary_rate, seed + 3)
        canary_rec = Recorder(canary_port, out_dir / "canary.rec", scenario["openmetrics"])
        canary_load.start()
        canary_rec.start()
        began = time.monotonic()
        if "restart_at_s" in scenario:
            time.sleep(scenario["restart_at_s"])
            apps[1].kill()
            apps[1].wait()
            time.sleep(scenario["down_s"])
            apps[1] = start_app(canary_version, canary_port, seed + 4)
        time.sleep(max(0.0, scenario["run_s"] - (time.monotonic() - began)))
    finally:
        for worker in (base_load, canary_load, base_rec, canary_rec):
            if worker is not None:
                worker.stop.set()
        for recorder in (base_rec, canary_rec):
            if recorder is not None:
                recorder.thread.join()
        for app in apps:
            app.kill()
            app.wait()
    (out_dir / "watch.txt").write_text(scenario["watch"])
    (out_dir / "expected").write_text(f"{scenario['expected']}\n")
    print(f"{name}: baseline {base_rec.scrapes} scrapes ({base_rec.failures} failed), "
          f"canary {canary_rec.scrapes} scrapes ({canary_rec.failures} failed)", flush=True)


def run_all(names: list[str], out_root: Path) -> int:
    """Record every named scenario in parallel, one process each."""
    began = time.monotonic()
    children = {name: subprocess.Popen([sys.executable, __file__, "scenario", name,
                                        "--out", str(out_root / name)]) for name in names}
    failed = [name for name, child in children.items() if child.wait() != 0]
    print(f"recorded {len(names) - len(failed)} scenarios in {time.monotonic() - began:.0f} s",
          flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    app = commands.add_parser("app", help="serve the demo app")
    app.add_argument("--version", choices=sorted(VERSIONS), default="v1")
    app.add_argument("--port", type=int, default=8080)
    app.add_argument("--seed", type=int, default=1)
    one = commands.add_parser("scenario", help="record one scenario")
    one.add_argument("name", choices=sorted(SCENARIOS))
    one.add_argument("--out", type=Path)
    every = commands.add_parser("all", help="record every scenario in parallel")
    every.add_argument("--only", help="comma-separated scenario names")
    every.add_argument("--out", type=Path, default=SCENARIOS_DIR)
    args = parser.parse_args()
    if args.command == "app":
        run_app(args.version, args.port, args.seed)
        return 0
    if args.command == "scenario":
        run_scenario(args.name, args.out or SCENARIOS_DIR / args.name)
        return 0
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    return run_all(names, args.out)


if __name__ == "__main__":
    sys.exit(main())
