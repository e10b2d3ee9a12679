"""A small prometheus_client app whose /metrics exercises the awkward corners of the text formats.

Counters, a histogram and a summary (with exemplars in OpenMetrics), gauges holding NaN, +Inf and
-Inf, an info and an enum (stateset), and label values holding `}` `,` `"` `\\` and newlines.
Values are fixed so that captures differ only in their `_created` timestamps.

Usage: python3 producer.py PORT   (serves on 127.0.0.1:PORT until killed)
"""

import sys
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    start_http_server,
)

# Label values the parser must give back exactly; tests/expo_captures.rs lists them too.
TRICKY_PATHS = [
    "/plain",
    "/brace}close",
    "/comma,separated",
    'say "hi"',
    "back\\slash",
    "two\nlines",
    "all}of,them\"\\\n",
    "",
]


def build(registry: CollectorRegistry) -> None:
    requests = Counter(
        "http_requests", "Requests served.", ["method", "path", "code"], registry=registry
    )
    for i, path in enumerate(TRICKY_PATHS):
        requests.labels("GET", path, "200").inc(100 + i)
        requests.labels("POST", path, "500").inc(i)
    requests.labels("GET", "/plain", "200").inc(1, exemplar={"trace_id": "4bf92f3577b34da6"})

    latency = Histogram(
        "request_latency_seconds", "Request latency.", ["route"], registry=registry
    )
    for route, base in (("/checkout", 0.02), ("/search,all", 0.2)):
        for k in range(50):
            latency.labels(route).observe(base * (1 + k % 7))
    latency.labels("/checkout").observe(0.3, exemplar={"trace_id": "00f067aa0ba902b7"})

    payload = Summary("payload_bytes", "Payload sizes.", registry=registry)
    for k in range(20):
        payload.observe(512 * (k + 1))

    Gauge("temperature_celsius", "Not measured yet.", registry=registry).set(float("nan"))
    Gauge("capacity_bytes", "Unbounded.", registry=registry).set(float("inf"))
    Gauge("headroom_bytes", "Exhausted.", registry=registry).set(float("-inf"))
    Gauge("queue_depth", "Items queued.", ["queue"], registry=registry).labels("q}1").set(7)

    Info("build", "Build information.", registry=registry).info(
        {"version": "1.2.3", "commit": 'abc"def'}
    )
    Enum(
        "deploy_state", "Deployment state.", states=["idle", "rolling", "done"], registry=registry
    ).state("rolling")


def main() -> None:
    registry = CollectorRegistry()
    build(registry)
    start_http_server(int(sys.argv[1]), addr="127.0.0.1", registry=registry)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
