"""`stacks/config/gpu_quota.py`: one team GPU quota (physical GPUs) as ResourceQuota
lines, KAI queue quotas and capacity warnings, in every sharing mode."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest

from stacks import platform_services
from stacks.config import TenantConfig, parse_tenant
from stacks.config.gpu_quota import (
    cluster_capacity,
    dra_devices_per_gpu,
    kai_queue_quota,
    quota_warnings,
    team_quota,
)
from stacks.config.rules import warnings
from stacks.platform_handle import ClusterHandle
from tests.stacks.samples import sample

GPU = "requests.nvidia.com/gpu"
SHARED = "requests.nvidia.com/gpu.shared"
DRA_GPU = "gpu.nvidia.com.deviceclass.resource.k8s.io/devices"
DRA_MIG = "mig.nvidia.com.deviceclass.resource.k8s.io/devices"
DRA_OFF = {DRA_GPU: 0, DRA_MIG: 0}
DRA_ON = {"operator": {"devicePlugin": False}, "dra": {"enabled": True, "gpuResources": True}}

EXCLUSIVE: dict[str, Any] = {"mode": "exclusive"}
MIG_SINGLE = {"mode": "mig", "mig": {"layout": {"1g.10gb": 7}}}
MIG_MIXED = {"mode": "mig", "mig": {"layout": {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}}}
MIG_3G = {"mode": "mig", "mig": {"layout": {"3g.40gb": 2}}}
TIME_SLICING = {"mode": "time-slicing", "timeSlicing": {"replicas": 4}}
MPS = {"mode": "mps", "mps": {"replicas": 8}}


def tenant(
    group: dict[str, Any] | None = None,
    *,
    train: dict[str, Any] | None = None,
    teams: list[dict[str, Any]] | None = None,
    gpu: dict[str, Any] | None = None,
    hosts: list[dict[str, Any]] | None = None,
) -> TenantConfig:
    """The tenant-managed sample (H100-80GB x 8 per host): node group `train` on gpu-0
    (exclusive unless `train` changes it) and `inference` on gpu-1 (`group` replaces its
    keys, e.g. `{"sharing": ..., "team": ...}`; None: no `inference` group). Teams `ml`
    (quota 2) and `research` (quota 1, two namespaces) unless given."""
    data = sample("tenant-managed")
    data["nodeGroups"][0].update(train or {})
    if group is None:
        del data["nodeGroups"][1]
        data["hosts"] = [h for h in data["hosts"] if h["name"] != "gpu-1"]
    else:
        data["nodeGroups"][1].update(group)
    data["teams"] = teams or [
        {"name": "ml", "gpuQuota": 2},
        {"name": "research", "gpuQuota": 1, "namespaces": ["research", "research-dev"]},
    ]
    if gpu is not None:
        data["gpu"] = gpu
    if hosts is not None:
        data["hosts"].extend(hosts)
    return parse_tenant(data)


def team(config: TenantConfig, name: str) -> Any:
    return next(t for t in config.teams if t.name == name)


@pytest.mark.parametrize(
    ("config", "name", "expected"),
    [
        # Whole GPUs: one line per physical GPU (and DRA lines at 0: DRA publishes none).
        (tenant(None), "ml", {GPU: 2, **DRA_OFF}),
        # MIG single: each instance is an nvidia.com/gpu; the most units per GPU win
        # (7 on inference, 1 on train): a quota of 2 GPUs is 14 instances.
        (tenant({"sharing": MIG_SINGLE}), "ml", {GPU: 14, **DRA_OFF}),
        # MIG mixed: every profile its own line, 2 GPUs' worth of instances each.
        (
            tenant({"sharing": MIG_MIXED}),
            "ml",
            {
                GPU: 2,
                "requests.nvidia.com/mig-1g.10gb": 4,
                "requests.nvidia.com/mig-2g.20gb": 2,
                "requests.nvidia.com/mig-3g.40gb": 2,
                **DRA_OFF,
            },
        ),
        # Time-slicing and MPS: replicas are nvidia.com/gpu.shared, quota x replicas.
        (tenant({"sharing": TIME_SLICING, "team": "ml"}), "ml", {GPU: 2, SHARED: 8, **DRA_OFF}),
        (tenant({"sharing": MPS, "team": "ml"}), "ml", {GPU: 2, SHARED: 16, **DRA_OFF}),
        # A group dedicated to another team: its resource is a 0 line (cannot even ask).
        (tenant({"sharing": MPS, "team": "ml"}), "research", {GPU: 1, SHARED: 0, **DRA_OFF}),
        # Dedicated whole-GPU group: nvidia.com/gpu is still offered by `train`.
        (tenant({"team": "ml", "sharing": EXCLUSIVE}), "research", {GPU: 1, **DRA_OFF}),
        # DRA publishes GPUs (device plugin off): whole GPUs as gpu.nvidia.com devices,
        # MIG GPUs as their instances only (mig.nvidia.com); no device-plugin line.
        (tenant(None, gpu=DRA_ON), "ml", {DRA_GPU: 2, DRA_MIG: 0}),
        (tenant({"sharing": MIG_MIXED}, gpu=DRA_ON), "ml", {DRA_GPU: 2, DRA_MIG: 8}),
        # No gpuQuota: no line, except the 0s of other teams' dedicated groups.
        (tenant(None, teams=[{"name": "ml"}]), "ml", {}),
        (
            tenant(
                {"sharing": TIME_SLICING, "team": "research"},
                teams=[{"name": "ml"}, {"name": "research"}],
            ),
            "ml",
            {SHARED: 0},
        ),
    ],
    ids=[
        "exclusive",
        "mig-single",
        "mig-mixed",
        "time-slicing",
        "mps",
        "dedicated-to-another-team",
        "dedicated-whole-gpus",
        "dra-exclusive",
        "dra-mig",
        "no-quota",
        "no-quota-dedicated-elsewhere",
    ],
)
def test_team_quota(config: TenantConfig, name: str, expected: dict[str, int]) -> None:
    assert team_quota(config, team(config, name)) == expected


@pytest.mark.parametrize(
    ("mig_layout", "device_class", "devices"),
    [
        (None, "gpu.nvidia.com", 1),
        (None, "mig.nvidia.com", 0),
        ({"3g.40gb": 2}, "gpu.nvidia.com", 0),  # a MIG GPU is published as its instances
        ({"3g.40gb": 2}, "mig.nvidia.com", 2),
        ({"1g.10gb": 2, "2g.20gb": 1}, "vendor.example.com", 1),  # unknown: one per GPU
    ],
)
def test_dra_devices_per_gpu(
    mig_layout: dict[str, int] | None, device_class: str, devices: int
) -> None:
    assert dra_devices_per_gpu(mig_layout, device_class) == devices


AUTOSCALED_TS = {
    "name": "burst",
    "autoscale": {
        "maxNodes": 3,
        "gpu": {"model": "H100-80GB", "count": 2},
        "nodeClass": {"group": "karpenter.example", "kind": "NodeClass", "name": "h100"},
    },
    "sharing": TIME_SLICING,
    "team": "ml",
}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # gpu-0's 8 GPUs; gpu-2 is failed, so out of the group's capacity.
        (
            tenant(
                None,
                train={"hosts": ["gpu-0", "gpu-2"]},
                hosts=[
                    {
                        **sample("tenant-managed")["hosts"][2],
                        "name": "gpu-2",
                        "address": "10.0.1.12",
                        "state": "failed",
                    }
                ],
            ),
            {GPU: 8, **DRA_OFF},
        ),
        (
            tenant({"sharing": MIG_MIXED}),
            {
                GPU: 8,
                "requests.nvidia.com/mig-1g.10gb": 16,
                "requests.nvidia.com/mig-2g.20gb": 8,
                "requests.nvidia.com/mig-3g.40gb": 8,
                **DRA_OFF,
            },
        ),
        # MIG single and exclusive add up in nvidia.com/gpu: 8 + 8 x 7.
        (tenant({"sharing": MIG_SINGLE}), {GPU: 64, **DRA_OFF}),
        (tenant({"sharing": MPS, "team": "ml"}), {GPU: 8, SHARED: 64, **DRA_OFF}),
        (tenant({"sharing": MIG_3G}, gpu=DRA_ON), {DRA_GPU: 8, DRA_MIG: 16}),
    ],
    ids=["failed-host", "mig-mixed", "mig-single", "mps", "dra"],
)
def test_cluster_capacity(config: TenantConfig, expected: dict[str, int]) -> None:
    assert cluster_capacity(config) == expected


def test_autoscaled_capacity_is_max_nodes_times_gpus_per_node() -> None:
    data = sample("tenant-managed")
    data["nodeGroups"] = [data["nodeGroups"][0], AUTOSCALED_TS]
    data["hosts"] = [h for h in data["hosts"] if h["name"] != "gpu-1"]
    data["services"] = {"autoscaling": {"enabled": True, "provider": "custom"}}
    data["teams"] = [{"name": "ml", "gpuQuota": 2}]
    # 3 nodes x 2 GPUs x 4 replicas.
    assert cluster_capacity(parse_tenant(data))[SHARED] == 24


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # 2 + 2 x 1 GPUs of 16: nothing to say.
        (tenant({"sharing": MIG_MIXED}), []),
        # One team holding every GPU of a mixed cluster is no overcommit: its MIG lines
        # (16 x 2) are above the MIG slices there are, but bind nothing.
        (tenant({"sharing": MIG_MIXED}, teams=[{"name": "ml", "gpuQuota": 16}]), []),
        # More GPUs than the node groups hold (one namespace: no resource competes).
        (
            tenant(None, teams=[{"name": "ml", "gpuQuota": 9}]),
            [
                "the team GPU quotas add up to 9 physical GPUs (ml: 1 namespace x 9) but "
                "the node groups hold at most 8 GPUs; not every quota can be met at once "
                "(docs/gpu-platform.md#gpu-quotas)"
            ],
        ),
        # 6 + 6 of 16 GPUs fit, but only `train`'s 8 are whole GPUs (`inference` is
        # ml's, time-sliced): both teams' whole-GPU lines compete for them.
        (
            tenant(
                {"sharing": TIME_SLICING, "team": "ml"},
                teams=[{"name": "ml", "gpuQuota": 6}, {"name": "research", "gpuQuota": 6}],
            ),
            [
                "the team GPU quotas let 2 namespaces take 12 `requests.nvidia.com/gpu` "
                "together (ml: 1 namespace x 6, research: 1 namespace x 6, each at most "
                "what there is) but the node groups advertise at most 8; not every quota "
                "can be met at once (docs/gpu-platform.md#gpu-quotas)"
            ],
        ),
        # A line counts at most what there is: min(12, 8) + 1 > 8 (and ml's 48
        # replicas alone bind nothing of the 32 there are).
        (
            tenant(
                {"sharing": TIME_SLICING, "team": "ml"},
                teams=[{"name": "ml", "gpuQuota": 12}, {"name": "research", "gpuQuota": 1}],
            ),
            [
                "the team GPU quotas let 2 namespaces take 9 `requests.nvidia.com/gpu` "
                "together (ml: 1 namespace x 12, research: 1 namespace x 1, each at most "
                "what there is) but the node groups advertise at most 8; not every quota "
                "can be met at once (docs/gpu-platform.md#gpu-quotas)"
            ],
        ),
        # A dedicated group's 0 lines ask for nothing.
        (tenant({"sharing": MPS, "team": "ml"}), []),
    ],
    ids=["fits", "one-team-mixed", "physical", "contention", "capped", "dedicated"],
)
def test_quota_warnings(config: TenantConfig, expected: list[str]) -> None:
    found = quota_warnings(config)
    assert [p.message for p in found] == expected
    assert {p.path for p in found} <= {"gpu-caas:tenant.teams"}


def test_quota_warnings_are_config_warnings() -> None:
    config = tenant(None, teams=[{"name": "ml", "gpuQuota": 9}])
    assert any("9 physical GPUs" in w.message for w in warnings(config))


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (tenant(None), {"ml": 2, "research": 1}),
        # KAI counts single-strategy instances as GPUs, mixed ones by compute slices
        # (3 + 2 + 1 x 2 = 7 per GPU), and time-sliced or MPS replicas not at all.
        (tenant({"sharing": MIG_SINGLE}), {"ml": 14, "research": 7}),
        (tenant({"sharing": MIG_MIXED}), {"ml": 14, "research": 7}),
        (tenant({"sharing": TIME_SLICING, "team": "ml"}), {"ml": 2, "research": 1}),
        (tenant({"sharing": MIG_3G}, gpu=DRA_ON), {"ml": 2, "research": 1}),
        (tenant(None, teams=[{"name": "ml"}]), {"ml": 0}),
    ],
    ids=["exclusive", "mig-single", "mig-mixed", "time-slicing", "dra", "no-quota"],
)
def test_kai_queue_quota(config: TenantConfig, expected: dict[str, int]) -> None:
    """Per team, not per namespace: research's two namespaces share one queue."""
    assert {t.name: kai_queue_quota(config, t) for t in config.teams} == expected


def test_kai_queues_take_the_kai_quota() -> None:
    config = tenant({"sharing": MIG_MIXED})
    handle = ClusterHandle(
        name="acme",
        provider=cast(k8s.Provider, None),
        parent=cast(pulumi.Resource, None),
        kubernetes_version="1.34.2",
    )
    kai = platform_services.kai_args(handle, config)
    assert kai is not None
    assert [(q.name, q.gpu_quota) for q in kai.teams] == [("ml", 14), ("research", 7)]
