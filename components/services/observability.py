"""Observability: Prometheus (kube-prometheus-stack or the provider's), OpenTelemetry
collector, and DCGM alert rules for failing GPUs.

The `gpu-health` `PrometheusRule` (monitoring.coreos.com/v1) alerts on what takes a
GPU out of service (https://docs.nvidia.com/deploy/xid-errors/index.html,
https://docs.nvidia.com/datacenter/dcgm/latest/dcgm-api/dcgm-api-field-ids.html):

* XID errors (`DCGM_FI_DEV_XID_ERRORS`, the last XID seen): critical for the XIDs that
  mean broken hardware or a needed reset, warning for any other;
* ECC: uncorrectable volatile errors (`DCGM_FI_DEV_ECC_DBE_VOL_TOTAL`), a high rate of
  corrected ones (`DCGM_FI_DEV_ECC_SBE_VOL_TOTAL`), row-remap failure;
* thermal: GPU and HBM temperature, and the share of time spent thermally or power
  throttled (`DCGM_FI_DEV_THERMAL_VIOLATION`, `DCGM_FI_DEV_POWER_VIOLATION`, in ns);
* a meta-alert when DCGM exporter runs but does not export the ECC counters: they are
  commented out of dcgm-exporter's default-counters.csv, so without a custom metrics
  list every ECC alert would stay silent. The GPU Operator component ships that list
  (default counters + `REQUIRED_DCGM_FIELDS`, both in `components/dcgm.py`); the alert
  still catches a dcgm-exporter run by someone else.

The PrometheusRule CRD is not in ../shared/crds; tests validate the rule structure with
a small documented JSON schema of the fields used here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.dcgm import REQUIRED_DCGM_FIELDS as REQUIRED_DCGM_FIELDS  # re-export
from components.dcgm import VIOLATION_COUNTER_UNITS_PER_SECOND
from components.helm import helm_release
from components.mirrors import Mirrors
from components.placement import apply_tolerations, parse_tolerations
from components.services._common import child_opts, cr_metadata, namespace_metadata
from components.versions import KUBE_PROMETHEUS_STACK, OPENTELEMETRY_COLLECTOR

TYPE = "gpu-caas:services:Observability"
NAMESPACE = "monitoring"
RULE_API_VERSION = "monitoring.coreos.com/v1"
RULE_NAME = "gpu-health"

_DCGM_LABELS = "Hostname, gpu, UUID, modelName"
"""Labels dcgm-exporter puts on every GPU series; alerts keep them for routing."""
_OTEL_IMAGE = "docker.io/otel/opentelemetry-collector-k8s"


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds (from `services.observability.alerts`)."""

    gpu_temp_celsius: int = 87
    memory_temp_celsius: int = 95
    ecc_sbe_per_hour: int = 100
    throttle_fraction: float = 0.1
    critical_xids: tuple[int, ...] = (48, 64, 74, 79, 95, 119, 120)
    for_duration: str = "5m"


