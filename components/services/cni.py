"""Primary pod network: Cilium (default) or Calico (Tigera operator), via Helm.

Neither chart's values.yaml is in ../shared/crds, so the keys we set are checked in
tests against a documented list taken from the charts' docs (see
tests/components/services/documented_values.py for the sources):

* Cilium Helm reference: https://docs.cilium.io/en/stable/helm-reference/
* Tigera operator chart values (`installation` is the `operator.tigera.io/v1`
  Installation spec): https://docs.tigera.io/calico/latest/reference/installation/api

Secondary RDMA networks come from the NVIDIA Network Operator through Multus, so
Cilium must not claim `/etc/cni/net.d` exclusively (`cni.exclusive: false`), and both
CNIs leave other CNI configs in place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.helm import helm_release
from components.mirrors import Mirrors
from components.placement import apply_tolerations, parse_tolerations
from components.services._common import child_opts, namespace_metadata
from components.versions import CALICO, CILIUM

TYPE = "gpu-caas:services:Cni"
CILIUM_NAMESPACE = "kube-system"
"""Cilium lives in kube-system (chart default; its agents are system-node-critical)."""
CALICO_NAMESPACE = "tigera-operator"


@dataclass(frozen=True)
class CniArgs:
    """Inputs of `Cni`."""

    provider: k8s.Provider
    mirrors: Mirrors
    tenant: str
    plugin: str
    """`cilium` or `calico`."""
    pod_cidr: str = "10.244.0.0/16"
    node_mask_size: int = 24
    encapsulation: str = "vxlan"
    """`vxlan` (overlay) or `native` (routed; the fabric must route the pod CIDR)."""
    kube_proxy_replacement: bool = False
    api_server_host: str | None = None
    api_server_port: int = 6443
    hubble: bool = True
    multus_compatible: bool = True
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""


def _check_cidr(pod_cidr: str, node_mask_size: int) -> ipaddress.IPv4Network:
    network = ipaddress.IPv4Network(pod_cidr)
    if node_mask_size <= network.prefixlen:
        raise ValueError(f"node mask /{node_mask_size} must be longer than the pod CIDR {pod_cidr}")
    return network


def render_cilium_values(args: CniArgs) -> dict[str, Any]:
    """Values of the Cilium chart.

    Raises:
        ValueError: on kube-proxy replacement without an API server host, or a node mask
            that does not fit the pod CIDR.
    """
    network = _check_cidr(args.pod_cidr, args.node_mask_size)
    values: dict[str, Any] = {
        # Cluster-pool IPAM: Cilium hands out per-node CIDRs from the pod CIDR, so the
        # control plane does not need --allocate-node-cidrs.
        "ipam": {
            "mode": "cluster-pool",
            "operator": {
                "clusterPoolIPv4PodCIDRList": [str(network)],
                "clusterPoolIPv4MaskSize": args.node_mask_size,
            },
        },
        "cni": {"exclusive": not args.multus_compatible},
        "kubeProxyReplacement": args.kube_proxy_replacement,
        "operator": {
            "replicas": 2,
            # The chart appends `-generic` (the cloud-neutral operator) to this name.
            "image": {"repository": args.mirrors.image_registry("quay.io/cilium/operator")},
        },
        "image": {"repository": args.mirrors.image_registry("quay.io/cilium/cilium")},
        "envoy": {
            "image": {"repository": args.mirrors.image_registry("quay.io/cilium/cilium-envoy")}
        },
        "hubble": {
            "enabled": args.hubble,
            "relay": {
                "enabled": args.hubble,
                "image": {"repository": args.mirrors.image_registry("quay.io/cilium/hubble-relay")},
            },
            # No UI: it would expose every flow of the tenant without authentication.
            "ui": {"enabled": False},
        },
    }
    if args.encapsulation == "native":
        values["routingMode"] = "native"
        values["ipv4NativeRoutingCIDR"] = str(network)
        # Nodes share an L2 segment per rack on typical GPU fabrics; install routes to
        # the other nodes' pod CIDRs directly.
        values["autoDirectNodeRoutes"] = True
    else:
        values["routingMode"] = "tunnel"
        values["tunnelProtocol"] = "vxlan"
    if args.kube_proxy_replacement:
        if not args.api_server_host:
            raise ValueError("kube-proxy replacement needs api_server_host")
        values["k8sServiceHost"] = args.api_server_host
        values["k8sServicePort"] = args.api_server_port
    return values


def render_calico_values(args: CniArgs) -> dict[str, Any]:
    """Values of the Tigera operator chart (`installation` = Installation spec).

    Raises:
        ValueError: on a node mask that does not fit the pod CIDR.
    """
    network = _check_cidr(args.pod_cidr, args.node_mask_size)
    pool = {
        "cidr": str(network),
        # Calico allocates addresses to nodes in blocks of this size.
        "blockSize": args.node_mask_size,
        "encapsulation": "VXLAN" if args.encapsulation == "vxlan" else "None",
        "natOutgoing": "Enabled",
        "nodeSelector": "all()",
    }
    installation: dict[str, Any] = {
        "enabled": True,
        "cni": {"type": "Calico"},
        "calicoNetwork": {
            # Routed mode without BGP peering to the fabric is not useful; overlay
            # mode needs no BGP at all.
            "bgp": "Enabled" if args.encapsulation == "native" else "Disabled",
            "ipPools": [pool],
        },
    }
    values: dict[str, Any] = {"installation": installation}
    calico_registry = args.mirrors.image_registry("quay.io")
    if calico_registry != "quay.io":
        # Installation.registry replaces the registry of every Calico image; it must
        # end with "/" (operator API reference).
        installation["registry"] = calico_registry.rstrip("/") + "/"
        values["tigeraOperator"] = {"registry": calico_registry}
    # Installation.controlPlaneTolerations: kube-controllers and Typha (calico-node
    # tolerates every taint already).
    return apply_tolerations(values, wl.CALICO, parse_tolerations(args.tolerations))


def cilium_images() -> list[str]:
    """Upstream images of the Cilium release whose tag is the Cilium version."""
    tag = f"v{CILIUM.version.lstrip('v')}"
    return [
        f"quay.io/cilium/cilium:{tag}",
        f"quay.io/cilium/operator-generic:{tag}",
        f"quay.io/cilium/hubble-relay:{tag}",
    ]


class Cni(pulumi.ComponentResource):
    """The tenant cluster's primary CNI."""

    plugin: str
    """`cilium` or `calico`."""
    namespace: pulumi.Output[str] | str
    """Namespace of the CNI release."""
    release_name: pulumi.Output[str | None]
    """Helm release name."""
    release: k8s.helm.v3.Release
    """The CNI's Helm release: what every other Helm release waits for
    (`ClusterHandle.network_ready`)."""

    def __init__(
        self, name: str, args: CniArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if args.plugin == "cilium":
            values = render_cilium_values(args)
            # kube-system exists on every cluster; it is not ours to label.
            release = helm_release(
                f"{name}-cilium",
                CILIUM.helm,
                values,
                CILIUM_NAMESPACE,
                args.mirrors,
                child_opts(self, args.provider),
                images=cilium_images(),
            )
            self.namespace = CILIUM_NAMESPACE
        elif args.plugin == "calico":
            values = render_calico_values(args)
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                # The operator itself needs host networking before the CNI is up.
                metadata=namespace_metadata(CALICO_NAMESPACE, args.tenant, "privileged"),
                opts=child_opts(self, args.provider),
            )
            release = helm_release(
                f"{name}-calico",
                CALICO.helm,
                values,
                namespace.metadata.name,
                args.mirrors,
                child_opts(self, args.provider, namespace),
            )
            self.namespace = namespace.metadata.name
        else:
            raise ValueError(f"unknown CNI plugin {args.plugin!r}; expected cilium or calico")
        self.plugin = args.plugin
        self.release = release
        self.release_name = release.name
        self.register_outputs(
            {"plugin": self.plugin, "namespace": self.namespace, "releaseName": self.release_name}
        )
