"""The platform-safety pack reads the facts gpu-caas' cluster components register.

`NodeGroup` registers `tenant`/`nodeGroup`/`hosts` and `TenantCluster` registers
`tenant`/`kubernetesVersion` as component props (inputs). Here the real components run
under mocks and the pack analyzes exactly what they registered: no labels or outputs
to fall back on, so a violation proves the explicit props are read.
"""

from __future__ import annotations

import pulumi

from components.cluster import (
    ControlPlaneArgs,
    ControlPlaneBackend,
    HostedArgs,
    NodeGroupArgs,
    TenantCluster,
    TenantClusterArgs,
)
from policies.gpu_caas_policies import platform_safety as ps
from tests.components.cluster.helpers import MANAGEMENT_KUBECONFIG, command_outputs, host
from tests.policies.helpers import analyze
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
