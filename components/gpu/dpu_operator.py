"""BlueField DPU provisioning with the NVIDIA DOCA Platform Framework (DPF).

What `DpuOperator` creates on the tenant cluster (the DPF "host cluster"):

* namespace `dpf-operator-system` (Pod Security `privileged`: DPF runs host agents that
  flash the DPU and restart the host's NIC drivers);
* a ReadWriteMany PVC `bfb-pvc` where the provisioning controller caches BFB images;
* the `dpf-operator` Helm release;
* the singleton `DPFOperatorConfig` (`dpf_operator_config_spec`);
* a `DPUCluster` (`dpu_cluster_spec`): the Kubernetes control plane the DPUs join
  (Kamaji, created by DPF inside the tenant cluster, or an existing "static" one);
* a `BFB` (`bfb_spec`), a `DPUFlavor` (`dpu_flavor_spec`) and a `DPUSet`
  (`dpu_set_spec`) that flashes every DPU of the selected hosts.

Schema version: every custom resource is validated against the DPF CRDs in
`../shared/crds/doca-platform/`, which are v24.10.0-rc.6 (Dec 2024), the only copy we
have. DPF changed these APIs since (e.g. DPUSet `dpuNodeSelector`, DPFOperatorConfig
`provisioningController.installInterface`, `dpuTemplate.spec.cluster.name`); see
docs/networking-dpu-nim.md. BFB and DPUFlavor specs are immutable (CEL `self ==
oldSelf`), so their names carry a hash of the spec: a change creates a new object and
moves the DPUSet to it instead of failing an in-place update.

Docs: https://docs.nvidia.com/networking/display/dpf2507/ (DPFOperatorConfig,
DPUCluster, DPUSet, DPUFlavor pages; later releases differ as noted above).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s

from components.helm import helm_release
from components.mirrors import Mirrors
from components.naming import POD_SECURITY_PRIVILEGED
from components.versions import DPF, HelmChart

TYPE = "gpu-caas:gpu:DpuOperator"

NAMESPACE = "dpf-operator-system"
"""DPF's namespace; the provisioning controller looks for the BFB PVC there."""
OPERATOR_CONFIG_NAME = "dpfoperatorconfig"
"""DPFOperatorConfig is a singleton: DPF documents that a second instance breaks it."""
BFB_PVC_NAME = "bfb-pvc"

OPERATOR_API_VERSION = "operator.dpu.nvidia.com/v1alpha1"
PROVISIONING_API_VERSION = "provisioning.dpu.nvidia.com/v1alpha1"

ClusterType = Literal["kamaji", "static"]


@dataclass(frozen=True)
class Keepalived:
    """VIP of the Kamaji DPU control plane (`DPUCluster.spec.clusterEndpoint.keepalived`)."""

    interface: str
    vip: str
    virtual_router_id: int
    node_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DpuFlavor:
    """Settings applied to every DPU (`DPUFlavor`); empty keeps the BFB defaults."""

    grub_kernel_parameters: tuple[str, ...] = ()
    sysctl_parameters: tuple[str, ...] = ()
    nvconfig_parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class DpuOperatorArgs:
    """Inputs of `DpuOperator` (built by `stacks/platform_gpu_network.py`)."""

    provider: k8s.Provider
    """The tenant cluster's provider; every resource uses it."""
    mirrors: Mirrors
    bfb_url: str
    """http(s) URL of the BlueField bundle (`.bfb`) to flash."""
    cluster_version: str
    """Kubernetes version of the DPU control plane, e.g. `v1.33.4`."""
    max_nodes: int
    """Upper bound of DPU nodes (at least the number of DPU hosts)."""
    host_node_labels: Mapping[str, str]
    """Labels of the hosts whose DPUs are provisioned (must not be empty)."""
    cluster_type: ClusterType = "kamaji"
    keepalived: Keepalived | None = None
    kubeconfig_secret: str | None = None
    """`static` clusters: Secret in `dpf-operator-system` with the admin kubeconfig."""
    flavor: DpuFlavor = field(default_factory=DpuFlavor)
    drain_hosts: bool = True
    bfb_storage_class: str | None = None
    """Storage class of the BFB cache; must offer ReadWriteMany. None = cluster default."""
    bfb_storage_size: str = "10Gi"
    chart: HelmChart = field(default_factory=lambda: _chart())
    depends_on: tuple[pulumi.Resource, ...] = ()


def _chart() -> HelmChart:
    if DPF.chart is None:  # pragma: no cover - matrix invariant
        raise ValueError("components.versions.DPF has no chart")
    return DPF.chart


# --------------------------------------------------------------------------- #
# Pure helpers
# --------------------------------------------------------------------------- #


