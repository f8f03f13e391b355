"""The platform-safety pack reads the facts gpu-caas' cluster components register.

`NodeGroup` registers `tenant`/`nodeGroup`/`hosts` and `TenantCluster` registers
`tenant`/`kubernetesVersion` as component props (inputs). Here the real components run
under mocks and the pack analyzes exactly what they registered: no labels or outputs
to fall back on, so a violation proves the explicit props are read. A group dedicated
to one team also registers `team`, which the tenant-isolation pack's team rules read.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi

from components.cluster import (
    ControlPlaneArgs,
    ControlPlaneBackend,
    HostedArgs,
    NodeGroupArgs,
    TenantCluster,
    TenantClusterArgs,
)
from components.gpu.gpu_operator import NodeGroupGpu, Sharing, render_device_plugin_config_map
from policies.gpu_caas_policies import platform_safety as ps
from policies.gpu_caas_policies import tenant_isolation as ti
from tests.components.cluster.helpers import MANAGEMENT_KUBECONFIG, command_outputs, host
from tests.policies.helpers import analyze, stack
from tests.policies.helpers import run as run_policy
from tests.support.mocks import RecordingMocks, run

HOSTS_POLICIES = [ps.node_group_ownership, ps.one_group_per_host, ps.kubernetes_version]


def _group(cluster: str, name: str, *hosts: str) -> NodeGroupArgs:
    return NodeGroupArgs(
        cluster_name=cluster,
        group_name=name,
        kubernetes_version="1.34.2",
        hosts=[host(h, f"10.0.1.{i}") for i, h in enumerate(hosts, start=10)],
    )


def _cluster(*groups: NodeGroupArgs, version: str = "1.34.2") -> RecordingMocks:
    mocks = RecordingMocks(command_outputs)

    def program() -> None:
        TenantCluster(
            "acme",
            TenantClusterArgs(
                control_plane=ControlPlaneArgs(
                    cluster_name="acme",
                    kubernetes_version=version,
                    backend=ControlPlaneBackend.HOSTED,
                    hosted=HostedArgs(
                        management_kubeconfig=pulumi.Output.secret(MANAGEMENT_KUBECONFIG),
                        namespace="tenant-acme",
                    ),
                ),
                node_groups=list(groups),
            ),
        )

    run(program, mocks)
    return mocks


def _messages(mocks: RecordingMocks) -> list[str]:
    return [message for _, _, message in analyze(mocks.resources, HOSTS_POLICIES)]


def test_a_consistent_cluster_passes() -> None:
    mocks = _cluster(_group("acme", "train", "gpu-0", "gpu-1"), _group("acme", "infer", "gpu-2"))
    assert mocks.one("gpu-caas:cluster:NodeGroup", "acme-train").inputs == {
        "tenant": "acme",
        "nodeGroup": "train",
        "hosts": ["gpu-0", "gpu-1"],
        "failedHosts": [],
    }
    assert _messages(mocks) == []


def test_a_host_in_two_groups_is_found_from_the_registered_hosts() -> None:
    [message] = _messages(
        _cluster(_group("acme", "train", "gpu-0"), _group("acme", "infer", "gpu-0"))
    )
    assert 'Host "gpu-0" is in NodeGroup "infer" and NodeGroup "train"' in message


def test_a_foreign_group_is_found_from_the_registered_tenant() -> None:
    [message] = _messages(_cluster(_group("globex", "train", "gpu-0")))
    assert 'NodeGroup "train" belongs to tenant "globex", not to this stack\'s tenant "acme"' in (
        message
    )


def test_the_cluster_version_is_read_from_the_registered_props() -> None:
    messages = _messages(_cluster(version="1.33.4"))
    assert any("TenantCluster \"acme\" runs Kubernetes '1.33.4'" in m for m in messages), messages


def test_a_team_dedicated_group_registers_its_team_for_the_tenant_isolation_pack() -> None:
    """`team` is the group's `gpu-caas.io/team` label (set from `nodeGroups[].team` by
    `stacks.compose`); the team rules of tenant-isolation read it."""
    dedicated = replace(_group("acme", "embeddings", "gpu-0"), labels={"gpu-caas.io/team": "a"})
    mocks = _cluster(dedicated, _group("acme", "agents", "gpu-1"))
    assert mocks.one("gpu-caas:cluster:NodeGroup", "acme-embeddings").inputs["team"] == "a"
    assert "team" not in mocks.one("gpu-caas:cluster:NodeGroup", "acme-agents").inputs
    shared = Sharing("time-slicing", 4)
    device_plugin = render_device_plugin_config_map(
        [NodeGroupGpu(name, "H100-80GB", shared) for name in ("embeddings", "agents")]
    )
    resources = [(r.type, r.name, r.inputs) for r in mocks.resources if r.type == ti.NODE_GROUP] + [
        (ti.CONFIG_MAP, "device-plugin-config", {"data": device_plugin})
    ]
    [message] = run_policy(ti.soft_shared_gpus_team, stack(resources))
    assert message.startswith('NodeGroup "agents" shares its GPUs by time-slicing')
