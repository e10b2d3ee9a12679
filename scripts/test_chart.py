"""Checks on what charts/ripcord renders: least-privilege RBAC, a webhook that can never block a
deploy, hardened containers, HA, and both TLS modes. Renders with Helm's own engine through
scripts/render-manifests.py, so these tests see exactly what `helm install` would apply.

    python3 -m pytest scripts/test_chart.py
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "render_manifests", Path(__file__).with_name("render-manifests.py")
)
assert _SPEC is not None and _SPEC.loader is not None, "scripts/render-manifests.py is missing"
render_manifests = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = render_manifests
_SPEC.loader.exec_module(render_manifests)

NAMESPACE = render_manifests.NAMESPACE
CONTROLLER_MODE: dict[str, Any] = {}
CERT_MANAGER_MODE = {"tls": {"mode": "cert-manager"}}
EVERY_OPTION = {
    "namespaces": ["shop", "payments"],
    "openFeature": {"enabled": True},
    "flagCredentials": {
        "secretName": "flag-tokens",
        "allowedOrigins": ["https://unleash.example.com", "https://hooks.example.com:8443"],
    },
    "notify": {"slack": {"secretName": "slack-hook", "secretKey": "webhook"}},
    "networkPolicy": {"enabled": True, "metricsFrom": [{"namespaceSelector": {}}]},
    "webhook": {"excludeNamespaces": ["legacy"]},
}
ALL_VALUES = [
    pytest.param(CONTROLLER_MODE, id="controller-tls"),
    pytest.param(CERT_MANAGER_MODE, id="cert-manager-tls"),
    pytest.param(EVERY_OPTION, id="every-option"),
    pytest.param({**EVERY_OPTION, **CERT_MANAGER_MODE}, id="every-option-cert-manager"),
]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's objects for these values."""
    return [document.obj for document in render_manifests.render(values)]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def rules(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every RBAC rule with the name of the role that grants it."""
    return [
        (f"{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}", rule)
        for obj in objects
        if obj["kind"] in ("Role", "ClusterRole")
        for rule in obj.get("rules", [])
    ]


def grants(objects: list[dict[str, Any]], group: str, resource: str) -> list[dict[str, Any]]:
    return [
        rule
        for _, rule in rules(objects)
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
    ]


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def controller(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = pod_spec(objects)["containers"]
    assert [c["name"] for c in containers] == ["controller"]
    return containers[0]


def webhook(objects: list[dict[str, Any]]) -> dict[str, Any]:
    hooks = one(objects, "MutatingWebhookConfiguration")["webhooks"]
    assert len(hooks) == 1, "the chart registers exactly one webhook"
    return hooks[0]


@pytest.mark.parametrize("values", ALL_VALUES)
def test_every_rendered_object_is_valid_kubernetes(values: dict[str, Any]) -> None:
    documents = render_manifests.render(values)
    skipped = render_manifests.validate(documents)
    assert all(name.split("/")[0] in ("Certificate", "Issuer") for name in skipped), skipped


@pytest.mark.parametrize("values", ALL_VALUES)
def test_rbac_names_every_verb_resource_and_group(values: dict[str, Any]) -> None:
    granted = rules(render(values))
    assert granted, "the chart grants nothing"
    for role, rule in granted:
        for field in ("apiGroups", "resources", "verbs"):
            assert rule.get(field), f"{role}: a rule without {field}: {rule}"
            assert not any("*" in item for item in rule[field]), f"{role}: wildcard in {rule}"
        assert "nonResourceURLs" not in rule, f"{role}: {rule}"


@pytest.mark.parametrize("values", ALL_VALUES)
def test_secrets_are_reachable_only_by_name_and_never_listed(values: dict[str, Any]) -> None:
    objects = render(values)
    for rule in grants(objects, "", "secrets"):
        assert not {"list", "watch", "create"} & set(rule["verbs"]), rule
        assert rule.get("resourceNames"), f"secrets granted without resourceNames: {rule}"
    cluster_roles = [obj for obj in objects if obj["kind"] == "ClusterRole"]
    for role in cluster_roles:
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"], f"cluster-wide secrets access: {rule}"


@pytest.mark.parametrize("values", ALL_VALUES)
def test_the_controller_may_write_only_what_it_acts_on(values: dict[str, Any]) -> None:
    writable = {
        (group, resource)
        for _, rule in rules(render(values))
        if WRITE_VERBS & set(rule["verbs"])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    allowed = {
        ("apps", "deployments"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("ripcord.dev", "releasechecks"),
        ("ripcord.dev", "releasechecks/status"),
        ("authentication.k8s.io", "tokenreviews"),
        ("coordination.k8s.io", "leases"),
        ("", "secrets"),
        ("", "configmaps"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
        ("core.openfeature.dev", "featureflags"),
    }
    assert writable <= allowed, writable - allowed
    for rule in grants(render(values), "apps", "deployments"):
        assert set(rule["verbs"]) == {"get", "list", "watch", "patch"}, rule
    for kind in ("pods", "replicasets"):
        for rule in grants(render(values), "apps" if kind == "replicasets" else "", kind):
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule


def test_only_the_lease_is_created_without_a_name() -> None:
    objects = render(EVERY_OPTION)
    for role, rule in rules(objects):
        if "create" in rule["verbs"] and "resourceNames" not in rule:
            assert rule["resources"] in (
                ["leases"],
                ["tokenreviews"],
                ["events"],
                ["releasechecks"],
                ["configmaps"],
            ), f"{role}: unnamed create on {rule['resources']}"
    lease_rules = [r for r in grants(objects, "coordination.k8s.io", "leases") if "patch" in r["verbs"]]
    assert [r["resourceNames"] for r in lease_rules] == [["ripcord-controller"]]


@pytest.mark.parametrize("values", ALL_VALUES)
def test_snapshot_config_maps_are_reachable_only_in_the_controllers_namespace(
    values: dict[str, Any],
) -> None:
    objects = render(values)
    granted = [(role, rule) for role, rule in rules(objects) if "configmaps" in rule["resources"]]
    assert len(granted) == 1, granted
    role, rule = granted[0]
    kind, namespace, _ = role.split("/", 2)
    assert (kind, namespace) == ("Role", "ripcord"), f"configmaps granted by {role}"
    assert set(rule["verbs"]) == {"create", "get", "list", "delete"}, rule


def test_feature_flags_are_granted_only_when_enabled() -> None:
    assert grants(render(CONTROLLER_MODE), "core.openfeature.dev", "featureflags") == []
    enabled = grants(render(EVERY_OPTION), "core.openfeature.dev", "featureflags")
    assert enabled and all(set(rule["verbs"]) == {"get", "patch"} for rule in enabled)


def test_watched_namespaces_get_roles_instead_of_cluster_wide_workload_access() -> None:
    objects = render(EVERY_OPTION)
    for cluster_role in of_kind(objects, "ClusterRole"):
        resources = {res for rule in cluster_role["rules"] for res in rule["resources"]}
        assert resources <= {"tokenreviews", "mutatingwebhookconfigurations"}, resources
    workload_roles = [
        role
        for role in of_kind(objects, "Role")
        if any("deployments" in rule["resources"] for rule in role["rules"])
    ]
    assert sorted(role["metadata"]["namespace"] for role in workload_roles) == ["payments", "shop"]
    bound = {
        (b["metadata"]["namespace"], b["roleRef"]["name"]) for b in of_kind(objects, "RoleBinding")
    }
    for role in workload_roles:
        assert (role["metadata"]["namespace"], role["metadata"]["name"]) in bound
    assert "--namespaces=shop,payments" in controller(objects)["args"]
    selected = [
        expr
        for expr in webhook(objects)["namespaceSelector"]["matchExpressions"]
        if expr["operator"] == "In"
    ]
    assert [sorted(expr["values"]) for expr in selected] == [["payments", "shop"]]


@pytest.mark.parametrize("values", ALL_VALUES)
def test_the_webhook_can_never_block_a_deploy(values: dict[str, Any]) -> None:
    hook = webhook(render(values))
    assert hook["failurePolicy"] == "Ignore"
    assert 1 <= hook["timeoutSeconds"] <= 2
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["objectSelector"] == {"matchLabels": {"ripcord.dev/enabled": "true"}}
    excluded = [
        expr["values"]
        for expr in hook["namespaceSelector"]["matchExpressions"]
        if expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "NotIn"
    ]
    assert len(excluded) == 1 and {NAMESPACE, "kube-system"} <= set(excluded[0]), excluded
    assert hook["clientConfig"]["service"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("timeout", [0, 3, 10])
def test_a_longer_webhook_timeout_is_refused(timeout: int) -> None:
    with pytest.raises(render_manifests.RenderError, match="timeoutSeconds"):
        render({"webhook": {"timeoutSeconds": timeout}})


def test_an_unknown_tls_mode_is_refused() -> None:
    with pytest.raises(render_manifests.RenderError, match="tls.mode"):
        render({"tls": {"mode": "self-signed"}})


def test_controller_tls_mode_patches_only_its_own_webhook() -> None:
    objects = render(CONTROLLER_MODE)
    config = one(objects, "MutatingWebhookConfiguration")
    assert not webhook(objects)["clientConfig"].get("caBundle")
    assert "cert-manager.io/inject-ca-from" not in config["metadata"].get("annotations", {})
    webhook_rules = grants(objects, "admissionregistration.k8s.io", "mutatingwebhookconfigurations")
    assert [(r["resourceNames"], set(r["verbs"])) for r in webhook_rules] == [
        ([config["metadata"]["name"]], {"get", "patch"})
    ]
    assert "--tls-mode=controller" in controller(objects)["args"]
    tls_secret = one(objects, "Secret")
    assert "data" not in tls_secret and "stringData" not in tls_secret, "upgrades must keep the CA"
    secret_rules = grants(objects, "", "secrets")
    assert [r["resourceNames"] for r in secret_rules] == [[tls_secret["metadata"]["name"]]]


def test_cert_manager_mode_injects_the_ca_and_grants_no_caBundle_patch() -> None:
    objects = render(CERT_MANAGER_MODE)
    config = one(objects, "MutatingWebhookConfiguration")
    inject_from = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert not webhook(objects)["clientConfig"].get("caBundle")
    assert grants(objects, "admissionregistration.k8s.io", "mutatingwebhookconfigurations") == []
    assert grants(objects, "", "secrets") == [], "cert-manager mode needs no Secret access"
    assert of_kind(objects, "Secret") == []
    certificates = {
        f"{c['metadata']['namespace']}/{c['metadata']['name']}": c
        for c in of_kind(objects, "Certificate")
    }
    serving = certificates[inject_from]
    service = one(objects, "Service")["metadata"]["name"]
    assert f"{service}.{NAMESPACE}.svc" in serving["spec"]["dnsNames"]
    mounted = {
        v["secret"]["secretName"] for v in pod_spec(objects)["volumes"] if "secret" in v
    }
    assert serving["spec"]["secretName"] in mounted
    assert "--tls-mode=cert-manager" in controller(objects)["args"]
    issuers = {i["metadata"]["name"] for i in of_kind(objects, "Issuer")}
    assert serving["spec"]["issuerRef"]["name"] in issuers


def test_cert_manager_mode_uses_a_given_issuer() -> None:
    issuer = {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    objects = render({"tls": {"mode": "cert-manager", "certManager": {"issuerRef": issuer}}})
    assert of_kind(objects, "Issuer") == []
    assert [c["spec"]["issuerRef"] for c in of_kind(objects, "Certificate")] == [issuer]


@pytest.mark.parametrize("values", ALL_VALUES)
def test_every_container_is_hardened(values: dict[str, Any]) -> None:
    spec = pod_spec(render(values))
    assert spec["securityContext"]["runAsNonRoot"] is True
    containers = spec["containers"] + spec.get("initContainers", [])
    for container in containers:
        context = container.get("securityContext")
        assert context, f"container {container['name']} has no securityContext"
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "add" not in context["capabilities"]
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    for volume in spec["volumes"]:
        assert "hostPath" not in volume, volume


@pytest.mark.parametrize("values", ALL_VALUES)
def test_two_replicas_spread_and_a_disruption_budget(values: dict[str, Any]) -> None:
    objects = render(values)
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    anti = pod_spec(objects)["affinity"]["podAntiAffinity"]
    preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = one(objects, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_a_single_replica_gets_no_budget_that_would_block_drains() -> None:
    objects = render({"replicaCount": 1})
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    assert of_kind(objects, "PodDisruptionBudget") == []


def test_the_controller_command_line_and_probes() -> None:
    objects = render(CONTROLLER_MODE)
    container = controller(objects)
    args = container["args"]
    assert args[0] == "run"
    assert "--webhook-listen=0.0.0.0:8443" in args
    assert "--metrics-listen=0.0.0.0:9090" in args
    assert f"--leader-election-namespace={NAMESPACE}" in args
    assert "--lease-name=ripcord-controller" in args
    assert not any(arg.startswith("--namespaces") for arg in args), "empty watches all"
    assert not any(arg.startswith("--flag-credentials-dir") for arg in args)
    assert not any(arg.startswith("--flag-allowed-origins") for arg in args), "none by default"
    sidecar = [arg for arg in args if arg.startswith("--sidecar-image=")]
    assert re.fullmatch(r"--sidecar-image=\S+/ripcord-sidecar:\S+", sidecar[0]), sidecar
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"https": 8443, "metrics": 9090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    service_ports = {p["name"]: p["port"] for p in one(objects, "Service")["spec"]["ports"]}
    assert service_ports == {"https": 8443, "metrics": 9090}
    assert one(objects, "Service")["metadata"]["name"] == "ripcord-controller"


def test_the_sidecar_pull_policy_is_passed_only_when_set() -> None:
    args = controller(render(CONTROLLER_MODE))["args"]
    assert not any(arg.startswith("--sidecar-image-pull-policy") for arg in args), args
    args = controller(render({"sidecar": {"image": {"pullPolicy": "Never"}}}))["args"]
    assert "--sidecar-image-pull-policy=Never" in args, args


def test_credentials_are_mounted_read_only_and_never_from_the_workload() -> None:
    objects = render(EVERY_OPTION)
    container = controller(objects)
    assert "--flag-credentials-dir=/etc/ripcord/credentials" in container["args"]
    allowed = "--flag-allowed-origins=https://unleash.example.com,https://hooks.example.com:8443"
    assert allowed in container["args"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    credentials = mounts["/etc/ripcord/credentials"]
    assert credentials["readOnly"] is True
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes[credentials["name"]]["secret"]["secretName"] == "flag-tokens"
    slack = {e["name"]: e for e in container["env"]}["RIPCORD_SLACK_WEBHOOK_URL"]
    assert slack["valueFrom"]["secretKeyRef"] == {"name": "slack-hook", "key": "webhook"}
    credential_rules = [r for r in grants(objects, "", "secrets") if r["resourceNames"] == ["flag-tokens"]]
    assert [r["verbs"] for r in credential_rules] == [["get"]]


def test_the_network_policy_admits_only_the_two_ports() -> None:
    policy = one(render(EVERY_OPTION), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert sorted(ports) == ["https", "metrics"]
    assert of_kind(render(CONTROLLER_MODE), "NetworkPolicy") == []


def test_every_value_is_documented() -> None:
    """Each key of values.yaml has a comment right above it, unless it only groups documented
    keys; keys inside a documented key's default (a securityContext, say) need none."""
    lines = (render_manifests.CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    documented_above: list[int] = []  # indents of documented keys enclosing this line
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][\w.-]*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3).strip()
        documented_above = [i for i in documented_above if i < indent]
        if documented_above:
            continue
        previous = next((p for p in reversed(lines[:number]) if p.strip()), "")
        if previous.strip().startswith("#"):
            documented_above.append(indent)
        elif rest:
            undocumented.append(f"line {number + 1}: {key}")
    assert not undocumented, f"values without a comment: {undocumented}"


