"""Component tests under Pulumi mocks: names, parents, explicit providers, secrecy.

Every kubernetes resource must use the tenant provider passed in Args, be named
`f"{component}-{suffix}"` and be parented to its component; the NGC key must only ever
reach the engine as a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.gpu import dpu_operator as dpf
from components.gpu import network_operator as no
from components.gpu import nim_operator as nim
from components.mirrors import Mirrors, reset_stack_mirror_list, stack_mirror_list
from tests.support.mocks import RecordingMocks, Registered, Resolved, run
from tests.support.upstream import assert_values_keys_known, validate_custom_resource

MIRRORS = Mirrors(
    chart_repositories={"https://helm.ngc.nvidia.com/nvidia": "https://charts.ncp.internal/nvidia"},
    image_registries={
        "nvcr.io": "registry.ncp.internal/nvcr",
        "ghcr.io": "registry.ncp.internal/ghcr",
    },
)
NGC_KEY = "nvapi-mock-key-never-in-clear"


def tenant_provider() -> k8s.Provider:
    """The tenant cluster's explicit provider (name `tenant`)."""
    return k8s.Provider("tenant", kubeconfig="fake-kubeconfig")


def run_component(
    build: Callable[[k8s.Provider], dict[str, Any]],
) -> tuple[RecordingMocks, dict[str, Resolved]]:
    reset_stack_mirror_list()
    mocks = RecordingMocks()
    outputs = run(lambda: build(tenant_provider()), mocks)
    return mocks, outputs


def kubernetes(mocks: RecordingMocks) -> list[Registered]:
    return [r for r in mocks.resources if r.type.startswith("kubernetes:")]


def named(mocks: RecordingMocks, name: str) -> Registered:
    found = [r for r in mocks.resources if r.name == name]
    assert len(found) == 1, (name, mocks.names())
    return found[0]


def assert_children_wired(mocks: RecordingMocks, component_type: str, component: str) -> None:
    """Every kubernetes resource: named `<component>-*`, child of the component, tenant provider."""
    parent = mocks.one(component_type, component)
    provider = mocks.one("pulumi:providers:kubernetes", "tenant")
    children = kubernetes(mocks)
    assert children
    for child in children:
        assert child.name.startswith(f"{component}-"), child.name
        assert child.parent == parent.urn, f"{child.name} is not parented to {component}"
        assert child.provider_urn == provider.urn, f"{child.name} does not use the tenant provider"


# --------------------------------------------------------------------------- #
# NetworkOperator
# --------------------------------------------------------------------------- #

RAILS = (
    no.RailNetwork("0", "macvlan", ("ens1f0np0",), "10.10.0.0/16"),
    no.RailNetwork("1", "macvlan", ("ens2f0np0",), "10.11.0.0/16"),
)


def test_network_operator_resources():
    def build(provider: k8s.Provider) -> dict[str, Any]:
        component = no.NetworkOperator(
            "acme-network-operator",
            no.NetworkOperatorArgs(provider=provider, mirrors=MIRRORS, rails=RAILS),
        )
        return {
            "networks": component.networks,
            "rdma": component.rdma_resources,
            "ns": component.namespace,
        }

    mocks, outputs = run_component(build)
    assert sorted(r.name for r in kubernetes(mocks)) == sorted(
        [
            "acme-network-operator-namespace",
            "acme-network-operator-release",
            "acme-network-operator-nic-cluster-policy",
            "acme-network-operator-rail-0-pool",
            "acme-network-operator-rail-0-network",
            "acme-network-operator-rail-1-pool",
            "acme-network-operator-rail-1-network",
        ]
    )
    assert_children_wired(mocks, no.TYPE, "acme-network-operator")

    namespace = named(mocks, "acme-network-operator-namespace").inputs["metadata"]
    assert namespace["name"] == "nvidia-network-operator"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"

    release = named(mocks, "acme-network-operator-release").inputs
    assert release["version"] == "26.7.0"
    assert release["repositoryOpts"]["repo"] == "https://charts.ncp.internal/nvidia"
    assert release["namespace"] == "nvidia-network-operator"
    assert_values_keys_known(release["values"], "network-operator/values.yaml")

    policy = named(mocks, "acme-network-operator-nic-cluster-policy")
    assert policy.inputs["metadata"]["name"] == "nic-cluster-policy"
    validate_custom_resource(no.API_VERSION, "NicClusterPolicy", policy.inputs["spec"])
    assert (
        release.get("urn", named(mocks, "acme-network-operator-release").urn) in policy.dependencies
    )

    for rail in ("0", "1"):
        network = named(mocks, f"acme-network-operator-rail-{rail}-network")
        assert network.inputs["kind"] == "MacvlanNetwork"
        assert network.inputs["metadata"] == {"name": f"rail-{rail}"}
        validate_custom_resource(no.API_VERSION, "MacvlanNetwork", network.inputs["spec"])
        pool = named(mocks, f"acme-network-operator-rail-{rail}-pool")
        assert pool.inputs["metadata"] == {
            "name": f"rail-{rail}",
            "namespace": "nvidia-network-operator",
        }
        # Pool after the policy (its CRD comes with nv-ipam), network after its pool.
        assert policy.urn in pool.dependencies
        assert pool.urn in network.dependencies

    assert outputs["networks"].value == {"rail-0": "default/rail-0", "rail-1": "default/rail-1"}
    assert outputs["rdma"].value == {"rail-0": "rdma/rail-0", "rail-1": "rdma/rail-1"}
    assert outputs["ns"].value == "nvidia-network-operator"
    images = {entry.upstream for entry in stack_mirror_list().images}
    assert "nvcr.io/nvidia/mellanox/k8s-rdma-shared-dev-plugin:network-operator-v26.7.0" in images
    assert "nvcr.io/nvidia/cloud-native/network-operator:v26.7.0" in images


