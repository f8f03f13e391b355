"""DRA driver for NVIDIA GPUs, and ComputeDomains for multi-node NVLink.

Dynamic Resource Allocation (resource.k8s.io/v1, GA in Kubernetes 1.34) lets pods
claim GPUs with `ResourceClaim`s instead of the `nvidia.com/gpu` extended resource.
The NVIDIA driver also runs ComputeDomains: an IMEX domain spanning the nodes of a
multi-node-NVLink rack (GB200 NVL72), so pods on different nodes share GPU memory
over NVLink. https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/dra-cds.html

Children of `DraDriver`:

* `{name}-namespace` - Pod Security `privileged` (the kubelet plugin is privileged);
* `{name}-release` - chart `dra-driver-nvidia-gpu` (values from `render_dra_driver_values`);
* `{name}-cd-{domain}` - one `ComputeDomain` (resource.nvidia.com/v1beta1) per
  configured domain, spec from `render_compute_domain_spec`.

The GPU Operator keeps running the device plugin: `gpu_resources` (publishing GPUs
as DRA devices) is opt-in because a node advertising GPUs both ways can over-admit
pods (AICR recipes/components/nvidia-dra-driver-gpu/values.yaml explains the same).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components import workloads as wl
from components.helm import helm_release
from components.mirrors import Mirrors
from components.naming import POD_SECURITY_PRIVILEGED
from components.placement import apply_tolerations, parse_tolerations, values_tolerations
from components.versions import HelmChart

TYPE = "gpu-caas:gpu:DraDriver"

NAMESPACE = "nvidia-dra-driver-gpu"
COMPUTE_DOMAIN_API_VERSION = "resource.nvidia.com/v1beta1"
COMPUTE_DOMAIN_REPLACE_ON_CHANGES: tuple[str, ...] = ("spec",)
"""Fields of a ComputeDomain the API server refuses to update (the CRD's CEL rules,
checked by tests/components/test_immutable_fields.py): a change replaces it."""
_IMAGE = "registry.k8s.io/dra-driver-nvidia/dra-driver-nvidia-gpu"
GPU_OPERATOR_DRIVER_ROOT = "/run/nvidia/driver"
"""Where the GPU Operator's driver container exposes the driver on the host."""
HOST_DRIVER_ROOT = "/"


@dataclass(frozen=True)
class ComputeDomain:
    """One ComputeDomain to create."""

    name: str
    """Name of the ComputeDomain and of the ResourceClaimTemplate workloads reference."""
    namespace: str
    allocation_mode: str = "Single"
    """`Single` (one IMEX channel) or `All` (every channel of the domain)."""
    num_nodes: int = 0
    """Deprecated upstream; 0 lets IMEX daemons start as nodes join."""


@dataclass(frozen=True)
class DraDriverSettings:
    """Everything that shapes the DRA driver's values and ComputeDomains (pure data)."""

    chart: HelmChart = field(default_factory=lambda: versions.DRA_DRIVER.helm)
    gpu_resources: bool = False
    compute_domains: bool = False
    driver_root: str = GPU_OPERATOR_DRIVER_ROOT
    """`/run/nvidia/driver` with the GPU Operator's driver container, `/` for a host driver."""
    control_plane_nodes: bool = True
    """False for hosted (Kamaji) or managed control planes: the chart's default
    controller affinity requires a control-plane node and would leave it Pending."""
    domains: tuple[ComputeDomain, ...] = ()


@dataclass(frozen=True)
class DraDriverArgs:
    """Inputs of `DraDriver`."""

    provider: k8s.Provider
    """The tenant cluster's provider; every child uses it."""
    mirrors: Mirrors
    settings: DraDriverSettings = field(default_factory=DraDriverSettings)
    namespace: str = NAMESPACE
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the release waits for: the CNI and the GPU Operator (the driver must be
    installed first)."""
    domains_depend_on: Sequence[pulumi.Resource] = ()
    """Resources the ComputeDomains wait for besides the release: their tenant namespaces,
    created after Kyverno's policies (`ClusterHandle.tenant_ready`)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""
    gpu_node_tolerations: tuple[dict[str, str], ...] = ()
    """Tolerations of the GPU node groups' own taints (`stacks.config.placement.
    gpu_node_tolerations`): the agents every GPU node needs get them."""


