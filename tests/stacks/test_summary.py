"""`stacks.summary`: the `summary` stack output, from the config alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_stack_file, parse_tenant
from stacks.summary import hosts_text, mig_layout_text, tenant_summary
from tests.stacks.samples import PRIVATE_KEY, sample

ROOT = Path(__file__).resolve().parents[2]


def _gpu_host(name: str, count: int = 8, model: str = "H100-80GB") -> dict[str, Any]:
    return {
        "name": name,
        "address": f"10.0.2.{len(name)}{count}",
        "role": "worker",
        "ssh": {"user": "ubuntu", "privateKey": PRIVATE_KEY},
        "gpu": {"model": model, "count": count},
    }


def _tenant(**changes: Any) -> dict[str, Any]:
    data = sample("tenant-managed")
    data.update(changes)
    return data


def _with_groups(groups: list[dict[str, Any]], extra_hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """The tenant-managed sample with `groups` as its node groups, and only the hosts
    they use (every worker host must be in a node group)."""
    data = _tenant(nodeGroups=groups)
    used = {name for group in groups for name in group.get("hosts", [])}
    data["hosts"] = [
        host
        for host in [*data["hosts"], *extra_hosts]
        if host["role"] == "control-plane" or host["name"] in used
    ]
    return data


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (
            {"name": "train", "hosts": ["gpu-0"]},
            "host gpu-0; 8x H100-80GB per node (8 GPUs); exclusive",
        ),
        (
            {
                "name": "train",
                "hosts": ["gpu-0", "gpu-1"],
                "sharing": {"mode": "mig", "mig": {"layout": {"1g.10gb": 2, "3g.40gb": 1}}},
            },
            "hosts gpu-0, gpu-1; 8x H100-80GB per node (16 GPUs); "
            "MIG per GPU: 1x 3g.40gb + 2x 1g.10gb",
        ),
        (
            {
                "name": "shared",
                "hosts": ["gpu-1"],
                "sharing": {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
                "team": "ml",
            },
            "host gpu-1; 8x H100-80GB per node (8 GPUs); time-slicing: 4 pods per GPU",
        ),
        (
            {
                "name": "mps",
                "hosts": ["gpu-1"],
                "sharing": {"mode": "mps", "mps": {"replicas": 8}},
                "team": "ml",
            },
            "host gpu-1; 8x H100-80GB per node (8 GPUs); MPS: 8 clients per GPU",
        ),
        (
            {"name": "cpu", "hosts": ["cpu-0"]},
            "host cpu-0; CPU only",
        ),
    ],
    ids=["exclusive", "mig", "time-slicing", "mps", "cpu-only"],
)
def test_inventory_node_group_lines(group: dict[str, Any], expected: str) -> None:
    cpu = {
        "name": "cpu-0",
        "address": "10.0.3.1",
        "role": "worker",
        "ssh": {"user": "u", "privateKey": PRIVATE_KEY},
    }
    data = _with_groups([group], [cpu])
    summary = tenant_summary(parse_tenant(data))
    assert summary["nodeGroups"] == {group["name"]: expected}


def test_mixed_gpu_counts_show_the_range_and_the_total() -> None:
    data = _with_groups(
        [{"name": "mixed", "hosts": ["gpu-0", "gpu-4x"]}], [_gpu_host("gpu-4x", count=4)]
    )
    line = tenant_summary(parse_tenant(data))["nodeGroups"]["mixed"]
    assert line == "hosts gpu-0, gpu-4x; 4-8x H100-80GB per node (12 GPUs); exclusive"


@pytest.mark.parametrize(
    ("flavor", "group", "expected"),
    [
        (
            "ncp-managed",
            "burst",
            "autoscaled 0-4 nodes; 8x H200-141GB per node; exclusive",
        ),
        (
            "isv-managed",
            "serve",
            "autoscaled 1-8 nodes; 2x H100-94GB per node; time-slicing: 4 pods per GPU",
        ),
    ],
)
def test_autoscaled_node_groups_show_min_and_max_nodes(
    flavor: str, group: str, expected: str
) -> None:
    summary = tenant_summary(parse_tenant(sample(flavor)))
    assert summary["nodeGroups"][group] == expected


@pytest.mark.parametrize(
    ("team", "scheduler", "expected"),
    [
        (
            {"name": "ml", "gpuQuota": 8},
            True,
            "namespace ml; quota 8 GPUs per namespace; KAI queue ml",
        ),
        (
            {"name": "research", "namespaces": ["r-a", "r-b"], "gpuQuota": 1},
            True,
            "namespaces r-a, r-b; quota 1 GPU per namespace; KAI queue research",
        ),
        (
            {"name": "ops"},
            True,
            "namespace ops; no GPU quota; KAI queue ops",
        ),
        (
            {"name": "ml", "gpuQuota": 8},
            False,
            "namespace ml; quota 8 GPUs per namespace; no scheduler queue (KAI off)",
        ),
    ],
    ids=["one-namespace", "two-namespaces", "no-quota", "scheduler-off"],
)
def test_team_lines(team: dict[str, Any], scheduler: bool, expected: str) -> None:
    data = _tenant(teams=[team])
    data.setdefault("services", {})["scheduler"] = {"enabled": scheduler}
    summary = tenant_summary(parse_tenant(data))
    assert summary["teams"] == {team["name"]: expected}


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["a"], "host a"),
        (["a", "b"], "hosts a, b"),
        ([f"h-{i}" for i in range(6)], "hosts h-0, h-1, h-2, h-3, h-4, h-5"),
        ([f"h-{i:02}" for i in range(64)], "64 hosts h-00, h-01, h-02, ..., h-63"),
    ],
)
def test_hosts_text(hosts: list[str], expected: str) -> None:
    assert hosts_text(hosts) == expected


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"7g.80gb": 1}, "1x 7g.80gb"),
        ({"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}, "1x 3g.40gb + 1x 2g.20gb + 2x 1g.10gb"),
        ({"1g.10gb+me": 1, "1g.10gb": 6}, "6x 1g.10gb + 1x 1g.10gb+me"),
    ],
)
def test_mig_layout_text(layout: dict[str, int], expected: str) -> None:
    assert mig_layout_text(layout) == expected


def test_dev_example_summary() -> None:
    """What `make preview` shows for the dev tenant."""
    summary = tenant_summary(load_stack_file(ROOT / "Pulumi.dev.yaml"))
    assert summary == {
        "nodeGroups": {
            "train": "host gpu-0; 8x H100-80GB per node (8 GPUs); exclusive",
            "notebooks": "host gpu-1; 8x H100-80GB per node (8 GPUs); "
            "MIG per GPU: 1x 3g.40gb + 1x 2g.20gb + 2x 1g.10gb",
        },
        "teams": {"ml": "namespace ml; quota 16 GPUs per namespace; KAI queue ml"},
    }


@pytest.mark.parametrize("path", sorted(ROOT.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_every_example_has_a_line_per_node_group_and_team(path: Path) -> None:
    config = load_stack_file(path)
    summary = tenant_summary(config)
    assert list(summary["nodeGroups"]) == [g.name for g in config.node_groups]
    assert list(summary["teams"]) == [t.name for t in config.teams]
    assert all(summary["nodeGroups"].values()) and all(summary["teams"].values())


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        (["gpu-1"], "no host in service (failed: gpu-1); 8x H100-80GB per node (0 GPUs)"),
        ([], "host gpu-1; 8x H100-80GB per node (8 GPUs)"),
    ],
)
def test_failed_hosts_are_named_and_not_counted(failed: list[str], expected: str) -> None:
    from pathlib import Path

    from stacks.config.inventory import HostState
    from stacks.config.loader import load_stack_file
    from stacks.summary import node_group_line

    config = load_stack_file(Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml")
    hosts = [
        h.model_copy(update={"state": HostState.FAILED}) if h.name in failed else h
        for h in config.hosts
    ]
    config = config.model_copy(update={"hosts": hosts})
    group = next(g for g in config.node_groups if g.name == "notebooks")
    assert node_group_line(config, group).startswith(expected)