# --------------------------------------------------------------------------- #
# DpuOperator
# --------------------------------------------------------------------------- #

BFB = "https://files.ncp.internal/bfb/bf-bundle-2.9.2-31_25.02_ubuntu-22.04_prod.bfb"


def test_dpu_operator_resources():
    def build(provider: k8s.Provider) -> dict[str, Any]:
        component = dpf.DpuOperator(
            "acme-dpu-operator",
            dpf.DpuOperatorArgs(
                provider=provider,
                mirrors=MIRRORS,
                bfb_url=BFB,
                cluster_version="v1.33.4",
                max_nodes=2,
                host_node_labels={"gpu-caas.io/dpu": "true"},
                keepalived=dpf.Keepalived("eno1", "10.0.110.200", 126),
                bfb_storage_class="nfs-rwx",
            ),
        )
        return {"cluster": component.dpu_cluster, "bfb": component.bfb, "set": component.dpu_set}

    mocks, outputs = run_component(build)
    assert_children_wired(mocks, dpf.TYPE, "acme-dpu-operator")
    checks = {
        "acme-dpu-operator-operator-config": (dpf.OPERATOR_API_VERSION, "DPFOperatorConfig"),
        "acme-dpu-operator-dpu-cluster": (dpf.PROVISIONING_API_VERSION, "DPUCluster"),
        "acme-dpu-operator-bfb": (dpf.PROVISIONING_API_VERSION, "BFB"),
        "acme-dpu-operator-flavor": (dpf.PROVISIONING_API_VERSION, "DPUFlavor"),
        "acme-dpu-operator-dpu-set": (dpf.PROVISIONING_API_VERSION, "DPUSet"),
    }
    for name, (api_version, kind) in checks.items():
        inputs = named(mocks, name).inputs
        assert (inputs["apiVersion"], inputs["kind"]) == (api_version, kind)
        assert inputs["metadata"]["namespace"] == "dpf-operator-system"
        validate_custom_resource(api_version, kind, inputs["spec"])

    pvc = named(mocks, "acme-dpu-operator-bfb-pvc").inputs
    assert pvc["metadata"]["name"] == "bfb-pvc"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "nfs-rwx"
    release = named(mocks, "acme-dpu-operator-release").inputs
    assert release["version"] == "v24.10.0-rc.6"

    dpu_set = named(mocks, "acme-dpu-operator-dpu-set")
    for referenced in (
        "acme-dpu-operator-dpu-cluster",
        "acme-dpu-operator-bfb",
        "acme-dpu-operator-flavor",
    ):
        assert named(mocks, referenced).urn in dpu_set.dependencies
    bfb_name = named(mocks, "acme-dpu-operator-bfb").inputs["metadata"]["name"]
    assert dpu_set.inputs["spec"]["dpuTemplate"]["spec"]["bfb"] == {"name": bfb_name}
    assert outputs["bfb"].value == bfb_name
    assert outputs["cluster"].value == "acme-dpu-operator-dpu-cluster"
    assert outputs["set"].value == "acme-dpu-operator-dpu-set"


