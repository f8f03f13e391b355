"""Kubeconfig helpers (pure)."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml


def api_server(kubeconfig: str) -> str:
    """The API server URL of the kubeconfig's current context (or its only cluster).

    Returns "" when the document is not a kubeconfig, so a bad value surfaces as a
    failing readiness check instead of an exception inside an apply.
    """
    try:
        doc: Any = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        return ""
    if not isinstance(doc, dict):
        return ""
    clusters = _by_name(doc.get("clusters"), "cluster")
    contexts = _by_name(doc.get("contexts"), "context")
    current = contexts.get(doc.get("current-context"), {})
    cluster = clusters.get(current.get("cluster"))
    if cluster is None and len(clusters) == 1:
        cluster = next(iter(clusters.values()))
    server = (cluster or {}).get("server", "")
    return server if isinstance(server, str) else ""


def _by_name(items: Any, key: str) -> dict[Any, dict[str, Any]]:
    """`[{name, <key>: {...}}]` -> `{name: {...}}`, skipping malformed entries."""
    out: dict[Any, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(key), dict):
            out[item.get("name")] = item[key]
    return out


def fingerprint(kubeconfig: str) -> str:
    """SHA-256 of a kubeconfig, to trigger re-checks when it changes.

    Commands re-run when their `triggers` change; triggering on the kubeconfig
    itself would copy the credential into another property, so they trigger on
    this digest instead (the platform-safety pack rejects credentials outside the
    fields meant for them).
    """
    return "sha256:" + hashlib.sha256(kubeconfig.encode()).hexdigest()