def spec_hash(spec: Mapping[str, Any]) -> str:
    """Short stable hash of a spec, for names of immutable objects."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def bfb_file_name(url: str) -> str | None:
    """The `.bfb` file name of a URL, when it is valid for `BFB.spec.fileName`."""
    name = posixpath.basename(urlparse(url).path)
    return name if re.fullmatch(r"[A-Za-z0-9_\-.]+\.bfb", name) else None


def bfb_name(name: str, url: str) -> str:
    """Name of the BFB object: `<component>-bfb-<hash of its spec>`."""
    return f"{name}-bfb-{spec_hash(bfb_spec(url))}"


def flavor_name(name: str, flavor: DpuFlavor) -> str:
    """Name of the DPUFlavor object: `<component>-flavor-<hash of its spec>`."""
    return f"{name}-flavor-{spec_hash(dpu_flavor_spec(flavor))}"


def dpf_operator_config_spec(cluster_type: ClusterType) -> dict[str, Any]:
    """`DPFOperatorConfig` spec (operator.dpu.nvidia.com/v1alpha1, DPF v24.10 schema).

    Only the cluster manager that backs our `DPUCluster` runs; the provisioning
    controller caches BFBs on the PVC this component creates.
    """
    return {
        "provisioningController": {"bfbPVCName": BFB_PVC_NAME},
        "kamajiClusterManager": {"disable": cluster_type != "kamaji"},
        "staticClusterManager": {"disable": cluster_type != "static"},
    }


def dpu_cluster_spec(
    *,
    cluster_type: ClusterType,
    version: str,
    max_nodes: int,
    keepalived: Keepalived | None = None,
    kubeconfig_secret: str | None = None,
) -> dict[str, Any]:
    """`DPUCluster` spec (provisioning.dpu.nvidia.com/v1alpha1)."""
    spec: dict[str, Any] = {"type": cluster_type, "version": version, "maxNodes": max_nodes}
    if keepalived is not None:
        endpoint: dict[str, Any] = {
            "interface": keepalived.interface,
            "vip": keepalived.vip,
            "virtualRouterID": keepalived.virtual_router_id,
        }
        if keepalived.node_selector:
            endpoint["nodeSelector"] = dict(keepalived.node_selector)
        spec["clusterEndpoint"] = {"keepalived": endpoint}
    if kubeconfig_secret is not None:
        spec["kubeconfig"] = kubeconfig_secret
    return spec


def bfb_spec(url: str) -> dict[str, Any]:
    """`BFB` spec: where the provisioning controller downloads the bundle from."""
    spec: dict[str, Any] = {"url": url}
    file_name = bfb_file_name(url)
    if file_name is not None:
        spec["fileName"] = file_name
    return spec


def dpu_flavor_spec(flavor: DpuFlavor) -> dict[str, Any]:
    """`DPUFlavor` spec; sections with no settings are left out (BFB defaults)."""
    spec: dict[str, Any] = {}
    if flavor.grub_kernel_parameters:
        spec["grub"] = {"kernelParameters": list(flavor.grub_kernel_parameters)}
    if flavor.sysctl_parameters:
        spec["sysctl"] = {"parameters": list(flavor.sysctl_parameters)}
    if flavor.nvconfig_parameters:
        # No `device`: the settings apply to every device of the DPU.
        spec["nvconfig"] = [{"parameters": list(flavor.nvconfig_parameters)}]
    return spec


def dpu_set_spec(
    *,
    host_node_labels: Mapping[str, str],
    bfb_name: str,
    flavor_name: str,
    drain_hosts: bool,
) -> dict[str, Any]:
    """`DPUSet` spec: flash the DPUs of the selected hosts, one host at a time.

    A DPU update reboots its host, so the rollout is `RollingUpdate` with one host out of
    service at a time. With `drain_hosts` the host is drained first (DPF uses the
    Maintenance Operator); otherwise the DPU is changed under running workloads.
    """
    if not host_node_labels:
        raise ValueError("host_node_labels must select the DPU hosts (empty selects every node)")
    node_effect: dict[str, Any] = (
        {"drain": {"automaticNodeReboot": True}} if drain_hosts else {"noEffect": True}
    )
    return {
        "nodeSelector": {"matchLabels": dict(host_node_labels)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        "dpuTemplate": {
            "spec": {
                "bfb": {"name": bfb_name},
                "dpuFlavor": flavor_name,
                "nodeEffect": node_effect,
            }
        },
    }


def bfb_pvc_spec(storage_class: str | None, size: str) -> k8s.core.v1.PersistentVolumeClaimSpecArgs:
    """The BFB cache PVC: ReadWriteMany, because the controller and the per-host
    provisioning pods read the same bundle."""
    return k8s.core.v1.PersistentVolumeClaimSpecArgs(
        access_modes=["ReadWriteMany"],
        storage_class_name=storage_class,
        resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
    )


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class DpuOperator(pulumi.ComponentResource):
    """DOCA Platform Framework: operator, DPU control plane and DPU provisioning."""

    namespace: pulumi.Output[str]
    """DPF's namespace."""
    dpu_cluster: pulumi.Output[str]
    """Name of the DPUCluster."""
    bfb: pulumi.Output[str]
    """Name of the BFB object the DPUSet flashes."""
    dpu_set: pulumi.Output[str]
    """Name of the DPUSet."""

    def __init__(
        self, name: str, args: DpuOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        namespace = _create_namespace(name, child)
        pvc = _create_bfb_pvc(name, args, namespace, child)
        release = _create_release(name, args, namespace, child)
        after_release = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[release, pvc])
        )
        _create_operator_config(name, args, after_release)
        cluster = _create_dpu_cluster(name, args, after_release)
        bfb, flavor = _create_bfb_and_flavor(name, args, after_release)
        dpu_set = _create_dpu_set(name, args, [cluster, bfb, flavor], after_release)

        self.namespace = namespace.metadata.name
        self.dpu_cluster = _named(cluster, f"{name}-dpu-cluster")
        self.bfb = _named(bfb, bfb_name(name, args.bfb_url))
        self.dpu_set = _named(dpu_set, f"{name}-dpu-set")
        self.register_outputs(
            {
                "namespace": self.namespace,
                "dpuCluster": self.dpu_cluster,
                "bfb": self.bfb,
                "dpuSet": self.dpu_set,
            }
        )


