"""The platform's workloads and their chart-default scheduling constraints (pure data).

One `components.placement.Workload` per Deployment, StatefulSet, hook Job or node agent
gpu-caas installs (directly or through an operator it installs), with the tolerations,
node selector and required node affinity its pods get when gpu-caas adds nothing. The
values renderers add the tenant's system tolerations at each `values_key`
(`placement.apply_tolerations`); the config check (`stacks/config/placement.py`) asks
which node pools each workload fits.

Sources: the upstream values.yaml in `../shared/crds/<chart>/values.yaml` where we have it
(tests/components/test_workloads.py compares every such default with it); otherwise the
chart or project file named in `source` (read at the pinned version or the closest
stored copy).
"""

from __future__ import annotations

from components.placement import (
    CONTROL_PLANE_LABEL,
    CONTROL_PLANE_TOLERATION,
    CRITICAL_ADDONS_ONLY,
    GPU_TOLERATION,
    KARPENTER_NODEPOOL_LABEL,
    LEGACY_MASTER_KEY,
    Reach,
    Requirement,
    Toleration,
    Workload,
)

_CP_EQUAL = Toleration(CONTROL_PLANE_LABEL, "Equal", "", "NoSchedule")
_MASTER_EQUAL = Toleration(LEGACY_MASTER_KEY, "Equal", "", "NoSchedule")
_MASTER_EXISTS = Toleration(LEGACY_MASTER_KEY, "Exists", "", "NoSchedule")
_CRITICAL = Toleration(CRITICAL_ADDONS_ONLY, "Exists")
_EVERYTHING = Toleration("", "Exists")
_LINUX = {"kubernetes.io/os": "linux"}

# --------------------------------------------------------------------------- #
# Kubernetes add-ons of the control plane (not configurable by gpu-caas)
# --------------------------------------------------------------------------- #

KUBEADM_ADDONS_SOURCE = (
    "kubernetes/kubernetes cmd/kubeadm/app/phases/addons/dns/manifests.go (CoreDNS "
    "tolerations) and proxy/manifests.go (kube-proxy: operator Exists); Kamaji installs "
    "both add-ons with kubeadm's phases"
)
COREDNS = Workload(
    "CoreDNS",
    "cluster DNS",
    "Deployment",
    Reach.ONE,
    tolerations=(_CRITICAL, CONTROL_PLANE_TOLERATION),
    node_selector=_LINUX,
    source=KUBEADM_ADDONS_SOURCE,
)
KUBE_PROXY = Workload(
    "kube-proxy",
    "service proxy",
    "DaemonSet",
    Reach.EVERY,
    tolerations=(_EVERYTHING,),
    node_selector=_LINUX,
    source=KUBEADM_ADDONS_SOURCE,
)
KONNECTIVITY_AGENT_DEFAULT = (_CRITICAL,)
"""`spec.addons.konnectivity.agent.tolerations` default of the TenantControlPlane CRD
(../shared/crds/kamaji/kamaji.clastix.io_tenantcontrolplanes.yaml)."""
KONNECTIVITY_AGENT = Workload(
    "Kamaji",
    "konnectivity agent",
    "DaemonSet",
    # The hosted API server reaches kubelets, webhooks, logs and exec through any agent.
    Reach.ONE,
    tolerations=KONNECTIVITY_AGENT_DEFAULT,
    values_key="addons.konnectivity.agent.tolerations",
    system=True,
    source="../shared/crds/kamaji/kamaji.clastix.io_tenantcontrolplanes.yaml",
)

# --------------------------------------------------------------------------- #
# Pod network
# --------------------------------------------------------------------------- #

