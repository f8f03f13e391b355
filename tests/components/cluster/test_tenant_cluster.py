"""`TenantCluster` under mocks: composition, the one tenant provider, explicit providers."""

from __future__ import annotations

import pulumi
import pytest

from components.cluster import (
    ControlPlaneArgs,
    ControlPlaneBackend,
    ExternalArgs,
    HostedArgs,
    KubeadmArgs,
    NodeGroupArgs,
    TenantCluster,
    TenantClusterArgs,
)
from tests.components.cluster.helpers import (
    ISV_KUBECONFIG,
    MANAGEMENT_KUBECONFIG,
    SECRETS,
    TENANT_KUBECONFIG,
    command_outputs,
    host,
)
from tests.support.mocks import RecordingMocks, Registered, run

TC = "gpu-caas:cluster:TenantCluster"
REMOTE = "command:remote:Command"


def _group(name: str, *hosts: tuple[str, str]) -> NodeGroupArgs:
    return NodeGroupArgs(
        cluster_name="acme",
        group_name=name,
        kubernetes_version="1.34.2",
        hosts=[host(n, a, gpu_product="NVIDIA-H100-80GB-HBM3") for n, a in hosts],
        gpu_product="NVIDIA-H100-80GB-HBM3",
    )


def _kubeadm_args() -> TenantClusterArgs:
    return TenantClusterArgs(
        control_plane=ControlPlaneArgs(
            cluster_name="acme",
            kubernetes_version="1.34.2",
            backend=ControlPlaneBackend.KUBEADM,
            kubeadm=KubeadmArgs(hosts=[host("cp-0", "10.0.0.10")], joining_hosts=["cp-0", "gpu-0"]),
        ),
        node_groups=[_group("train", ("gpu-0", "10.0.1.10"))],
    )


def _hosted_args() -> TenantClusterArgs:
    return TenantClusterArgs(
        control_plane=ControlPlaneArgs(
            cluster_name="acme",
            kubernetes_version="1.34.2",
            backend=ControlPlaneBackend.HOSTED,
            hosted=HostedArgs(
                management_kubeconfig=pulumi.Output.secret(MANAGEMENT_KUBECONFIG),
                namespace="tenant-acme",
            ),
        ),
        node_groups=[
            _group("train", ("gpu-0", "10.0.1.10"), ("gpu-1", "10.0.1.11")),
            _group("infer", ("gpu-2", "10.0.1.12")),
        ],
    )


def _external_args() -> TenantClusterArgs:
    return TenantClusterArgs(
        control_plane=ControlPlaneArgs(
            cluster_name="acme",
            kubernetes_version="1.34.2",
            backend=ControlPlaneBackend.EXTERNAL,
            external=ExternalArgs(kubeconfig=pulumi.Output.secret(ISV_KUBECONFIG)),
        ),
    )


def _program(args: TenantClusterArgs):
    def program():
        cluster = TenantCluster("acme", args)
        return {"kubeconfig": cluster.kubeconfig, "endpoint": cluster.api_endpoint}

    return program


def _explicit_providers(mocks: RecordingMocks) -> None:
    """Every custom resource (not providers themselves) names an explicit provider."""
    for resource in mocks.resources:
        if resource.custom and not resource.type.startswith("pulumi:providers:"):
            assert resource.provider, f"{resource.type} {resource.name} uses a default provider"


def _ancestors(mocks: RecordingMocks, resource: Registered) -> list[str]:
    chain = []
    while resource.parent and any(r.urn == resource.parent for r in mocks.resources):
        resource = mocks.by_urn(resource.parent)
        chain.append(resource.name)
    return chain


@pytest.mark.parametrize("factory", [_kubeadm_args, _hosted_args, _external_args])
def test_one_tenant_provider_from_the_control_plane_kubeconfig(factory) -> None:
    mocks = RecordingMocks(command_outputs)
    out = run(_program(factory()), mocks)
    cluster = mocks.one(TC, "acme")
    # Registered props the platform-safety pack reads (tenant, Kubernetes floor).
    assert cluster.inputs == {"tenant": "acme", "kubernetesVersion": "1.34.2"}
    provider = mocks.one("pulumi:providers:kubernetes", "acme-k8s")
    assert provider.parent == cluster.urn
    assert provider.is_secret("kubeconfig")
    assert provider.inputs["clusterIdentifier"] == "gpu-caas/acme"
    # Operator configs are read by name: a data change updates them in place (found
    # live: the default replace deleted the GPU Operator's MIG config first).
    assert provider.inputs["enableConfigMapMutable"] in (True, "true")
    control_plane = mocks.one("gpu-caas:cluster:ControlPlane", "acme-control-plane")
    # depends_on a component is sent as the component's children.
    assert provider.dependencies
    assert all(mocks.by_urn(d).parent == control_plane.urn for d in provider.dependencies)
    assert control_plane.parent == cluster.urn
    commands = mocks.one("pulumi:providers:command", "acme-command")
    for resource in mocks.resources:
        if resource.type.startswith("command:"):
            assert resource.provider_urn == commands.urn, resource.name
        if resource.name != "acme":
            assert "acme" in _ancestors(mocks, resource), resource.name
        assert resource.name == "acme" or resource.name.startswith("acme-"), resource.name
    _explicit_providers(mocks)
    assert out["kubeconfig"].secret
    for secret in SECRETS:
        assert mocks.leaks(secret) == [], secret


def test_kubeadm_workers_join_with_the_control_plane_token() -> None:
    mocks = RecordingMocks(command_outputs)
    run(_program(_kubeadm_args()), mocks)
    assert sorted(mocks.names(REMOTE)) == [
        "acme-control-plane-init",
        "acme-control-plane-join-token",
        "acme-control-plane-upgrade-cp-0",
        "acme-train-join-gpu-0",
        "acme-train-upgrade-gpu-0",
    ]
    join = mocks.one(REMOTE, "acme-train-join-gpu-0")
    token = mocks.one(REMOTE, "acme-control-plane-join-token")
    assert join.parent == mocks.one("gpu-caas:cluster:NodeGroup", "acme-train").urn
    assert token.urn in join.dependencies  # stdin is built from the token output


def test_hosted_workers_mint_a_token_with_the_admin_kubeconfig_on_stdin() -> None:
    mocks = RecordingMocks(command_outputs)
    run(_program(_hosted_args()), mocks)
    token = mocks.one(REMOTE, "acme-join-token")
    assert token.parent == mocks.one(TC, "acme").urn
    assert token.inputs["connection"]["host"] == "10.0.1.10"
    assert token.is_secret("stdin")
    assert token.inputs["stdin"] == TENANT_KUBECONFIG
    assert token.inputs["triggers"] == ["gpu-0", "gpu-1", "gpu-2"]
    assert sorted(mocks.names(REMOTE)) == [
        "acme-infer-join-gpu-2",
        "acme-infer-upgrade-gpu-2",
        "acme-join-token",
        "acme-train-join-gpu-0",
        "acme-train-join-gpu-1",
        "acme-train-upgrade-gpu-0",
        "acme-train-upgrade-gpu-1",
    ]


def test_external_cluster_rejects_host_joins() -> None:
    args = TenantClusterArgs(
        control_plane=_external_args().control_plane,
        node_groups=[_group("train", ("gpu-0", "10.0.1.10"))],
    )
    with pytest.raises(ValueError, match="cannot join an external"):
        run(_program(args), RecordingMocks(command_outputs))