@dataclass(frozen=True)
class PrometheusSettings:
    """kube-prometheus-stack settings."""

    retention: str = "15d"
    storage_size: str | None = "100Gi"
    """PVC size; None keeps Prometheus data in an emptyDir (lost on rescheduling)."""
    storage_class: str | None = None
    grafana: bool = False
    rule_labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on the PrometheusRule (a central Prometheus's `ruleSelector`)."""


@dataclass(frozen=True)
class OtelSettings:
    """OpenTelemetry collector settings."""

    exporter_endpoint: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class ObservabilityArgs:
    """Inputs of `Observability`."""

    provider: k8s.Provider
    mirrors: Mirrors
    tenant: str
    prometheus_mode: str = "stack"
    """`stack` (install kube-prometheus-stack), `external` (rules only), `off`."""
    prometheus: PrometheusSettings = PrometheusSettings()
    otel: OtelSettings | None = OtelSettings()
    """None: no collector."""
    thresholds: Thresholds = Thresholds()
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the Helm releases wait for (the CNI: `ClusterHandle.network_ready`)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""


# --------------------------------------------------------------------------- #
# Alert rules (pure)
# --------------------------------------------------------------------------- #


def xid_match_expr(xids: Sequence[int]) -> str:
    """PromQL selecting GPUs whose last XID is one of `xids`.

    The XID is the sample value, not a label, so it is matched with `==` per code.
    """
    if not xids:
        raise ValueError("at least one XID code is needed")
    return " or ".join(f"DCGM_FI_DEV_XID_ERRORS == {xid}" for xid in sorted(set(xids)))


def _alert(
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    for_duration: str | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": name,
        "expr": expr,
        "labels": {"severity": severity, "component": "gpu"},
        "annotations": {"summary": summary, "description": description},
    }
    if for_duration is not None:
        rule["for"] = for_duration
    return rule


def render_alert_rules(thresholds: Thresholds) -> list[dict[str, Any]]:
    """The DCGM alert rules, one dict per rule (Prometheus rule format)."""
    on_gpu = "GPU {{ $labels.gpu }} ({{ $labels.modelName }}) on {{ $labels.Hostname }}"
    critical = xid_match_expr(thresholds.critical_xids)
    # rate() of a violation counter is throttled nanoseconds per second.
    throttle_ns_per_s = thresholds.throttle_fraction * VIOLATION_COUNTER_UNITS_PER_SECOND
    sbe_per_hour = thresholds.ecc_sbe_per_hour
    return [
        _alert(
            "GpuXidCritical",
            f"max by ({_DCGM_LABELS}) ({critical})",
            "critical",
            f"{on_gpu} reported XID {{{{ $value }}}}",
            "The XID means broken hardware or a GPU that needs a reset or reboot; drain "
            "the node. https://docs.nvidia.com/deploy/xid-errors/index.html",
        ),
        _alert(
            "GpuXidError",
            f"max by ({_DCGM_LABELS}) (DCGM_FI_DEV_XID_ERRORS > 0 unless ({critical}))",
            "warning",
            f"{on_gpu} reported XID {{{{ $value }}}}",
            "Often an application fault (e.g. XID 13/31/43); repeated XIDs across jobs "
            "point at the GPU.",
        ),
        _alert(
            "GpuEccUncorrectable",
            f"max by ({_DCGM_LABELS}) (DCGM_FI_DEV_ECC_DBE_VOL_TOTAL) > 0",
            "critical",
            f"{on_gpu} has uncorrectable (double-bit) ECC errors",
            "Data on this GPU may be corrupt; drain the node and reset the GPU.",
        ),
        _alert(
            "GpuEccCorrectableRateHigh",
            f"max by ({_DCGM_LABELS}) (increase(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL[1h])) "
            f"> {sbe_per_hour}",
            "warning",
            f"{on_gpu} corrected more than {sbe_per_hour} single-bit ECC errors in 1h",
            "A rising corrected-error rate precedes uncorrectable errors; plan a swap.",
        ),
        _alert(
            "GpuRowRemapFailure",
            f"max by ({_DCGM_LABELS}) (DCGM_FI_DEV_ROW_REMAP_FAILURE) > 0",
            "critical",
            f"{on_gpu} failed to remap a memory row",
            "The GPU has run out of spare memory rows; it needs replacement (XID 64).",
        ),
        _alert(
            "GpuTemperatureHigh",
            f"max by ({_DCGM_LABELS}) (DCGM_FI_DEV_GPU_TEMP) > {thresholds.gpu_temp_celsius}",
            "warning",
            f"{on_gpu} is at {{{{ $value }}}} C",
            f"Above {thresholds.gpu_temp_celsius} C the GPU slows down; check cooling.",
            thresholds.for_duration,
        ),
        _alert(
            "GpuMemoryTemperatureHigh",
            f"max by ({_DCGM_LABELS}) (DCGM_FI_DEV_MEMORY_TEMP) > {thresholds.memory_temp_celsius}",
            "warning",
            f"{on_gpu} memory is at {{{{ $value }}}} C",
            f"HBM above {thresholds.memory_temp_celsius} C throttles; check cooling.",
            thresholds.for_duration,
        ),
        _alert(
            "GpuThermalThrottling",
            f"max by ({_DCGM_LABELS}) (rate(DCGM_FI_DEV_THERMAL_VIOLATION[5m])) "
            f"> {throttle_ns_per_s:.0f}",
            "warning",
            f"{on_gpu} is thermally throttled",
            f"Throttled more than {thresholds.throttle_fraction:.0%} of the time "
            "(violation counter in nanoseconds per second).",
            thresholds.for_duration,
        ),
        _alert(
            "GpuPowerThrottling",
            f"max by ({_DCGM_LABELS}) (rate(DCGM_FI_DEV_POWER_VIOLATION[5m])) "
            f"> {throttle_ns_per_s:.0f}",
            "warning",
            f"{on_gpu} is power throttled",
            f"Held at its power limit more than {thresholds.throttle_fraction:.0%} of the "
            "time; check power capping and PSUs.",
            thresholds.for_duration,
        ),
        _alert(
            "DcgmEccMetricsMissing",
            "(count(DCGM_FI_DEV_GPU_TEMP) > 0) unless on() "
            "(count(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL) > 0)",
            "warning",
            "dcgm-exporter does not export ECC counters",
            "GPU ECC alerts cannot fire: add DCGM_FI_DEV_ECC_SBE_VOL_TOTAL and "
            "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL to the dcgm-exporter metrics list.",
            "30m",
        ),
    ]


def render_prometheus_rule(thresholds: Thresholds) -> dict[str, Any]:
    """The `spec` of the `gpu-health` PrometheusRule."""
    return {"groups": [{"name": "gpu-health.dcgm", "rules": render_alert_rules(thresholds)}]}


# --------------------------------------------------------------------------- #
# Helm values (pure)
# --------------------------------------------------------------------------- #


def render_prometheus_stack_values(
    settings: PrometheusSettings, mirrors: Mirrors, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """kube-prometheus-stack values (keys from the chart's values.yaml; see
    documented_values.py in the tests for the list and source)."""
    quay = mirrors.image_registry("quay.io")
    k8s_registry = mirrors.image_registry("registry.k8s.io")
    prometheus_spec: dict[str, Any] = {
        "retention": settings.retention,
        # Select ServiceMonitors/PodMonitors/PrometheusRules from every namespace and
        # release (DCGM exporter's ServiceMonitor lives in gpu-operator, NVSentinel
        # ships PodMonitors), not only this release's.
        "ruleSelectorNilUsesHelmValues": False,
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "image": {"registry": quay},
    }
    if settings.storage_size is not None:
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.storage_size}},
        }
        if settings.storage_class is not None:
            claim["storageClassName"] = settings.storage_class
        prometheus_spec["storageSpec"] = {"volumeClaimTemplate": {"spec": claim}}
    values: dict[str, Any] = {
        "prometheus": {"prometheusSpec": prometheus_spec},
        "alertmanager": {"alertmanagerSpec": {"image": {"registry": quay}}},
        "prometheusOperator": {
            "image": {"registry": quay},
            "prometheusConfigReloader": {"image": {"registry": quay}},
            "admissionWebhooks": {"patch": {"image": {"registry": k8s_registry}}},
        },
        "kube-state-metrics": {"image": {"registry": k8s_registry}},
        "prometheus-node-exporter": {"image": {"registry": quay}},
        "grafana": (
            {"enabled": True, "image": {"registry": mirrors.image_registry("docker.io")}}
            if settings.grafana
            else {"enabled": False}
        ),
    }
    # The tenant's system tolerations go to every controller (not the node exporter,
    # which already tolerates every NoSchedule taint).
    workloads = (*wl.PROMETHEUS_STACK, *((wl.GRAFANA,) if settings.grafana else ()))
    return apply_tolerations(values, workloads, parse_tolerations(tolerations))