_CILIUM_SOURCE = (
    "cilium/cilium install/kubernetes/cilium/values.yaml (tolerations, "
    "operator.tolerations: operator Exists)"
)
CILIUM = (
    Workload(
        "Cilium", "agent", "DaemonSet", Reach.EVERY, (_EVERYTHING,), _LINUX, source=_CILIUM_SOURCE
    ),
    Workload(
        "Cilium", "operator", "Deployment", Reach.ONE, (_EVERYTHING,), _LINUX, source=_CILIUM_SOURCE
    ),
)
_CALICO_SOURCE = (
    "projectcalico/calico charts/tigera-operator/values.yaml (operator tolerations: "
    "NoExecute and NoSchedule, operator Exists); tigera/operator "
    "pkg/render/common/meta TolerateCriticalAddonsAndControlPlane (control-plane "
    "components), TolerateAll (calico-node)"
)
CALICO_CONTROL_PLANE_DEFAULT = (_CRITICAL, _MASTER_EXISTS, CONTROL_PLANE_TOLERATION)
CALICO = (
    Workload(
        "Calico",
        "Tigera operator",
        "Deployment",
        Reach.ONE,
        (Toleration("", "Exists", "", "NoExecute"), Toleration("", "Exists", "", "NoSchedule")),
        _LINUX,
        source=_CALICO_SOURCE,
    ),
    Workload(
        "Calico",
        "calico-node",
        "DaemonSet",
        Reach.EVERY,
        (_EVERYTHING,),
        _LINUX,
        source=_CALICO_SOURCE,
    ),
    Workload(
        "Calico",
        "kube-controllers and Typha",
        "Deployment",
        Reach.ONE,
        CALICO_CONTROL_PLANE_DEFAULT,
        _LINUX,
        values_key="installation.controlPlaneTolerations",
        system=True,
        source=_CALICO_SOURCE,
    ),
)

# --------------------------------------------------------------------------- #
# Isolation, scheduling, autoscaling, storage, observability, node health
# --------------------------------------------------------------------------- #

_KYVERNO_SOURCE = "../shared/crds/kyverno/values.yaml"
KYVERNO = tuple(
    Workload(
        "Kyverno",
        name,
        kind,
        Reach.ONE,
        (),
        _LINUX,
        values_key=key,
        system=True,
        source=_KYVERNO_SOURCE,
    )
    for name, kind, key in (
        ("admission controller", "Deployment", "admissionController.tolerations"),
        ("background controller", "Deployment", "backgroundController.tolerations"),
        ("cleanup controller", "Deployment", "cleanupController.tolerations"),
        ("reports controller", "Deployment", "reportsController.tolerations"),
        ("CRD migration hook", "Job", "crds.migration.tolerations"),
        ("webhooks cleanup hook", "Job", "webhooksCleanup.tolerations"),
    )
)

KAI_SCHEDULER = (
    Workload(
        "KAI scheduler",
        "operator, its components and the CRD-upgrade hook",
        "Deployment",
        Reach.ONE,
        (),
        values_key="global.tolerations",
        system=True,
        source="NVIDIA/KAI-Scheduler deployments/kai-scheduler/values.yaml @0c9db542 "
        "(global.tolerations: []; in v0.13.0 the operator and its CRD-upgrade hook read "
        "tolerations only from this key, NVIDIA AICR recipes/components/kai-scheduler)",
    ),
)

KARPENTER = (
    Workload(
        "Karpenter",
        "controller",
        "Deployment",
        Reach.ONE,
        (_CRITICAL,),
        _LINUX,
        required=((Requirement(KARPENTER_NODEPOOL_LABEL, "DoesNotExist"),),),
        values_key="tolerations",
        system=True,
        source="aws/karpenter-provider-aws charts/karpenter/values.yaml (tolerations: "
        "CriticalAddonsOnly Exists; affinity: karpenter.sh/nodepool DoesNotExist, so "
        "the controller never runs on nodes it launched)",
    ),
)

_NFS_SOURCE = "kubernetes-csi/csi-driver-nfs charts/latest/csi-driver-nfs/values.yaml"
CSI_NFS = (
    Workload(
        "NFS CSI driver",
        "controller",
        "Deployment",
        Reach.ONE,
        (
            _MASTER_EXISTS,
            Toleration("node-role.kubernetes.io/controlplane", "Exists", "", "NoSchedule"),
            CONTROL_PLANE_TOLERATION,
        ),
        _LINUX,
        values_key="controller.tolerations",
        system=True,
        source=_NFS_SOURCE,
    ),
    Workload(
        "NFS CSI driver",
        "node plugin",
        "DaemonSet",
        Reach.EVERY,
        (_EVERYTHING,),
        _LINUX,
        source=_NFS_SOURCE,
    ),
)

