"""Naming helpers and well-known label keys."""

from __future__ import annotations

import pytest

from components import naming


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("acme", True),
        ("gpu-0", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("Acme", False),
        ("-acme", False),
        ("acme-", False),
        ("ac_me", False),
        ("", False),
    ],
)
def test_is_dns_label(value: str, ok: bool) -> None:
    assert naming.is_dns_label(value) is ok


def test_names_are_keyed_by_stable_names_not_positions() -> None:
    assert naming.child_name("acme", "k8s") == "acme-k8s"
    assert naming.host_resource_suffix("join", "gpu-0") == "join-gpu-0"
    assert naming.mig_config_name("inference") == "gpu-caas-inference"
    assert naming.sharing_config_name("notebooks") == "gpu-caas-notebooks"
    assert naming.tenant_namespace("acme") == "tenant-acme"


def test_reserved_keys_are_not_in_kubernetes_namespaces() -> None:
    # Kubelets may not self-assign kubernetes.io / k8s.io labels (NodeRestriction).
    for key in naming.RESERVED_LABEL_KEYS:
        prefix = key.split("/")[0]
        assert not prefix.endswith(("kubernetes.io", "k8s.io")), key
    assert naming.LABEL_GPU_CLIQUE == "nvidia.com/gpu.clique"
    assert (naming.GPU_TAINT_KEY, naming.GPU_TAINT_VALUE) == ("nvidia.com/gpu", "present")