# --------------------------------------------------------------------------- #
# NimOperator
# --------------------------------------------------------------------------- #

MODELS = (
    nim.NimModel("llama", "nvcr.io/nim/meta/llama-3.1-8b-instruct", "1.3.3", gpus=2),
    nim.NimModel("embed", "nvcr.io/nim/nvidia/nv-embedqa-e5-v5", "1.1.0"),
)


def test_nim_operator_resources_and_secrecy():
    def build(provider: k8s.Provider) -> dict[str, Any]:
        component = nim.NimOperator(
            "acme-nim-operator",
            nim.NimOperatorArgs(
                provider=provider,
                mirrors=MIRRORS,
                ngc_api_key=pulumi.Output.secret(NGC_KEY),
                models=MODELS,
                default_storage_class="nfs-rwx",
            ),
        )
        return {"namespace": component.namespace, "endpoints": component.endpoints}

    mocks, outputs = run_component(build)
    assert_children_wired(mocks, nim.TYPE, "acme-nim-operator")
    assert sorted(r.name for r in kubernetes(mocks)) == sorted(
        [
            "acme-nim-operator-operator-namespace",
            "acme-nim-operator-release",
            "acme-nim-operator-namespace",
            "acme-nim-operator-ngc-api-secret",
            "acme-nim-operator-ngc-pull-secret",
            "acme-nim-operator-llama-cache",
            "acme-nim-operator-llama-service",
            "acme-nim-operator-embed-cache",
            "acme-nim-operator-embed-service",
        ]
    )
    release = named(mocks, "acme-nim-operator-release").inputs
    assert release["version"] == "v3.1.2"
    assert_values_keys_known(release["values"], "k8s-nim-operator/v3.1.2/values.yaml")

    for model in MODELS:
        cache = named(mocks, f"acme-nim-operator-{model.name}-cache")
        service = named(mocks, f"acme-nim-operator-{model.name}-service")
        validate_custom_resource(nim.API_VERSION, "NIMCache", cache.inputs["spec"])
        validate_custom_resource(nim.API_VERSION, "NIMService", service.inputs["spec"])
        assert cache.inputs["spec"]["storage"]["pvc"]["storageClass"] == "nfs-rwx"
        assert service.inputs["spec"]["resources"]["limits"]["nvidia.com/gpu"] == model.gpus
        assert cache.urn in service.dependencies

    # The key reaches the engine only as a secret, and only in the two NGC secrets.
    assert mocks.leaks(NGC_KEY) == []
    api_secret = named(mocks, "acme-nim-operator-ngc-api-secret")
    assert api_secret.inputs["stringData"] == {"NGC_API_KEY": NGC_KEY}
    assert api_secret.is_secret("stringData.NGC_API_KEY")
    assert api_secret.inputs["metadata"]["name"] == "ngc-api-secret"
    pull = named(mocks, "acme-nim-operator-ngc-pull-secret")
    assert pull.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert pull.is_secret("stringData..dockerconfigjson")
    assert (
        json.loads(pull.inputs["stringData"][".dockerconfigjson"])["auths"]["nvcr.io"]["password"]
        == NGC_KEY
    )
    holders = sorted(
        r.name for r in mocks.resources if any(NGC_KEY in json.dumps(r.inputs) for _ in [0])
    )
    assert holders == ["acme-nim-operator-ngc-api-secret", "acme-nim-operator-ngc-pull-secret"]

    assert outputs["namespace"].value == "nim"
    assert outputs["endpoints"].value["llama"] == "http://llama.nim.svc.cluster.local:8000"
    upstream = {entry.upstream for entry in stack_mirror_list().images}
    assert "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3" in upstream


def test_helm_release_refuses_a_missing_provider():
    """The contract the components rely on: no default provider, ever."""
    from components.helm import helm_release
    from components.versions import NETWORK_OPERATOR

    assert NETWORK_OPERATOR.chart is not None
    with pytest.raises(ValueError, match="provider"):
        helm_release(
            "x-release", NETWORK_OPERATOR.chart, {}, "ns", MIRRORS, pulumi.ResourceOptions()
        )