_KPS_SOURCE = "../shared/crds/kube-prometheus-stack/values.yaml"
_SUBCHART_SOURCE = (
    "prometheus-community/helm-charts @kube-prometheus-stack-82.8.0 subcharts "
    "(kube-state-metrics, grafana: tolerations []; prometheus-node-exporter: "
    "NoSchedule operator Exists)"
)
PROMETHEUS_STACK = (
    *(
        Workload(
            "kube-prometheus-stack",
            name,
            kind,
            Reach.ONE,
            (),
            values_key=key,
            system=True,
            source=_KPS_SOURCE,
        )
        for name, kind, key in (
            ("Prometheus Operator", "Deployment", "prometheusOperator.tolerations"),
            (
                "admission webhook patch hook",
                "Job",
                "prometheusOperator.admissionWebhooks.patch.tolerations",
            ),
            ("Prometheus", "StatefulSet", "prometheus.prometheusSpec.tolerations"),
            ("Alertmanager", "StatefulSet", "alertmanager.alertmanagerSpec.tolerations"),
        )
    ),
    Workload(
        "kube-prometheus-stack",
        "kube-state-metrics",
        "Deployment",
        Reach.ONE,
        (),
        values_key="kube-state-metrics.tolerations",
        system=True,
        source=_SUBCHART_SOURCE,
    ),
    Workload(
        "kube-prometheus-stack",
        "node exporter",
        "DaemonSet",
        Reach.EVERY,
        (Toleration("", "Exists", "", "NoSchedule"),),
        source=_SUBCHART_SOURCE,
    ),
)
GRAFANA = Workload(
    "kube-prometheus-stack",
    "Grafana",
    "Deployment",
    Reach.ONE,
    (),
    values_key="grafana.tolerations",
    system=True,
    source=_SUBCHART_SOURCE,
)
OTEL_COLLECTOR = Workload(
    "OpenTelemetry Collector",
    "gateway",
    "Deployment",
    Reach.ONE,
    (),
    values_key="tolerations",
    system=True,
    source="open-telemetry/opentelemetry-helm-charts charts/opentelemetry-collector/"
    "values.yaml (tolerations: [])",
)
NVSENTINEL = Workload(
    "NVSentinel",
    "controllers and health monitors",
    "Deployment",
    Reach.ONE,
    (_EVERYTHING,),
    values_key="global.tolerations",
    ours=True,
    source="components/services/node_health.py: global.tolerations operator Exists (its "
    "monitors must also tolerate NVSentinel's own quarantine taints)",
)

# --------------------------------------------------------------------------- #
# GPU platform
# --------------------------------------------------------------------------- #

_GPU_OPERATOR_SOURCE = "../shared/crds/gpu-operator/values.yaml"
GPU_OPERATOR = Workload(
    "GPU Operator",
    "operator and its CRD-upgrade hook",
    "Deployment",
    Reach.ONE,
    (_CP_EQUAL,),
    _LINUX,
    values_key="operator.tolerations",
    system=True,
    source=_GPU_OPERATOR_SOURCE,
)
GPU_OPERANDS = Workload(
    "GPU Operator",
    "operands (driver, toolkit, device plugin, GFD, DCGM exporter, MIG manager, validator)",
    "DaemonSet",
    Reach.GPU,
    (GPU_TOLERATION,),
    values_key="daemonsets.tolerations",
    source=_GPU_OPERATOR_SOURCE,
)
NFD_MASTER = Workload(
    "GPU Operator",
    "Node Feature Discovery master",
    "Deployment",
    Reach.ONE,
    (_CP_EQUAL,),
    values_key="node-feature-discovery.master.tolerations",
    system=True,
    source="kubernetes-sigs/node-feature-discovery deployment/helm/node-feature-discovery/"
    "values.yaml (master.tolerations: control-plane; not overridden by "
    "../shared/crds/gpu-operator/values.yaml)",
)
NFD_GC = Workload(
    "GPU Operator",
    "Node Feature Discovery garbage collector",
    "Deployment",
    Reach.ONE,
    (),
    values_key="node-feature-discovery.gc.tolerations",
    system=True,
    source="kubernetes-sigs/node-feature-discovery deployment/helm/node-feature-discovery/"
    "values.yaml (gc.tolerations: [])",
)
NFD_WORKER = Workload(
    "GPU Operator",
    "Node Feature Discovery worker",
    "DaemonSet",
    Reach.GPU,
    (_CP_EQUAL, GPU_TOLERATION),
    values_key="node-feature-discovery.worker.tolerations",
    source=_GPU_OPERATOR_SOURCE,
)

