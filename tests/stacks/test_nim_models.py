"""NIM models in team namespaces, pinned to node groups: config rules, warnings, and
what the platform builds from them (`stacks/config/gpu_network.py`,
`stacks/platform_gpu_network.py`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.gpu import nim_operator
from stacks import compose
from stacks.config import TenantConfig, rules
from stacks.config.errors import key_path
from stacks.config.gpu_network import (
    nim_egress,
    nim_gpu,
    nim_namespace,
    nim_placement_rules,
    nim_warnings,
)
from stacks.platform_gpu_network import placed_nim_models
from tests.stacks.samples import ISOLATION, PRIVATE_KEY

H100 = {"model": "H100-80GB", "count": 8}


def _host(name: str, address: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "address": address,
        "role": extra.pop("role", "worker"),
        "ssh": {"user": "ubuntu", "privateKey": PRIVATE_KEY},
        **extra,
    }


LLAMA: dict[str, Any] = {
    "name": "llama",
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct",
    "tag": "1.8.4",
    "team": "ml",
    "nodeGroup": "infer",
    "memory": "64Gi",
}

BASE: dict[str, Any] = {
    "name": "acme",
    "flavor": "tenant-managed",
    "kubernetes": {"version": "1.34.2"},
    "controlPlane": {"ha": False, "size": "small"},
    "hosts": [
        _host("cp-0", "10.0.0.10", role="control-plane"),
        _host("cpu-0", "10.0.0.20"),
        _host("gpu-0", "10.0.1.10", gpu=H100),
        _host("gpu-1", "10.0.1.11", gpu=H100),
        _host("gpu-2", "10.0.1.12", gpu=H100),
        _host("gpu-3", "10.0.1.13", gpu=H100),
        _host("gpu-4", "10.0.1.14", gpu=H100),
    ],
    "nodeGroups": [
        {"name": "system", "hosts": ["cpu-0"]},
        {"name": "train", "hosts": ["gpu-0"]},
        {"name": "infer", "hosts": ["gpu-1"]},
        {
            "name": "shared",
            "hosts": ["gpu-2"],
            "team": "ml",
            "sharing": {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
        },
        {
            "name": "mig-single",
            "hosts": ["gpu-3"],
            "sharing": {"mode": "mig", "mig": {"layout": {"3g.40gb": 2}}},
        },
        {
            "name": "mig-mixed",
            "hosts": ["gpu-4"],
            "sharing": {"mode": "mig", "mig": {"layout": {"4g.40gb": 1, "3g.40gb": 1}}},
        },
    ],
    "teams": [
        {"name": "ml", "namespaces": ["ml", "ml-eval"], "gpuQuota": 2},
        {"name": "research", "gpuQuota": 8},
    ],
    "isolation": ISOLATION,
    "gpu": {
        "nim": {
            "enabled": True,
            "ngcApiKey": "nvapi-test-key",
            "egressCidrs": ["203.0.113.0/24"],
            "models": [LLAMA],
        }
    },
}


def tenant(
    model: dict[str, Any] | None = None, nim: dict[str, Any] | None = None, **top: Any
) -> TenantConfig:
    """`BASE` with the one model replaced by `LLAMA` updated with `model` (keys set to
    None are dropped), `gpu.nim` updated with `nim` and top-level keys replaced."""
    raw = copy.deepcopy(BASE)
    raw.update(copy.deepcopy(top))
    if model is not None:
        merged = {**LLAMA, **model}
        raw["gpu"]["nim"]["models"] = [{k: v for k, v in merged.items() if v is not None}]
    raw["gpu"]["nim"].update(nim or {})
    raw["gpu"]["nim"] = {k: v for k, v in raw["gpu"]["nim"].items() if v is not None}
    return TenantConfig.model_validate(raw)


def model_path(*parts: str | int) -> str:
    return key_path("gpu", "nim", "models", 0, *parts)


# --------------------------------------------------------------------------- #
# Validation: clean and violating configs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "model",
    [
        {},
        {"namespace": "ml-eval"},
        {"nodeGroup": "train", "gpus": 8},
        {"nodeGroup": "shared", "gpus": 1},
        {"nodeGroup": "mig-single", "gpus": 16},
    ],
    ids=["first-namespace", "named-namespace", "whole-node", "time-sliced", "mig-single"],
)
def test_a_team_model_on_a_fitting_group_is_clean(model: dict[str, Any]) -> None:
    config = tenant(model)
    assert nim_placement_rules(config) == []
    assert rules.check(config) == []


def test_a_tenant_without_teams_keeps_models_in_the_shared_namespace() -> None:
    config = tenant({"team": None}, teams=[], nim={"egressCidrs": None})
    assert nim_placement_rules(config) == []
    assert nim_namespace(config, config.gpu.nim.models[0]) is None
    (model,) = placed_nim_models(config)
    assert model.namespace is None


@pytest.mark.parametrize(
    ("model", "nim", "path", "message"),
    [
        (
            {"team": None},
            None,
            model_path("team"),
            "required: the tenant has teams (ml, research)",
        ),
        ({"team": "mll"}, None, model_path("team"), "did you mean 'ml'?"),
        (
            {"team": None, "namespace": "ml"},
            None,
            [model_path("team"), model_path("namespace")],
            "set `team` too",
        ),
        (
            {"namespace": "research"},
            None,
            model_path("namespace"),
            "is not one of team 'ml''s (ml, ml-eval)",
        ),
        (
            {"nodeGroup": None},
            None,
            model_path("nodeGroup"),
            "required: name the GPU node group the model runs on (train, infer, shared, "
            "mig-single, mig-mixed)",
        ),
        ({"nodeGroup": "infr"}, None, model_path("nodeGroup"), "did you mean 'infer'?"),
        ({"nodeGroup": "system"}, None, model_path("nodeGroup"), "'system' has no GPUs"),
        (
            {"nodeGroup": "mig-mixed"},
            None,
            model_path("nodeGroup"),
            "advertises several MIG resources (nvidia.com/mig-3g.40gb, nvidia.com/mig-4g.40gb)",
        ),
        (
            {"nodeGroup": "infer", "gpus": 9},
            None,
            model_path("gpus"),
            "9 nvidia.com/gpu per replica, but a node of group 'infer' advertises 8",
        ),
        (
            {"nodeGroup": "shared", "gpus": 2},
            None,
            model_path("gpus"),
            "refuses a pod asking for more than one nvidia.com/gpu.shared",
        ),
        (
            {"team": "research", "nodeGroup": "shared"},
            None,
            model_path("nodeGroup"),
            "node group 'shared' belongs to team ml",
        ),
        (
            {},
            {"egressCidrs": None},
            key_path("gpu", "nim", "egressCidrs"),
            "a NetworkPolicy allows addresses, not host names",
        ),
        (
            {},
            {"egressCidrs": None, "httpProxy": "http://proxy.corp.example:3128"},
            key_path("gpu", "nim", "egressCidrs"),
            "list the proxy's address range here",
        ),
        (
            {},
            {"httpProxy": "proxy:3128"},
            key_path("gpu", "nim", "httpProxy"),
            "is not a proxy URL",
        ),
        (
            {},
            {"ingressNamespaces": ["research"]},
            key_path("gpu", "nim", "ingressNamespaces", 0),
            "namespace 'research' belongs to team 'research'",
        ),
    ],
    ids=[
        "team-missing",
        "team-unknown",
        "namespace-without-team",
        "namespace-of-another-team",
        "node-group-missing",
        "node-group-unknown",
        "node-group-without-gpus",
        "mixed-mig",
        "too-many-gpus",
        "shared-more-than-one",
        "dedicated-to-another-team",
        "no-egress",
        "proxy-by-name-without-cidrs",
        "proxy-not-a-url",
        "ingress-from-another-team",
    ],
)
def test_placement_rules(
    model: dict[str, Any], nim: dict[str, Any] | None, path: str | list[str], message: str
) -> None:
    """One problem per row (its last one carries `message`), at the key to change."""
    problems = nim_placement_rules(tenant(model, nim))
    assert [p for p, _ in problems] == (path if isinstance(path, list) else [path]), problems
    assert message in problems[-1][1]


def test_the_global_gpu_check_defers_to_the_node_group() -> None:
    """With a node group, only the group's nodes count (one message, at `gpus`)."""
    problems = rules.check(tenant({"nodeGroup": "infer", "gpus": 9}))
    assert [p.path for p in problems] == [model_path("gpus")]


