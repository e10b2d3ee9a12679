"""Re-encodes a Prometheus text (0.0.4) exposition as OpenMetrics 1.0 with prometheus_client.

Debian's Prometheus 2.42 and node exporter 1.5 ignore `Accept: application/openmetrics-text` and
answer text/plain 0.0.4, so their OpenMetrics captures are made by parsing their real output with
prometheus_client's text parser and writing it with prometheus_client's OpenMetrics encoder.

Usage: python3 reencode_openmetrics.py < in.prom.txt > out.om.txt
"""

import sys

from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families


class Families:
    """A collector-like object holding already-parsed metric families."""

    def __init__(self, families):
        self.families = list(families)

    def collect(self):
        return self.families


def main() -> None:
    families = text_string_to_metric_families(sys.stdin.read())
    sys.stdout.write(generate_latest(Families(families)).decode("utf-8"))


if __name__ == "__main__":
    main()
