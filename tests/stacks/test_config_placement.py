"""`stacks/config/placement.py`: system capacity per flavor, and the refusal of a stack in
which a platform workload has no node (the message users see)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from components import workloads as wl
from components.placement import CONTROL_PLANE_TOLERATION, GPU_TOLERATION, Toleration
from stacks.__main__ import main
from stacks.config import ConfigError, parse_tenant
from stacks.config.placement import (
    SystemPlacement,
    effective_placement,
    gpu_node_tolerations,
    konnectivity_tolerations,
    placements,
    system_tolerations,
)
from stacks.config.rules import warnings
from tests.stacks.samples import sample

T = "gpu-caas:tenant"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("Pulumi.*.yaml"))
DEDICATED = {"key": "dedicated", "value": "system", "effect": "NoSchedule"}


def _hosted_without_cpu() -> dict[str, Any]:
    raw = sample("ncp-managed")
    raw["hosts"] = [h for h in raw["hosts"] if h["name"] != "sys-0"]
    raw["nodeGroups"] = [g for g in raw["nodeGroups"] if g["name"] != "system"]
    return raw


def _problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_tenant(raw)
    return [(p.path, p.message) for p in error.value.problems]


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [
        ("tenant-managed", SystemPlacement.CONTROL_PLANE),
        ("ncp-managed", SystemPlacement.NODE_GROUP),
        ("isv-managed", SystemPlacement.PROVIDED),
    ],
)
def test_default_placement_per_flavor(flavor, expected):
    assert effective_placement(parse_tenant(sample(flavor))) is expected


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [
        ("tenant-managed", (CONTROL_PLANE_TOLERATION,)),
        ("ncp-managed", ()),  # the CPU group is untainted: nothing to tolerate
        ("isv-managed", ()),
    ],
)
def test_system_tolerations_per_flavor(flavor, expected):
    assert system_tolerations(parse_tenant(sample(flavor))) == expected


def test_every_sample_places_every_workload():
    for flavor in ("tenant-managed", "ncp-managed", "isv-managed"):
        config = parse_tenant(sample(flavor))
        stranded = [p.workload.label for p in placements(config) if not p.placeable]
        assert stranded == [], flavor


def test_hosted_tenant_with_only_gpu_nodes_is_refused_with_the_fix():
    ((path, message),) = _problems(_hosted_without_cpu())
    assert path == f"{T}.systemCapacity.placement"
    assert message.startswith("no node for ")
    for name in (
        "CoreDNS cluster DNS (Deployment)",
        "Kamaji konnectivity agent (DaemonSet)",
        "Kyverno admission controller (Deployment)",
        "KAI scheduler operator, its components and the CRD-upgrade hook (Deployment)",
        "GPU Operator operator and its CRD-upgrade hook (Deployment)",
    ):
        assert name in message
    assert "node group 'train': taint nvidia.com/gpu=present:NoSchedule not tolerated" in message
    assert "the first `pulumi up` would time out" in message
    assert "add a node group of CPU hosts to nodeGroups" in message


def test_hosted_tenant_on_gpu_nodes_is_refused_because_of_coredns():
    raw = _hosted_without_cpu()
    raw["systemCapacity"] = {"placement": "gpu-nodes"}
    ((path, message),) = _problems(raw)
    assert path == f"{T}.systemCapacity.placement"
    assert message.startswith("no node for 1 platform workload(s): CoreDNS cluster DNS")
    assert "Kamaji's CoreDNS tolerates only CriticalAddonsOnly" in message


def test_kubeadm_on_gpu_nodes_is_valid_with_a_warning():
    raw = sample("tenant-managed")
    raw["systemCapacity"] = {"placement": "gpu-nodes"}
    config = parse_tenant(raw)
    assert system_tolerations(config) == (GPU_TOLERATION,)
    found = [w for w in warnings(config) if w.path == f"{T}.systemCapacity.placement"]
    assert len(found) == 1
    assert "can run only on GPU nodes: Kyverno admission controller" in found[0].message
    assert "add a node group of CPU hosts" in found[0].message


def _kubeadm_with_system_group(*taints: dict[str, str]) -> dict[str, Any]:
    raw = sample("tenant-managed")
    raw["hosts"].append({**raw["hosts"][1], "name": "sys-0", "address": "10.0.0.30"})
    del raw["hosts"][-1]["gpu"]
    del raw["hosts"][-1]["topology"]
    raw["nodeGroups"].insert(0, {"name": "system", "hosts": ["sys-0"], "taints": list(taints)})
    return raw


def test_a_tainted_system_group_is_tolerated_exactly():
    config = parse_tenant(_kubeadm_with_system_group(DEDICATED))
    assert effective_placement(config) is SystemPlacement.NODE_GROUP
    assert system_tolerations(config) == (Toleration("dedicated", "Equal", "system", "NoSchedule"),)
    assert all(p.placeable for p in placements(config))
    assert not [w for w in warnings(config) if "systemCapacity" in w.path]


def test_konnectivity_agent_tolerates_its_default_the_gpu_and_the_system_taints():
    raw = sample("ncp-managed")
    raw["nodeGroups"][0]["taints"] = [{"key": "CriticalAddonsOnly", "value": "true"}]
    config = parse_tenant(raw)
    assert all(p.placeable for p in placements(config))
    konnectivity = konnectivity_tolerations(config)
    assert konnectivity == (
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        GPU_TOLERATION.to_k8s(),
        {"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    )
    assert {"operator": "Exists"} not in konnectivity


def test_hosted_system_group_with_a_taint_coredns_cannot_tolerate_is_refused():
    raw = sample("ncp-managed")
    raw["nodeGroups"][0]["taints"] = [DEDICATED]
    ((path, message),) = _problems(raw)
    assert path == f"{T}.systemCapacity.placement"
    assert message.startswith("no node for 1 platform workload(s): CoreDNS cluster DNS")
    assert "node group 'system': taint dedicated=system:NoSchedule not tolerated" in message
    assert "taint it CriticalAddonsOnly=true:NoSchedule" in message


def test_a_no_execute_taint_on_a_group_strands_the_node_exporter():
    raw = _kubeadm_with_system_group({**DEDICATED, "effect": "NoExecute"})
    assert _problems(raw) == [
        (
            f"{T}.nodeGroups[0].taints",
            "kube-prometheus-stack node exporter (DaemonSet) cannot run on node group "
            "'system' (node group 'system': taint dedicated=system:NoExecute not "
            "tolerated), and every node needs it: remove the taint or give it an effect "
            "of PreferNoSchedule",
        )
    ]


def test_gpu_group_taints_reach_the_gpu_agents():
    raw = sample("tenant-managed")
    raw["nodeGroups"][0]["taints"] = [{"key": "team", "value": "a", "effect": "NoSchedule"}]
    config = parse_tenant(raw)
    assert gpu_node_tolerations(config) == (Toleration("team", "Equal", "a", "NoSchedule"),)
    by_label = {p.workload.label: p for p in placements(config)}
    operands = by_label[wl.GPU_OPERANDS.label]
    assert operands.placeable
    assert operands.workload.tolerations[-1] == Toleration("team", "Equal", "a", "NoSchedule")


@pytest.mark.parametrize(
    ("flavor", "system", "path", "message"),
    [
        (
            "ncp-managed",
            {"placement": "control-plane"},
            "systemCapacity.placement",
            "'control-plane' needs backend 'kubeadm'; backend 'hosted' has no control-plane "
            "nodes in the tenant cluster: add a node group without GPUs and use 'node-group'",
        ),
        (
            "tenant-managed",
            {"placement": "provided"},
            "systemCapacity.placement",
            "'provided' needs backend 'external' (an ISV cluster with its own nodes); backend "
            "'kubeadm' has only the nodes this stack creates: use 'node-group' or "
            "'control-plane'",
        ),
        (
            "tenant-managed",
            {"placement": "node-group"},
            "systemCapacity.placement",
            "'node-group' needs a node group without GPUs (CPU hosts): add one to nodeGroups",
        ),
        (
            "ncp-managed",
            {"placement": "node-group", "nodeGroup": "train"},
            "systemCapacity.nodeGroup",
            "node group 'train' has GPUs; the system node group is CPU capacity (a group of "
            "hosts without `gpu`); to run the platform on GPU nodes set placement: gpu-nodes",
        ),
        (
            "ncp-managed",
            {"nodeGroup": "sytem"},
            "systemCapacity.nodeGroup",
            "unknown node group 'sytem'; node groups: system, train, burst",
        ),
        (
            "tenant-managed",
            {"nodeGroup": "train"},
            "systemCapacity.nodeGroup",
            "only applies to placement 'node-group'; remove it",
        ),
        (
            "isv-managed",
            {"placement": "gpu-nodes", "provided": {"taints": [DEDICATED]}},
            "systemCapacity.provided",
            "only applies to placement 'provided'; remove it",
        ),
    ],
)
def test_system_capacity_mistakes_name_the_key(flavor, system, path, message):
    raw = sample(flavor)
    raw["systemCapacity"] = system
    assert _problems(raw) == [(f"{T}.{path}", message)]


def test_external_nodes_with_a_taint_are_tolerated():
    raw = sample("isv-managed")
    raw["systemCapacity"] = {
        "placement": "provided",
        "provided": {"taints": [{"key": "CriticalAddonsOnly", "value": "true"}]},
    }
    config = parse_tenant(raw)
    assert system_tolerations(config) == (
        Toleration("CriticalAddonsOnly", "Equal", "true", "NoSchedule"),
    )
    assert all(p.placeable for p in placements(config))


def test_isv_cluster_with_only_karpenter_gpu_nodes_warns():
    raw = sample("isv-managed")
    raw["systemCapacity"] = {"placement": "gpu-nodes"}
    # The sample's one GPU group is time-sliced, so dedicated to a team (tainted
    # gpu-caas.io/team): controllers need a GPU group shared by every team.
    shared = copy.deepcopy(raw["nodeGroups"][0])
    shared.update(name="batch", sharing={"mode": "exclusive"})
    del shared["team"]
    raw["nodeGroups"].append(shared)
    config = parse_tenant(raw)
    assert all(p.placeable for p in placements(config))
    assert any("can run only on GPU nodes" in w.message for w in warnings(config))


def test_placement_is_not_checked_on_an_otherwise_broken_config():
    raw = _hosted_without_cpu()
    raw["hosts"][0]["role"] = "control-plane"
    paths = [path for path, _ in _problems(raw)]
    assert f"{T}.systemCapacity.placement" not in paths


def test_example_stacks_place_every_workload_and_warn_about_none(capsys):
    assert main(["validate", *map(str, EXAMPLES)]) == 0
    out = capsys.readouterr()
    assert "systemCapacity" not in out.out + out.err


def test_refusal_is_printed_by_validate_with_file_and_key(tmp_path, capsys):
    text = (ROOT / "Pulumi.h100-training.yaml").read_text()
    group = "      - name: system\n"
    assert group in text
    taint = "        taints:\n          - key: dedicated\n            value: system\n"
    broken = text.replace(group, group + taint)
    path = tmp_path / "Pulumi.h100-training.yaml"
    path.write_text(broken)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr()
    line = next(
        line for line in (err.out + err.err).splitlines() if "systemCapacity.placement" in line
    )
    assert f"{path}:" in line
    assert "gpu-caas:tenant.systemCapacity.placement: no node for 1 platform workload(s): " in line


def test_samples_are_not_mutated():
    before = copy.deepcopy(sample("ncp-managed"))
    _hosted_without_cpu()
    assert sample("ncp-managed") == before
