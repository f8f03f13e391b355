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
    assert naming.tenant_namespace("acme") == "tenant-acme"


def test_reserved_keys_are_not_in_kubernetes_namespaces() -> None:
    # Kubelets may not self-assign kubernetes.io / k8s.io labels (NodeRestriction).
    for key in naming.RESERVED_LABEL_KEYS:
        prefix = key.split("/")[0]
        assert not prefix.endswith(("kubernetes.io", "k8s.io")), key
    for prefix in naming.RESERVED_LABEL_PREFIXES:
        assert not prefix.rstrip("/").endswith(("kubernetes.io", "k8s.io")), prefix
    assert naming.LABEL_GPU_CLIQUE == "nvidia.com/gpu.clique"
    assert (naming.GPU_TAINT_KEY, naming.GPU_TAINT_VALUE) == ("nvidia.com/gpu", "present")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0", True),
        ("rail-0", True),
        ("Spine_A.2", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("", False),
        ("-rail", False),
        ("rail-", False),
        ("rail_", False),
        (".rail", False),
        ("rail/0", False),
        ("rail 0", False),
    ],
)
def test_is_label_name(value: str, ok: bool) -> None:
    assert naming.is_label_name(value) is ok


@pytest.mark.parametrize(
    ("rail", "key"),
    [
        ("0", "rail.gpu-caas.io/0"),
        ("rail-7", "rail.gpu-caas.io/rail-7"),
        ("Spine_A.2", "rail.gpu-caas.io/Spine_A.2"),
        ("r" * 63, "rail.gpu-caas.io/" + "r" * 63),
    ],
)
def test_rail_label(rail: str, key: str) -> None:
    assert naming.rail_label(rail) == key
    assert naming.is_reserved_label(key)


@pytest.mark.parametrize("rail", ["", "-0", "a/b", "r" * 64])
def test_rail_label_rejects_invalid_rail_ids(rail: str) -> None:
    with pytest.raises(ValueError, match="not a valid label name"):
        naming.rail_label(rail)


@pytest.mark.parametrize(
    ("key", "reserved"),
    [
        ("gpu-caas.io/rack", True),
        ("rail.gpu-caas.io/rail-0", True),
        ("rail.gpu-caas.io/anything", True),
        ("gpu-caas.io/rail", False),  # the old single-rail key is no longer set
        ("rail.gpu-caas.io", False),
        ("example.com/rail.gpu-caas.io", False),
        ("acme.ai/pool", False),
    ],
)
def test_is_reserved_label(key: str, reserved: bool) -> None:
    assert naming.is_reserved_label(key) is reserved


LONG = "n" * 63  # the longest node-group name (a DNS label)


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("inference", "gpu-caas-inference"),
        ("default", "gpu-caas-default"),  # never the operator's own `default`
        ("all-disabled", "gpu-caas-all-disabled"),
        ("n" * 54, "gpu-caas-" + "n" * 54),  # exactly 63 characters: kept
        # Too long for a label value: shortened, with a stable hash of the full name.
        (LONG, "gpu-caas-" + "n" * 45 + "-73dcf996"),
        ("a" * 44 + "-" + "b" * 18, "gpu-caas-" + "a" * 44 + "-89d8f707"),  # no "--"
    ],
)
def test_gpu_config_name(group: str, expected: str) -> None:
    name = naming.gpu_config_name(group)
    assert name == expected
    assert naming.is_dns_label(name)  # <= 63 chars: a valid label value and ConfigMap key


def test_long_names_stay_distinct() -> None:
    assert naming.gpu_config_name(LONG) != naming.gpu_config_name("n" * 62 + "m")


@pytest.mark.parametrize(
    ("group", "mig", "expected"),
    [
        (
            "train",
            False,
            {
                "nvidia.com/device-plugin.config": "gpu-caas-train",
                "nvidia.com/mig.config": "all-disabled",
            },
        ),
        (
            "notebooks",
            True,
            {
                "nvidia.com/device-plugin.config": "gpu-caas-notebooks",
                "nvidia.com/mig.config": "gpu-caas-notebooks",
            },
        ),
    ],
)
def test_gpu_config_labels(group: str, mig: bool, expected: dict[str, str]) -> None:
    assert naming.gpu_config_labels(group, mig=mig) == expected
    assert naming.MIG_CONFIG_DISABLED == "all-disabled"
    assert naming.DEVICE_PLUGIN_CONFIG_DEFAULT == "default"
