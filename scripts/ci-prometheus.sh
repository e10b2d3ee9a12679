#!/usr/bin/env bash
# Runs the Prometheus-baseline tests against a real Prometheus server (Debian package
# `prometheus`), installing it first when missing. The test starts and stops its own server on a
# free loopback port; RIPCORD_REQUIRE_PROMETHEUS makes a missing binary a failure, not a skip.
# Usage: scripts/ci-prometheus.sh [--no-install]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ "${1:-}" != "--no-install" ]] && ! command -v prometheus >/dev/null; then
    sudo_cmd=""
    [[ "$(id -u)" -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update
    $sudo_cmd apt-get install -y prometheus
fi
prometheus --version | head -1
cd "$root"
RIPCORD_REQUIRE_PROMETHEUS=1 cargo test -p ripcord-sidecar --lib baseline::
RIPCORD_REQUIRE_PROMETHEUS=1 cargo test -p ripcord-sidecar --test baseline_prometheus -- --nocapture