def render_otel_values(
    settings: OtelSettings, mirrors: Mirrors, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """opentelemetry-collector chart values: a gateway Deployment that enriches
    telemetry with Kubernetes attributes and forwards it over OTLP/gRPC."""
    values: dict[str, Any] = {
        "mode": "deployment",
        "replicaCount": 2,
        # The chart has no default image since 0.89.0; the k8s distribution carries the
        # receivers/processors used on Kubernetes.
        "image": {"repository": mirrors.image_registry(_OTEL_IMAGE)},
        "presets": {"kubernetesAttributes": {"enabled": True}},
    }
    if settings.exporter_endpoint:
        values["config"] = {
            "exporters": {
                "otlp": {
                    "endpoint": settings.exporter_endpoint,
                    "tls": {"insecure": settings.insecure},
                }
            },
            "service": {
                "pipelines": {
                    signal: {"exporters": ["otlp"]} for signal in ("traces", "metrics", "logs")
                }
            },
        }
    return apply_tolerations(values, (wl.OTEL_COLLECTOR,), parse_tolerations(tolerations))


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class Observability(pulumi.ComponentResource):
    """Prometheus stack, OpenTelemetry collector and the GPU alert rules."""

    namespace: pulumi.Output[str] | None
    """The monitoring namespace, when one was created."""
    prometheus_rule: str | None
    """`<namespace>/<name>` of the GPU alert rules, or None when Prometheus is off."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if args.prometheus_mode not in ("stack", "external", "off"):
            raise ValueError(f"unknown Prometheus mode {args.prometheus_mode!r}")
        rule_spec = render_prometheus_rule(args.thresholds)
        wants_namespace = args.prometheus_mode != "off" or args.otel is not None
        namespace = (
            k8s.core.v1.Namespace(
                f"{name}-namespace",
                # node-exporter (part of the stack) needs hostNetwork/hostPID/hostPath.
                metadata=namespace_metadata(
                    NAMESPACE,
                    args.tenant,
                    "privileged" if args.prometheus_mode == "stack" else "restricted",
                ),
                opts=child_opts(self, args.provider),
            )
            if wants_namespace
            else None
        )

        rule_dependencies: list[pulumi.Resource] = [namespace] if namespace else []
        if args.prometheus_mode == "stack" and namespace is not None:
            stack = helm_release(
                f"{name}-prometheus",
                KUBE_PROMETHEUS_STACK.helm,
                render_prometheus_stack_values(args.prometheus, args.mirrors, args.tolerations),
                namespace.metadata.name,
                args.mirrors,
                child_opts(self, args.provider, namespace, *args.depends_on),
            )
            rule_dependencies.append(stack)  # the release installs the CRDs
        if args.prometheus_mode != "off":
            metadata = cr_metadata(RULE_NAME, args.tenant, NAMESPACE)
            metadata["labels"] = {**dict(args.prometheus.rule_labels), **metadata["labels"]}
            k8s.apiextensions.CustomResource(
                f"{name}-gpu-rules",
                api_version=RULE_API_VERSION,
                kind="PrometheusRule",
                metadata=metadata,
                spec=rule_spec,
                opts=child_opts(self, args.provider, *rule_dependencies),
            )
        if args.otel is not None and namespace is not None:
            helm_release(
                f"{name}-otel",
                OPENTELEMETRY_COLLECTOR.helm,
                render_otel_values(args.otel, args.mirrors, args.tolerations),
                namespace.metadata.name,
                args.mirrors,
                # No `images=`: the collector's image tag is the chart's appVersion,
                # which differs from the chart version we pin; `helm template` lists it.
                child_opts(self, args.provider, namespace, *args.depends_on),
            )

        self.namespace = namespace.metadata.name if namespace else None
        self.prometheus_rule = f"{NAMESPACE}/{RULE_NAME}" if args.prometheus_mode != "off" else None
        self.register_outputs({"namespace": self.namespace, "prometheusRule": self.prometheus_rule})