def _named(resource: pulumi.Resource, name: str) -> pulumi.Output[str]:
    """`name` as an Output that depends on `resource` (known during preview)."""
    return resource.urn.apply(lambda _: name)


def _metadata(name: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NAMESPACE)


def _create_namespace(name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAMESPACE,
            labels=POD_SECURITY_PRIVILEGED,
        ),
        opts=opts,
    )


def _create_bfb_pvc(
    name: str, args: DpuOperatorArgs, namespace: k8s.core.v1.Namespace, opts: pulumi.ResourceOptions
) -> k8s.core.v1.PersistentVolumeClaim:
    return k8s.core.v1.PersistentVolumeClaim(
        f"{name}-bfb-pvc",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=BFB_PVC_NAME,
            namespace=NAMESPACE,
            # With a WaitForFirstConsumer storage class the claim binds only when DPF's
            # controller mounts it, which happens after this resource: do not wait.
            annotations={"pulumi.com/skipAwait": "true"},
        ),
        spec=bfb_pvc_spec(args.bfb_storage_class, args.bfb_storage_size),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace])),
    )


def _create_release(
    name: str, args: DpuOperatorArgs, namespace: k8s.core.v1.Namespace, opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    # No values: there is no DPF values.yaml in ../shared/crds to key-check against, so
    # we keep the chart defaults (see docs/networking-dpu-nim.md for mirroring DPF images).
    return helm_release(
        f"{name}-release",
        args.chart,
        {},
        namespace.metadata.name,
        args.mirrors,
        pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[namespace, *args.depends_on])
        ),
    )


def _create_operator_config(
    name: str, args: DpuOperatorArgs, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        f"{name}-operator-config",
        api_version=OPERATOR_API_VERSION,
        kind="DPFOperatorConfig",
        metadata=_metadata(OPERATOR_CONFIG_NAME),
        spec=dpf_operator_config_spec(args.cluster_type),
        opts=opts,
    )


def _create_dpu_cluster(
    name: str, args: DpuOperatorArgs, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        f"{name}-dpu-cluster",
        api_version=PROVISIONING_API_VERSION,
        kind="DPUCluster",
        metadata=_metadata(f"{name}-dpu-cluster"),
        spec=dpu_cluster_spec(
            cluster_type=args.cluster_type,
            version=args.cluster_version,
            max_nodes=args.max_nodes,
            keepalived=args.keepalived,
            kubeconfig_secret=args.kubeconfig_secret,
        ),
        opts=opts,
    )


def _create_bfb_and_flavor(
    name: str, args: DpuOperatorArgs, opts: pulumi.ResourceOptions
) -> tuple[k8s.apiextensions.CustomResource, k8s.apiextensions.CustomResource]:
    # Both specs are immutable (CEL `self == oldSelf`): the object name carries a hash of
    # the spec, so a change is a replacement (new object first, DPUSet moved, old deleted)
    # rather than an update the API server would reject.
    bfb = bfb_spec(args.bfb_url)
    bfb_resource = k8s.apiextensions.CustomResource(
        f"{name}-bfb",
        api_version=PROVISIONING_API_VERSION,
        kind="BFB",
        metadata=_metadata(bfb_name(name, args.bfb_url)),
        spec=bfb,
        opts=opts,
    )
    flavor = dpu_flavor_spec(args.flavor)
    flavor_resource = k8s.apiextensions.CustomResource(
        f"{name}-flavor",
        api_version=PROVISIONING_API_VERSION,
        kind="DPUFlavor",
        metadata=_metadata(flavor_name(name, args.flavor)),
        spec=flavor,
        opts=opts,
    )
    return bfb_resource, flavor_resource


def _create_dpu_set(
    name: str,
    args: DpuOperatorArgs,
    referenced: list[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    # The DPUs join the DPUCluster and are flashed with the BFB and flavor the set names:
    # all of them must exist first.
    return k8s.apiextensions.CustomResource(
        f"{name}-dpu-set",
        api_version=PROVISIONING_API_VERSION,
        kind="DPUSet",
        metadata=_metadata(f"{name}-dpu-set"),
        spec=dpu_set_spec(
            host_node_labels=args.host_node_labels,
            bfb_name=bfb_name(name, args.bfb_url),
            flavor_name=flavor_name(name, args.flavor),
            drain_hosts=args.drain_hosts,
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=referenced)),
    )
