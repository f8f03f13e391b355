"""Node health and break-fix: NVIDIA NVSentinel, or the medik8s Node Health Check operator.

The remediation policy is cumulative (`cordon-only` < `drain` < `reboot` < `replace`):

| policy | NVSentinel modules | Node Health Check |
|---|---|---|
| cordon-only | fault-quarantine (cordon + taint) | remediation paused |
| drain | + node-drainer | Self Node Remediation (fences = reboots) |
| reboot | + fault-remediation, janitor (RebootNode, GPUReset) | Self Node Remediation |
| replace | + janitor TerminateNode | Machine Deletion Remediation |

NVSentinel's values keys are NOT checked against the chart's values.yaml (the v1.1.0
values.yaml is not in ../shared/crds and the stored copies of the chart we could read
differ between releases). They follow NVSentinel's configuration guide:
https://github.com/NVIDIA/NVSentinel/tree/main/docs/configuration (README, fault-
quarantine.md, node-drainer.md, fault-remediation.md, janitor.md) and NVIDIA AICR's
recipe values (recipes/components/nvsentinel/values.yaml). The documented key list
is in tests/components/services/documented_values.py. Verify with
`helm show values oci://ghcr.io/nvidia/nvsentinel --version <pin>` before an upgrade.

Node Health Check is installed through OLM by the provider (it has no Helm chart);
we only create the `NodeHealthCheck` CR (remediation.medik8s.io/v1alpha1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm import helm_release
from components.mirrors import Mirrors
from components.naming import LABEL_NODE_GROUP
from components.services._common import child_opts, cr_metadata, namespace_metadata
from components.versions import NVSENTINEL

TYPE = "gpu-caas:services:NodeHealth"
NAMESPACE = "nvsentinel"
NHC_API_VERSION = "remediation.medik8s.io/v1alpha1"
NHC_NAME = "gpu-workers"

POLICIES = ("cordon-only", "drain", "reboot", "replace")
"""Remediation policies, weakest first; each includes the previous ones."""
DRAIN_MODES = {
    # NVSentinel node-drainer eviction modes (docs/configuration/node-drainer.md).
    "allow-completion": "AllowCompletion",
    "delete-after-timeout": "DeleteAfterTimeout",
    "immediate": "Immediate",
}
_SNR_TEMPLATE = (
    "self-node-remediation.medik8s.io/v1alpha1",
    "SelfNodeRemediationTemplate",
    # SNR creates this template in its namespace (medik8s/self-node-remediation).
    "self-node-remediation-automatic-strategy-template",
)
_MDR_TEMPLATE = (
    "machine-deletion-remediation.medik8s.io/v1alpha1",
    "MachineDeletionRemediationTemplate",
    # MDR ships no default template (medik8s/machine-deletion-remediation README:
    # "created by the admin"); we create this one for `replace`.
    "gpu-caas-machine-deletion",
)


@dataclass(frozen=True)
class RemediationSettings:
    """The cordon/drain/remediation policy."""

    policy: str = "drain"
    drain_mode: str = "delete-after-timeout"
    drain_timeout_minutes: int = 60
    max_unhealthy_percent: int = 10
    unhealthy_after: str = "300s"
    dry_run: bool = False
    janitor_provider: str = "generic"
    """NVSentinel janitor provider; `generic` reboots bare metal with a privileged Job."""
    nhc_operator_namespace: str = "operators"
    """Namespace of the medik8s remediation templates (OLM's default namespace)."""
    pod_monitor: bool = True
    """Create NVSentinel's PodMonitors; needs the Prometheus Operator CRDs."""


@dataclass(frozen=True)
class NodeHealthArgs:
    """Inputs of `NodeHealth`."""

    provider: k8s.Provider
    mirrors: Mirrors
    tenant: str
    engine: str
    """`nvsentinel` or `nhc`."""
    settings: RemediationSettings = RemediationSettings()
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the NVSentinel release or the NodeHealthCheck waits for: the CNI, the
    GPU Operator (NVSentinel's GPU health monitor reads DCGM) and the monitoring stack
    (its PodMonitors need the Prometheus Operator CRDs)."""


def _at_least(policy: str, floor: str) -> bool:
    if policy not in POLICIES:
        raise ValueError(f"unknown remediation policy {policy!r}; expected one of {POLICIES}")
    return POLICIES.index(policy) >= POLICIES.index(floor)


# --------------------------------------------------------------------------- #
# Pure rendering
# --------------------------------------------------------------------------- #


def render_nvsentinel_values(settings: RemediationSettings) -> dict[str, Any]:
    """NVSentinel chart values for `settings` (pure)."""
    drain = _at_least(settings.policy, "drain")
    remediate = _at_least(settings.policy, "reboot")
    replace = _at_least(settings.policy, "replace")
    if settings.drain_mode not in DRAIN_MODES:
        raise ValueError(f"unknown drain mode {settings.drain_mode!r}")
    values: dict[str, Any] = {
        "global": {
            "dryRun": settings.dry_run,
            "faultQuarantine": {"enabled": True},
            "nodeDrainer": {"enabled": drain},
            "faultRemediation": {"enabled": remediate},
            "janitor": {"enabled": remediate},
            # Health monitors are DaemonSets on GPU nodes, which carry our
            # nvidia.com/gpu taint and, once quarantined, NVSentinel's own taints;
            # AICR's recipe tolerates everything for the same reason.
            "tolerations": [{"operator": "Exists"}],
        },
        # PodMonitor is a Prometheus Operator CRD: without Prometheus the release fails.
        "podMonitor": {"enabled": settings.pod_monitor},
        "fault-quarantine": {
            # Stop quarantining when too many nodes fail at once: a fleet-wide event
            # (fabric, power, bad driver rollout) is not N broken GPUs.
            "circuitBreaker": {
                "enabled": True,
                "percentage": settings.max_unhealthy_percent,
                "duration": "5m",
            }
        },
    }
    if drain:
        values["node-drainer"] = {
            "userNamespaces": [{"name": "*", "mode": DRAIN_MODES[settings.drain_mode]}],
            "deleteAfterTimeoutMinutes": settings.drain_timeout_minutes,
        }
    if remediate:
        values["janitor"] = {
            "config": {
                "controllers": {
                    "rebootNode": {"enabled": True},
                    "gpuReset": {"enabled": True},
                    "terminateNode": {"enabled": replace},
                }
            }
        }
        values["janitor-provider"] = {"csp": {"provider": settings.janitor_provider}}
    return values


def min_healthy(max_unhealthy_percent: int) -> str:
    """NHC `minHealthy` for a maximum share of unhealthy nodes."""
    if not 1 <= max_unhealthy_percent <= 100:
        raise ValueError("max_unhealthy_percent must be within 1..100")
    return f"{100 - max_unhealthy_percent}%"


def render_node_health_check(settings: RemediationSettings) -> dict[str, Any]:
    """The `spec` of the `NodeHealthCheck` for GPU worker nodes (pure)."""
    replace = _at_least(settings.policy, "replace")
    api_version, kind, name = _MDR_TEMPLATE if replace else _SNR_TEMPLATE
    spec: dict[str, Any] = {
        # Only platform worker nodes (they carry the node-group label); NHC warns
        # against mixing control-plane and workers in one check.
        "selector": {
            "matchExpressions": [
                {"key": LABEL_NODE_GROUP, "operator": "Exists"},
                {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"},
            ]
        },
        "minHealthy": min_healthy(settings.max_unhealthy_percent),
        "unhealthyConditions": [
            {"type": "Ready", "status": "False", "duration": settings.unhealthy_after},
            {"type": "Ready", "status": "Unknown", "duration": settings.unhealthy_after},
        ],
        "remediationTemplate": {
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "namespace": settings.nhc_operator_namespace,
        },
    }
    if not _at_least(settings.policy, "drain"):
        # NHC has no cordon-only mode: pausing keeps detection (status) without action.
        spec["pauseRequests"] = ["gpu-caas: remediation policy is cordon-only"]
    return spec


def render_machine_deletion_template() -> dict[str, Any]:
    """`spec` of the MachineDeletionRemediationTemplate used for `replace` (NHC):
    the machine is deleted and its MachineSet/MachineDeployment recreates it."""
    return {"template": {"spec": {}}}


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class NodeHealth(pulumi.ComponentResource):
    """NVSentinel release or a NodeHealthCheck, with the configured policy."""

    engine: str
    policy: str

    def __init__(
        self, name: str, args: NodeHealthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if args.engine == "nvsentinel":
            values = render_nvsentinel_values(args.settings)
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                # GPU/syslog health monitors read host devices and logs.
                metadata=namespace_metadata(NAMESPACE, args.tenant, "privileged"),
                opts=child_opts(self, args.provider),
            )
            helm_release(
                f"{name}-nvsentinel",
                NVSENTINEL.helm,
                values,
                namespace.metadata.name,
                args.mirrors,
                child_opts(self, args.provider, namespace, *args.depends_on),
                # NVSentinel's images are many and not keyed by one registry value;
                # air-gapped clusters serve ghcr.io through the containerd registry
                # mirrors gpu-caas writes on every host it bootstraps
                # (components/cluster/registry_mirrors.py, `mirrors.imageRegistries`).
            )
        elif args.engine == "nhc":
            spec = render_node_health_check(args.settings)
            template: list[pulumi.Resource] = []
            if _at_least(args.settings.policy, "replace"):
                api_version, kind, template_name = _MDR_TEMPLATE
                template.append(
                    k8s.apiextensions.CustomResource(
                        f"{name}-machine-deletion-template",
                        api_version=api_version,
                        kind=kind,
                        metadata=cr_metadata(
                            template_name, args.tenant, args.settings.nhc_operator_namespace
                        ),
                        spec=render_machine_deletion_template(),
                        opts=child_opts(self, args.provider),
                    )
                )
            k8s.apiextensions.CustomResource(
                f"{name}-nhc",
                api_version=NHC_API_VERSION,
                kind="NodeHealthCheck",
                metadata=cr_metadata(NHC_NAME, args.tenant),
                spec=spec,
                opts=child_opts(self, args.provider, *template, *args.depends_on),
            )
        else:
            raise ValueError(f"unknown node-health engine {args.engine!r}")
        self.engine = args.engine
        self.policy = args.settings.policy
        self.register_outputs({"engine": self.engine, "policy": self.policy})
