"""Values keys we set that a chart's values file does not show, with their sources.

`assert_values_keys_known` (tests) and the stand-in charts' `values.schema.json`
(`sandbox.standin_charts`) both check our values against an upstream values file
(`sandbox.upstream_copies.CHART_COPIES`). Some keys we set are valid although that
file lacks them: keys the chart reads but only shows in a comment, subchart values,
or (for charts whose only copy is NVIDIA AICR's override file) keys of the chart's
own values.yaml. Each chart's list lives here once, with its source, so the
component tests and the stand-in chart allow exactly the same keys.

Patterns: dotted key paths; a pattern matches a path suffix, `*` matches one
segment, a leading `^` anchors it at the root; everything below an allowed path is
accepted (`sandbox.values_schema`).
"""

from __future__ import annotations

DOCUMENTED_VALUES_KEYS: dict[str, tuple[str, ...]] = {
    "gpu-operator": (
        # node-feature-discovery subchart: `image.repository` is a value of the NFD chart
        # (kubernetes-sigs/node-feature-discovery deployment/helm/node-feature-discovery),
        # not shown in the gpu-operator values.yaml copy.
        "^node-feature-discovery.image",
        # `dcgmExporter.config.name`: documented in values.yaml as a commented-out block
        # ("Use name to ... point to an existing ConfigMap", key `dcgm-metrics.csv`) and a
        # ClusterPolicy field (`spec.dcgmExporter.config.name`, checked in TestClusterPolicy).
        "^dcgmExporter.config.name",
        # NFD subchart tolerations (kubernetes-sigs/node-feature-discovery
        # deployment/helm/node-feature-discovery/values.yaml: `master.tolerations`,
        # `gc.tolerations`); the gpu-operator copy shows only `worker.tolerations`.
        "^node-feature-discovery.master.tolerations",
        "^node-feature-discovery.gc.tolerations",
    ),
    "dra-driver-nvidia-gpu": (
        # AICR v0.11.1 ships values for this chart; the keys below are the ones we set that
        # AICR does not, each read from the upstream chart values.yaml
        # (kubernetes-sigs/dra-driver-nvidia-gpu deployments/helm/dra-driver-nvidia-gpu/
        # values.yaml: `resources.computeDomains.enabled`, `image.repository`;
        # `controller.affinity` is a free-form key).
        "^resources.computeDomains",
        "^image.repository",
        # Upstream chart values.yaml (same file): `controller.tolerations` (control-plane
        # NoSchedule) and `kubeletPlugin.tolerations` ([]).
        "^controller.tolerations",
        "^kubeletPlugin.tolerations",
    ),
    "kai-scheduler": (
        # NVIDIA/KAI-Scheduler deployments/kai-scheduler/values.yaml @0c9db542 (upstream
        # chart values; AICR's recipe values.yaml in ../shared/crds only holds its
        # overrides).
        "^global.registry",
        "^scheduler.placementStrategy",
        "^defaultQueue.createDefaultQueue",
    ),
    "kube-prometheus-stack": (
        # prometheus-community/helm-charts @1018a75a (tag kube-prometheus-stack-82.8.0),
        # charts/kube-prometheus-stack/values.yaml: `prometheus.prometheusSpec.storageSpec`
        # is `{}` with the PersistentVolumeClaim form shown as a commented-out
        # `volumeClaimTemplate.spec` block; the spec is a PersistentVolumeClaimSpec
        # passed through verbatim.
        "^prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec",
        # Subchart values (Chart.yaml dependencies at the same commit):
        # charts/kube-state-metrics/values.yaml (7.2.0) and
        # charts/prometheus-node-exporter/values.yaml (4.52.0) both have `image.registry`.
        "^kube-state-metrics.image.registry",
        "^prometheus-node-exporter.image.registry",
        # Subchart `tolerations` (charts/kube-state-metrics/values.yaml and the grafana
        # chart's values.yaml both have `tolerations: []`).
        "^kube-state-metrics.tolerations",
        "^grafana.tolerations",
    ),
}
"""Chart name -> extra allowed values key patterns, each with its source."""