def test_unresolved_hosts_are_reported_once_not_as_a_gpu_less_group() -> None:
    raw_groups = copy.deepcopy(BASE["nodeGroups"])
    raw_groups[2]["hosts"] = ["gpu-9"]  # infer: a typo
    config = tenant(nodeGroups=raw_groups)
    assert nim_placement_rules(config) == []
    assert any(p.path.startswith(key_path("nodeGroups", 2)) for p in rules.check(config))


# --------------------------------------------------------------------------- #
# Warnings: quota and memory
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"replicas": 2, "gpus": 1}, []),
        (
            {"replicas": 3, "gpus": 1},
            [(model_path("replicas"), "request 3 nvidia.com/gpu (replicas x gpus), more than")],
        ),
        # One time-sliced GPU advertises 4 replicas: gpuQuota 2 -> 8 nvidia.com/gpu.shared.
        ({"nodeGroup": "shared", "replicas": 8, "gpus": 1}, []),
        (
            {"nodeGroup": "shared", "replicas": 9, "gpus": 1},
            [(model_path("replicas"), "gpuQuota 2 GPUs = 8 nvidia.com/gpu.shared")],
        ),
        (
            {"memory": None},
            [(model_path("memory"), "isolation.limitRange.defaultLimitMemory")],
        ),
    ],
    ids=["within-quota", "over-quota", "shared-within", "shared-over", "no-memory"],
)
def test_warnings(model: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    warnings = nim_warnings(tenant(model))
    assert [p for p, _ in warnings] == [p for p, _ in expected]
    for (_, message), (_, part) in zip(warnings, expected, strict=True):
        assert part in message


def test_models_of_one_namespace_add_up_against_its_quota() -> None:
    second = {**LLAMA, "name": "embed"}
    config = tenant(nim={"models": [{**LLAMA, "replicas": 1}, {**second, "replicas": 2}]})
    (warning,) = nim_warnings(config)
    assert warning[0] == key_path("gpu", "nim", "models", 1, "replicas")
    assert "(llama, embed) request 3 nvidia.com/gpu" in warning[1]


# --------------------------------------------------------------------------- #
# What the platform builds
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("nim", "expected"),
    [
        ({}, (("203.0.113.0/24",), 443)),
        ({"egressCidrs": None, "httpProxy": "http://10.0.0.10:3128"}, (("10.0.0.10/32",), 3128)),
        ({"egressCidrs": None, "httpProxy": "https://10.0.0.10"}, (("10.0.0.10/32",), 443)),
        ({"egressCidrs": None, "httpProxy": "http://[2001:db8::1]"}, (("2001:db8::1/128",), 80)),
        (
            {"egressCidrs": ["10.8.0.0/29"], "httpProxy": "http://proxy.corp.example:8080"},
            (("10.8.0.0/29",), 8080),
        ),
    ],
    ids=["cidrs", "proxy-ip", "https-proxy", "ipv6-proxy", "named-proxy-with-cidrs"],
)
def test_nim_egress(nim: dict[str, Any], expected: tuple[tuple[str, ...], int]) -> None:
    assert nim_egress(tenant(nim=nim).gpu.nim) == expected


