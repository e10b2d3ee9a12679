#!/usr/bin/env bash
# Runs the end-to-end suite (controller/tests/e2e.rs) on a local kind cluster: creates the
# cluster when it is absent, builds the controller and sidecar images, loads them into the
# cluster's nodes, runs the test, and on a failure saves what to look at and says where.
#
#   scripts/e2e-kind.sh                       # cluster "ripcord-e2e", kept afterwards
#   KIND_CLUSTER=dev scripts/e2e-kind.sh      # another cluster (created if absent)
#   KIND_NODE_IMAGE=kindest/node:v1.33.1 scripts/e2e-kind.sh   # a chosen Kubernetes (>= 1.29)
#   RIPCORD_E2E_DELETE=1 scripts/e2e-kind.sh  # delete the cluster at the end, pass or fail
#
# Needs docker (with BuildKit, the default since Docker 23), kind, kubectl, helm and cargo.
# The test talks only to this cluster: KUBECONFIG points at a kubeconfig file written for it
# under target/e2e-kind/, never at your own.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cluster=${KIND_CLUSTER:-ripcord-e2e}
out=target/e2e-kind
mkdir -p "$out"

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "e2e-kind: '$1' is not on the PATH; $2" >&2
        exit 2
    }
}
need docker "see https://docs.docker.com/engine/install/"
need kind "see https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "see https://kubernetes.io/docs/tasks/tools/"
need helm "see https://helm.sh/docs/intro/install/"
need cargo "see https://rustup.rs"
docker info >/dev/null 2>&1 || {
    echo "e2e-kind: docker cannot reach its engine (docker info failed); start it first" >&2
    exit 2
}

step() { printf '\n==> %s\n' "$*"; }

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    step "kind cluster $cluster exists; reusing it"
else
    step "creating kind cluster $cluster"
    kind create cluster --name "$cluster" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 120s
fi
export KUBECONFIG="$PWD/$out/kubeconfig"
kind get kubeconfig --name "$cluster" >"$KUBECONFIG"
kubectl version 2>/dev/null | sed 's/^/    /' || true

if [ "${RIPCORD_E2E_DELETE:-}" = 1 ]; then
    trap 'step "deleting kind cluster $cluster"; kind delete cluster --name "$cluster"' EXIT
fi

# Each image is tagged with its own content digest: an unchanged build keeps its tag (helm
# changes nothing), a changed one gets a new tag, so `helm upgrade` rolls the controller and new
# demo pods get the new sidecar. (Reusing one tag such as :dev would leave the old build running.)
build() {
    local target=$1 name=$2 id
    docker build --target "$target" -t "$name:dev" . >&2 || return 1
    id=$(docker image inspect --format '{{.Id}}' "$name:dev") || return 1
    id=${id#sha256:}
    docker tag "$name:dev" "$name:e2e-${id:0:12}"
    echo "$name:e2e-${id:0:12}"
}
step "building images (the first build compiles everything; later ones are incremental)"
controller_image=$(build controller ripcord-controller)
sidecar_image=$(build sidecar ripcord-sidecar)
echo "    controller: $controller_image"
echo "    sidecar:    $sidecar_image"

step "loading the images into the kind nodes"
kind load docker-image --name "$cluster" "$controller_image" "$sidecar_image"

# Saves what to look at after a failure into $out/<time>/ and prints where.
collect() {
    local dir
    dir="$out/$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$dir"
    kubectl get releasechecks -A -o yaml >"$dir/releasechecks.yaml" 2>&1 || true
    kubectl -n ripcord-system get pods -o wide >"$dir/controller-pods.txt" 2>&1 || true
    kubectl -n ripcord-system logs -l app.kubernetes.io/component=controller --prefix \
        --tail=-1 >"$dir/controller.log" 2>&1 || true
    kubectl -n ripcord-system get events --sort-by=.lastTimestamp >"$dir/controller-events.txt" 2>&1 || true
    kubectl -n ripcord-e2e get deploy,rs,pods -o wide >"$dir/demo-objects.txt" 2>&1 || true
    kubectl -n ripcord-e2e get deploy demo -o yaml >"$dir/demo-deployment.yaml" 2>&1 || true
    kubectl -n ripcord-e2e get pods -o yaml >"$dir/demo-pods.yaml" 2>&1 || true
    kubectl -n ripcord-e2e logs -l app=demo -c ripcord-sidecar --prefix --tail=-1 \
        >"$dir/sidecars.log" 2>&1 || true
    kubectl -n ripcord-e2e get events --sort-by=.lastTimestamp >"$dir/demo-events.txt" 2>&1 || true
    kubectl get mutatingwebhookconfiguration ripcord-controller -o yaml >"$dir/webhook.yaml" 2>&1 || true
    cat >&2 <<EOF

e2e-kind: the test failed. Saved for you in $dir/:
  releasechecks.yaml, controller.log, sidecars.log, demo-events.txt, demo-pods.yaml, webhook.yaml, ...
Look live (the cluster $cluster is kept unless RIPCORD_E2E_DELETE=1):
  export KUBECONFIG=$KUBECONFIG
  kubectl -n ripcord-system logs deploy/ripcord-controller          # one replica; -l app.kubernetes.io/component=controller --prefix for both
  kubectl get rchk -A -o yaml                                       # the ReleaseChecks and their evidence
  kubectl -n ripcord-e2e get events --sort-by=.lastTimestamp        # RegressionDetected, RolledBack, ...
  kubectl -n ripcord-e2e get pods -o wide                           # injected? (an init container ripcord-sidecar)
  kubectl -n ripcord-e2e logs -l app=demo -c ripcord-sidecar --prefix
  kubectl get mutatingwebhookconfiguration ripcord-controller -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | head -c 40
EOF
}

step "running the e2e test"
status=0
RIPCORD_E2E_CONTROLLER_IMAGE=$controller_image RIPCORD_E2E_SIDECAR_IMAGE=$sidecar_image \
    cargo test -p ripcord-controller --test e2e -- --ignored --nocapture || status=$?
if [ "$status" -ne 0 ]; then
    collect
else
    step "e2e passed on kind cluster $cluster"
fi
exit "$status"