def test_the_committed_manifests_are_the_chart_rendered() -> None:
    for variant in render_manifests.VARIANTS:
        text, _ = render_manifests.build(variant)
        committed = (render_manifests.MANIFESTS / variant.file).read_text()
        assert committed == text, f"manifests/{variant.file} drifted; run scripts/render-manifests.py"


def test_the_example_is_valid_and_watched() -> None:
    path = render_manifests.MANIFESTS / "examples" / "checkout-deployment.yaml"
    documents = render_manifests.split_documents(path.name, path.read_text())
    assert render_manifests.validate(documents) == []
    deployment = one([d.obj for d in documents], "Deployment")
    template = deployment["spec"]["template"]["metadata"]
    assert deployment["metadata"]["labels"]["ripcord.dev/enabled"] == "true"
    assert template["labels"]["ripcord.dev/enabled"] == "true"
    annotations = template["annotations"]
    assert annotations["ripcord.dev/on-regression"] == "flag, rollback"
    assert annotations["ripcord.dev/flag"].startswith("openfeature://")
    readme = (render_manifests.ROOT / "README.md").read_text()
    documented = re.search(r"## Watching a Deployment.*?```text\n(.*?)```", readme, re.DOTALL)
    assert documented, "the README lost its watch-spec example"

    def words(text: str) -> list[list[str]]:
        return [line.split() for line in text.splitlines() if line.strip()]

    assert words(annotations["ripcord.dev/watch"]) == words(documented.group(1))