def test_nim_egress_refuses_what_the_rules_report() -> None:
    with pytest.raises(ValueError, match=r"gpu\.nim\.egressCidrs: the cache jobs"):
        nim_egress(tenant(nim={"egressCidrs": None}).gpu.nim)


@pytest.mark.parametrize(
    ("model", "resource", "per_gpu", "per_node"),
    [
        ({}, "nvidia.com/gpu", 1, 8),
        ({"nodeGroup": "shared"}, "nvidia.com/gpu.shared", 4, 32),
        ({"nodeGroup": "mig-single"}, "nvidia.com/gpu", 2, 16),
    ],
    ids=["exclusive", "time-slicing", "mig-single"],
)
def test_nim_gpu_comes_from_what_the_group_advertises(
    model: dict[str, Any], resource: str, per_gpu: int, per_node: int
) -> None:
    config = tenant(model)
    placed = nim_gpu(config, config.gpu.nim.models[0])
    assert placed is not None
    assert (placed.resource, placed.per_gpu, placed.per_node) == (resource, per_gpu, per_node)


def test_placed_model_is_in_its_team_namespace_on_its_node_group() -> None:
    config = tenant(
        {"nodeGroup": "shared", "namespace": "ml-eval", "cpu": "4"},
        nim={"ingressNamespaces": ["ingress-nginx"]},
    )
    (model,) = placed_nim_models(config)
    assert model.namespace == "ml-eval"
    assert model.node_selector == (("gpu-caas.io/node-group", "shared"),)
    # Exactly the group's taints: the GPU taint and the team taint.
    assert model.tolerations == (
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
        {"key": "gpu-caas.io/team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
    )
    assert model.gpu_resource == "nvidia.com/gpu.shared"
    assert (model.cpu, model.memory) == ("4", "64Gi")
    assert model.clients == ("ml", "ml-eval", "ingress-nginx")
    spec = nim_operator.nim_service_spec(model, compose.mirrors(config))
    assert spec["resources"]["limits"]["nvidia.com/gpu.shared"] == 1
    assert spec["nodeSelector"] == {"gpu-caas.io/node-group": "shared"}
