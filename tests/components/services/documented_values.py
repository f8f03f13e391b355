"""Documented Helm values keys for charts whose values.yaml is not in ../shared/crds.

Helm ignores unknown values silently. For charts we can check against an upstream
values.yaml we use `tests.support.upstream.assert_values_keys_known`; for the others
this module holds the key paths we set, each list taken from the chart's own docs or
values.yaml as read (with the search tool) at the commit named in the comment. A key
that is not in the list fails `assert_keys_documented`, so adding a key means reading
the chart docs and extending the list here, with its source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sandbox.documented_values import DOCUMENTED_VALUES_KEYS

# Cilium 1.19 Helm reference, https://docs.cilium.io/en/stable/helm-reference/.
# routingMode/tunnelProtocol/autoDirectNodeRoutes were confirmed against excerpts of
# install/kubernetes/cilium/values.yaml v1.19.x; the only full values.yaml copy we
# could read offline is v1.7, too old to key-check against.
CILIUM_KEYS = frozenset(
    {
        "ipam.mode",
        "ipam.operator.clusterPoolIPv4PodCIDRList",
        "ipam.operator.clusterPoolIPv4MaskSize",
        "cni.exclusive",
        "kubeProxyReplacement",
        "k8sServiceHost",
        "k8sServicePort",
        "routingMode",
        "tunnelProtocol",
        "ipv4NativeRoutingCIDR",
        "autoDirectNodeRoutes",
        "operator.replicas",
        "operator.image.repository",
        "image.repository",
        "envoy.image.repository",
        "hubble.enabled",
        "hubble.relay.enabled",
        "hubble.relay.image.repository",
        "hubble.ui.enabled",
    }
)

# projectcalico/calico charts/tigera-operator/values.yaml @036c024d (top-level keys)
# plus the operator.tigera.io/v1 Installation spec under `installation`
# (https://docs.tigera.io/calico/latest/reference/installation/api#installationspec).
CALICO_KEYS = frozenset(
    {
        "installation.enabled",
        "installation.registry",
        "installation.cni.type",
        "installation.calicoNetwork.bgp",
        "installation.calicoNetwork.ipPools",
        "tigeraOperator.registry",
    }
)

# kubernetes-csi/csi-driver-nfs charts/latest/csi-driver-nfs/values.yaml @00a16073.
CSI_NFS_KEYS = frozenset(
    {
        "image.nfs.repository",
        "image.csiProvisioner.repository",
        "image.csiResizer.repository",
        "image.csiSnapshotter.repository",
        "image.livenessProbe.repository",
        "image.nodeDriverRegistrar.repository",
        "image.externalSnapshotter.repository",
        "controller.replicas",
        "externalSnapshotter.enabled",
    }
)

# prometheus-community/helm-charts charts/kube-prometheus-stack/values.yaml (chart
# README "Configuration"); the `*SelectorNilUsesHelmValues` keys as in the chart docs.
KUBE_PROMETHEUS_STACK_KEYS = frozenset(
    {
        "prometheus.prometheusSpec.retention",
        "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec",
        "prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues",
        "prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues",
        "prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues",
        "prometheus.prometheusSpec.probeSelectorNilUsesHelmValues",
        "prometheus.prometheusSpec.image.registry",
        "alertmanager.alertmanagerSpec.image.registry",
        "prometheusOperator.image.registry",
        "prometheusOperator.prometheusConfigReloader.image.registry",
        "prometheusOperator.admissionWebhooks.patch.image.registry",
        "kube-state-metrics.image.registry",
        "prometheus-node-exporter.image.registry",
        "grafana.enabled",
        "grafana.image.registry",
    }
)
KUBE_PROMETHEUS_STACK_LEAVES = frozenset(
    # A PersistentVolumeClaimSpec passed through verbatim.
    {"prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec"}
)

# open-telemetry/opentelemetry-helm-charts charts/opentelemetry-collector values.yaml
# and README ("mode", "image.repository" required since 0.89.0, presets); `config` is
# collector configuration merged over the chart default (free-form below config).
OTEL_KEYS = frozenset(
    {
        "mode",
        "replicaCount",
        "image.repository",
        "presets.kubernetesAttributes.enabled",
        "config",
    }
)
OTEL_LEAVES = frozenset({"config"})

# NVIDIA/NVSentinel docs/configuration: README.md @2c8b18fe (global.*),
# fault-quarantine.md @00b7ca12, node-drainer.md @52b90539, fault-remediation.md
# @a0eb790c, janitor.md @77f3fa89; janitor-provider.csp.provider from NVIDIA AICR
# recipes/components/nvsentinel/values.yaml @2bd99ffb. NOT verified against the
# v1.1.0 chart's values.yaml (not available offline).
NVSENTINEL_KEYS = frozenset(
    {
        "podMonitor.enabled",
        "global.dryRun",
        "global.tolerations",
        "global.faultQuarantine.enabled",
        "global.nodeDrainer.enabled",
        "global.faultRemediation.enabled",
        "global.janitor.enabled",
        "fault-quarantine.circuitBreaker.enabled",
        "fault-quarantine.circuitBreaker.percentage",
        "fault-quarantine.circuitBreaker.duration",
        "node-drainer.userNamespaces",
        "node-drainer.deleteAfterTimeoutMinutes",
        "janitor.config.controllers.rebootNode.enabled",
        "janitor.config.controllers.gpuReset.enabled",
        "janitor.config.controllers.terminateNode.enabled",
        "janitor-provider.csp.provider",
    }
)

# aws/karpenter-provider-aws charts/karpenter values.yaml (https://karpenter.sh/docs/
# reference/settings/ for `settings.*`).
KARPENTER_AWS_KEYS = frozenset(
    {
        "replicas",
        "settings.featureGates.nodeOverlay",
        "settings.clusterName",
        "controller.image.repository",
        "serviceAccount.annotations",
    }
)

# Allowed on top of AICR's kai-scheduler recipe values (which only hold its overrides):
# keys of the upstream chart values.yaml, with their source, in
# sandbox/documented_values.py (shared with the live tests' stand-in chart).
KAI_UPSTREAM_KEYS = DOCUMENTED_VALUES_KEYS["kai-scheduler"]


def key_paths(values: Mapping[str, Any], leaves: Iterable[str] = ()) -> Iterator[str]:
    """Dotted paths of every leaf of `values` (lists and `leaves` paths are leaves)."""
    stop = frozenset(leaves)

    def walk(node: Mapping[str, Any], prefix: str) -> Iterator[str]:
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) and value and path not in stop:
                yield from walk(value, path)
            else:
                yield path

    yield from walk(values, "")


def assert_keys_documented(
    values: Mapping[str, Any], documented: frozenset[str], leaves: Iterable[str] = ()
) -> None:
    """Fail on any values key path that is not in `documented`."""
    unknown = sorted(set(key_paths(values, leaves)) - documented)
    assert not unknown, f"values keys not in the documented list: {unknown}"