def render_dra_driver_values(
    settings: DraDriverSettings,
    mirrors: Mirrors,
    tolerations: Sequence[Mapping[str, str]] = (),
    gpu_node_tolerations: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Helm values of the dra-driver-nvidia-gpu chart.

    Keys are checked in tests against AICR's values for this chart plus the keys
    listed there from the upstream chart's values.yaml.
    """
    values: dict[str, Any] = {
        "nvidiaDriverRoot": settings.driver_root,
        # The chart refuses resources.gpus.enabled=true without this acknowledgement.
        "gpuResourcesEnabledOverride": settings.gpu_resources,
        "resources": {
            "gpus": {"enabled": settings.gpu_resources},
            "computeDomains": {"enabled": settings.compute_domains},
        },
        "image": {"repository": mirrors.image_registry(_IMAGE)},
        # The chart's kubelet plugin tolerates nothing, so it would never run on GPU
        # nodes tainted nvidia.com/gpu; the plugin is what publishes their GPUs.
        "kubeletPlugin": {
            "tolerations": values_tolerations(
                wl.DRA_KUBELET_PLUGIN, (), parse_tolerations(gpu_node_tolerations)
            )
        },
    }
    if not settings.control_plane_nodes:
        # Same override NVIDIA's AICR recipes use on EKS/AKS/GKE (no control-plane nodes).
        values["controller"] = {"affinity": {"nodeAffinity": None}}
    return apply_tolerations(values, (wl.DRA_CONTROLLER,), parse_tolerations(tolerations))


def render_compute_domain_spec(domain: ComputeDomain) -> dict[str, Any]:
    """`spec` of a ComputeDomain (resource.nvidia.com/v1beta1)."""
    return {
        "numNodes": domain.num_nodes,
        "channel": {
            "resourceClaimTemplate": {"name": domain.name},
            "allocationMode": domain.allocation_mode,
        },
    }


def dra_driver_images(settings: DraDriverSettings) -> list[str]:
    """Upstream images the DRA driver pulls (controller and kubelet plugin share one)."""
    return [f"{_IMAGE}:v{settings.chart.version.removeprefix('v')}"]


class DraDriver(pulumi.ComponentResource):
    """The NVIDIA DRA driver for GPUs, with optional ComputeDomains."""

    namespace: pulumi.Output[str]
    """Namespace the driver runs in."""
    release: k8s.helm.v3.Release
    """The Helm release (ComputeDomain CRD, controller, kubelet plugin)."""
    compute_domains: list[k8s.apiextensions.CustomResource]
    """The ComputeDomains created (empty when none are configured)."""

    def __init__(
        self, name: str, args: DraDriverArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        settings = args.settings
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=POD_SECURITY_PRIVILEGED
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        release = helm_release(
            f"{name}-release",
            settings.chart,
            render_dra_driver_values(
                settings, args.mirrors, args.tolerations, args.gpu_node_tolerations
            ),
            args.namespace,
            args.mirrors,
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[namespace, *args.depends_on],
            ),
            images=dra_driver_images(settings),
            release_name="nvidia-dra-driver-gpu",
        )
        # ComputeDomains need the CRD and the conversion/validation the release installs.
        self.compute_domains = [
            k8s.apiextensions.CustomResource(
                f"{name}-cd-{domain.namespace}-{domain.name}",
                api_version=COMPUTE_DOMAIN_API_VERSION,
                kind="ComputeDomain",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=domain.name, namespace=domain.namespace),
                spec=render_compute_domain_spec(domain),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=args.provider,
                    depends_on=[release, *args.domains_depend_on],
                    # "A computeDomain.spec is immutable" (CRD CEL rule): a change replaces
                    # the domain; same name, so delete it first.
                    replace_on_changes=list(COMPUTE_DOMAIN_REPLACE_ON_CHANGES),
                    delete_before_replace=True,
                ),
            )
            for domain in (settings.domains if settings.compute_domains else ())
        ]
        self.release = release
        ns_name = args.namespace
        self.namespace = namespace.metadata.apply(lambda m: m.name or ns_name)
        self.register_outputs(
            {"namespace": self.namespace, "compute_domains": len(self.compute_domains)}
        )
