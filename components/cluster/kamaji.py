"""The Kamaji `TenantControlPlane` spec (pure; validated against the CRD in tests).

CRD: kamaji.clastix.io/v1alpha1 TenantControlPlane
(https://kamaji.clastix.io/reference/api/#tenantcontrolplane).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.cluster.kubeadm import API_SERVER_PORT
from components.cluster.sizing import HostedSizing

API_VERSION = "kamaji.clastix.io/v1alpha1"
KIND = "TenantControlPlane"
KONNECTIVITY_PORT = 8132
"""Konnectivity lets the hosted API server reach kubelets behind the tenant's network."""


def admin_kubeconfig_secret(tcp_name: str) -> str:
    """Secret Kamaji writes the tenant admin kubeconfig to (key `admin.conf`)."""
    return f"{tcp_name}-admin-kubeconfig"


def tenant_control_plane_spec(
    *,
    name: str,
    version: str,
    sizing: HostedSizing,
    service_type: str,
    pod_cidr: str,
    service_cidr: str,
    data_store: str | None = None,
    address: str | None = None,
    konnectivity_tolerations: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """`spec` of the tenant's TenantControlPlane.

    `name` is the TCP name; Kamaji labels the control-plane pods
    `kamaji.clastix.io/name=<name>`, which the HA spread constraint selects on.
    `konnectivity_tolerations` replace the konnectivity agent's default tolerations
    (`CriticalAddonsOnly` only): a tenant whose nodes are all tainted would otherwise
    run no agent, and the API server would lose its path to kubelets and webhooks.
    """
    deployment: dict[str, Any] = {
        "replicas": sizing.replicas,
        "resources": {
            "apiServer": sizing.api_server.to_k8s(),
            "controllerManager": sizing.controller_manager.to_k8s(),
            "scheduler": sizing.scheduler.to_k8s(),
        },
        "extraArgs": {
            "apiServer": [f"--{k}={v}" for k, v in sorted(sizing.flags.as_args().items())],
        },
    }
    if sizing.replicas > 1:
        # Spread replicas over management nodes so one node failure keeps a quorum of
        # API servers (ScheduleAnyway: a small management cluster still schedules).
        deployment["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"kamaji.clastix.io/name": name}},
            }
        ]
    network: dict[str, Any] = {
        "port": API_SERVER_PORT,
        "podCidr": pod_cidr,
        "serviceCidr": service_cidr,
    }
    if address is not None:
        network["address"] = address
        network["certSANs"] = [address]
    spec: dict[str, Any] = {
        "controlPlane": {
            "deployment": deployment,
            "service": {"serviceType": service_type},
        },
        "kubernetes": {
            "version": f"v{version}",
            "kubelet": {"preferredAddressTypes": ["InternalIP", "ExternalIP", "Hostname"]},
        },
        "networkProfile": network,
        "addons": {
            "coreDNS": {},
            "kubeProxy": {},
            "konnectivity": _konnectivity(konnectivity_tolerations),
        },
    }
    if data_store is not None:
        spec["dataStore"] = data_store
    return spec


def _konnectivity(tolerations: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    addon: dict[str, Any] = {"server": {"port": KONNECTIVITY_PORT}}
    if tolerations:
        # The CRD defaults the agent as a whole (image, mode), so restate what we keep.
        addon["agent"] = {
            "mode": "DaemonSet",
            "tolerations": [dict(t) for t in tolerations],
        }
    return addon
