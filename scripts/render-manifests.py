#!/usr/bin/env python3
"""Renders charts/ripcord into the committed install manifests, with the real Helm engine.

Helm itself does the rendering: the PyPI package `helm-python-sdk` binds Helm's Go SDK (a shared
library shipped inside the wheel; no helm binary, no download). Every rendered object is then
validated with `kubernetes-validate` against the Kubernetes 1.33 schemas, strictly (unknown
fields are errors). Objects of kinds the schemas cannot know (the CRDs themselves and
cert-manager's Certificate and Issuer) are named and skipped.

    python3 scripts/render-manifests.py            # (re)write manifests/install*.yaml
    python3 scripts/render-manifests.py --check    # fail when they differ from the chart

scripts/test_chart.py imports this file to render the chart the same way.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "ripcord"
MANIFESTS = ROOT / "manifests"
RELEASE = "ripcord"
NAMESPACE = "ripcord"
KUBERNETES_VERSION = "1.33.0"

# API groups whose kinds are custom resources: no built-in schema exists for them.
CUSTOM_GROUPS = ("cert-manager.io", "ripcord.dev", "core.openfeature.dev")

# Helm's install order (pkg/release/util/kind_sorter.go), so the file applies in the order
# `helm install` creates objects; kinds not listed go last, as in Helm.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]


@dataclass(frozen=True)
class Variant:
    """One committed rendering: a file under manifests/ and the values that produce it."""

    file: str
    values: dict[str, Any]
    summary: str


VARIANTS = [
    Variant("install.yaml", {}, "default values: the controller manages the webhook's TLS"),
    Variant(
        "install-cert-manager.yaml",
        {"tls": {"mode": "cert-manager"}},
        "tls.mode=cert-manager: cert-manager issues the certificate and injects the caBundle",
    ),
]


@dataclass(frozen=True)
class Document:
    """One rendered object: the template it came from, its YAML text and its parsed form."""

    source: str
    text: str
    obj: dict[str, Any]


class RenderError(Exception):
    """The chart failed to lint, render, parse or validate; the message says which and where."""


def split_documents(source: str, manifest: str) -> list[Document]:
    """Splits one template's output into its objects, dropping documents with no object."""
    documents = []
    for text in re.split(r"^---[ \t]*$", manifest, flags=re.MULTILINE):
        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise RenderError(f"{source}: rendered YAML does not parse: {error}") from error
        if obj is None:
            continue
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            raise RenderError(f"{source}: rendered a document that is not a Kubernetes object")
        documents.append(Document(source, text.strip("\n") + "\n", obj))
    return documents


def install_rank(document: Document) -> int:
    """Sort key: Helm's kind order (a stable sort keeps template order within a kind)."""
    kind = document.obj["kind"]
    return INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER)


def lint(values: dict[str, Any]) -> None:
    """Runs `helm lint --strict` for Kubernetes 1.33; a warning or an error fails."""
    report = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBERNETES_VERSION}"
    )
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    problems += [{"path": "chart", "error": e} for e in report.get("errors") or []]
    if problems:
        lines = "\n".join(f"  {p['path']}: {p['error']}" for p in problems)
        raise RenderError(f"helm lint of {CHART} found problems:\n{lines}")


def render(values: dict[str, Any] | None = None) -> list[Document]:
    """Renders the chart's CRDs and templates for release "ripcord" in namespace "ripcord",
    in Helm's install order."""
    values = values or {}
    lint(values)
    with helm.Chart.load(CHART) as chart:
        crds = [(f"{RELEASE}/{crd['filename']}", crd["data"]) for crd in chart.crds]
        try:
            rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmError as error:
            raise RenderError(f"helm could not render {CHART}: {error}") from error
    documents = []
    for source, manifest in crds + sorted(rendered.items()):
        if source.endswith("NOTES.txt"):
            continue
        documents.extend(split_documents(source, manifest))
    return sorted(documents, key=install_rank)


def is_custom(obj: dict[str, Any]) -> bool:
    """True for custom resources, which the built-in schemas cannot describe (a CRD itself is a
    built-in apiextensions object and is validated)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return group in CUSTOM_GROUPS


def validate(documents: list[Document]) -> list[str]:
    """Validates every built-in object strictly against the 1.33 schemas; returns the names of
    the custom objects it skipped."""
    skipped = []
    for document in documents:
        obj = document.obj
        name = f"{obj['kind']}/{obj.get('metadata', {}).get('name', '?')} ({document.source})"
        if is_custom(obj):
            skipped.append(name)
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            raise RenderError(
                f"{name} is not valid Kubernetes {KUBERNETES_VERSION}: {path}: {error.message}"
            ) from error
        except kubernetes_validate.SchemaNotFoundError as error:
            raise RenderError(f"{name}: no Kubernetes {KUBERNETES_VERSION} schema: {error}") from error
    return skipped


def namespace_document() -> Document:
    """The release namespace, which `helm install --create-namespace` would create."""
    text = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"
    return Document("render-manifests.py", text, yaml.safe_load(text))


def to_text(variant: Variant, documents: list[Document]) -> str:
    """The committed file: a header saying where it comes from, then one object per document."""
    header = (
        "# Generated by scripts/render-manifests.py from charts/ripcord; do not edit.\n"
        f"# {variant.summary}.\n"
        f"# Release {RELEASE!r} in namespace {NAMESPACE!r}: kubectl apply --server-side -f this file.\n"
    )
    body = "".join(f"---\n# Source: {d.source}\n{d.text}" for d in documents)
    return header + body


def build(variant: Variant) -> tuple[str, list[str]]:
    """Renders and validates one variant; returns the file's text and the skipped objects."""
    documents = [namespace_document(), *render(variant.values)]
    skipped = validate(documents)
    return to_text(variant, documents), skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="fail when a committed manifest differs from the chart"
    )
    args = parser.parse_args()
    print(f"helm engine {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__})")
    drifted = []
    for variant in VARIANTS:
        try:
            text, skipped = build(variant)
        except RenderError as error:
            print(f"error: {variant.file}: {error}", file=sys.stderr)
            return 1
        objects = text.count("\n---\n") + text.startswith("---\n")
        print(f"{variant.file}: {objects} objects, valid against Kubernetes {KUBERNETES_VERSION}")
        for name in skipped:
            print(f"  not schema-checked (custom kind): {name}")
        path = MANIFESTS / variant.file
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            drifted.append(variant.file)
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"committed/{variant.file}",
                f"rendered/{variant.file}",
            )
            sys.stderr.writelines(list(diff)[:80])
        else:
            path.write_text(text)
            print(f"  wrote {path.relative_to(ROOT)}")
    if drifted:
        print(
            f"error: {', '.join(drifted)} drifted from charts/ripcord; "
            "run `python3 scripts/render-manifests.py` and commit the result",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
