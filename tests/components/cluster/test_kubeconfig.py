"""Kubeconfig server extraction."""

from __future__ import annotations

import pytest

from components.cluster.kubeconfig import api_server
from tests.components.cluster.helpers import kubeconfig

TWO_CLUSTERS = """
clusters:
- {name: a, cluster: {server: "https://a:6443"}}
- {name: b, cluster: {server: "https://b:6443"}}
contexts:
- {name: ctx, context: {cluster: b, user: u}}
current-context: ctx
"""


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (kubeconfig("https://api.acme.example:6443", "t"), "https://api.acme.example:6443"),
        (TWO_CLUSTERS, "https://b:6443"),
        ("clusters:\n- {name: only, cluster: {server: 'https://only'}}\n", "https://only"),
        ("not: [a, kubeconfig", ""),
        ("just a string", ""),
        ("clusters: 3", ""),
        ("", ""),
    ],
)
def test_api_server(document: str, expected: str) -> None:
    assert api_server(document) == expected


def test_fingerprint_is_a_stable_digest_not_the_credential() -> None:
    from components.cluster.kubeconfig import fingerprint

    kubeconfig = "apiVersion: v1\nkind: Config\nusers: [{name: a, user: {token: t0k3n}}]\n"
    digest = fingerprint(kubeconfig)
    assert digest == fingerprint(kubeconfig)
    assert digest != fingerprint(kubeconfig + " ")
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert "t0k3n" not in digest