NETWORK_OPERATOR_BASE = (_MASTER_EXISTS, CONTROL_PLANE_TOLERATION, GPU_TOLERATION)
"""What gpu-caas always sets at `operator.tolerations` of the network-operator chart."""
NETWORK_OPERATOR = Workload(
    "Network Operator",
    "operator",
    "Deployment",
    Reach.ONE,
    NETWORK_OPERATOR_BASE,
    values_key="operator.tolerations",
    system=True,
    ours=True,
    source="components/gpu/network_operator.py (chart default in "
    "../shared/crds/network-operator/values.yaml: control-plane and master only)",
)
NETWORK_OPERATOR_CHART_DEFAULT = (_MASTER_EQUAL, _CP_EQUAL)
"""`operator.tolerations` of ../shared/crds/network-operator/values.yaml."""
NIC_CLUSTER_POLICY = Workload(
    "Network Operator",
    "NicClusterPolicy daemonsets (DOCA driver, device plugin, CNI plugins, nv-ipam)",
    "DaemonSet",
    Reach.GPU,
    (GPU_TOLERATION,),
    ours=True,
    source="components/gpu/network_operator.py (NicClusterPolicy spec.tolerations)",
)

NIM_OPERATOR = Workload(
    "NIM Operator",
    "operator",
    "Deployment",
    Reach.ONE,
    (_CP_EQUAL,),
    values_key="operator.tolerations",
    system=True,
    source="../shared/crds/k8s-nim-operator/v3.1.2/values.yaml",
)
NIM_SERVICES = Workload(
    "NIM Operator",
    "NIMCache jobs and NIMService pods",
    "Deployment",
    Reach.ONE,
    (GPU_TOLERATION,),
    ours=True,
    source="components/gpu/nim_operator.py (NIMCache / NIMService spec.tolerations)",
)

_DRA_SOURCE = (
    "NVIDIA/k8s-dra-driver-gpu deployments/helm/nvidia-dra-driver-gpu/values.yaml "
    "(controller: control-plane toleration and required control-plane affinity; "
    "kubeletPlugin: tolerations [], affinity on NFD's pci-10de / nvidia.com/gpu.present)"
)
DRA_CONTROLLER = Workload(
    "DRA driver",
    "controller",
    "Deployment",
    Reach.ONE,
    (CONTROL_PLANE_TOLERATION,),
    required=((Requirement(CONTROL_PLANE_LABEL, "Exists"),),),
    values_key="controller.tolerations",
    system=True,
    source=_DRA_SOURCE,
)
DRA_KUBELET_PLUGIN_BASE = (GPU_TOLERATION,)
"""What gpu-caas sets at `kubeletPlugin.tolerations` (the chart's default is empty, so
the plugin would never run on GPU nodes tainted `nvidia.com/gpu`)."""
DRA_KUBELET_PLUGIN = Workload(
    "DRA driver",
    "kubelet plugin",
    "DaemonSet",
    Reach.GPU,
    DRA_KUBELET_PLUGIN_BASE,
    required=(
        (Requirement("feature.node.kubernetes.io/pci-10de.present", "In", ("true",)),),
        (Requirement("feature.node.kubernetes.io/cpu-model.vendor_id", "In", ("NVIDIA",)),),
        (Requirement("nvidia.com/gpu.present", "In", ("true",)),),
    ),
    values_key="kubeletPlugin.tolerations",
    ours=True,
    source=_DRA_SOURCE,
)


def without_control_plane_affinity(workload: Workload) -> Workload:
    """`workload` with its required node affinity removed (the values null it)."""
    from dataclasses import replace

    return replace(workload, required=())
