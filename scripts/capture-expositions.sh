#!/usr/bin/env bash
# Captures real expositions into testdata/expo/ from real producers, each in Prometheus text
# (0.0.4) and OpenMetrics (1.0): the Prometheus server's own /metrics, node exporter's /metrics and
# a small Python prometheus_client app (testdata/expo/producer.py).
#
# Installs what it needs (Debian: prometheus, prometheus-node-exporter, curl; PyPI: prometheus_client),
# runs each producer on a loopback port, and stops exactly the processes it started.
# Usage: scripts/capture-expositions.sh [--no-install]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/testdata/expo"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [[ "${1:-}" != "--no-install" ]]; then
  if ! command -v prometheus >/dev/null || ! command -v prometheus-node-exporter >/dev/null \
    || ! command -v curl >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-node-exporter curl
  fi
  python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install -q prometheus_client
fi

prom_port=19090 node_port=19100 py_port=19200
openmetrics='application/openmetrics-text; version=1.0.0'
prometheus_text='text/plain; version=0.0.4'

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs: [{ targets: ["127.0.0.1:$prom_port"] }]
  - job_name: node
    static_configs: [{ targets: ["127.0.0.1:$node_port"] }]
YAML

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" >"$work/node.log" 2>&1 &
pids+=($!)
python3 "$out/producer.py" "$py_port" >"$work/producer.log" 2>&1 &
pids+=($!)

wait_for() {
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "producer at $1 did not come up" >&2
  return 1
}
for port in $prom_port $node_port $py_port; do wait_for "http://127.0.0.1:$port/metrics"; done
# Let Prometheus scrape a few times so its own metrics (scrape durations, TSDB) are populated.
sleep 5

report() { # file note
  printf '%-28s %8d bytes  %s\n' "$1" "$(wc -c <"$out/$1")" "$2"
}
capture() { # name port accept file
  local headers="$work/$1.headers" type
  curl -fsS -D "$headers" -H "Accept: $3" "http://127.0.0.1:$2/metrics" -o "$out/$4"
  type="$(grep -i '^content-type:' "$headers" | tr -d '\r' | cut -d' ' -f2-)"
  if [[ "$3" == "$openmetrics" && "$type" != application/openmetrics-text* ]]; then
    # Older Go producers ignore the OpenMetrics Accept header: re-encode their real output with
    # prometheus_client's OpenMetrics writer instead (see reencode_openmetrics.py).
    # The Prometheus-text capture made just before is re-encoded, so both files hold the same
    # samples (tests/expo_captures.rs checks that they parse alike).
    python3 "$out/reencode_openmetrics.py" <"$out/${4%.om.txt}.prom.txt" >"$work/reencoded"
    mv "$work/reencoded" "$out/$4"
    report "$4" "served $type; re-encoded as OpenMetrics by prometheus_client"
  else
    report "$4" "served $type"
  fi
}
capture prometheus-text $prom_port "$prometheus_text" prometheus-server.prom.txt
capture prometheus-om $prom_port "$openmetrics" prometheus-server.om.txt
capture node-text $node_port "$prometheus_text" node-exporter.prom.txt
capture node-om $node_port "$openmetrics" node-exporter.om.txt
capture python-text $py_port "$prometheus_text" python-client.prom.txt
capture python-om $py_port "$openmetrics" python-client.om.txt
